import Foundation
public import PlantRegistry
import Telemetry

/// What the aggregator does with each series, and which plant totals it feeds; built once
/// from the registry.
public struct AggregationPlan: Sendable {
    /// How a series aggregates.
    public enum Kind: Sendable, Equatable {
        case counter(rollover: Double?)
        case gauge
        /// A power or flow gauge of a meter that has no counter: integrated over time
        /// (trapezoid, per hour of its unit) into consumption.
        case integratedGauge
        case state
    }

    public struct SeriesPlan: Sendable {
        public var kind: Kind
        /// Scope totals a counter's consumption adds to, e.g. (.line("l1"), "good").
        public var targets: [(scope: Scope, quantity: String)]
        /// The machine this state series describes (its machine state or control mode).
        public var machine: Int?
        /// The device (index in the registry) the series belongs to.
        public var device: Int = 0
        /// An interval between reads longer than this is a gap (estimated use).
        public var gapMs: Int64 = 1_800_000
        /// Counters: a drop to at most this fraction of the previous read is a reset.
        public var resetBelow: Double = 0.1
        /// Counters with a modulus: how near its top and zero a rollover's reads must be.
        public var rolloverMargin: Double = 0.1
        /// States: after this long without any message from the device, the state is unknown;
        /// nil holds the state until the next value (Sparkplug: until a death certificate).
        public var staleAfterMs: Int64? = 8 * 3_600_000
        /// What its use is multiplied by where it is booked into scope totals: the metric's
        /// unit in its carrier's canonical unit (Wh → kWh: 0.001); 1 for counts.
        public var unitFactor: Double = 1
        /// The site (index in the registry) whose calendar its scope hours and days follow.
        public var site: Int = 0
    }

    /// A key-process machine: producing time, and producing time under NC control, roll up.
    public struct MachinePlan: Sendable {
        public var device: String
        public var stateSeries: SeriesIndex
        public var modeSeries: SeriesIndex?
        public var ncCapable: Bool
        public var scopes: [Scope]
        /// The site (index in the registry) whose calendar its scope hours and days follow.
        public var site: Int = 0
    }

    public var series: [SeriesPlan]
    public var machines: [MachinePlan]
    /// The first site's calendar (the one a plant with one site uses everywhere).
    public var calendar: WindowCalendar
    /// Each site's calendar, in registry order: a scope's hours and days are its site's.
    public var calendars: [WindowCalendar]
    /// The state series of each device (index in the registry): a message from the device
    /// may change how long their states were known.
    public var deviceStateSeries: [[SeriesIndex]]

    /// Plant-level quantity names.
    public static func consumption(_ c: Carrier) -> String { "consumption.\(c.rawValue)" }
    public static let good = "good"
    public static let scrap = "scrap"
    public static let producingMs = "producing_ms"
    public static let ncProducingMs = "nc_producing_ms"
    /// Key-process machine time whose state is unknown (device silent or offline).
    public static let unknownMs = "unknown_ms"
    /// The estimated part of a quantity (use spread over gaps).
    public static func estimated(_ quantity: String) -> String { "\(quantity).estimated" }
    /// The state booked for time whose state is not known.
    public static let unknownState = "unknown"

    public init(plant: Plant) {
        let site = plant.sites.first
        calendars = plant.sites.map { WindowCalendar(timeZone: TimeZone(identifier: $0.timeZone) ?? .current) }
        calendar = calendars.first ?? WindowCalendar(timeZone: TimeZone(identifier: "Asia/Shanghai") ?? .current)
        let siteIndex = Dictionary(plant.sites.enumerated().map { ($1.id, $0) }) { a, _ in a }
        let meterScopes = Self.meterScopes(plant)
        series = plant.series.indices.map { _ in SeriesPlan(kind: .gauge, targets: [], machine: nil) }
        machines = []
        deviceStateSeries = Array(repeating: [], count: plant.devices.count)
        for (di, d) in plant.devices.enumerated() {
            let place = Self.scopes(of: d)
            let siteStale = plant.sites.first { $0.id == d.site }?.staleAfterMs ?? site?.staleAfterMs ?? 8 * 3_600_000
            for m in d.metrics {
                var p = SeriesPlan(kind: .gauge, targets: [], machine: nil)
                p.device = di
                p.site = siteIndex[d.site] ?? 0
                if m.carrier != nil, m.measures == .energy { p.unitFactor = m.toCanonical }
                p.gapMs = 2 * m.expectedIntervalMs
                p.resetBelow = m.resetBelow
                p.rolloverMargin = m.rolloverMargin
                // Sparkplug devices say when they go offline (death certificates): their states hold until then.
                p.staleAfterMs = d.sparkplug != nil ? nil : (d.staleAfterMs ?? siteStale)
                if m.kind == .state { deviceStateSeries[di].append(m.series) }
                switch m.kind {
                case .counter:
                    p.kind = .counter(rollover: m.rollover)
                    switch m.measures {
                    case .energy:
                        if let c = m.carrier {
                            p.targets = (meterScopes[MeterKey(device: di, carrier: c)] ?? []).map { ($0, Self.consumption(c)) }
                        }
                    case .goodCount: p.targets = place.map { ($0, Self.good) }
                    case .scrapCount: p.targets = place.map { ($0, Self.scrap) }
                    default: break
                    }
                case .gauge:
                    if let c = m.carrier, m.measures == .energy, Self.integrates(d, c) {
                        p.kind = .integratedGauge
                        p.targets = (meterScopes[MeterKey(device: di, carrier: c)] ?? []).map { ($0, Self.consumption(c)) }
                    }
                case .state: p.kind = .state
                }
                series[Int(m.series)] = p
            }
            if d.keyProcess, let state = d.metrics.first(where: { $0.measures == .machineState }) {
                let mode = d.metrics.first { $0.measures == .controlMode }
                let index = machines.count
                machines.append(
                    MachinePlan(
                        device: d.id, stateSeries: state.series, modeSeries: mode?.series,
                        ncCapable: d.ncCapable, scopes: place, site: siteIndex[d.site] ?? 0))
                series[Int(state.series)].machine = index
                if let mode { series[Int(mode.series)].machine = index }
            }
        }
    }

