/// An MQTT subscription filter (`a/+/c/#`) matched against raw topic bytes without allocating.
public struct TopicFilter: Sendable {
    enum Level: Sendable {
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
}

/// A plain-value topic layout such as `factory/{workshop}/{line}/{device}/{metric}`.
///
/// `{device}` and `{metric}` are captured; other placeholders match any single level.
public struct TopicTemplate: Sendable {
    enum Level: Sendable {
        case literal([UInt8])
        case device
        case metric
        case any
    }

    let levels: [Level]
    public let text: String

    /// Parses a template; nil when `{device}` or `{metric}` is missing.
    public init?(_ text: String) {
        var levels: [Level] = []
        for part in text.split(separator: "/", omittingEmptySubsequences: false) {
            if part == "{device}" { levels.append(.device) }
            else if part == "{metric}" { levels.append(.metric) }
            else if part.hasPrefix("{") && part.hasSuffix("}") { levels.append(.any) }
            else { levels.append(.literal(Array(part.utf8))) }
        }
        guard levels.contains(where: { if case .device = $0 { true } else { false } }),
              levels.contains(where: { if case .metric = $0 { true } else { false } }) else { return nil }
        self.levels = levels
        self.text = text
    }

    /// The byte ranges of device and metric in the topic, or nil when the topic does not fit.
    public func capture(_ topic: UnsafeRawBufferPointer) -> (device: Range<Int>, metric: Range<Int>)? {
        var pos = 0
        let n = topic.count
        var device: Range<Int>?
        var metric: Range<Int>?
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
            case .any: break
            }
            if li == levels.count - 1 { guard end == n else { return nil } }
            pos = end + 1
        }
        guard let device, let metric, !device.isEmpty, !metric.isEmpty else { return nil }
        return (device, metric)
    }
}
