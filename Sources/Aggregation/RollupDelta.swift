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

    public var minutes: [SeriesMinute: MinuteStats] = [:]
    public var states: [StateMinute: Int64] = [:]
    public var scopes: [ScopeWindow: Double] = [:]
    /// Machine minutes whose producing / NC-producing time must be recomputed.
    public var machineMinutes: Set<MachineMinute> = []

    public init() {}

    public var isEmpty: Bool { minutes.isEmpty && states.isEmpty && scopes.isEmpty && machineMinutes.isEmpty }

    /// Adds to a scope quantity in the local hour and day holding `ts`.
    public mutating func addScope(_ scope: Scope, _ quantity: String, at ts: Int64, _ value: Double, calendar: WindowCalendar) {
        guard value != 0 else { return }
        scopes[.init(scope: scope, quantity: quantity, period: .hour, start: calendar.hourStart(ts)), default: 0] += value
        scopes[.init(scope: scope, quantity: quantity, period: .day, start: calendar.dayStart(ts)), default: 0] += value
    }

    public mutating func removeAll() {
        minutes.removeAll(keepingCapacity: true)
        states.removeAll(keepingCapacity: true)
        scopes.removeAll(keepingCapacity: true)
        machineMinutes.removeAll(keepingCapacity: true)
    }
}
