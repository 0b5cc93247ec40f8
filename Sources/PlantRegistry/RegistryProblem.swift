/// One thing wrong in the registry, located in its file, with how to fix it.
public struct RegistryProblem: Sendable, CustomStringConvertible, Equatable {
    public var file: String
    /// 1-based line, or 0 when the problem concerns the whole file.
    public var line: Int
    public var column: Int
    public var message: String
    public var hint: String?

    public init(file: String, line: Int, column: Int = 0, message: String, hint: String? = nil) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.hint = hint
    }

    /// `file:line:column: message (hint)`, the shape editors and compilers use.
    public var description: String {
        var s = file
        if line > 0 { s += ":\(line)" + (column > 0 ? ":\(column)" : "") }
        s += ": \(message)"
        if let hint { s += "\n    fix: \(hint)" }
        return s
    }
}

/// The registry could not be loaded; every problem found is listed.
public struct RegistryError: Error, CustomStringConvertible, Sendable {
    public var problems: [RegistryProblem]

    public var description: String {
        "the device registry has \(problems.count) problem\(problems.count == 1 ? "" : "s"):\n"
            + problems.map(\.description).joined(separator: "\n")
    }
}

/// The closest candidate by edit distance, for "did you mean" hints.
public func nearest(_ word: String, in candidates: some Sequence<String>, maxDistance: Int = 3) -> [String] {
    let limit = Swift.max(maxDistance, word.count / 3)
    let lowered = word.lowercased()
    var scored: [(name: String, distance: Int)] = []
    for candidate in candidates {
        let d = editDistance(lowered, candidate.lowercased())
        if d <= limit { scored.append((candidate, d)) }
    }
    scored.sort { $0.distance < $1.distance || ($0.distance == $1.distance && $0.name < $1.name) }
    return scored.prefix(3).map { $0.name }
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    var cur = Array(repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        cur[0] = i
        for j in 1...b.count {
            let substitution: Int = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
            let insertion: Int = cur[j - 1] + 1
            let deletion: Int = prev[j] + 1
            cur[j] = Swift.min(deletion, insertion, substitution)
        }
        swap(&prev, &cur)
    }
    return prev[b.count]
}
