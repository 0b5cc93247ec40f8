public import PlantRegistry

/// Why indicators cannot be computed as asked; the command line turns these into messages
/// that name its flags.
public enum ReportingError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The registry describes no site.
    case noSite
    /// A scope the registry does not have, with the nearest known keys and every known scope.
    case unknownScope(String, nearest: [String], known: [Scope])
    /// Rows per shift asked for a site without a shift calendar.
    case noShiftCalendar(site: String)

    public var description: String {
        switch self {
        case .noSite:
            "the registry has no site"
        case .unknownScope(let text, let near, let known):
            "unknown scope \(text)" + (near.isEmpty ? "" : "; nearest: \(near.joined(separator: ", "))")
                + "\nscopes: \(known.map(\.key).joined(separator: ", "))"
        case .noShiftCalendar(let site):
            "rows per shift need a shift calendar: add `shifts:` to site \(site) in plant.yaml"
        }
    }
}
