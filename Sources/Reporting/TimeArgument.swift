public import Aggregation
import Foundation
import Telemetry

/// Times as users type them, read in the site's time zone: RFC 3339, `2026-11-28`, `2026-11`,
/// `today`, `yesterday`, `now`, `-24h`, `-7d`.
///
/// Kept apart from argument parsing so every command reads times the same way and tests can
/// pin `now`.
public enum TimeArgument {
    /// Epoch milliseconds of `text`, or nil when it is none of the accepted forms.
    public static func parse(_ text: String, calendar: WindowCalendar, now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) -> Int64? {
        if let ms = Timestamp.parseRFC3339(text) { return ms }
        // To the minute with an offset, as people type it: 2026-11-02T12:00+08:00.
        if text.count > 16, Array(text)[13] == ":", "Zz+-".contains(Array(text)[16]),
            let ms = Timestamp.parseRFC3339(String(text.prefix(16)) + ":00" + text.dropFirst(16))
        {
            return ms
        }
        switch text {
        case "now": return now
        case "today": return calendar.dayStart(now)
        case "yesterday": return calendar.dayStart(calendar.dayStart(now) - 1)
        default: break
        }
        if text.hasPrefix("-"), let ms = parseDuration(String(text.dropFirst())) { return now - ms }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = calendar.timeZone
        for format in ["yyyy-MM-dd", "yyyy-MM"] {
            f.dateFormat = format
            if text.count == format.count, let d = f.date(from: text) { return Int64(d.timeIntervalSince1970 * 1000) }
        }
        return nil
    }

    /// `FROM..TO` (each end any form `parse` reads) as [from, to), or nil unless FROM is before TO.
    public static func parseRange(
        _ text: String, calendar: WindowCalendar,
        now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)
    ) -> (from: Int64, to: Int64)? {
        let parts = text.components(separatedBy: "..")
        guard parts.count == 2, let from = parse(parts[0], calendar: calendar, now: now),
            let to = parse(parts[1], calendar: calendar, now: now), to > from
        else { return nil }
        return (from, to)
    }

    /// `90s`, `15m`, `6h`, `7d` (or plain seconds) in milliseconds; nil unless positive.
    public static func parseDuration(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000]
        if let unit = text.last, let factor = units[unit], let n = Double(text.dropLast()), n > 0 {
            return Int64(n * Double(factor))
        }
        return Double(text).flatMap { $0 > 0 ? Int64($0 * 1000) : nil }
    }

    /// `ms` as a user would type it back, to the minute in the calendar's zone with its offset
    /// (`2026-11-02T12:00+08:00`).
    public static func format(_ ms: Int64, calendar: WindowCalendar) -> String {
        formatted(ms, calendar, "yyyy-MM-dd'T'HH:mmxxx")
    }

    /// The local month holding `ms`, as `--period` takes it (`2026-11`).
    public static func formatMonth(_ ms: Int64, calendar: WindowCalendar) -> String { formatted(ms, calendar, "yyyy-MM") }

    private static func formatted(_ ms: Int64, _ calendar: WindowCalendar, _ format: String) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = calendar.timeZone
        f.dateFormat = format
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    public static let help =
        "RFC 3339 (seconds optional: 2026-11-02T12:00+08:00), a date (2026-11-28), a month (2026-11), today, yesterday, now, -24h or -7d (site time)"
}
