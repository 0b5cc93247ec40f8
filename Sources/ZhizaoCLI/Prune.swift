import Aggregation
import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore
import Telemetry

/// `zhizao prune`: the retention tiers on demand.
struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete raw readings and minute rollups older than N local days, in small steps.",
        discussion: """
            Raw readings older than --raw-days go (each series keeps the few reads before the
            horizon that late readings need as neighbours); minute rollups older than --minute-days
            are folded into per-series hour rollups first, so `query --every 1h/1d/1mo`, `indicators`
            and every scope total keep the figures they fed. Hour, day and month figures are kept.
            Each step is a short transaction, so the running daemon keeps committing. Later readings
            older than the raw horizon are quarantined as beyond_retention, and `zhizao rebuild`
            refuses ranges before it. --vacuum rewrites the whole file once (stop the daemon first)
            so that an older database returns freed pages to the file system from then on.

            On PostgreSQL (--db postgresql://…) raw readings leave a whole month at a time: the
            monthly partitions (UTC months) that end on or before the raw horizon are dropped, a
            month partly inside the horizon stays whole until its last day has passed it, and the
            raw horizon becomes the first kept month's start. Minute rollups are folded into hours in
            small steps as on SQLite (never past the raw horizon). Running daemons wait for a
            partition drop, then go on. The readings table is shared by every site in the database,
            so a drop removes that month for all of them. --vacuum is for SQLite files only
            (PostgreSQL's autovacuum reclaims space; a dropped partition frees its files at once).

            Examples:
              zhizao prune --raw-days 90 --minute-days 400
              zhizao prune --raw-days 30 --db /var/lib/zhizao/zhizao.sqlite --devices /etc/zhizao/devices
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @Option(name: .customLong("raw-days"), help: "Keep raw readings of the last N local days.") var rawDays: Int?
    @Option(name: .customLong("minute-days"), help: "Keep minute rollups of the last N local days (at least --raw-days).")
    var minuteDays: Int?
    @Flag(help: "Rewrite the file once with VACUUM and incremental auto-vacuum (the daemon must be stopped).") var vacuum = false

    func run() throws {
        guard rawDays != nil || minuteDays != nil || vacuum else {
            throw fail("say what to prune: --raw-days N and/or --minute-days N (e.g. --raw-days 90 --minute-days 400)", code: 2)
        }
        for (flag, n) in [("--raw-days", rawDays), ("--minute-days", minuteDays)] {
            if let n, n < 1 { throw fail("\(flag) \(n): keep at least 1 day", code: 2) }
        }
        if let r = rawDays, let m = minuteDays, m < r {
            throw fail("--minute-days \(m) is less than --raw-days \(r): minutes must be kept at least as long as raw readings", code: 2)
        }
        let plant: Plant
        do { plant = try registry.loadPlant() } catch { throw fail("\(error)") }
        if vacuum && StoreTarget.isPostgres(store.db) {
            throw fail(
                "--vacuum rewrites a SQLite file; \(StoreTarget.redacted(store.db)) is PostgreSQL, whose autovacuum reclaims space "
                    + "(dropped partitions free their files at once): leave out --vacuum", code: 2)
        }
        let plan = AggregationPlan(plant: plant)
        // Minutes are never kept for less time than raw readings (the daemon's aggregator books into them).
        let (rawBefore, minuteBefore) = RetentionPolicy(rawDays: rawDays, minuteDays: minuteDays)
            .horizons(nowMs: Int64(Date().timeIntervalSince1970 * 1000), calendar: plan.calendar)
        do {
            let s = try openAdminStore(store, plant: plant, aggregating: true)
            var total = PruneProgress()
            if rawBefore != nil || minuteBefore != nil {
                repeat {
                    let step = try s.pruneStep(rawBefore: rawBefore, minuteBefore: minuteBefore, maxRows: 2000)
                    total.readings += step.readings
                    total.minutes += step.minutes
                    total.done = step.done
                } while !total.done
                // PostgreSQL drops whole months: its horizon is the first kept month's start.
                let pgHorizon = (s as? PostgresStore)?.rawHorizonMs
                let horizons = [
                    (pgHorizon ?? rawBefore).map {
                        "raw before \(Timestamp.formatRFC3339UTC($0))\(pgHorizon == nil ? "" : " (whole months dropped)")"
                    },
                    minuteBefore.map { "minutes before \(Timestamp.formatRFC3339UTC($0))" },
                ].compactMap { $0 }
                try s.recordAudit([
                    AuditActor.current(command: "prune").entry(
                        "retention \(horizons.joined(separator: ", "))", before: nil,
                        after: "\(total.readings) readings and \(total.minutes) minute rollups removed (minutes kept as hours)")
                ])
                print("pruned \(total.readings) readings and \(total.minutes) minute rollups (\(horizons.joined(separator: "; ")))")
            }
            if vacuum, let s = s as? SQLiteStore {
                try s.vacuum()
                print("vacuumed \(store.db): freed pages now return to the file system as pruning frees them")
            }
        } catch {
            throw fail("\(error)")
        }
    }
}
