/// A forward-only JSON reader over borrowed payload bytes.
///
/// Hand-written because decoding is on the hot path: Foundation's `JSONDecoder` measured
/// ~3.8 µs per ~100-byte message here, more than half of the daemon's whole budget, and no
/// package available to this project parses JSON from raw bytes without building a tree.
/// It reads the few shapes gateways send (flat objects, one level of nesting, arrays of
/// objects), compares keys as bytes, and makes a `String` only for values it keeps.
struct JSONCursor {
    let bytes: UnsafeRawBufferPointer
    var i: Int = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    struct Failure: Error {
        let message: String
        let offset: Int
    }

    /// A string token: where it sits, and whether it needs unescaping.
    struct StringToken {
        let range: Range<Int>
        let escaped: Bool
    }

    /// A scalar value; objects and arrays are reported so the caller can descend or skip.
    enum Value {
        case number(Double, integer: Int64?)
        case nonFinite(String)
        case string(StringToken)
        case bool(Bool)
        case null
        case objectStart
        case arrayStart
    }

    var atEnd: Bool { i >= bytes.count }

    mutating func skipWhitespace() {
        while i < bytes.count {
            let c = bytes[i]
            if c == 32 || c == 10 || c == 13 || c == 9 { i += 1 } else { break }
        }
    }

    func fail(_ message: String) -> Failure { Failure(message: message, offset: i) }

    /// Consumes `c` after optional whitespace.
    mutating func expect(_ c: UInt8, _ what: String) throws(Failure) {
        skipWhitespace()
        guard i < bytes.count, bytes[i] == c else { throw fail("expected \(what)") }
        i += 1
    }

    /// Consumes `c` if it comes next (after whitespace).
    mutating func consume(_ c: UInt8) -> Bool {
        skipWhitespace()
        if i < bytes.count, bytes[i] == c {
            i += 1
            return true
        }
        return false
    }

    mutating func peek() -> UInt8? {
        skipWhitespace()
        return i < bytes.count ? bytes[i] : nil
    }

    /// Reads the next object key, or nil at `}`; consumes the `:` after it.
    /// Call with the cursor just after `{` or after a member's value.
    mutating func nextKey(first: inout Bool) throws(Failure) -> StringToken? {
        skipWhitespace()
        if consume(125) { return nil }  // }
        if !first { try expect(44, "`,` or `}` in object") }
        first = false
        skipWhitespace()
        guard i < bytes.count, bytes[i] == 34 else { throw fail("expected a quoted key") }
        let key = try string()
        try expect(58, "`:` after key")
        return key
    }

    /// Reads a string token starting at the opening quote.
    mutating func string() throws(Failure) -> StringToken {
        i += 1
        let start = i
        var escaped = false
        while i < bytes.count {
            let c = bytes[i]
            if c == 34 {
                let r = start..<i
                i += 1
                return StringToken(range: r, escaped: escaped)
            }
            if c == 92 {
                escaped = true
                i += 2
                continue
            }
            if c < 32 { throw fail("control character in string") }
            i += 1
        }
        throw fail("unterminated string")
    }

    /// Reads the next value; after `.objectStart`/`.arrayStart` the cursor is inside it.
    mutating func value() throws(Failure) -> Value {
        skipWhitespace()
        guard i < bytes.count else { throw fail("expected a value") }
        switch bytes[i] {
        case 34: return .string(try string())
        case 123:
            i += 1
            return .objectStart
        case 91:
            i += 1
            return .arrayStart
        case 116:
            try literal("true")
            return .bool(true)
        case 102:
            try literal("false")
            return .bool(false)
        case 110:
            try literal("null")
            return .null
        case 78:
            try literal("NaN")
            return .nonFinite("NaN")
        case 73:
            try literal("Infinity")
            return .nonFinite("Infinity")
        default: return try number()
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw fail("unexpected end") }
        let p = word.utf8Start
        for k in 0..<n where bytes[i + k] != p[k] { throw fail("invalid literal") }
        i += n
    }

    private mutating func number() throws(Failure) -> Value {
        let start = i
        var negative = false
        if bytes[i] == 45 {
            negative = true
            i += 1
            if i < bytes.count, bytes[i] == 73 {
                try literal("Infinity")
                return .nonFinite("-Infinity")
            }
        }
        var mantissa: Int64 = 0
        var digits = 0
        while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 {
            if digits < 18 { mantissa = mantissa * 10 + Int64(bytes[i] - 48) }
            digits += 1
            i += 1
        }
        guard digits > 0 else {
            i = start
            throw fail("expected a value")
        }
        var isInteger = digits <= 18
        if i < bytes.count, bytes[i] == 46 || bytes[i] == 101 || bytes[i] == 69 {
            isInteger = false
            if bytes[i] == 46 {
                i += 1
                let f = i
                while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
                guard i > f else { throw fail("digits expected after `.`") }
            }
            if i < bytes.count, bytes[i] == 101 || bytes[i] == 69 {
                i += 1
                if i < bytes.count, bytes[i] == 43 || bytes[i] == 45 { i += 1 }
                let e = i
                while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
                guard i > e else { throw fail("digits expected in exponent") }
            }
        }
        if isInteger {
            let v = negative ? -mantissa : mantissa
            return .number(Double(v), integer: v)
        }
        // Slow path for fractions and exponents: the standard library's correctly rounded parser.
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        guard let d = Double(text) else { throw fail("invalid number") }
        return .number(d, integer: nil)
    }

    /// Skips one value, whatever it holds; the cursor must be at its start.
    /// Nesting is bounded so hostile payloads cannot exhaust the stack.
    mutating func skipValue(depth: Int = 0) throws(Failure) {
        guard depth < 32 else { throw fail("nested too deeply") }
        switch try value() {
        case .objectStart:
            var first = true
            while try nextKey(first: &first) != nil { try skipValue(depth: depth + 1) }
        case .arrayStart:
            var first = true
            while try nextElement(first: &first) { try skipValue(depth: depth + 1) }
        default:
            break
        }
    }

    /// True when another array element follows (consumes the `,`); false at `]`.
    mutating func nextElement(first: inout Bool) throws(Failure) -> Bool {
        if consume(93) { return false }  // ]
        if !first { try expect(44, "`,` or `]` in array") }
        first = false
        return true
    }

    /// True when a token's bytes equal `word`.
    func equals(_ t: StringToken, _ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard t.range.count == n, !t.escaped else { return false }
        let p = word.utf8Start
        for k in 0..<n where bytes[t.range.lowerBound + k] != p[k] { return false }
        return true
    }

    /// The token as a Swift string, unescaped (small strings do not allocate).
    func text(_ t: StringToken) -> String {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[t.range])
        guard t.escaped else { return String(decoding: raw, as: UTF8.self) }
        return Self.unescape(raw)
    }

    static func unescape(_ raw: UnsafeRawBufferPointer) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var k = 0
        while k < raw.count {
            let c = raw[k]
            guard c == 92, k + 1 < raw.count else {
                out.append(c)
                k += 1
                continue
            }
            let e = raw[k + 1]
            k += 2
            switch e {
            case 110: out.append(10)
            case 116: out.append(9)
            case 114: out.append(13)
            case 98: out.append(8)
            case 102: out.append(12)
            case 117:
                guard k + 4 <= raw.count,
                    let v = UInt32(String(decoding: UnsafeRawBufferPointer(rebasing: raw[k..<(k + 4)]), as: UTF8.self), radix: 16)
                else { break }
                k += 4
                let scalar = Unicode.Scalar(v) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: out.append(e)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
