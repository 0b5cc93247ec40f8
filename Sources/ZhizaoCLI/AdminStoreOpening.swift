import Aggregation
import Foundation
import PlantRegistry
import ReadingStore

/// The database named by `--db` for a command that changes figures (close, reopen,
/// value-added, rebuild, prune): a SQLite file, which must exist, or a `postgresql://` URL (the
/// password from PGPASSWORD or a PGPASSFILE, never from the command line). With `aggregating`
/// (rebuild, prune) the registry's series are registered and its aggregation plan enabled; a
/// PostgreSQL store always learns them, since its rows are keyed by the registry's sites.
func openAdminStore(_ store: StoreOptions, plant: Plant, aggregating: Bool) throws -> any AdminStore {
    let plan = AggregationPlan(plant: plant)
    if StoreTarget.isPostgres(store.db) {
        do {
            let s = try PostgresStore(url: store.db)
            try s.prepareSeries(plant.series)
            s.enableAggregation(plan)
            s.useSites(of: plant)
            return s
        } catch { throw fail("\(error)") }
    }
    guard FileManager.default.fileExists(atPath: store.db) else { throw fail("no database at \(store.db): pass --db PATH") }
    do {
        let s = try SQLiteStore(path: store.db)
        if aggregating {
            try s.prepareSeries(plant.series)
            s.enableAggregation(plan)
        }
        return s
    } catch { throw fail("\(error)") }
}
