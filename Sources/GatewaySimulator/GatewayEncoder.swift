import Foundation
import PlantRegistry
import Sparkplug
import Telemetry

/// One message as a gateway would publish it.
struct OutgoingMessage: Equatable {
    var topic: String
    var payload: [UInt8]
    /// MQTT v5 user property `ts` (plain values carry their event time there).
    var eventTime: String?
    var device: Int
    /// Readings the daemon will store from it (values and gateway errors).
    var readings: Int
    /// Births: never delayed, reordered or damaged by the simulated imperfections.
    var reliable = false
}

/// Encodes simulated values in each gateway's payload format.
struct GatewayEncoder {
    let plant: Plant
    private var sequence: [Int: Int64] = [:]
    /// Sparkplug: sequence numbers per edge node, and which nodes and devices have been born.
    private var sparkplugSeq: [String: UInt64] = [:]
    private var sparkplugBorn: Set<String> = []

    init(plant: Plant) { self.plant = plant }

    /// The messages device `di` sends for one tick.
    mutating func encode(
        device di: Int, values: [SimulatedValue?], atMs t: Int64,
        rng: inout SeededGenerator
    ) -> [OutgoingMessage] {
        let d = plant.devices[di]
        let g = plant.gateways[d.gateway]
        switch g.decoder {
        case .native:
            let seq = sequence[di, default: 0]
            sequence[di] = seq + 1
            var fields: [String] = []
            for (m, v) in zip(d.metrics, values) {
                guard let v else { continue }
                fields.append("\"\(m.sourceName)\":\(json(v, metric: m))")
            }
            guard !fields.isEmpty else { return [] }
            let body = "{\"device\":\"\(d.id)\",\"ts\":\(t),\"seq\":\(seq),\"metrics\":{\(fields.joined(separator: ","))}}"
            return [
                OutgoingMessage(
                    topic: topic(g, filling: [d.id]), payload: Array(body.utf8), eventTime: nil,
                    device: di, readings: fields.count)
            ]
        case .neuron:
            guard let n = d.neuron else { return [] }
            var valueMembers: [String] = []
            var errors: [String] = []
            var tags: [String] = []
            var count = 0
            for (m, v) in zip(d.metrics, values) {
                guard let v else { continue }
                count += 1
                // Now and then the gateway cannot read a tag: it reports an error code, no value.
                if rng.chance(0.002) {
                    errors.append("\"\(m.sourceName)\":3001")
                    tags.append("{\"name\":\"\(m.sourceName)\",\"error\":3001}")
                } else {
                    let raw = json(v, metric: m)
                    valueMembers.append("\"\(m.sourceName)\":\(raw)")
                    tags.append("{\"name\":\"\(m.sourceName)\",\"value\":\(raw)}")
                }
            }
            guard count > 0 else { return [] }
            let head = "{\"timestamp\":\(t),\"node\":\"\(n.node)\",\"group\":\"\(n.group)\""
            // Alternate Neuron's two output formats by device.
            let body =
                di % 2 == 0
                ? head + ",\"values\":{\(valueMembers.joined(separator: ","))},\"errors\":{\(errors.joined(separator: ","))}}"
                : head + ",\"tags\":[\(tags.joined(separator: ","))]}"
            return [
                OutgoingMessage(
                    topic: topic(g, filling: [n.node, n.group]), payload: Array(body.utf8),
                    eventTime: nil, device: di, readings: count)
            ]
        case .sparkplug:
            return sparkplug(device: di, d, g, values: values, atMs: t)
        case .plain:
            guard let template = g.topicTemplate else { return [] }
            var out: [OutgoingMessage] = []
            for (m, v) in zip(d.metrics, values) {
                guard let v else { continue }
                let topic = template.text
                    .replacingOccurrences(of: "{device}", with: d.id)
                    .replacingOccurrences(of: "{metric}", with: m.sourceName)
                    .replacingOccurrences(of: "{workshop}", with: d.workshop ?? "site")
                    .replacingOccurrences(of: "{line}", with: d.line ?? "-")
                    .replacingOccurrences(of: "{site}", with: d.site)
                var text = json(v, metric: m)
                if text.hasPrefix("\"") { text = String(text.dropFirst().dropLast()) }
                out.append(OutgoingMessage(topic: topic, payload: Array(text.utf8), eventTime: String(t), device: di, readings: 1))
            }
            return out
        }
    }

    /// A message the registry's gateway binding refuses (a `foreign_device` quarantine, no
    /// reading): device `di`'s values sent where they do not belong, as a misconfigured or
    /// hostile gateway would. A plain device's topic names another line; any other device is
    /// named in a native payload on a native gateway that does not declare it, or else put on
    /// another gateway's plain topic. Nil when the plant offers none of these.
    func foreign(device di: Int, values: [SimulatedValue?], atMs t: Int64) -> OutgoingMessage? {
        let d = plant.devices[di]
        let g = plant.gateways[d.gateway]
        // Reliable: no other imperfection (truncation) may turn it into a malformed message.
        func plain(_ template: TopicTemplate, site: String, workshop: String?, line: String?) -> OutgoingMessage? {
            guard let (metric, value) = zip(d.metrics, values).first(where: { $0.1 != nil }), let value else { return nil }
            let topic = template.filter(site: site, workshop: workshop, line: line, device: d.id)
                .replacingOccurrences(of: "+", with: metric.sourceName)
            var text = json(value, metric: metric)
            if text.hasPrefix("\"") { text = String(text.dropFirst().dropLast()) }
            return OutgoingMessage(topic: topic, payload: Array(text.utf8), eventTime: String(t), device: di, readings: 0, reliable: true)
        }
        if let template = g.topicTemplate, template.namesWorkshop || template.namesLine {
            let places = plant.sites.flatMap { s in s.workshops.flatMap { w in w.lines.map { (s.id, w.id, $0.id) } } }
            guard let elsewhere = places.first(where: { $0.1 != d.workshop || $0.2 != d.line }) else { return nil }
            return plain(template, site: elsewhere.0, workshop: elsewhere.1, line: elsewhere.2)
        }
        guard let native = plant.gateways.first(where: { $0.decoder == .native && $0.id != g.id }) else {
            // A native device's value on another gateway's plain topic, at the device's own place.
            guard let template = plant.gateways.first(where: { $0.topicTemplate != nil && $0.id != g.id })?.topicTemplate else {
                return nil
            }
            return plain(template, site: d.site, workshop: d.workshop ?? d.site, line: d.line ?? d.site)
        }
        let fields = zip(d.metrics, values).compactMap { m, v in v.map { "\"\(m.sourceName)\":\(json($0, metric: m))" } }
        guard !fields.isEmpty else { return nil }
        let body = "{\"device\":\"\(d.id)\",\"ts\":\(t),\"metrics\":{\(fields.joined(separator: ","))}}"
        return OutgoingMessage(
            topic: topic(native, filling: [d.id]), payload: Array(body.utf8), eventTime: nil,
            device: di, readings: 0, reliable: true)
    }

