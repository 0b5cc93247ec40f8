public import Aggregation
public import Telemetry

/// Where committed readings go: the narrow interface the ingest loop depends on.
///
/// A later backend (PostgreSQL) implements the same calls. Writes are idempotent on a
/// reading's identity (device, metric, timestamp), so a redelivered message never counts twice.
public protocol TelemetryStore: AnyObject {
    /// Registers the registry's series (index = `SeriesIndex`) before the first commit, and
    /// again after a registry reload.
    func prepareSeries(_ keys: [SeriesKey]) throws
    /// Keeps rollups from now on with this plan (replacing an earlier one after a reload).
    func enableAggregation(_ plan: AggregationPlan)
    /// Stores a batch in one transaction: readings (duplicates ignored), quarantine, counters.
    /// When it returns, the batch is durable and its messages may be acknowledged.
    func commit(_ batch: IngestBatch, committedAtMs: Int64) throws -> CommitOutcome
    /// Appends changes that are not ingest (a registry reload, changed coefficients) to the
    /// audit trail, in one transaction.
    func recordAudit(_ entries: [AuditEntry]) throws
    /// Removes at most `maxRows` rows older than the retention horizons in one short
    /// transaction (the daemon calls it between batches, so it never holds the write lock long).
    func pruneStep(rawBefore: Int64?, minuteBefore: Int64?, maxRows: Int) throws -> PruneProgress
}
