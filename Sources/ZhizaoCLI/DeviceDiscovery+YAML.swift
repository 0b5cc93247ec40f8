import Foundation
import PlantRegistry

extension DeviceDiscovery {
    /// A metric as suggested for the registry, guessed from its source key and a sample value.
    struct MetricGuess {
        var name: String
        var source: String?
        var kind: String
        var unit: String?
        var measures: String
        var carrier: String?
        var comment: String
    }

    /// The guess for one key: energy and water meters as counters, counts in pcs, power in kW,
    /// words as states; anything else a gauge whose unit the user checks.
    static func guess(key: String, sample: Sample) -> MetricGuess {
        let name = identifier(key)
        let k = key.lowercased()
        var g = MetricGuess(
            name: name, source: name == key ? nil : key, kind: "gauge", unit: "1", measures: "other",
            comment: "sample \(sample.shown); check kind and unit")
        func has(_ words: String...) -> Bool { words.contains { k.contains($0) } }
        switch sample {
        case .text(let word):
            g.kind = "state"
            g.unit = nil
            if Metric.machineStates.contains(word) {
                g.measures = "machine_state"
            } else if Metric.controlModes.contains(word) {
                g.measures = "control_mode"
            } else {
                g.comment = "sample \(sample.shown); map the gateway's words with `states:` if this is a machine state or mode"
            }
        case .bool:
            g.kind = "state"
            g.unit = nil
        case .number, .none:
            if has("state", "status", "mode", "run") {
                g.kind = "state"
                g.unit = nil
                g.comment =
                    "sample \(sample.shown); map codes to words, e.g. `states: {1: producing, 3: idle}`, and set `measures: machine_state`"
            } else if has("kwh", "energy") {
                (g.kind, g.unit, g.measures, g.carrier) = ("counter", "kWh", "energy", "electricity")
                g.comment = "sample \(sample.shown); set `meter_role: main` or `sub` on the device if it is a meter"
            } else if has("water") {
                (g.kind, g.unit, g.measures, g.carrier) = ("counter", "m3", "energy", "water")
            } else if has("good", "count", "cnt", "pcs", "parts") {
                (g.kind, g.unit) = ("counter", "pcs")
                g.comment = "sample \(sample.shown); set `measures: good_count` if this is the line's good output"
            } else if has("power", "_kw", "kw_") || k == "p" {
                g.unit = "kW"
            } else if has("temp") {
                g.unit = "degC"
            }
        }
        return g
    }

    /// The YAML to add every candidate: a new gateway file per new gateway, and for gateways the
    /// registry has, the entries for the end of their `devices:` list. Each part starts with a
    /// comment naming its file; the device's place in the plant is left as TODO.
    func yaml(site: Site?, sites: [Site]) -> String {
        var out = """
            # zhizao devices discover: \(candidates.count) device(s) seen on the broker but not in the registry.
            # 1. Put each part below in the file its first comment names.
            # 2. Replace every TODO with the device's place in the plant (Devices/plant.yaml), or delete the key.
            # 3. Check each metric's kind, unit and measures, then `zhizao devices validate` and reload the daemon.

            """
        let targets = Array(Set(candidates.map(\.target))).sorted()
        for target in targets {
            let devices = candidates.filter { $0.target == target }
            switch target {
            case .existing(let g):
                let gateway = plant.gateways[g]
                out +=
                    "\n# ---- add to the end of the `devices:` list of \(gateway.file) (gateway \(gateway.id), \(gateway.decoder.rawValue))\n"
                if gateway.deviceIndices.isEmpty { out += "# (its list is still empty: replace `devices: []` there with `devices:`)\n" }
            case .new(let id):
                guard let g = newGateways[id] else { continue }
                out += "\n# ---- new file: gateways/\(g.id).yaml (decoder guessed from the sample payloads: check it)\n"
                out += "gateway: \(g.id)\ndecoder: \(g.decoder.rawValue)\n"
                if let group = g.sparkplugGroup { out += "group_id: \(scalar(group))\n" } else { out += "topic: \(scalar(g.topic))\n" }
                if let t = g.topicTemplate { out += "topic_template: \(scalar(t))\n" }
                out += "devices:\n"
            }
            for d in devices { out += deviceYAML(d, site: site, sites: sites) }
        }
        return out
    }

    private func deviceYAML(_ d: Candidate, site: Site?, sites: [Site]) -> String {
        let topics = d.topics.sorted()
        var y =
            "  # seen \(d.messages) message(s) on \(topics.prefix(3).joined(separator: ", "))\(topics.count > 3 ? " and \(topics.count - 3) more" : "")\n"
        if let r = d.remark { y += "  # \(r)\n" }
        y += "  - id: \(d.id)\n"
        if let site {
            y += "    site: \(site.id)\n"
        } else {
            y += "    site: TODO              # TODO site: \(sites.map(\.id).joined(separator: ", "))\n"
        }
        let workshops = (site.map { [$0] } ?? sites).flatMap(\.workshops)
        y += "    workshop: TODO          # TODO workshop: \(workshops.map(\.id).joined(separator: ", "))\n"
        y +=
            "    line: TODO              # TODO line of that workshop (\(workshops.map { "\($0.id): \($0.lines.map(\.id).joined(separator: ", "))" }.joined(separator: "; "))), or delete this key\n"
        y += "    process: TODO           # TODO process of that line (see plant.yaml), or delete this key\n"
        y += "    nc_capable: false       # true for a CNC or other numerically controlled machine\n"
        if let n = d.neuron { y += "    neuron: {node: \(scalar(n.node)), group: \(scalar(n.group))}\n" }
        if let sp = d.sparkplug {
            y += "    sparkplug: {edge_node_id: \(scalar(sp.edgeNode))\(sp.device.map { ", device_id: \(scalar($0))" } ?? "")}\n"
        }
        y += "    metrics:\n"
        var names: Set<String> = []
        let keys = d.keys.isEmpty ? [("value", Sample.none)] : d.keys
        for (key, sample) in keys {
            var m = Self.guess(key: key, sample: sample)
            while !names.insert(m.name).inserted { m.name += "_2" }
            y += "      - name: \(m.name)\(d.keys.isEmpty ? "              # no key seen: name it after what the gateway sends" : "")\n"
            y += "        kind: \(m.kind)\n"
            if let u = m.unit { y += "        unit: \(scalar(u))\n" }
            y += "        measures: \(m.measures)\n"
            if let c = m.carrier { y += "        carrier: \(c)\n" }
            if let s = m.source { y += "        source: \(scalar(s))\n" }
            y += "        # \(m.comment)\n"
        }
        return y
    }

    /// A YAML scalar: bare when it reads back as the same string, else double-quoted.
    func scalar(_ s: String) -> String {
        let plain =
            !s.isEmpty
            && s.unicodeScalars.allSatisfy { c in
                ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || "-_./".unicodeScalars.contains(c)
            }
        let special = ["true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"].contains(s.lowercased()) || Double(s) != nil
        if plain && !special && !s.hasPrefix("-") && !s.hasPrefix(".") { return s }
        var q = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": q += "\\\""
            case "\\": q += "\\\\"
            default: if c.value < 0x20 { q += "\\x" + String(format: "%02x", c.value) } else { q.unicodeScalars.append(c) }
            }
        }
        return q + "\""
    }
}