    /// A device's gauge of a carrier is integrated when the device has no counter of it.
    static func integrates(_ d: Device, _ c: Carrier) -> Bool {
        !d.metrics.contains { $0.kind == .counter && $0.carrier == c }
    }

    /// The reported scopes a device sits in, innermost first.
    public static func scopes(of d: Device) -> [Scope] {
        Scope.containing(d)
    }

    struct MeterKey: Hashable {
        var device: Int
        var carrier: Carrier
    }

    /// Which scopes each meter's consumption counts in, without counting anything twice.
    ///
    /// A node's total for a carrier is measured by the main meters attached to it (role main,
    /// or no role) where it has any. Otherwise a line is measured by its own sub-meters if it
    /// has any (they see its machines), and a workshop or site by its sub-meters (feeders beside
    /// its children, such as an office) plus its children's totals. So a line sub-meter under a
    /// workshop main meter counts for its line but not again for the workshop or the site, a
    /// machine's own register under a line meter does not add to the line, and a sub-meter
    /// beside a main meter at the same node counts nowhere above it.
    static func meterScopes(_ plant: Plant) -> [MeterKey: [Scope]] {
        var out: [MeterKey: [Scope]] = [:]
        for c in Carrier.allCases {
            // Meters of this carrier by the node they attach to (a process counts inside its line).
            var attached: [MeterNode: [(device: Int, main: Bool)]] = [:]
            for (di, d) in plant.devices.enumerated() {
                guard d.metrics.contains(where: { $0.carrier == c && ($0.kind == .counter || ($0.kind == .gauge && integrates(d, c))) })
                else { continue }
                let node =
                    d.process.map { MeterNode.process(line: d.line ?? "", id: $0) } ?? d.line.map { .scope(.line($0)) }
                    ?? d.workshop.map { .scope(.workshop($0)) } ?? .scope(.site(d.site))
                attached[node, default: []].append((di, d.meterRole != .sub))
            }
            guard !attached.isEmpty else { continue }
            var cache: [MeterNode: [Int]] = [:]
            // The meters that measure a node's total.
            func measuring(_ node: MeterNode, children: [MeterNode]) -> [Int] {
                let here = attached[node] ?? []
                let mains = here.filter(\.main).map(\.device)
                if !mains.isEmpty { return mains }
                let subs = here.map(\.device)
                // A line's own meter already sees the machines of its processes; a workshop's or
                // site's sub-meters are feeders beside its children.
                if case .scope(.line) = node, !subs.isEmpty { return subs }
                return subs + children.flatMap { child in cache[child] ?? [] }
            }
            for site in plant.sites {
                var workshopNodes: [MeterNode] = []
                for ws in site.workshops {
                    var lineNodes: [MeterNode] = []
                    for line in ws.lines {
                        let processNodes = line.processes.map { MeterNode.process(line: line.id, id: $0.id) }
                        for p in processNodes { cache[p] = measuring(p, children: []) }
                        cache[.scope(.line(line.id))] = measuring(.scope(.line(line.id)), children: processNodes)
                        lineNodes.append(.scope(.line(line.id)))
                    }
                    cache[.scope(.workshop(ws.id))] = measuring(.scope(.workshop(ws.id)), children: lineNodes)
                    workshopNodes.append(.scope(.workshop(ws.id)))
                }
                cache[.scope(.site(site.id))] = measuring(.scope(.site(site.id)), children: workshopNodes)
            }
            for (node, meters) in cache {
                guard case .scope(let scope) = node else { continue }
                for m in meters { out[MeterKey(device: m, carrier: c), default: []].append(scope) }
            }
        }
        return out.mapValues { $0.sorted() }
    }

    /// A node a meter can attach to: a reported scope, or a process inside a line (never reported).
    enum MeterNode: Hashable {
        case scope(Scope)
        case process(line: String, id: String)
    }
}
