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
            Stop the daemon first: the rebuild takes the database's write lock. The result is \
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
        do { plant = try Plant.load(directory: registry.devices) } catch { throw fail("\(error)") }
        guard FileManager.default.fileExists(atPath: store.db) else { throw fail("no database at \(store.db)") }
        let plan = AggregationPlan(plant: plant)
        let range = try window.openWindow(calendar: plan.calendar)
        let s = try SQLiteStore(path: store.db)
        try s.prepareSeries(plant.series)
        s.enableAggregation(plan)
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
        print("rebuilt the rollups of \(plant.series.count) series in \(store.db)")
    }
}
