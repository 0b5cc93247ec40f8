import Foundation
import PlantRegistry
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
}

/// Encodes simulated values in each gateway's payload format.
struct GatewayEncoder {
    let plant: Plant
    private var sequence: [Int: Int64] = [:]

    init(plant: Plant) { self.plant = plant }

    /// The messages device `di` sends for one tick.
    mutating func encode(device di: Int, values: [SimulatedValue?], atMs t: Int64,
                         rng: inout SeededGenerator) -> [OutgoingMessage] {
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
            return [OutgoingMessage(topic: topic(g, filling: [d.id]), payload: Array(body.utf8), eventTime: nil,
                                    device: di, readings: fields.count)]
        case .neuron:
            guard let n = d.neuron else { return [] }
            var values_: [String] = [], errors: [String] = [], tags: [String] = []
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
                    values_.append("\"\(m.sourceName)\":\(raw)")
                    tags.append("{\"name\":\"\(m.sourceName)\",\"value\":\(raw)}")
                }
            }
            guard count > 0 else { return [] }
            let head = "{\"timestamp\":\(t),\"node\":\"\(n.node)\",\"group\":\"\(n.group)\""
            // Alternate Neuron's two output formats by device.
            let body = di % 2 == 0
                ? head + ",\"values\":{\(values_.joined(separator: ","))},\"errors\":{\(errors.joined(separator: ","))}}"
                : head + ",\"tags\":[\(tags.joined(separator: ","))]}"
            return [OutgoingMessage(topic: topic(g, filling: [n.node, n.group]), payload: Array(body.utf8),
                                    eventTime: nil, device: di, readings: count)]
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
