/// Array literals for `unnest($1::bigint[], …)`: a whole batch travels as a few parameters of
/// one statement, one round trip, instead of a statement per row.
///
/// Written by hand because libpq has no array encoder; the text format is PostgreSQL's
/// documented array input syntax (elements quoted, `\` and `"` escaped, `NULL` unquoted).
public enum PostgresArray {
    public static func literal(_ values: [Int64]) -> PostgresValue {
        var s = "{"
        for (i, v) in values.enumerated() {
            if i > 0 { s += "," }
            s += String(v)
        }
        return .text(s + "}")
    }

    public static func literal(_ values: [Int64?]) -> PostgresValue {
        var s = "{"
        for (i, v) in values.enumerated() {
            if i > 0 { s += "," }
            s += v.map { String($0) } ?? "NULL"
        }
        return .text(s + "}")
    }

    public static func literal(_ values: [Double?]) -> PostgresValue {
        var s = "{"
        for (i, v) in values.enumerated() {
            if i > 0 { s += "," }
            if let v {
                if v.isNaN {
                    s += "NaN"
                } else if v.isInfinite {
                    s += v > 0 ? "Infinity" : "-Infinity"
                } else {
                    s += "\(v)"
                }
            } else {
                s += "NULL"
            }
        }
        return .text(s + "}")
    }

    public static func literal(_ values: [String?]) -> PostgresValue {
        var s = "{"
        for (i, v) in values.enumerated() {
            if i > 0 { s += "," }
            guard let v else {
                s += "NULL"
                continue
            }
            s += "\""
            for c in v.unicodeScalars {
                if c == "\"" || c == "\\" { s += "\\" }
                s.unicodeScalars.append(c)
            }
            s += "\""
        }
        return .text(s + "}")
    }

    /// Bytes as a `bytea[]` element list in hex (`\x…`).
    public static func literal(bytes values: [[UInt8]]) -> PostgresValue {
        let hex: [String?] = values.map { bytes in
            var s = "\\x"
            let digits = Array("0123456789abcdef".unicodeScalars)
            for b in bytes {
                s.unicodeScalars.append(digits[Int(b >> 4)])
                s.unicodeScalars.append(digits[Int(b & 0x0f)])
            }
            return s
        }
        return literal(hex)
    }
}
