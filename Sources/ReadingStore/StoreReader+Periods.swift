public import Aggregation
import GRDB
public import PlantRegistry

extension StoreReader {
    /// The closed periods, earliest first (none in a database older than closing).
    public func closedPeriods() throws -> [ClosedPeriod] {
        try db.read { try SQLiteStore.loadClosedPeriods($0) }
    }

    /// A scope's late adjustments per local hour or day in [from, to): `start` → quantity →
    /// change held beside the closed figures.
    public func scopeAdjustments(scope: Scope, period: String, from: Int64, to: Int64) throws
        -> [(start: Int64, totals: [String: Double])]
    {
        try scopeRows(table: "scope_adjustment", scopes: [scope], period: period, from: from, to: to)[scope] ?? []
    }
}

extension StoreReader {
    /// What late readings added to a device metric's minutes inside closed periods, in [from, to):
    /// readings, sum, consumption per minute (min, max and last are nil: not separable).
    public func heldMinutes(device: String, metric: String, from: Int64, to: Int64) throws -> [MinuteRollup] {
        try db.read { db in
            guard try db.tableExists("series_adjustment") else { return [] }
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT minute, sum(n) AS n, sum(sum) AS s, sum(consumption) AS c FROM series_adjustment
                    WHERE series_id = (SELECT id FROM series WHERE device = ? AND metric = ?) AND minute >= ? AND minute < ?
                    GROUP BY minute ORDER BY minute
                    """, arguments: [device, metric, from, to]
            ).map { MinuteRollup(minute: $0["minute"], count: $0["n"], sum: $0["s"], min: nil, max: nil, last: nil, consumption: $0["c"]) }
        }
    }

    /// What late readings added to a state series' time per state inside closed periods: minute → state → ms.
    public func heldStateMinutes(device: String, metric: String, from: Int64, to: Int64) throws -> [Int64: [String: Int64]] {
        try db.read { db in
            var out: [Int64: [String: Int64]] = [:]
            guard try db.tableExists("state_adjustment") else { return out }
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT minute, state, sum(ms) AS ms FROM state_adjustment
                    WHERE series_id = (SELECT id FROM series WHERE device = ? AND metric = ?) AND minute >= ? AND minute < ?
                    GROUP BY minute, state
                    """, arguments: [device, metric, from, to])
            {
                out[row["minute"], default: [:]][row["state"]] = row["ms"]
            }
            return out
        }
    }
}
