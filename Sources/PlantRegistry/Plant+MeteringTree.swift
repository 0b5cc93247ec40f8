internal import Yams

extension PlantBuilder {
    /// Explains every metering layout that cannot be resolved: an unknown `parent`, a parent
    /// that meters none of the device's carriers or is not upstream of it, a cycle of parents,
    /// and two whole-node meters of one carrier on one node where neither names the other.
    func checkMeteringTree(_ plant: Plant, places: [(file: String, node: Node, fields: [String: Node])]) {
        let devices = plant.devices
        func at(_ i: Int) -> String { "\(places[i].file):\(places[i].node.mark?.line ?? 0)" }
        func problem(_ i: Int, _ key: String, _ message: String, hint: String) {
            log.add(places[i].file, places[i].fields[key] ?? places[i].node, message, hint: hint)
        }
        var reported: Set<Int> = []
        for (i, d) in devices.enumerated() {
            let carriers = Carrier.allCases.filter { MeteringLayout.meters(d, $0) }
            if d.meterScope != nil && carriers.isEmpty {
                problem(i, "meter_scope", "device \(d.id) has `meter_scope` but no energy metric", hint: "remove `meter_scope`")
            }
            if let o = d.origin, !carriers.contains(where: \.isMedium) {
                problem(
                    i, "origin", "device \(d.id) has `origin: \(o.rawValue)` but meters no compressed air, steam or chilled water",
                    hint: "remove `origin`: it applies to energy-consuming media only")
            }
            guard let pid = d.parentMeter else { continue }
            guard let p = plant.deviceIndex(id: pid) else {
                let near = nearest(pid, in: devices.map(\.id))
                problem(
                    i, "parent", "the `parent` of device \(d.id), \(pid), is not a device of the registry",
                    hint: near.isEmpty ? "name the meter upstream of it by its device id" : "did you mean `\(near[0])`?")
                reported.insert(i)
                continue
            }
            let shared = carriers.filter { MeteringLayout.meters(devices[p], $0) }
            if carriers.isEmpty {
                problem(i, "parent", "device \(d.id) has a `parent` but meters no carrier", hint: "remove `parent`")
            } else if shared.isEmpty {
                problem(
                    i, "parent",
                    "the `parent` of device \(d.id), \(pid) (\(at(p))), meters none of its carriers (\(carriers.map(\.rawValue).joined(separator: ", ")))",
                    hint: "name the meter of the same carrier upstream of \(d.id), or remove `parent`")
                reported.insert(i)
            }
        }
        for c in Carrier.allCases {
            let layout = MeteringLayout(plant: plant, carrier: c)
            guard !layout.meters.isEmpty else { continue }
            for m in layout.meters where !reported.contains(m.device) {
                guard let p = m.parent, let pm = layout.meter(device: p) else { continue }
                let d = devices[m.device]
                // A cycle: the chain of parents comes back to the meter.
                var chain = [m.device]
                var next: Int? = p
                while let x = next, !chain.contains(x) {
                    chain.append(x)
                    next = layout.meter(device: x)?.parent
                }
                if next == m.device {
                    problem(
                        m.device, "parent",
                        "the parents of \(c.rawValue) meters form a cycle: \((chain + [m.device]).map { devices[$0].id }.joined(separator: " → "))",
                        hint:
                            "each meter's `parent` is the meter its supply passes through first; remove the `parent` of the one nearest the incoming supply"
                    )
                    reported.insert(m.device)
                    continue
                }
                let upstream =
                    pm.node == m.node ? (pm.scope == .whole || m.scope == .part) : layout.isAtOrAbove(pm.node, m.node)
                if !upstream {
                    problem(
                        m.device, "parent",
                        "the `parent` of device \(d.id), \(devices[p].id) (\(at(p))), measures \(pm.scope == .part ? "part of " : "")\(pm.node), which is not upstream of \(d.id) at \(m.node)",
                        hint: "name a meter of \(m.node) or of a node above it (its workshop, its site), or remove `parent`")
                    reported.insert(m.device)
                }
            }
            for node in Set(layout.meters.map(\.node)).sorted() {
                let top = layout.topWhole(at: node)
                // Several `meter_role: sub` meters of a line were added by the older rule: kept.
                guard top.count > 1, !top.allSatisfy({ layout.meter(device: $0)?.fromRole == true }) else { continue }
                let names = top.map { "\(devices[$0].id) (\(at($0)))" }.joined(separator: " and ")
                for m in top.dropFirst() where !reported.contains(m) {
                    let first = devices[top[0]].id
                    problem(
                        m, "id",
                        "\(names) both measure \(node) as a whole (\(c.rawValue)) and neither names the other as `parent`: they would be added, or one ignored",
                        hint:
                            "if \(devices[m].id) sits downstream of \(first), add `parent: \(first)` to it; if it measures only part of \(node) (a feeder, an office), add `meter_scope: part`"
                    )
                    reported.insert(m)
                }
            }
        }
    }
}
