public import PlantRegistry
public import Telemetry

/// A period whose figures were reported and closed (`zhizao close`): a scope's totals over
/// whole local days [start, end) that no reading may change any more.
///
/// What stays frozen is the *scope totals* (`scope_rollup`: the local-hour and local-day rows of
/// the closed scope and every scope within it), which `indicators` and `report` read: a late
/// reading's change to them is moved out of the commit (`takeHeld`) into a *late adjustment*
/// until the period is reopened. A frozen device's own minutes (`rollup_minute`, `state_minute`,
/// which `query` reads) take the late reading as usual, since the aggregator and a rebuild book
/// against them, but their additive part (readings, sum, consumption, estimated use, time per
/// state) is also recorded apart (`heldSeries`), so `query` can show them as closed; a late gauge
/// reading's minimum, maximum or last value is not separable and shows live. Machine minutes and
/// quality events stay live.
public struct ClosedPeriod: Sendable, Equatable, Identifiable {
    /// The store's id of the closure.
    public var id: Int64
    /// The period as the user gave it: `2026-11`, `2026-11-05`, `2026-11-01..2026-11-16`.
    public var label: String
    /// The scope that was closed.
    public var scope: Scope
    /// The scopes whose totals it freezes: the closed scope and every scope within it.
    public var frozen: Set<Scope>
    /// The devices in those scopes, whose own minutes `query` shows as closed.
    public var devices: Set<String>
    /// First local day start, ms since epoch.
    public var start: Int64
    /// End (exclusive), a local day start.
    public var end: Int64
    /// When it was closed, ms since epoch, and by whom.
    public var closedAtMs: Int64
    public var user: String

    public init(
        id: Int64, label: String, scope: Scope, frozen: Set<Scope>, devices: Set<String> = [], start: Int64, end: Int64,
        closedAtMs: Int64 = 0, user: String = ""
    ) {
        self.id = id
        self.label = label
        self.scope = scope
        self.frozen = frozen
        self.devices = devices
        self.start = start
        self.end = end
        self.closedAtMs = closedAtMs
        self.user = user
    }

    /// Whether the scope total of `scope` in the hour or day starting at `start` is frozen.
    /// Closed ranges are whole local days, so an hour or day row lies wholly inside or outside.
    public func freezes(_ scope: Scope, at start: Int64) -> Bool {
        start >= self.start && start < end && frozen.contains(scope)
    }

    /// Whether the window [from, to) shares time with this period.
    public func overlaps(from: Int64, to: Int64) -> Bool { from < end && start < to }

    /// Whether one of the two scopes holds the other (or they are the same): closures of
    /// related scopes over the same days would freeze the same rows twice.
    public func isRelated(to other: Set<Scope>) -> Bool { !frozen.isDisjoint(with: other) }

    /// `2026-11 site:sz-baoan`, as messages and notes name it.
    public var name: String { "\(label) \(scope.key)" }
}

/// The closed periods as the store's commit consults them: loaded once and refreshed only when
/// their version (checked once per commit) changes, so no reading costs a database lookup.
public struct ClosedPeriods: Sendable, Equatable {
    public private(set) var periods: [ClosedPeriod]
    /// Earliest start and latest end over all periods: most readings are booked after it.
    private var earliest: Int64 = .max
    private var latest: Int64 = .min

    public init(_ periods: [ClosedPeriod] = []) {
        self.periods = periods
        for p in periods {
            earliest = min(earliest, p.start)
            latest = max(latest, p.end)
        }
    }

    public var isEmpty: Bool { periods.isEmpty }

    /// The closure freezing the total of `scope` in the hour or day starting at `start`, if any.
    public func closure(freezing scope: Scope, at start: Int64) -> ClosedPeriod? {
        guard start >= earliest && start < latest else { return nil }
        return periods.first { $0.freezes(scope, at: start) }
    }

    /// The closure holding `device`'s minute starting at `minute`, if any.
    public func closure(holdingDevice device: String, at minute: Int64) -> ClosedPeriod? {
        guard minute >= earliest && minute < latest else { return nil }
        return periods.first { minute >= $0.start && minute < $0.end && $0.devices.contains(device) }
    }

    /// The closures that share time with [from, to) (and, given `scopes`, freeze one of them).
    public func overlapping(from: Int64, to: Int64, scopes: Set<Scope>? = nil) -> [ClosedPeriod] {
        periods.filter { $0.overlaps(from: from, to: to) && (scopes.map($0.isRelated) ?? true) }
    }
}

extension RollupDelta {
    /// Moves out the scope changes that fall into closed rows and returns them: the late
    /// adjustments, to be kept beside the closed figures instead of in them.
    ///
    /// A late reading whose use is spread over an interval straddling a closed period's end
    /// books the closed part (its hours and days inside the period) here and the rest stays in
    /// the delta, so the open figures take it at once.
    public mutating func takeHeld(by closed: ClosedPeriods) -> [ScopeWindow: Double] {
        guard !closed.isEmpty else { return [:] }
        var held: [ScopeWindow: Double] = [:]
        for (key, value) in scopes where closed.closure(freezing: key.scope, at: key.start) != nil {
            held[key] = value
        }
        for key in held.keys { scopes[key] = nil }
        return held
    }
}

/// The additive part of a commit's per-series changes that falls into closed minutes of frozen
/// devices, per closure: what `query` subtracts to show a closed period as it was closed.
public struct HeldSeries: Sendable, Equatable {
    public struct MinuteKey: Hashable, Sendable {
        public var periodID: Int64
        public var series: SeriesIndex
        public var minute: Int64
    }

    public struct StateKey: Hashable, Sendable {
        public var periodID: Int64
        public var series: SeriesIndex
        public var minute: Int64
        public var state: String
    }

    /// Readings, sum, consumption and estimated use (min, max and last are not separable).
    public var minutes: [MinuteKey: RollupDelta.MinuteStats] = [:]
    public var states: [StateKey: Int64] = [:]

    public var isEmpty: Bool { minutes.isEmpty && states.isEmpty }
}

extension RollupDelta {
    /// The per-series changes falling into closed minutes of frozen devices (`device` names a
    /// series' device), left in the delta as well: the minutes stay live.
    public func heldSeries(by closed: ClosedPeriods, device: (SeriesIndex) -> String) -> HeldSeries {
        var held = HeldSeries()
        guard !closed.isEmpty else { return held }
        for (key, m) in minutes {
            guard let p = closed.closure(holdingDevice: device(key.series), at: key.minute) else { continue }
            held.minutes[.init(periodID: p.id, series: key.series, minute: key.minute)] = m
        }
        for (key, ms) in states where ms != 0 {
            guard let p = closed.closure(holdingDevice: device(key.series), at: key.minute) else { continue }
            held.states[.init(periodID: p.id, series: key.series, minute: key.minute, state: key.state)] = ms
        }
        return held
    }
}

extension Site {
    /// `scope` and every scope within it (a site holds its workshops and lines, a workshop
    /// its lines), in registry order; empty if the scope is not this site's.
    public func scopes(within scope: Scope) -> [Scope] {
        switch scope {
        case .site(let id): return id == self.id ? scopes : []
        case .workshop(let id):
            guard let ws = workshops.first(where: { $0.id == id }) else { return [] }
            return [scope] + ws.lines.map { .line($0.id) }
        case .line(let id):
            return workshops.contains { $0.lines.contains { $0.id == id } } ? [scope] : []
        }
    }
}
