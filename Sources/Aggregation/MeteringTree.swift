public import PlantRegistry

/// Which scope totals each meter's use adds to, from the metering tree (DOMAIN.md, "The
/// metering tree"): the one place that decides what is counted where, so nothing is counted
/// twice.
///
/// A node's use of a carrier is its whole-node meter(s); failing that, its children's use plus
/// its part meters (each counted once: a meter whose declared `parent` is also in that sum is
/// inside it). Where a node has a whole-node meter and something below it is metered, the
/// difference is the node's *unmetered* use, booked as its own quantity (whole-node meters
/// +1, the meters below −1), so it sums over any window like every other total and the hourly
/// balance check (below ≤ whole + tolerance) reads it back.
public struct MeteringTree: Sendable {
    /// One contribution of a meter's use to a scope quantity.
    public struct Target: Sendable, Equatable {
        public var scope: Scope
        public var quantity: String
        /// +1, or −1 for a meter below a node in that node's unmetered use.
        public var weight: Double
    }

    public struct MeterKey: Hashable, Sendable {
        public var device: Int
        public var carrier: Carrier

        public init(device: Int, carrier: Carrier) {
            self.device = device
            self.carrier = carrier
        }
    }

    /// The contributions of each meter of each carrier.
    public var targets: [MeterKey: [Target]] = [:]
    /// The scopes that have an unmetered figure, per quantity (`consumption.electricity`...).
    public var unmeteredScopes: [String: [Scope]] = [:]

    /// The quantity a meter's use is booked as: media made on site (`origin: on_site`) apart
    /// from purchased consumption, so comprehensive energy never counts them twice.
    public static func quantity(_ d: Device, _ c: Carrier) -> String {
        c.isMedium && d.origin == .onSite ? AggregationPlan.onSite(c) : AggregationPlan.consumption(c)
    }

    public init(plant: Plant) {
        // The carriers something meters, asking each device only of the carriers its metrics
        // name: a layout (a walk of the plant and its devices) is built only for those.
        var metered: Set<Carrier> = []
        for d in plant.devices {
            for c in Set(d.metrics.compactMap(\.carrier)) where MeteringLayout.meters(d, c) { metered.insert(c) }
        }
        for c in Carrier.allCases where metered.contains(c) {
            let layout = MeteringLayout(plant: plant, carrier: c)
            guard !layout.meters.isEmpty else { continue }
            // The layout scans every meter per question; most nodes have none, and each node's
            // top whole-node meters are asked twice: answered once here.
            let withMeters = Set(layout.meters.map(\.node))
            var tops: [MeterNode: [Int]] = [:]
            func topWhole(_ node: MeterNode) -> [Int] {
                guard withMeters.contains(node) else { return [] }
                if let known = tops[node] { return known }
                let top = layout.topWhole(at: node)
                tops[node] = top
                return top
            }
            var memo: [MeterNode: [Int]] = [:]
            func below(_ node: MeterNode) -> [Int] {
                let parts = withMeters.contains(node) ? layout.parts(at: node) : []
                return layout.outermost(parts + (layout.children[node] ?? []).flatMap(measuring))
            }
            func measuring(_ node: MeterNode) -> [Int] {
                if let known = memo[node] { return known }
                let top = topWhole(node)
                let out = top.isEmpty ? below(node) : top
                memo[node] = out
                return out
            }
            func add(_ m: Int, _ scope: Scope, unmetered: Bool, _ weight: Double) {
                let q = Self.quantity(plant.devices[m], c)
                targets[MeterKey(device: m, carrier: c), default: []].append(
                    Target(scope: scope, quantity: unmetered ? AggregationPlan.unmetered(q) : q, weight: weight))
            }
            var nodes: [MeterNode] = []
            func walk(_ n: MeterNode) {
                nodes.append(n)
                for child in layout.children[n] ?? [] { walk(child) }
            }
            for root in layout.roots { walk(root) }
            for node in nodes {
                guard let scope = node.scope else { continue }
                for m in measuring(node) { add(m, scope, unmetered: false, 1) }
                let top = topWhole(node)
                let inside = top.isEmpty ? [] : below(node)
                guard !inside.isEmpty else { continue }
                for m in top { add(m, scope, unmetered: true, 1) }
                for m in inside { add(m, scope, unmetered: true, -1) }
                for q in Set(top.map { Self.quantity(plant.devices[$0], c) }) { unmeteredScopes[q, default: []].append(scope) }
            }
        }
    }

    /// The scopes whose total a meter's use counts in (weight +1, not unmetered), sorted.
    public func scopes(device: Int, carrier: Carrier) -> [Scope] {
        (targets[MeterKey(device: device, carrier: carrier)] ?? [])
            .filter { $0.weight > 0 && !$0.quantity.hasPrefix(AggregationPlan.unmeteredPrefix) }
            .map(\.scope).sorted()
    }
}
