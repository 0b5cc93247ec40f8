import Foundation
import PlantRegistry
import ReadingStore
import Sparkplug

/// Gateways and devices seen on the broker but missing from the registry, found in the
/// quarantine (`unknown_topic`, `unknown_device`), with gateway-file YAML to add them.
///
/// Devices are read from the topic and a sample payload, never from the decoders' messages,
/// so a reworded quarantine detail changes nothing here.
struct DeviceDiscovery {
    /// A sample value of a payload key, Neuron tag, plain topic or Sparkplug metric.
    enum Sample: Equatable {
        case number(Double)
        case text(String)
        case bool(Bool)
        case none

        var shown: String {
            switch self {
            case .number(let v): String(format: "%g", v)
            case .text(let s): "\"\(s.prefix(24))\""
            case .bool(let b): b ? "true" : "false"
            case .none: "?"
            }
        }
    }

    /// Where the YAML goes: the `devices:` list of a gateway the registry has, or a new file.
    enum Target: Hashable, Comparable {
        case existing(gateway: Int)
        case new(id: String)
    }

    /// A new gateway's header, guessed from its topics and payloads.
    struct NewGateway {
        var id: String
        var decoder: DecoderKind
        var topic: String
        var topicTemplate: String?
        var sparkplugGroup: String?
    }

    /// One device not in the registry, everything seen of it.
    struct Candidate {
        var target: Target
        var id: String
        /// As the gateway addresses it: the payload's device id, Neuron node/group, Sparkplug address.
        var neuron: (node: String, group: String)?
        var sparkplug: (edgeNode: String, device: String?)?
        var topics: Set<String> = []
        var messages = 0
        var firstMs = Int64.max
        var lastMs = Int64.min
        /// Source key (as sent) → a sample value, in the order first seen.
        var keys: [(String, Sample)] = []
        /// Why the sample payload told nothing (truncated, not JSON, aliases only).
        var remark: String?
    }

    let plant: Plant
    private(set) var candidates: [Candidate] = []
    private(set) var newGateways: [String: NewGateway] = [:]

    init(plant: Plant, summaries: [QuarantineSummary]) {
        self.plant = plant
        for s in summaries { add(s) }
        candidates.sort { ($0.target, $0.id) < ($1.target, $1.id) }
    }

    // MARK: Reading the quarantine

