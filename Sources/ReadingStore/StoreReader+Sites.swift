import GRDB

extension StoreReader {
    /// The sites with scope totals stored: a SQLite file holds one daemon's registry, so
    /// usually one site.
    public func storedSites() throws -> [String] {
        try db.read { db in
            guard try db.tableExists("scope_rollup") else { return [] }
            return try String.fetchAll(
                db, sql: "SELECT DISTINCT substr(scope, 6) FROM scope_rollup WHERE scope >= 'site:' AND scope < 'site;' ORDER BY 1")
        }
    }
}
