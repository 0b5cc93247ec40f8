/// An MQTT subscription filter (`a/+/c/#`) matched against raw topic bytes without allocating.
public struct TopicFilter: Sendable, Equatable {
    enum Level: Sendable, Equatable {
        case literal([UInt8])
        case single
        case multi
    }

    let levels: [Level]
    public let text: String

    /// Parses a filter; returns nil where MQTT forbids it (`#` not last, wildcards inside a level).
    public init?(_ text: String) {
        guard !text.isEmpty else { return nil }
        var levels: [Level] = []
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        for (i, part) in parts.enumerated() {
            if part == "#" {
                guard i == parts.count - 1 else { return nil }
                levels.append(.multi)
            } else if part == "+" {
                levels.append(.single)
            } else {
                guard !part.contains("#"), !part.contains("+") else { return nil }
                levels.append(.literal(Array(part.utf8)))
            }
        }
        self.levels = levels
        self.text = text
    }

    /// True when the topic matches (a topic starting with `$` never matches a leading wildcard).
    public func matches(_ topic: UnsafeRawBufferPointer) -> Bool {
        var pos = 0
        let n = topic.count
        if n > 0, topic[0] == 36 {  // '$'
            guard case .literal = levels.first else { return false }
        }
        for (li, level) in levels.enumerated() {
            if case .multi = level { return true }
            // Find this topic level's end.
            guard pos <= n else { return false }
            var end = pos
            while end < n, topic[end] != 47 { end += 1 }
            switch level {
            case .single:
                break
            case .literal(let bytes):
                guard end - pos == bytes.count else { return false }
                for k in 0..<bytes.count where topic[pos + k] != bytes[k] { return false }
            case .multi:
                return true
            }
            let isLast = li == levels.count - 1
            if isLast { return end == n }
            if end == n {
                // Topic ended; only a trailing '#' can still match ("a/#" matches "a").
                if li + 1 == levels.count - 1, case .multi = levels[li + 1] { return true }
                return false
            }
            pos = end + 1
        }
        return pos > n
    }

    /// Convenience for strings (tests, CLI).
    public func matches(_ topic: String) -> Bool {
        var t = topic
        return t.withUTF8 { matches(UnsafeRawBufferPointer($0)) }
    }

    /// A topic both filters match, or nil when no topic can match both.
    ///
    /// Two gateways whose filters share a topic would both claim its messages, so the registry
    /// refuses them; the example topic makes the refusal concrete. `+` stands for any one level
    /// (an example uses `x`), `#` for any rest including none; a filter starting with a wildcard
    /// never matches a `$` topic.
    public func commonTopic(with other: TopicFilter) -> String? {
        func startsWithDollar(_ l: Level) -> Bool { if case .literal(let b) = l { b.first == 36 } else { false } }
        func isLiteral(_ l: Level) -> Bool { if case .literal = l { true } else { false } }
        if let a = levels.first, let b = other.levels.first,
            (startsWithDollar(a) && !isLiteral(b)) || (startsWithDollar(b) && !isLiteral(a))
        {
            return nil
        }
        var out: [String] = []
        func text(_ l: Level) -> String? {
            switch l {
            case .literal(let bytes): String(decoding: bytes, as: UTF8.self)
            case .single: "x"
            case .multi: nil
            }
        }
        var i = 0
        while true {
            let a = i < levels.count ? levels[i] : nil
            let b = i < other.levels.count ? other.levels[i] : nil
            switch (a, b) {
            case (nil, nil):
                return out.joined(separator: "/")
            case (.multi?, _), (_, .multi?):
                // `#` matches the other's remaining levels, or none ("a/#" matches "a").
                let rest: [Level]
                if case .multi? = a { rest = other.levels } else { rest = levels }
                for l in rest.dropFirst(i) {
                    guard let t = text(l) else { break }
                    out.append(t)
                }
                return out.joined(separator: "/")
            case (nil, _?), (_?, nil):
                return nil
            case (.literal(let x)?, .literal(let y)?):
                guard x == y else { return nil }
                out.append(text(.literal(x))!)
            case (.literal(let x)?, .single?), (.single?, .literal(let x)?):
                out.append(text(.literal(x))!)
            case (.single?, .single?):
                out.append("x")
            }
            i += 1
        }
    }
}

