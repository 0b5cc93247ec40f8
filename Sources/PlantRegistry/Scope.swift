/// A node of the plant whose figures are totalled and reported: the site, a workshop or a line.
///
/// Its ``key`` (`site:<id>`, `workshop:<id>`, `line:<id>`) is the form stored in the database's
/// `scope_rollup` and `value_added` tables and typed on the command line, so it must never
/// change; everywhere else the value is typed, so a scope is never spelt by hand.
public enum Scope: Hashable, Comparable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    case site(String)
    case workshop(String)
    case line(String)

    /// The level of the plant tree a scope sits at; its raw value is the key's prefix.
    public enum Kind: String, Sendable, CaseIterable {
        case site
        case workshop
        case line
    }

    /// A text that is not `site:ID`, `workshop:ID` or `line:ID`.
    public struct ParseError: Error, Equatable, CustomStringConvertible, Sendable {
        public let text: String
        public init(text: String) { self.text = text }
        public var description: String { "\(text) is not a scope: use site:ID, workshop:ID or line:ID" }
    }

    public init(_ kind: Kind, _ id: String) {
        switch kind {
        case .site: self = .site(id)
        case .workshop: self = .workshop(id)
        case .line: self = .line(id)
        }
    }

    /// Reads the stored form `kind:id`; the id must be non-empty.
    public init(parsing text: String) throws(ParseError) {
        guard let colon = text.firstIndex(of: ":"), let kind = Kind(rawValue: String(text[..<colon])) else {
            throw ParseError(text: text)
        }
        let id = String(text[text.index(after: colon)...])
        guard !id.isEmpty else { throw ParseError(text: text) }
        self.init(kind, id)
    }

    public init?(_ description: String) {
        guard let scope = try? Scope(parsing: description) else { return nil }
        self = scope
    }

    public var kind: Kind {
        switch self {
        case .site: .site
        case .workshop: .workshop
        case .line: .line
        }
    }

    /// The site's, workshop's or line's id in the registry.
    public var id: String {
        switch self {
        case .site(let id), .workshop(let id), .line(let id): id
        }
    }

    /// The stored and typed form, e.g. `line:line-shaft`.
    public var key: String { "\(kind.rawValue):\(id)" }

    public var description: String { key }

    /// Ordered by key, the order reports and stored targets have always used.
    public static func < (a: Scope, b: Scope) -> Bool { a.key < b.key }

    /// The scopes a device sits in, innermost first: its line, its workshop, its site.
    public static func containing(_ d: Device) -> [Scope] {
        var out: [Scope] = []
        if let l = d.line { out.append(.line(l)) }
        if let w = d.workshop { out.append(.workshop(w)) }
        out.append(.site(d.site))
        return out
    }
}

extension Site {
    /// The site, then each workshop followed by its lines, in registry order.
    public var scopes: [Scope] {
        var out: [Scope] = [.site(id)]
        for ws in workshops {
            out.append(.workshop(ws.id))
            out += ws.lines.map { .line($0.id) }
        }
        return out
    }
}
