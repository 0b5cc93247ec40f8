public import PlantRegistry
import Telemetry

/// Changes to the stored rollups caused by one batch of readings, summed per key so a commit
/// writes each minute, state and scope window once.
public struct RollupDelta: Sendable {
    public struct SeriesMinute: Hashable, Sendable {
        public var series: SeriesIndex
        public var minute: Int64
    }

    /// Gauge statistics and counter consumption of one series in one minute.
    public struct MinuteStats: Sendable, Equatable {
        public var count = 0
        public var sum = 0.0
        public var min = Double.infinity
        public var max = -Double.infinity
        public var lastTs = Int64.min
        public var last = 0.0
        /// Counter consumption attributed to this minute (may be negative inside a delta when a
        /// late reading splits an earlier pair).
        public var consumption = 0.0
        /// The part of `consumption` spread over a gap (estimated, not measured).
        public var estimated = 0.0

        public init() {}
    }

    public struct StateMinute: Hashable, Sendable {
        public var series: SeriesIndex
        public var minute: Int64
        public var state: String
    }

    /// A scope quantity in one local hour or day.
    public struct ScopeWindow: Hashable, Sendable {
        public var scope: Scope
        public var quantity: String
        public var period: Period
        public var start: Int64
    }

    public enum Period: String, Sendable, CaseIterable {
        case hour
        case day
    }

    public struct MachineMinute: Hashable, Sendable {
        public var machine: Int
        public var minute: Int64
    }

    /// A key-process machine's minute: producing time, the part of it under NC/automatic
    /// control (the exact overlap of producing and nc intervals), and time whose state is unknown.
    public struct MachineMinuteValue: Sendable, Equatable {
        public var producingMs: Int64 = 0
        public var ncProducingMs: Double = 0
        public var unknownMs: Int64 = 0

        public init(producingMs: Int64 = 0, ncProducingMs: Double = 0, unknownMs: Int64 = 0) {
            self.producingMs = producingMs
            self.ncProducingMs = ncProducingMs
            self.unknownMs = unknownMs
        }

        public var isZero: Bool { producingMs == 0 && ncProducingMs == 0 && unknownMs == 0 }
    }

    /// A data-quality event of a series over `(start, end]`: a register drop, an estimated gap,
    /// a period whose state is unknown.
    public struct QualityKey: Hashable, Sendable {
        public var series: SeriesIndex
        public var kind: QualityKind
        public var start: Int64
        public var end: Int64
    }

    public enum QualityKind: String, Sendable, CaseIterable, Codable {
        /// The register wrapped at its modulus.
        case rollover
        /// The register restarted near zero (PLC restart, meter exchange).
        case reset
        /// A small drop (jitter): nothing booked, the high-water mark kept.
        case anomaly
        /// Use spread over a gap longer than twice the expected read interval.
        case estimated
        /// The device was silent past its staleness window: its state is unknown.
        case stale
        /// The device was declared offline (a Sparkplug death certificate): its state is unknown.
        case offline
    }

    /// How an event's count and amount change (+1 when a pair is booked, -1 when a late
    /// reading splits it).
    public struct QualityChange: Sendable, Equatable {
        public var count = 0
        /// The use booked (rollover, reset, estimated) or the milliseconds unknown (stale, offline).
        public var amount = 0.0
    }

    public var minutes: [SeriesMinute: MinuteStats] = [:]
    /// Minutes of `minutes` that held no stored reading and no booking before this delta: a
    /// reading opened them after its series' newest stored one (known from memory). A store
    /// need not look at what it holds for them.
    public var newMinutes: Set<SeriesMinute> = []
    public var states: [StateMinute: Int64] = [:]
    public var scopes: [ScopeWindow: Double] = [:]
    /// Machine minutes whose producing / NC-producing time must be recomputed.
    public var machineMinutes: Set<MachineMinute> = []
    /// Recomputed machine minutes to store (absolute values, replacing what was stored).
    public var machineRows: [MachineMinute: MachineMinuteValue] = [:]
    public var quality: [QualityKey: QualityChange] = [:]

    public init() {}

    public var isEmpty: Bool {
        minutes.isEmpty && states.isEmpty && scopes.isEmpty && machineMinutes.isEmpty && machineRows.isEmpty && quality.isEmpty
    }

    /// Adds to a scope quantity in the local hour and day holding `ts`.
    public mutating func addScope(_ scope: Scope, _ quantity: String, at ts: Int64, _ value: Double, calendar: WindowCalendar) {
        guard value != 0 else { return }
        scopes[.init(scope: scope, quantity: quantity, period: .hour, start: calendar.hourStart(ts)), default: 0] += value
        scopes[.init(scope: scope, quantity: quantity, period: .day, start: calendar.dayStart(ts)), default: 0] += value
    }

    public mutating func removeAll() {
        minutes.removeAll(keepingCapacity: true)
        newMinutes.removeAll(keepingCapacity: true)
        states.removeAll(keepingCapacity: true)
        scopes.removeAll(keepingCapacity: true)
        machineMinutes.removeAll(keepingCapacity: true)
        machineRows.removeAll(keepingCapacity: true)
        quality.removeAll(keepingCapacity: true)
    }
}
