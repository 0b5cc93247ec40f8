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
        try scopeRows(table: "scope_adjustment", scope: scope, period: period, from: from, to: to)
    }
}
