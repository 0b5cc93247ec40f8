/// Parsing of the event times gateways send.
///
/// Hand-written because it sits on the hot path: Foundation's ISO 8601 formatter costs
/// microseconds and pulls in ICU, while this reads RFC 3339 straight from the payload bytes.
public enum Timestamp {
    /// Parses RFC 3339 (`2026-11-28T08:00:00.250+08:00`, `...Z`) to epoch milliseconds.
    /// Fractions finer than a millisecond are truncated; returns nil for anything else.
    public static func parseRFC3339(_ s: UnsafeRawBufferPointer) -> Int64? {
        let n = s.count
        guard n >= 20 else { return nil }
        func digits(_ from: Int, _ count: Int) -> Int? {
            var v = 0
            for i in from..<(from + count) {
                let c = s[i]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard let year = digits(0, 4), s[4] == 45, let month = digits(5, 2), s[7] == 45,
            let day = digits(8, 2), s[10] == 84 || s[10] == 116 || s[10] == 32,
            let hour = digits(11, 2), s[13] == 58, let minute = digits(14, 2), s[16] == 58,
            let second = digits(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year, month),
            hour < 24, minute < 60, second < 61
        else { return nil }
        var i = 19
        var millis = 0
        if i < n, s[i] == 46 {  // '.'
            i += 1
            var scale = 100
            let start = i
            while i < n, s[i] >= 48, s[i] <= 57 {
                millis += Int(s[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < n else { return nil }
        var offsetSeconds = 0
        switch s[i] {
        case 90, 122:  // Z z
            i += 1
        case 43, 45:  // + -
            guard i + 6 == n, let oh = digits(i + 1, 2), s[i + 3] == 58, let om = digits(i + 4, 2),
                oh < 24, om < 60
            else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (s[i] == 43 ? 1 : -1)
            i += 6
        default:
            return nil
        }
        guard i == n else { return nil }
        let days = daysFromCivil(year, month, day)
        let secs = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - Int64(offsetSeconds)
        return secs * 1000 + Int64(millis)
    }

    /// Parses a Swift string; see the bytes version.
    public static func parseRFC3339(_ string: String) -> Int64? {
        var s = string
        return s.withUTF8 { parseRFC3339(UnsafeRawBufferPointer($0)) }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    public static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Formats epoch milliseconds as RFC 3339 in UTC with milliseconds (`2026-11-28T00:00:00.000Z`).
    public static func formatRFC3339UTC(_ ms: Int64) -> String {
        let secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let milli = Int(ms - secs * 1000)
        var days = Int(secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400)
        let sod = Int(secs - Int64(days) * 86_400)
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(sod / 3600, 2)):\(pad(sod / 60 % 60, 2)):\(pad(sod % 60, 2)).\(pad(milli, 3))Z"
    }

    static func daysInMonth(_ y: Int, _ m: Int) -> Int {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
