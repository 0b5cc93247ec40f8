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
        /// Scope totals a counter's consumption adds to, e.g. (.line("l1"), "good", 1); a meter
        /// below a node subtracts from the node's unmetered use (weight −1).
        public var targets: [(scope: Scope, quantity: String, weight: Double)]
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
    /// The scopes that have an unmetered figure, per quantity (`MeteringTree.unmeteredScopes`),
    /// kept so a reader need not build the metering tree a second time.
    public var unmeteredScopes: [String: [Scope]]

    /// Plant-level quantity names.
    public static func consumption(_ c: Carrier) -> String { "consumption.\(c.rawValue)" }
    /// A medium made on site (`origin: on_site`): allocated to its users, never added to the
    /// site's comprehensive energy a second time.
    public static func onSite(_ c: Carrier) -> String { "on_site.\(c.rawValue)" }
    /// A node's use its whole-node meters see and the meters below it do not.
    public static func unmetered(_ quantity: String) -> String { "\(unmeteredPrefix)\(quantity)" }
    public static let unmeteredPrefix = "unmetered."
    /// Good and scrap output of one product, at workshops and sites (final products only).
    public static func good(product: String) -> String { "\(goodPrefix)\(product)" }
    public static func scrap(product: String) -> String { "\(scrapPrefix)\(product)" }
    public static let goodPrefix = "good."
    public static let scrapPrefix = "scrap."
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
        calendar = calendars.first ?? WindowCalendar(timeZone: TimeZone(identifier: site?.timeZone ?? "Asia/Shanghai") ?? .current)
        let siteIndex = Dictionary(plant.sites.enumerated().map { ($1.id, $0) }) { a, _ in a }
        let tree = MeteringTree(plant: plant)
        unmeteredScopes = tree.unmeteredScopes
        func meterTargets(_ di: Int, _ c: Carrier) -> [(scope: Scope, quantity: String, weight: Double)] {
            (tree.targets[MeteringTree.MeterKey(device: di, carrier: c)] ?? []).map { ($0.scope, $0.quantity, $0.weight) }
        }
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
                        if let c = m.carrier { p.targets = meterTargets(di, c) }
                    case .goodCount: p.targets = Self.outputTargets(plant, d, good: true)
                    case .scrapCount: p.targets = Self.outputTargets(plant, d, good: false)
                    default: break
                    }
                case .gauge:
                    if let c = m.carrier, m.measures == .energy, Self.integrates(d, c) {
                        p.kind = .integratedGauge
                        p.targets = meterTargets(di, c)
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

    /// Which scopes each meter's consumption counts in (from `MeteringTree`), for tests and tools.
    static func meterScopes(_ plant: Plant) -> [MeterKey: [Scope]] {
        let tree = MeteringTree(plant: plant)
        var out: [MeterKey: [Scope]] = [:]
        for key in tree.targets.keys {
            out[MeterKey(device: key.device, carrier: key.carrier)] = tree.scopes(device: key.device, carrier: key.carrier)
        }
        return out
    }
}