    /// A Sparkplug B edge node: NBIRTH (with its bdSeq) and a DBIRTH per device the first time,
    /// then DDATA (or NDATA) by alias, one sequence number per edge node across them all.
    mutating func sparkplug(device di: Int, _ d: Device, _ g: Gateway, values: [SimulatedValue?], atMs t: Int64) -> [OutgoingMessage] {
        guard let address = d.sparkplug, let group = g.sparkplugGroup else { return [] }
        var out: [OutgoingMessage] = []
        let node = "\(group)/\(address.edgeNode)"
        func next() -> UInt64 {
            let s = sparkplugSeq[node, default: 0]
            sparkplugSeq[node] = (s + 1) % 256
            return s
        }
        func message(_ type: SparkplugMessageType, device: String?, _ metrics: [SparkplugMetric], readings: Int) {
            let topic = SparkplugTopic(group: group, type: type, edgeNode: address.edgeNode, device: device).text
            guard let bytes = try? SparkplugPayload.encode(timestamp: UInt64(t), seq: next(), metrics: metrics) else { return }
            out.append(
                OutgoingMessage(
                    topic: topic, payload: bytes, eventTime: nil, device: di, readings: readings,
                    reliable: type == .nbirth || type == .dbirth))
        }
        if !sparkplugBorn.contains(node) {
            sparkplugBorn.insert(node)
            sparkplugSeq[node] = 0
            message(
                .nbirth, device: nil,
                [SparkplugMetric(name: "bdSeq", alias: nil, timestamp: UInt64(t), datatype: .int64, value: .number(0))], readings: 0)
        }
        var metrics: [SparkplugMetric] = []
        let born = sparkplugBorn.contains("\(node)/\(d.id)")
        for (k, (m, v)) in zip(d.metrics, values).enumerated() {
            guard let v else { continue }
            let alias = UInt64(di * 100 + k + 1)
            metrics.append(
                SparkplugMetric(
                    name: born ? nil : m.sourceName, alias: alias, timestamp: UInt64(t),
                    datatype: sparkplugType(v, m), value: sparkplugValue(v, m)))
        }
        guard !metrics.isEmpty else { return out }
        let isDevice = address.device != nil
        if !born {
            sparkplugBorn.insert("\(node)/\(d.id)")
            message(isDevice ? .dbirth : .nbirth, device: address.device, metrics, readings: metrics.count)
        } else {
            message(isDevice ? .ddata : .ndata, device: address.device, metrics, readings: metrics.count)
        }
        return out
    }

    func sparkplugValue(_ v: SimulatedValue, _ m: Metric) -> SparkplugValue {
        let raw = json(v, metric: m)
        if raw == "true" || raw == "false" { return .bool(raw == "true") }
        if let n = Double(raw) { return .number(n) }
        return .text(raw.hasPrefix("\"") ? String(raw.dropFirst().dropLast()) : raw)
    }

    func sparkplugType(_ v: SimulatedValue, _ m: Metric) -> SparkplugDataType {
        switch sparkplugValue(v, m) {
        case .bool: .boolean
        case .text: .string
        case .number(let n): n == n.rounded() && m.kind != .gauge ? .int64 : .double
        default: .string
        }
    }

    /// A gateway topic: `+` levels take the given values in turn, `#` takes the last one.
    func topic(_ g: Gateway, filling values: [String]) -> String {
        var i = 0
        let levels = g.topic.split(separator: "/", omittingEmptySubsequences: false).map { level -> String in
            guard level == "+" || level == "#" else { return String(level) }
            defer { i += 1 }
            return level == "#" ? values[values.count - 1] : values[min(i, values.count - 1)]
        }
        return levels.joined(separator: "/")
    }

    /// The raw value a gateway sends for a metric: unscaled register, or the code it maps.
    func json(_ v: SimulatedValue, metric m: Metric) -> String {
        switch v {
        case .number(let x):
            let raw = (x - m.offset) / m.scale
            if m.scale != 1 || raw == raw.rounded() { return String(Int64(raw.rounded())) }
            return String((raw * 1000).rounded() / 1000)
        case .state(let word):
            // A gateway with a code table sends its code; others send the canonical word.
            if let code = m.states.filter({ $0.value == word }).keys.sorted().first {
                if Int64(code) != nil { return code }
                if code == "true" || code == "false" { return code }
                return "\"\(code)\""
            }
            return "\"\(word)\""
        case .error(let code):
            return String(code)
        }
    }
}
