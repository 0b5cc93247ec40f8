import Prometheus
import ReadingStore
import Telemetry

/// The daemon's own metrics in the Prometheus text format (`GET /metrics`), off by default.
///
/// Updated once per commit from the ingest thread; read by the metrics server's thread. The
/// swift-prometheus types are thread-safe.
public final class IngestMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let received: Counter
    let committed: Counter
    let duplicates: Counter
    let batchReadings: ValueHistogram
    let commitSeconds: DurationHistogram
    let lagSeconds: ValueHistogram
    let connected: Gauge
    let lastCommit: Gauge
    let diskFree: Gauge
    let diskSize: Gauge

    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "zhizao", metricName: metric, unitName: unit, helpText: help)
    }

    public init() {
        received = registry.makeCounter(descriptor: Self.name("messages_received", "total", "MQTT messages received, good or bad."))
        committed = registry.makeCounter(descriptor: Self.name("readings_committed", "total", "Readings committed (each identity once)."))
        duplicates = registry.makeCounter(descriptor: Self.name("readings_duplicate", "total", "Redelivered readings ignored."))
        batchReadings = registry.makeValueHistogram(
            descriptor: Self.name("batch", "readings", "Readings per committed batch."),
            buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000])
        commitSeconds = registry.makeDurationHistogram(
            descriptor: Self.name("commit", "seconds", "Time to commit one batch (readings, rollups, counters) to SQLite."),
            buckets: [
                .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50),
                .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5),
            ])
        lagSeconds = registry.makeValueHistogram(
            descriptor: Self.name("ingest_lag", "seconds", "Commit time minus event time of committed readings."),
            buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600])
        connected = registry.makeGauge(descriptor: Self.name("broker_connected", "", "1 while connected to the broker."))
        lastCommit = registry.makeGauge(descriptor: Self.name("last_commit_timestamp", "seconds", "Wall time of the last commit."))
        diskFree = registry.makeGauge(
            descriptor: Self.name("disk_free", "bytes", "Free bytes of the database's file system (statvfs, unprivileged)."))
        diskSize = registry.makeGauge(descriptor: Self.name("disk_size", "bytes", "Size of the database's file system."))
        // Every reason is exposed from the start (at 0), so an alert on foreign_device or any
        // other reason has a series to watch before the first one happens.
        for reason in QuarantineReason.allCases { _ = quarantined(reason) }
    }

    func quarantined(_ reason: QuarantineReason) -> Counter {
        registry.makeCounter(
            descriptor: Self.name("messages_quarantined", "total", "Quarantined messages by reason."),
            labels: [("reason", reason.rawValue)])
    }

    /// Accounts for one committed batch.
    func record(_ batch: IngestBatch, _ outcome: CommitOutcome, commitNs: UInt64, committedAtMs: Int64) {
        received.increment(by: Int64(batch.messages))
        committed.increment(by: Int64(outcome.inserted))
        duplicates.increment(by: Int64(outcome.duplicates))
        for q in batch.quarantined { quarantined(q.rejection.reason).increment() }
        batchReadings.record(Double(batch.readings.count))
        commitSeconds.recordNanoseconds(Int64(commitNs))
        for r in batch.readings { lagSeconds.record(Double(committedAtMs - r.timestampMs) / 1000) }
        lastCommit.set(to: Double(committedAtMs) / 1000)
    }

    /// The broker link's state, for the `zhizao_broker_connected` gauge.
    func setConnected(_ up: Bool) { connected.set(to: up ? 1 : 0) }

    /// The database's file system, for the `zhizao_disk_free_bytes` and `zhizao_disk_size_bytes` gauges.
    func setDiskSpace(_ space: FileSystemSpace) {
        diskFree.set(to: Double(space.freeBytes))
        diskSize.set(to: Double(space.totalBytes))
    }

    /// The exposition text.
    public func render() -> [UInt8] { registry.emitToBuffer() }
}