    private mutating func add(_ s: QuarantineSummary) {
        let gateway = Array(s.topic.utf8).withUnsafeBytes { plant.gatewayIndex(forTopic: $0) }
        let json = try? JSONDecoder().decode(JSONValue.self, from: Data(s.samplePayload))
        let truncated = s.samplePayload.count < s.samplePayloadBytes
        let decoder = gateway.map { plant.gateways[$0].decoder } ?? Self.guessDecoder(topic: s.topic, json: json)
        let target: Target
        if let gateway {
            target = .existing(gateway: gateway)
        } else {
            let g = newGateway(topic: s.topic, decoder: decoder)
            target = .new(id: g.id)
        }
        var found: [Candidate] = []
        switch decoder {
        case .native:
            let objects: [[String: JSONValue]] =
                switch json {
                case .object(let o)?: [o]
                case .array(let a)?: a.compactMap { if case .object(let o) = $0 { o } else { nil } }
                default: []
                }
            for o in objects {
                guard case .string(let id)? = o["device"] else { continue }
                var c = Candidate(target: target, id: Self.identifier(id))
                if case .object(let metrics)? = o["metrics"] { c.keys = metrics.keys.sorted().map { ($0, metrics[$0]!.sample) } }
                found.append(c)
            }
            if found.isEmpty {
                found.append(
                    Candidate(
                        target: target, id: Self.identifier(s.topic.split(separator: "/").last.map(String.init) ?? "device"),
                        remark: truncated ? "sample payload truncated" : "no `device` in the sample payload"))
            }
        case .neuron:
            guard case .object(let o)? = json, case .string(let node)? = o["node"] ?? o["node_name"],
                case .string(let group)? = o["group"] ?? o["group_name"]
            else {
                found.append(
                    Candidate(
                        target: target, id: Self.identifier(s.topic.split(separator: "/").last.map(String.init) ?? "device"),
                        remark: truncated ? "sample payload truncated" : "no node and group in the sample payload"))
                break
            }
            var c = Candidate(target: target, id: Self.identifier(group), neuron: (node, group))
            if case .object(let values)? = o["values"] { c.keys += values.keys.sorted().map { ($0, values[$0]!.sample) } }
            if case .object(let errors)? = o["errors"] { c.keys += errors.keys.sorted().map { ($0, .none) } }
            if case .array(let tags)? = o["tags"] {
                for case .object(let t) in tags {
                    if case .string(let name)? = t["name"] { c.keys.append((name, t["value"]?.sample ?? .none)) }
                }
            }
            found.append(c)
        case .plain:
            let levels = s.topic.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            let template = gateway.flatMap { plant.gateways[$0].topicTemplate?.text } ?? newGateways[target.newID ?? ""]?.topicTemplate
            let parts = template.map { $0.split(separator: "/", omittingEmptySubsequences: false).map(String.init) } ?? []
            let device =
                parts.firstIndex(of: "{device}").flatMap { $0 < levels.count ? levels[$0] : nil } ?? levels.dropLast().last ?? "device"
            let metric = parts.firstIndex(of: "{metric}").flatMap { $0 < levels.count ? levels[$0] : nil } ?? levels.last ?? "value"
            var c = Candidate(target: target, id: Self.identifier(device))
            let text = String(decoding: s.samplePayload, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            c.keys = [(metric, Double(text).map(Sample.number) ?? .text(text))]
            found.append(c)
        case .sparkplug:
            let topic = SparkplugTopic(s.topic)
            var c = Candidate(
                target: target, id: Self.identifier(topic?.device ?? topic?.edgeNode ?? "device"),
                sparkplug: topic.map { ($0.edgeNode, $0.device) })
            if let payload = try? SparkplugPayload(serializedBytes: s.samplePayload) {
                c.keys = payload.metrics.compactMap { m in m.name.map { ($0, Self.sample(m.value)) } }
                if c.keys.isEmpty { c.remark = "the sample carries aliases only: its names come in the NBIRTH/DBIRTH" }
            } else {
                c.remark = truncated ? "sample payload truncated" : "the sample is not a Sparkplug B payload"
            }
            found.append(c)
        }
        for var c in found {
            // Known after all (added to the registry since, or a Sparkplug device waiting for its birth).
            if plant.deviceIndex(id: c.id) != nil && c.neuron == nil && c.sparkplug == nil { continue }
            if let g = gateway, let n = c.neuron, plant.gateways[g].neuronDevices[NeuronGroup(node: n.node, group: n.group)] != nil {
                continue
            }
            if let g = gateway, let sp = c.sparkplug,
                plant.gateways[g].sparkplugDevices[SparkplugAddress(edgeNode: sp.edgeNode, device: sp.device)] != nil
            {
                continue
            }
            c.topics.insert(s.topic)
            c.messages = s.messages
            c.firstMs = s.firstReceivedAtMs
            c.lastMs = s.lastReceivedAtMs
            merge(c)
        }
    }

    private mutating func merge(_ c: Candidate) {
        guard let i = candidates.firstIndex(where: { $0.target == c.target && $0.id == c.id }) else { return candidates.append(c) }
        candidates[i].topics.formUnion(c.topics)
        candidates[i].messages += c.messages
        candidates[i].firstMs = min(candidates[i].firstMs, c.firstMs)
        candidates[i].lastMs = max(candidates[i].lastMs, c.lastMs)
        for (k, v) in c.keys where !candidates[i].keys.contains(where: { $0.0 == k }) { candidates[i].keys.append((k, v)) }
        if candidates[i].remark == nil || !c.keys.isEmpty { candidates[i].remark = c.keys.isEmpty ? c.remark : nil }
    }

    /// The new gateway a topic no gateway subscribes to belongs to: one per decoder and topic
    /// family (a Neuron app, a Sparkplug group, a plain topic's shape, a JSON topic's first level).
    private mutating func newGateway(topic: String, decoder: DecoderKind) -> NewGateway {
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var g: NewGateway
        switch decoder {
        case .sparkplug:
            let group = levels.count > 1 ? levels[1] : "group"
            g = NewGateway(
                id: "gw-\(Self.identifier(group))-sparkplug", decoder: .sparkplug, topic: "spBv1.0/\(group)/#", sparkplugGroup: group)
        case .neuron where levels.count >= 3 && levels[1] == "neuron":
            g = NewGateway(
                id: "gw-\(Self.identifier(levels[2]))-neuron", decoder: .neuron,
                topic: (levels.prefix(3) + Array(repeating: "+", count: max(0, levels.count - 3))).joined(separator: "/"))
        case .plain where levels.count >= 2:
            // The last two levels are device and metric; levels before them stay as seen.
            let head = levels.dropLast(2)
            g = NewGateway(
                id: "gw-\(Self.identifier(head.first(where: { !$0.isEmpty }) ?? "plain"))-\(levels.count)-plain", decoder: .plain,
                topic: (head + ["+", "+"]).joined(separator: "/"), topicTemplate: (head + ["{device}", "{metric}"]).joined(separator: "/"))
        default:
            let first = levels.first(where: { !$0.isEmpty }) ?? "gateway"
            let prefix = levels.prefix { $0.isEmpty } + [first]
            g = NewGateway(
                id: "gw-\(Self.identifier(first))-\(decoder.rawValue)", decoder: decoder, topic: (prefix + ["#"]).joined(separator: "/"))
        }
        if let known = newGateways[g.id] {
            // Plain topics of one family but different fixed levels: widen the varying levels.
            if g.decoder == .plain, known.topicTemplate != g.topicTemplate,
                var t = known.topicTemplate?.split(separator: "/").map(String.init),
                let u = g.topicTemplate?.split(separator: "/").map(String.init), t.count == u.count
            {
                var f = known.topic.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
                for i in t.indices where t[i] != u[i] {
                    t[i] = "{level\(i + 1)}"
                    f[i] = "+"
                }
                newGateways[g.id]?.topicTemplate = t.joined(separator: "/")
                newGateways[g.id]?.topic = f.joined(separator: "/")
            }
            return newGateways[g.id]!
        }
        while plant.gateways.contains(where: { $0.id == g.id }) { g.id += "-new" }
        newGateways[g.id] = g
        return g
    }

    static func guessDecoder(topic: String, json: JSONValue?) -> DecoderKind {
        if topic.hasPrefix("spBv1.0/") { return .sparkplug }
        switch json {
        case .object(let o)? where (o["node"] ?? o["node_name"]) != nil && (o["values"] != nil || o["tags"] != nil): return .neuron
        case .object(let o)? where o["device"] != nil: return .native
        case .array?: return .native
        default: return .plain
        }
    }

    static func sample(_ v: SparkplugValue) -> Sample {
        switch v {
        case .number(let d): .number(d)
        case .bool(let b): .bool(b)
        case .text(let s): .text(s)
        case .null, .unsupported: .none
        }
    }

    /// A registry id from what a gateway sends: lower case, letters, digits, `-` and `_`.
    static func identifier(_ text: String) -> String {
        let mapped = text.lowercased().unicodeScalars.map { c in
            (("a"..."z").contains(c) || ("0"..."9").contains(c) || c == "-" || c == "_") ? Character(c) : "_"
        }
        let id = String(mapped).trimmingCharacters(in: CharacterSet(charactersIn: "_-"))
        return id.isEmpty ? "device" : id
    }
}

extension DeviceDiscovery.Target {
    /// A new gateway's id.
    var newID: String? { if case .new(let id) = self { id } else { nil } }
}

/// Any JSON value, enough to read a sample payload's keys and values.
enum JSONValue: Decodable, Equatable {
    case number(Double)
    case string(String)
    case bool(Bool)
    case object([String: JSONValue])
    case array([JSONValue])
    case null

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    var sample: DeviceDiscovery.Sample {
        switch self {
        case .number(let d): .number(d)
        case .string(let s): .text(s)
        case .bool(let b): .bool(b)
        default: .none
        }
    }
}
