/// Whether a meter measures the node it is attached to as a whole, or only part of it
/// (`meter_scope` in a device's entry).
public enum MeterScope: String, Sendable, CaseIterable, Codable {
    /// Everything the node uses of the carrier passes through the meter (an incoming feeder).
    case whole
    /// One feeder or consumer inside the node, beside its children (an office, a compressor).
    case part
}

/// Where a medium a meter measures comes from (`origin` in a device's entry): compressed air,
/// steam and chilled water made on site are already counted as the electricity or fuel that
/// made them.
public enum MediumOrigin: String, Sendable, CaseIterable, Codable {
    case onSite = "on_site"
    case purchased
}

/// A node of the metering tree a meter can attach to: the site, a workshop, a line, or a
/// machine (a device in a process: its own register measures itself).
public enum MeterNode: Hashable, Sendable, Comparable, CustomStringConvertible {
    case site(String)
    case workshop(String)
    case line(String)
    case machine(String)

    /// The reported scope of the node; machines are not reported on their own.
    public var scope: Scope? {
        switch self {
        case .site(let id): .site(id)
        case .workshop(let id): .workshop(id)
        case .line(let id): .line(id)
        case .machine: nil
        }
    }

    public var description: String {
        switch self {
        case .site(let id): "site \(id)"
        case .workshop(let id): "workshop \(id)"
        case .line(let id): "line \(id)"
        case .machine(let id): "machine \(id)"
        }
    }

    /// The node a device's meter attaches to: its machine when it sits in a process, else its
    /// line, workshop or site.
    public static func of(_ d: Device) -> MeterNode {
        if d.process != nil { return .machine(d.id) }
        if let l = d.line { return .line(l) }
        if let w = d.workshop { return .workshop(w) }
        return .site(d.site)
    }
}

/// The metering tree of one carrier: every meter of it, where it attaches, whether it measures
/// its node as a whole or part of it, and its declared upstream meter.
///
/// Built from the registry (`meter_scope`, `parent`, and the older `meter_role`), so validation
/// and the aggregation plan read the same resolution. The older roles map as follows: `main`
/// (or no role) is a whole-node meter; `sub` is a part meter when its node also has a
/// whole-node meter of the carrier, a whole-node meter at a line or machine (a line's own
/// meter sees its machines), and at a workshop or site a whole-node meter when a node above it
/// has a whole-node meter of the carrier (it is that meter's sub-meter: the workshop's feeder)
/// and a part meter otherwise (a feeder beside the children, such as an office).
public struct MeteringLayout: Sendable {
    public struct Meter: Sendable, Equatable {
        /// The device's index in the registry.
        public var device: Int
        public var node: MeterNode
        public var scope: MeterScope
        /// The declared upstream meter (`parent`), a device index.
        public var parent: Int?
        /// Resolved from `meter_role: sub` rather than declared: several such whole-node meters
        /// of one node are added, as the older rule did (a line's sub-meters).
        public var fromRole: Bool = false
    }

    public var carrier: Carrier
    public var meters: [Meter]
    /// Each node's parent in the plant tree (the site has none).
    public var up: [MeterNode: MeterNode]
    /// Each node's children in the plant tree, in registry order.
    public var children: [MeterNode: [MeterNode]]
    /// The sites, the roots of the tree.
    public var roots: [MeterNode]

    /// Whether a device meters the carrier's consumption (a register, or a gauge integrated
    /// because the device has no register of it).
    public static func meters(_ d: Device, _ c: Carrier) -> Bool {
        let register = d.metrics.contains { $0.kind == .counter && $0.measures == .energy && $0.carrier == c }
        return register || d.metrics.contains { $0.kind == .gauge && $0.measures == .energy && $0.carrier == c }
    }

    /// The layout of one carrier in a plant (empty when nothing meters it).
    public init(plant: Plant, carrier c: Carrier) {
        carrier = c
        up = [:]
        children = [:]
        roots = []
        for site in plant.sites {
            let s = MeterNode.site(site.id)
            roots.append(s)
            for ws in site.workshops {
                let w = MeterNode.workshop(ws.id)
                up[w] = s
                children[s, default: []].append(w)
                for line in ws.lines {
                    let l = MeterNode.line(line.id)
                    up[l] = w
                    children[w, default: []].append(l)
                }
            }
        }
        var found: [(Int, Device, MeterNode)] = []
        for (di, d) in plant.devices.enumerated() where Self.meters(d, c) {
            let node = MeterNode.of(d)
            if case .machine = node, let l = d.line {
                up[node] = .line(l)
                children[.line(l), default: []].append(node)
            }
            found.append((di, d, node))
        }
        func declaredWhole(_ d: Device) -> Bool {
            d.meterScope.map { $0 == .whole } ?? (d.meterRole != .sub)
        }
        var wholeAt: Set<MeterNode> = []
        for (_, d, node) in found where declaredWhole(d) { wholeAt.insert(node) }
        let up = self.up
        meters = found.map { di, d, node in
            let scope: MeterScope
            if let declared = d.meterScope {
                scope = declared
            } else if d.meterRole != .sub {
                scope = .whole
            } else if wholeAt.contains(node) {
                scope = .part
            } else {
                switch node {
                case .line, .machine: scope = .whole
                case .site, .workshop:
                    var n = up[node]
                    var above = false
                    while let x = n, !above {
                        above = wholeAt.contains(x)
                        n = up[x]
                    }
                    scope = above ? .whole : .part
                }
            }
            return Meter(
                device: di, node: node, scope: scope, parent: d.parentMeter.flatMap { plant.deviceIndex(id: $0) },
                fromRole: d.meterScope == nil && d.meterRole == .sub)
        }
    }

    /// The meter of a device, if it meters the carrier.
    public func meter(device: Int) -> Meter? { meters.first { $0.device == device } }

    /// Whether `a` is `b` or a node above it.
    public func isAtOrAbove(_ a: MeterNode, _ b: MeterNode) -> Bool {
        var n: MeterNode? = b
        while let x = n {
            if x == a { return true }
            n = up[x]
        }
        return false
    }

    /// The chain of declared parents above a meter, nearest first; stops at a cycle.
    public func parents(of device: Int) -> [Int] {
        var out: [Int] = []
        var next = meter(device: device)?.parent
        while let p = next, p != device, !out.contains(p) {
            out.append(p)
            next = meter(device: p)?.parent
        }
        return out
    }

    /// The whole-node meters of a node that measure it: those whose declared parents do not
    /// lead to another whole-node meter of the same node (such a downstream one is a check
    /// meter, stored and queryable, counted nowhere).
    public func topWhole(at node: MeterNode) -> [Int] {
        let whole = meters.filter { $0.node == node && $0.scope == .whole }.map(\.device)
        return whole.filter { m in !parents(of: m).contains { whole.contains($0) } }
    }

    /// The part meters attached to a node.
    public func parts(at node: MeterNode) -> [Int] {
        meters.filter { $0.node == node && $0.scope == .part }.map(\.device)
    }

    /// Keeps the meters none of whose declared parents is in the list (a part meter inside
    /// another, a line fed from a workshop's part meter, count once, through the outer one).
    public func outermost(_ list: [Int]) -> [Int] {
        list.filter { m in !parents(of: m).contains { list.contains($0) } }
    }
}
