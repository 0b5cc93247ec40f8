import Logging
import ReadingStore

/// Watches the free space of the database's file system from the ingest loop: exports it to
/// Prometheus and warns, at most once an hour, while less than a tenth is free, so a person
/// acts before commits stop on a full disk.
struct DiskSpaceWatch {
    let path: String
    let logger: Logger
    let metrics: IngestMetrics?
    /// How the free space is measured (statvfs; a stand-in in tests).
    var measure: (String) -> FileSystemSpace? = FileSystemSpace.of
    /// Below this free share the daemon warns.
    static let warnBelow = 0.10
    static let checkEveryNs: UInt64 = 10_000_000_000
    static let warnEveryNs: UInt64 = 3_600_000_000_000
    private var lastCheckNs: UInt64?
    private var lastWarningNs: UInt64?

    init(path: String, logger: Logger, metrics: IngestMetrics?) {
        self.path = path
        self.logger = logger
        self.metrics = metrics
    }

    /// Measures at most every ten seconds (a statvfs call); `nowNs` is the monotonic clock.
    mutating func check(nowNs: UInt64) {
        if let last = lastCheckNs, nowNs &- last < Self.checkEveryNs { return }
        lastCheckNs = nowNs
        guard let space = measure(path) else { return }
        metrics?.setDiskSpace(space)
        guard space.freeFraction < Self.warnBelow else { return }
        if let last = lastWarningNs, nowNs &- last < Self.warnEveryNs { return }
        lastWarningNs = nowNs
        logger.warning(
            "the database's disk is almost full: prune old readings (retention, zhizao prune) or add space",
            metadata: [
                "db": "\(path)", "free_bytes": "\(space.freeBytes)", "total_bytes": "\(space.totalBytes)",
                "free_percent": "\(Int(space.freeFraction * 100))", "hint": "zhizao status",
            ])
    }
}
