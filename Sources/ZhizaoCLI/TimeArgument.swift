import Aggregation
import Foundation
import Telemetry

/// Times as users type them, read in the site's time zone: RFC 3339, `2026-11-28`, `2026-11`,
/// `today`, `yesterday`, `now`, `-24h`, `-7d`.
enum TimeArgument {
    static func parse(_ text: String, calendar: WindowCalendar, now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) -> Int64? {
        if let ms = Timestamp.parseRFC3339(text) { return ms }
        switch text {
        case "now": return now
        case "today": return calendar.dayStart(now)
        case "yesterday": return calendar.dayStart(calendar.dayStart(now) - 1)
        default: break
        }
        if text.hasPrefix("-"), let ms = Simulate.parseDuration(String(text.dropFirst())) { return now - ms }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = calendar.timeZone
        for format in ["yyyy-MM-dd", "yyyy-MM"] {
            f.dateFormat = format
            if text.count == format.count, let d = f.date(from: text) { return Int64(d.timeIntervalSince1970 * 1000) }
        }
        return nil
    }

    static let help = "RFC 3339, a date (2026-11-28), a month (2026-11), today, yesterday, now, -24h or -7d (site time)"
}
