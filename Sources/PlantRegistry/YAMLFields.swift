package import Yams

/// Collects problems while a registry file is read, so one run reports all of them.
package final class ProblemLog {
    package var problems: [RegistryProblem] = []
    package init() {}

    package func add(_ file: String, _ node: Node?, _ message: String, hint: String? = nil) {
        problems.append(
            RegistryProblem(
                file: file, line: node?.mark?.line ?? 0, column: node?.mark?.column ?? 0,
                message: message, hint: hint))
    }
}

/// A YAML mapping read field by field: each wrong or missing field becomes a located problem.
package struct YAMLFields {
    package let node: Node
    package let mapping: Node.Mapping
    package let file: String
    package let log: ProblemLog
    /// Where this mapping sits, for messages ("device cnc-101").
    package let context: String

    /// Key text → value, built once: a registry of 1,240 devices asks each device mapping for
    /// dozens of keys, and a scan of the mapping per key copies every pair it passes.
    private let values: [String: Node]

    package init?(_ node: Node, file: String, log: ProblemLog, context: String) {
        guard let mapping = node.mapping else {
            log.add(file, node, "\(context) must be a mapping of keys to values", hint: "write it as `key: value` lines")
            return nil
        }
        self.node = node
        self.mapping = mapping
        var values: [String: Node] = [:]
        values.reserveCapacity(mapping.count)
        for (key, value) in mapping {
            // Duplicate keys never get here (the parser refuses them); the first would win.
            if let text = key.scalar?.string, values[text] == nil { values[text] = value }
        }
        self.values = values
        self.file = file
        self.log = log
        self.context = context
    }

    /// Reports every key not in `allowed`, suggesting the nearest allowed key.
    package func rejectUnknownKeys(allowed: [String]) {
        for (key, _) in mapping {
            guard let k = key.string, !allowed.contains(k) else { continue }
            let near = nearest(k, in: allowed)
            log.add(
                file, key, "unknown key `\(k)` in \(context)",
                hint: near.isEmpty
                    ? "allowed keys: \(allowed.joined(separator: ", "))"
                    : "did you mean `\(near[0])`?")
        }
    }

    package func has(_ key: String) -> Bool { self[key] != nil }

    package func keyNode(_ key: String) -> Node? {
        mapping.first { $0.key.string == key }?.key
    }

    package func value(_ key: String) -> Node? { self[key] }

    /// The value of `key`, looked up by the key's text. Yams' own `mapping[key]` builds a probe
    /// node and compares resolved tags, running its tag regexes on every lookup: that was most
    /// of the time of loading a registry of 1,240 devices (`zhizao indicators` at 40 plants).
    package subscript(key: String) -> Node? { values[key] }

    package func string(_ key: String, required: Bool = false, hint: String? = nil) -> String? {
        guard let v = self[key] else {
            if required { log.add(file, node, "\(context) is missing `\(key)`", hint: hint ?? "add `\(key): ...`") }
            return nil
        }
        guard let s = v.scalar?.string, !s.isEmpty else {
            log.add(file, v, "`\(key)` in \(context) must be a non-empty text", hint: hint)
            return nil
        }
        return s
    }

    package func identifier(_ key: String, required: Bool = false) -> String? {
        guard let s = string(key, required: required) else { return nil }
        if !Self.isIdentifier(s) {
            log.add(
                file, self[key], "`\(key)` \"\(s)\" in \(context) is not a valid id",
                hint: "use lower-case letters, digits, `-` and `_`, starting with a letter or digit")
        }
        return s
    }

    package func bool(_ key: String, default def: Bool) -> Bool {
        guard let v = self[key] else { return def }
        guard let b = v.bool, v.scalar != nil else {
            log.add(file, v, "`\(key)` in \(context) must be true or false")
            return def
        }
        return b
    }

    package func double(_ key: String) -> Double? {
        guard let v = self[key] else { return nil }
        guard v.scalar != nil, let d = v.float ?? v.int.map(Double.init), d.isFinite else {
            log.add(file, v, "`\(key)` in \(context) must be a finite number")
            return nil
        }
        return d
    }

    package func choice<E: RawRepresentable & CaseIterable>(
        _ key: String, _ type: E.Type, required: Bool = false,
        default def: E? = nil
    ) -> E? where E.RawValue == String {
        let allowed = E.allCases.map(\.rawValue)
        guard let s = string(key, required: required, hint: "add `\(key): \(allowed[0])` (one of \(allowed.joined(separator: ", ")))")
        else {
            return def
        }
        guard let e = E(rawValue: s) else {
            let near = nearest(s, in: allowed)
            log.add(
                file, self[key], "`\(key)` \"\(s)\" in \(context) is not one of \(allowed.joined(separator: ", "))",
                hint: near.isEmpty ? nil : "did you mean `\(near[0])`?")
            return def
        }
        return e
    }

    package func sequence(_ key: String, required: Bool = false) -> [Node] {
        guard let v = self[key] else {
            if required { log.add(file, node, "\(context) is missing `\(key)`", hint: "add `\(key):` with a list of `- ...` items") }
            return []
        }
        guard case .sequence(let seq) = v else {
            log.add(file, v, "`\(key)` in \(context) must be a list", hint: "write each item on its own `- ` line")
            return []
        }
        return Array(seq)
    }

    package static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.utf8.first, (first >= 97 && first <= 122) || (first >= 48 && first <= 57) else { return false }
        return s.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 }
    }
}