/// A plain-value topic layout such as `factory/{workshop}/{line}/{device}/{metric}`.
///
/// `{device}` and `{metric}` are captured; `{site}`, `{workshop}` and `{line}` are captured too,
/// so the daemon can check them against the registry's place for the device; other
/// placeholders match any single level.
public struct TopicTemplate: Sendable, Equatable {
    enum Level: Sendable, Equatable {
        case literal([UInt8])
        case device
        case metric
        case site
        case workshop
        case line
        case any
    }

    /// Where the parts of a topic sit, as byte ranges into it.
    public struct Capture: Sendable {
        public var device: Range<Int>
        public var metric: Range<Int>
        public var site: Range<Int>?
        public var workshop: Range<Int>?
        public var line: Range<Int>?
    }

    let levels: [Level]
    public let text: String

    /// Parses a template; nil when `{device}` or `{metric}` is missing.
    public init?(_ text: String) {
        var levels: [Level] = []
        for part in text.split(separator: "/", omittingEmptySubsequences: false) {
            switch part {
            case "{device}": levels.append(.device)
            case "{metric}": levels.append(.metric)
            case "{site}": levels.append(.site)
            case "{workshop}": levels.append(.workshop)
            case "{line}": levels.append(.line)
            default:
                if part.hasPrefix("{") && part.hasSuffix("}") { levels.append(.any) } else { levels.append(.literal(Array(part.utf8))) }
            }
        }
        guard levels.contains(.device), levels.contains(.metric) else { return nil }
        self.levels = levels
        self.text = text
    }

    /// True when the template names the workshop (or line) level: its devices need one.
    public var namesWorkshop: Bool { levels.contains(.workshop) }
    public var namesLine: Bool { levels.contains(.line) }

    /// The byte ranges of the topic's parts, or nil when the topic does not fit.
    public func capture(_ topic: UnsafeRawBufferPointer) -> Capture? {
        var pos = 0
        let n = topic.count
        var device: Range<Int>?
        var metric: Range<Int>?
        var site: Range<Int>?
        var workshop: Range<Int>?
        var line: Range<Int>?
        for (li, level) in levels.enumerated() {
            guard pos <= n else { return nil }
            var end = pos
            while end < n, topic[end] != 47 { end += 1 }
            switch level {
            case .literal(let bytes):
                guard end - pos == bytes.count else { return nil }
                for k in 0..<bytes.count where topic[pos + k] != bytes[k] { return nil }
            case .device: device = pos..<end
            case .metric: metric = pos..<end
            case .site: site = pos..<end
            case .workshop: workshop = pos..<end
            case .line: line = pos..<end
            case .any: break
            }
            if li == levels.count - 1 { guard end == n else { return nil } }
            pos = end + 1
        }
        guard let device, let metric, !device.isEmpty, !metric.isEmpty else { return nil }
        return Capture(device: device, metric: metric, site: site, workshop: workshop, line: line)
    }

    /// The topic filter a device's messages may use: the template with the device's place
    /// filled in and `+` for the metric (and any other placeholder); for the broker's ACL.
    public func filter(site: String, workshop: String?, line: String?, device: String) -> String {
        levels.map { level -> String in
            switch level {
            case .literal(let bytes): String(decoding: bytes, as: UTF8.self)
            case .device: device
            case .site: site
            case .workshop: workshop ?? "+"
            case .line: line ?? "+"
            case .metric, .any: "+"
            }
        }.joined(separator: "/")
    }
}

/// A registry value coded as the text it was parsed from (a topic filter, a topic template): the
/// registry cache stores what the registry wrote and parses it again when decoded.
public protocol CodedAsText: Codable {
    init?(_ text: String)
    var text: String { get }
}

extension CodedAsText {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        guard let value = Self(try c.decode(String.self)) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a valid \(Self.self)")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(text)
    }
}

extension TopicFilter: CodedAsText {}
extension TopicTemplate: CodedAsText {}
