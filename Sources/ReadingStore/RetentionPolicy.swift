public import Aggregation

/// How long each tier is kept (`retention.raw_days`, `retention.minute_days`); nil keeps it for
/// ever. Hour, day and month rollups and the scope totals are always kept.
public struct RetentionPolicy: Sendable, Equatable {
    /// Keep raw readings of the last N local days.
    public var rawDays: Int?
    /// Keep minute rollups of the last N local days (never fewer than `rawDays`: the aggregator
    /// books late readings into them).
    public var minuteDays: Int?

    public init(rawDays: Int? = nil, minuteDays: Int? = nil) {
        self.rawDays = rawDays
        self.minuteDays = minuteDays
    }

    /// Nothing is pruned.
    public var keepsEverything: Bool { rawDays == nil && minuteDays == nil }

    /// The horizons at `nowMs`: the start of the local day N days back, per tier. Minutes
    /// without a horizon of their own follow the raw one.
    public func horizons(nowMs: Int64, calendar: WindowCalendar) -> (rawBefore: Int64?, minuteBefore: Int64?) {
        let day: Int64 = 86_400_000
        let raw = rawDays.map { calendar.dayStart(nowMs - Int64($0) * day) }
        let minute = (minuteDays ?? rawDays).map { calendar.dayStart(nowMs - Int64($0) * day) }
        return (raw, minute)
    }
}
