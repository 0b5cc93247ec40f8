import Aggregation
import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore
import Reporting

/// `zhizao rebuild`: recompute every rollup from raw readings.
struct Rebuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recompute all rollups and indicator totals from the raw readings.",
        discussion: """
            On SQLite, stop the daemon first: the rebuild takes the database's write lock. On \
            PostgreSQL (--db postgresql://…) daemons may keep running: the rebuild takes the locks \
            of every device of the registry, as a daemon's batch does, so they wait for it and then \
            book against what it wrote; only this registry's sites are recomputed. The result is \
            identical to what streaming ingest stored, whatever order readings arrived in. With \
            --from/--to only the local days they touch are recomputed. The rebuild is recorded in \
            the audit trail (`zhizao audit`). A range touching a closed period (`zhizao close`) is \
            refused unless --reopen, which reopens it (audited, its late adjustments folded in) first.

            Examples:
              zhizao rebuild --db /var/lib/zhizao/zhizao.sqlite --devices /etc/zhizao/devices
              zhizao rebuild --from 2026-11-01 --to 2026-11-08
              zhizao rebuild --from 2026-10 --to 2026-11 --reopen      # October was closed
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var window: TimeWindowOptions<Window>
    @Flag(help: "Reopen closed periods the range touches first (audited).") var reopen = false

    enum Window: TimeWindowDefaults {
        static let from: String? = ""
        static let to: String? = ""
        static let fromHelp = "First local day to recompute: \(TimeArgument.help)."
        static let toHelp = "End of the range (exclusive; its day is recomputed whole)."
    }

    func run() throws {
        let plant: Plant
        do { plant = try registry.loadPlant() } catch { throw fail("\(error)") }
        let plan = AggregationPlan(plant: plant)
        let range = try window.openWindow(calendar: plan.calendar)
        let s = try openAdminStore(store, plant: plant, aggregating: true)
        let terminal = isatty(STDERR_FILENO) == 1
        let described =
            window.from.isEmpty && window.to.isEmpty
            ? "all"
            : "from \(window.from.isEmpty ? "the first reading" : window.from) to \(window.to.isEmpty ? "the last" : window.to)"
        try refusingClosed(window.from.isEmpty && window.to.isEmpty ? "a rebuild of all days" : "--from/--to") {
            try s.rebuildRollups(from: range.0, to: range.1, by: .current(command: "rebuild"), window: described, reopen: reopen) {
                done, total in
                if terminal { FileHandle.standardError.write(Data("\r\u{1B}[Krebuilding: series \(done) of \(total)".utf8)) }
            }
        }
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        print("rebuilt the rollups of \(plant.series.count) series in \(StoreTarget.redacted(store.db))")
    }
}
