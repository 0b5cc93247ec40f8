import Foundation

/// Window starts in a site's local time: minutes, hours, days and months of its calendar.
///
/// Minutes are UTC minutes (every zone's offset is a whole number of minutes... except none in
/// use today that matter here); hours, days and months follow the site's offset, looked up once
/// per quarter hour and cached, so daylight-saving zones and half-hour zones are right too.
public final class WindowCalendar: @unchecked Sendable {
    // @unchecked: the offset cache is only touched from the ingest thread (or one CLI thread).
    public let timeZone: TimeZone
    private var cachedQuarter: Int64 = .min
    private var cachedOffsetMs: Int64 = 0

    public static let minuteMs: Int64 = 60_000
    public static let hourMs: Int64 = 3_600_000
    public static let dayMs: Int64 = 86_400_000

    public init(timeZone: TimeZone) { self.timeZone = timeZone }

    /// The zone's offset from UTC at `ms`, in milliseconds.
    public func offsetMs(at ms: Int64) -> Int64 {
        let quarter = ms >= 0 ? ms / 900_000 : (ms - 899_999) / 900_000
        if quarter != cachedQuarter {
            cachedQuarter = quarter
            cachedOffsetMs = Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(ms) / 1000))) * 1000
        }
        return cachedOffsetMs
    }

    public static func floor(_ v: Int64, _ step: Int64) -> Int64 { v >= 0 ? v - v % step : v - ((v % step) + step) % step }

    public func minuteStart(_ ms: Int64) -> Int64 { Self.floor(ms, Self.minuteMs) }

    public func hourStart(_ ms: Int64) -> Int64 {
        let off = offsetMs(at: ms)
        return Self.floor(ms + off, Self.hourMs) - off
    }

    /// Start of the local calendar day holding `ms`.
    public func dayStart(_ ms: Int64) -> Int64 {
        let off = offsetMs(at: ms)
        let local = Self.floor(ms + off, Self.dayMs)
        // The offset at local midnight can differ from now (a DST change during the day).
        return local - offsetMs(at: local - off)
    }

    /// The instant the site's clock shows `minutes` after the local midnight `day` (may pass
    /// into the next day): the offset of that instant, not of midnight, applies, so a shift
    /// at 06:00 starts at 06:00 on the day clocks change too.
    public func localTime(day: Int64, minutes: Int) -> Int64 {
        let naive = day + Int64(minutes) * Self.minuteMs
        return naive + offsetMs(at: day) - offsetMs(at: naive)
    }

    /// Start of the local calendar month holding `ms`.
    public func monthStart(_ ms: Int64) -> Int64 {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        let d = cal.dateInterval(of: .month, for: Date(timeIntervalSince1970: Double(ms) / 1000))!.start
        return Int64(d.timeIntervalSince1970 * 1000)
    }

    /// The start of the next local month after `monthStart`.
    public func nextMonth(_ monthStart: Int64) -> Int64 {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        let d = cal.date(byAdding: .month, value: 1, to: Date(timeIntervalSince1970: Double(monthStart) / 1000))!
        return Int64(d.timeIntervalSince1970 * 1000)
    }

    /// Window lengths the per-series rollups compose into.
    public enum Every: String, Sendable, CaseIterable {
        case minute = "1m"
        case quarterHour = "15m"
        case hour = "1h"
        case day = "1d"
        case month = "1mo"

        /// Windows made of whole local hours, which hour rollups (kept for pruned minutes) can fill.
        public var keepsHours: Bool { self == .hour || self == .day || self == .month }
    }

    /// The start of the `every` window holding `ms` (local hours, days and months).
    public func windowStart(_ ms: Int64, _ every: Every) -> Int64 {
        switch every {
        case .minute: minuteStart(ms)
        case .quarterHour: hourStart(ms) + Self.floor(ms - hourStart(ms), 15 * Self.minuteMs)
        case .hour: hourStart(ms)
        case .day: dayStart(ms)
        case .month: monthStart(ms)
        }
    }
}
