import Aggregation
import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore
import Reporting

/// `zhizao audit`: every change that is not ingest, with who made it and what it replaced.
struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the audit trail: value added entered, rebuilds, registry reloads and the coefficients they changed.",
        discussion: """
            Every change to stored figures or to what they are computed from, other than readings
            arriving, is recorded with its time, command, host user, subject and the value before
            and after. A registry reload (SIGHUP) records the SHA-256 of the registry's files and
            every coefficient or emission factor it changed. Opens the database read-only.

            Examples:
              zhizao audit
              zhizao audit --from 2026-11 --to 2026-12 --format csv
              zhizao audit --from=-7d --format json
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var window: TimeWindowOptions<Window>
    @Option(help: "table, csv or json.") var format: OutputFormat = .table
    @OptionGroup var language: LanguageOptions

    enum Window: TimeWindowDefaults {
        static let from: String? = ""
        static let to: String? = ""
        static let fromHelp = "Earliest change to list: \(TimeArgument.help) (default: the first)."
        static let toHelp = "End (exclusive; default: now)."
    }

    /// One entry as `--format json` prints it (Schemas/audit.schema.json).
    struct Listing: Encodable {
        var entry: AuditEntry
        var at: String

        func encode(to encoder: any Encoder) throws {
            try entry.encode(to: encoder)
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(at, forKey: .at)
        }
        enum Key: String, CodingKey { case at }
    }

    func run() throws {
        let plant: Plant
        do { plant = try registry.loadPlant() } catch {
            throw fail("\(error)\nrun `zhizao devices validate --devices \(registry.devices)` for details")
        }
        let calendar = AggregationPlan(plant: plant).calendar
        let range = try window.openWindow(calendar: calendar)
        let entries: [AuditEntry]
        do { entries = try store.reader(plant: plant).audit(from: range.from, to: range.to) } catch { throw fail("\(error)") }
        let zone = calendar.timeZone
        switch format {
        case .json:
            try printJSON(entries.map { Listing(entry: $0, at: localTime($0.atMs, zone, precise: true)) })
        case .table, .csv:
            if entries.isEmpty && format == .table {
                print("no change on record in this window")
                return
            }
            printTable(
                language.localization.headings(["time (site)", "command", "user", "subject", "before", "after"], format: format),
                format: format,
                entries.map {
                    [localTime($0.atMs, zone, precise: true), $0.command, $0.user, $0.subject, $0.before ?? "-", $0.after ?? "-"]
                })
        }
    }
}
