public import Aggregation
public import PlantRegistry
import Telemetry

/// The changes to stored figures that are not ingest: closing and reopening reported periods,
/// entering value added, recomputing rollups. `zhizao close`, `reopen`, `value-added` and
/// `rebuild` make them through this protocol, so the same commands work on SQLite and on
/// PostgreSQL; each change is audited in its own transaction.
public protocol AdminStore: TelemetryStore {
    /// Closes [start, end) (whole local days) for `scope` and the scopes within it (`frozen`,
    /// whose `devices` keep their own minutes as closed too). Refused (`PeriodClosedError`) if a
    /// related scope has a closure sharing days with it, or if the period has not ended by `nowMs`.
    @discardableResult
    func close(
        scope: Scope, frozen: [Scope], devices: [String], start: Int64, end: Int64, label: String, by actor: AuditActor, nowMs: Int64
    ) throws -> ClosedPeriod

    /// Reopens the closures sharing time with [from, to) (of scopes related to `scopes`, or
    /// all), folding their late adjustments into the figures.
    @discardableResult
    func reopen(from: Int64, to: Int64, scopes: Set<Scope>?, by actor: AuditActor) throws -> [ReopenedPeriod]

    /// Records a month's value added for a scope; a month closed for it is refused unless `reopen`.
    func setValueAdded(
        scope: Scope, monthStart: Int64, monthEnd: Int64, period: String, yuan: Double, by actor: AuditActor, reopen: Bool
    ) throws

    /// Recomputes the rollups of the local days [from, to) touch (all without them) from the raw
    /// readings; a closed period in the range is refused unless `reopen`.
    func rebuildRollups(
        from: Int64?, to: Int64?, by actor: AuditActor, window: String, reopen: Bool, progress: (Int, Int) -> Void
    ) throws
}

extension SQLiteStore: AdminStore {}

extension ReadingHistory {
    /// What a rebuild books for a series: its readings in [start, end), with two before (a
    /// register's high-water look-back) and one after, so the pairs across the edges are whole.
    func rebuildPoints(_ series: SeriesIndex, from start: Int64, to end: Int64) throws -> [SeriesPoint] {
        var points = try neighbours(series, around: start, before: 2, after: 0).before
        points += try self.points(series, from: start, to: end)
        if end < Int64.max / 4 { points += try neighbours(series, around: end - 1, before: 0, after: 1).after }
        return points
    }
}
