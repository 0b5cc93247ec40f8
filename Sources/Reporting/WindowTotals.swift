public import Aggregation
public import PlantRegistry
public import ReadingStore
import Telemetry

/// A scope's totals over exactly `[from, to)`, to the minute: stored day totals for the whole
/// local days inside, hour totals for the whole hours left, and at the ragged edges the
/// per-series minute rollups of the series that feed the scope (as the aggregation plan books
/// them) and the machine minutes of its key-process machines.
///
/// Where retention has pruned the minute rollups at an edge, only hours remain: the edge is
/// counted to the nearest hour, and `roundedEdges` says which.
public struct WindowTotals {
    public let reader: any TelemetryReader
    public let plan: AggregationPlan
    public let plant: Plant
    /// Minute rollups and machine minutes hold nothing before this (retention); nil: all kept.
    public let minuteHorizon: Int64?

    public init(reader: any TelemetryReader, plan: AggregationPlan, plant: Plant) throws {
        self.reader = reader
        self.plan = plan
        self.plant = plant
        minuteHorizon = try reader.minuteHorizon()
    }

    /// What a window adds up to, and the edges that could only be counted to the hour.
    public struct Totals: Sendable {
        /// Quantity → value, as the stored scope totals name them (empty: nothing stored).
        public var values: [String: Double] = [:]
        /// Window edges (ms) counted to the nearest hour because their minutes were pruned.
        public var roundedEdges: [Int64] = []

        mutating func add(_ other: [String: Double]) {
            for (k, v) in other where v != 0 { values[k, default: 0] += v }
        }
    }

    /// A scope's stored day totals over `[from, to)`, read in one query for all the windows
    /// inside it (a table of 30 daily rows per line reads each line's days once, not 30 times).
    public struct StoredDays: Sendable {
        public let scope: Scope
        public let from: Int64
        public let to: Int64
        /// In order of start.
        public let rows: [(start: Int64, totals: [String: Double])]
    }

    /// The stored day totals of each of `scopes` starting in `[from, to)`, read at once, for
    /// `totals(…, days:)`.
    public func storedDays(_ scopes: [Scope], from: Int64, to: Int64) throws -> [Scope: StoredDays] {
        let rows = try reader.scopeTotals(scopes: scopes, period: "day", from: from, to: to)
        var out: [Scope: StoredDays] = [:]
        for scope in scopes { out[scope] = StoredDays(scope: scope, from: from, to: to, rows: rows[scope] ?? []) }
        return out
    }

    /// The totals of `scope` over `[from, to)`, its hours and days in `calendar` (its site's);
    /// `days`, if it covers the window, saves reading them again.
    public func totals(_ scope: Scope, from: Int64, to: Int64, calendar: WindowCalendar, days: StoredDays? = nil) throws -> Totals {
        var out = Totals()
        guard from < to else { return out }
        let startHour = calendar.hourStart(from)
        let firstHour = startHour == from ? from : startHour + WindowCalendar.hourMs
        let lastHour = calendar.hourStart(to)
        if firstHour > lastHour {
            try edge(scope, from, to, calendar, &out)
            return out
        }
        try edge(scope, from, firstHour, calendar, &out)
        try inner(scope, firstHour, lastHour, calendar, days, &out)
        try edge(scope, lastHour, to, calendar, &out)
        return out
    }

    /// Whole hours `[h0, h1)`: the stored days inside, then the stored hours outside them
    /// (read only for the stretches no whole day covers: none for a window of whole days).
    private func inner(
        _ scope: Scope, _ h0: Int64, _ h1: Int64, _ calendar: WindowCalendar, _ stored: StoredDays?, _ out: inout Totals
    ) throws {
        guard h0 < h1 else { return }
        let dayRows =
            if let stored, stored.scope == scope, stored.from <= h0, h1 <= stored.to {
                stored.rows.filter { $0.start >= h0 && $0.start < h1 }
            } else {
                try reader.scopeTotals(scope: scope, period: "day", from: h0, to: h1)
            }
        var days: [Range<Int64>] = []
        for (start, totals) in dayRows {
            let end = calendar.dayStart(start + 25 * WindowCalendar.hourMs)
            guard end <= h1 else { continue }
            days.append(start..<end)
            out.add(totals)
        }
        // Days come in order of start and do not overlap: the hours left are the gaps between them.
        func hours(_ lo: Int64, _ hi: Int64) throws {
            guard lo < hi else { return }
            for (_, totals) in try reader.scopeTotals(scope: scope, period: "hour", from: lo, to: hi) { out.add(totals) }
        }
        var t = h0
        for day in days {
            try hours(t, day.lowerBound)
            t = Swift.max(t, day.upperBound)
        }
        try hours(t, h1)
    }

    /// A part of one hour, `[lo, hi)`: per-series minutes, or the whole hour (if the window
    /// covers at least half of it) where retention pruned the minutes.
    private func edge(_ scope: Scope, _ lo: Int64, _ hi: Int64, _ calendar: WindowCalendar, _ out: inout Totals) throws {
        guard lo < hi else { return }
        if let horizon = minuteHorizon, lo < horizon {
            let hour = calendar.hourStart(lo)
            if 2 * (hi - lo) >= WindowCalendar.hourMs {
                for (_, totals) in try reader.scopeTotals(scope: scope, period: "hour", from: hour, to: hour + 1) { out.add(totals) }
            }
            out.roundedEdges.append(hour == lo ? hi : lo)
            return
        }
        let feeds = plan.feeds(scope)
        let uses = try reader.minuteUse(feeds.map { plant.series[Int($0.series)] }, from: lo, to: hi)
        var values: [String: Double] = [:]
        for feed in feeds {
            let key = plant.series[Int(feed.series)]
            guard let use = uses[key] else { continue }
            // What late readings added inside a closed period is held beside its figures, not in them.
            let held = try reader.heldMinutes(device: key.device, metric: key.metric, from: lo, to: hi).map(\.consumption).reduce(0, +)
            values[feed.quantity, default: 0] += (use.consumption - held) * feed.factor
            values[AggregationPlan.estimated(feed.quantity), default: 0] += use.estimated * feed.factor
        }
        let time = try reader.machineTime(devices: plan.machines(in: scope).map(\.device), from: lo, to: hi)
        values[AggregationPlan.producingMs] = time.producingMs
        values[AggregationPlan.ncProducingMs] = time.ncProducingMs
        values[AggregationPlan.unknownMs] = time.unknownMs
        out.add(values)
    }
}
