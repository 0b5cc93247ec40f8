public import Aggregation
public import PlantRegistry
public import Telemetry

/// Read-only access to a store, whatever the backend: what `zhizao status`, `indicators`,
/// `query`, `export`, `report`, `readings`, `quarantine`, `quality`, `audit` and
/// `devices discover` read, and what `Reporting` computes from.
///
/// `StoreReader` reads a SQLite file, `PostgresReader` a PostgreSQL database (several sites in
/// one database: it reads the sites of the registry it is given). `openTelemetryReader` picks
/// one from a `--db` value. Every figure means the same on both: the commands print the same
/// rows from the same stream. Readers never write and never block the daemon.
public protocol TelemetryReader: AnyObject {
    /// The database as messages print it (a path, or a URL without its password).
    var database: String { get }

    /// Counters, quarantine by reason, per-device last seen and the current rate.
    func status(nowMs: Int64) throws -> IngestStatus
    /// Where the database's bytes go and how long the disk lasts (see `StorageReport`).
    func storage(nowMs: Int64) throws -> StorageReport
    /// The sites that have figures stored (scope totals or series), sorted.
    func storedSites() throws -> [String]

    /// The newest `limit` readings (of one device, or all), oldest first.
    func readings(device: String?, limit: Int) throws -> [StoredReading]
    /// Quarantined messages, newest first.
    func quarantine(limit: Int) throws -> [QuarantineEntry]
    /// Quarantined messages of some reasons per (topic, reason) received at or after `sinceMs`.
    func quarantineSummaries(reasons: [String], sinceMs: Int64) throws -> [QuarantineSummary]
    /// Quality events ending in `[from, to)`, of the given devices (all when nil), oldest first.
    func qualityEvents(from: Int64, to: Int64, devices: Set<String>?) throws -> [QualityEvent]
    /// The audit trail in [from, to) (either end open when nil), oldest first.
    func audit(from: Int64?, to: Int64?) throws -> [AuditEntry]

    /// A scope's stored totals per local hour or day in [from, to): `start` → quantity → value.
    func scopeTotals(scope: Scope, period: String, from: Int64, to: Int64) throws -> [(start: Int64, totals: [String: Double])]
    /// Several scopes' totals read at once (a table of 160 lines reads their days in one go, not
    /// in 160 reads): scope → what `scopeTotals(scope:…)` gives it; absent when it has none.
    func scopeTotals(scopes: [Scope], period: String, from: Int64, to: Int64) throws
        -> [Scope: [(start: Int64, totals: [String: Double])]]
    /// Value added recorded for a scope: local month start → yuan, for months in [from, to).
    func valueAdded(scope: Scope, from: Int64, to: Int64) throws -> [Int64: Double]
    /// Several scopes' value added read at once: scope → what `valueAdded(scope:…)` gives it;
    /// absent when none is recorded.
    func valueAdded(scopes: [Scope], from: Int64, to: Int64) throws -> [Scope: [Int64: Double]]
    /// A series' rollups composed into `every` windows in site time for [from, to).
    func rollups(
        device: String, metric: String, from: Int64, to: Int64, every: WindowCalendar.Every, calendar: WindowCalendar
    ) throws -> [MinuteRollup]
    /// Time in each state per `every` window: start → state → ms.
    func stateWindows(
        device: String, metric: String, from: Int64, to: Int64, every: WindowCalendar.Every, calendar: WindowCalendar
    ) throws -> [Int64: [String: Int64]]
    /// A series' one-minute rollups in [from, to).
    func minuteRollups(device: String, metric: String, from: Int64, to: Int64) throws -> [MinuteRollup]
    /// Time in each state per minute of a state series in [from, to): minute → state → ms.
    func stateMinutes(device: String, metric: String, from: Int64, to: Int64) throws -> [Int64: [String: Int64]]
    /// The minute-rollup use of each series over `[from, to)`.
    func minuteUse(_ series: [SeriesKey], from: Int64, to: Int64) throws -> [SeriesKey: SeriesUse]
    /// The machine minutes of `devices` over `[from, to)`, summed.
    func machineTime(devices: [String], from: Int64, to: Int64) throws -> MachineTime
    /// Minute rollups hold nothing before this time (retention); nil when nothing was pruned.
    func minuteHorizon() throws -> Int64?

    /// How many readings (or one-minute rollup rows) an export will write.
    func countReadings(_ filter: ExportFilter) throws -> Int
    func countRollups(_ filter: ExportFilter) throws -> Int
    /// Streams readings (or one-minute rollups: numeric, then states) in time order.
    func exportReadings(_ filter: ExportFilter, _ body: (ExportRow) throws -> Void) throws
    func exportRollups(_ filter: ExportFilter, _ body: (ExportRow) throws -> Void) throws

    /// The closed periods, earliest first.
    func closedPeriods() throws -> [ClosedPeriod]
    /// A scope's late adjustments per local hour or day in [from, to).
    func scopeAdjustments(scope: Scope, period: String, from: Int64, to: Int64) throws -> [(start: Int64, totals: [String: Double])]
    /// What late readings added to a series' minutes inside closed periods, in [from, to).
    func heldMinutes(device: String, metric: String, from: Int64, to: Int64) throws -> [MinuteRollup]
    /// What late readings added to a state series' time per state inside closed periods.
    func heldStateMinutes(device: String, metric: String, from: Int64, to: Int64) throws -> [Int64: [String: Int64]]
}

/// Opens the reader a `--db` value names: a `postgresql://` URL (its password from
/// `passwordFile`, `PGPASSFILE` or `PGPASSWORD`, never the URL) or a SQLite path. `plant` is the
/// registry whose sites a PostgreSQL reader reads (nil: every site in the database); SQLite
/// holds one site's data and ignores it.
public func openTelemetryReader(_ target: String, passwordFile: String? = nil, plant: Plant? = nil) throws -> any TelemetryReader {
    if StoreTarget.isPostgres(target) {
        return try PostgresReader(url: target, passwordFile: passwordFile, plant: plant)
    }
    return try StoreReader(path: target)
}

/// A data-quality event as stored: a register drop, an estimated gap, an unknown state.
public struct QualityEvent: Sendable {
    public var device: String
    public var metric: String
    public var kind: String
    /// The interval `(start, end]` it concerns, epoch ms.
    public var startMs: Int64
    public var endMs: Int64
    /// The use booked (rollover, reset, estimated), or the milliseconds unknown (stale, offline).
    public var amount: Double
}

/// A stored reading with its identity spelled out.
public struct StoredReading: Sendable, Equatable {
    public var device: String
    public var metric: String
    public var timestampMs: Int64
    public var value: ReadingValue
    public var seq: Int64?
}

/// A quarantined message as listed by `zhizao quarantine`.
public struct QuarantineEntry: Sendable {
    public var receivedAtMs: Int64
    public var topic: String
    public var reason: String
    public var detail: String
    public var payloadBytes: Int
}

/// Quarantined messages of one (topic, reason) summed up, with a sample payload: what
/// `zhizao devices discover` reads to find gateways and devices missing from the registry.
public struct QuarantineSummary: Sendable {
    public var topic: String
    public var reason: String
    public var messages: Int
    public var firstReceivedAtMs: Int64
    public var lastReceivedAtMs: Int64
    /// The newest message's stored payload (truncated to `ingest.quarantine_payload_bytes`).
    public var samplePayload: [UInt8]
    /// The newest message's full size in bytes.
    public var samplePayloadBytes: Int
}

/// A series' statistics over one minute (or a window composed of minutes).
public struct MinuteRollup: Sendable, Equatable {
    public var minute: Int64
    public var count: Int
    public var sum: Double
    public var min: Double?
    public var max: Double?
    public var last: Double?
    public var consumption: Double

    public init(minute: Int64, count: Int, sum: Double, min: Double?, max: Double?, last: Double?, consumption: Double) {
        self.minute = minute
        self.count = count
        self.sum = sum
        self.min = min
        self.max = max
        self.last = last
        self.consumption = consumption
    }

    /// Rows in time order composed into `every` windows of `calendar`: counts, sums and
    /// consumption add, min and max take the extremes, last the latest.
    static func compose(_ rows: [MinuteRollup], every: WindowCalendar.Every, calendar: WindowCalendar) -> [MinuteRollup] {
        var out: [MinuteRollup] = []
        for m in rows {
            let start = calendar.windowStart(m.minute, every)
            if out.last?.minute == start {
                var w = out[out.count - 1]
                w.count += m.count
                w.sum += m.sum
                if let v = m.min { w.min = Swift.min(w.min ?? v, v) }
                if let v = m.max { w.max = Swift.max(w.max ?? v, v) }
                if m.last != nil { w.last = m.last }  // minutes come in time order
                w.consumption += m.consumption
                out[out.count - 1] = w
            } else {
                var w = m
                w.minute = start
                out.append(w)
            }
        }
        return out
    }
}

/// A series' use over a window from its one-minute rollups (counter consumption or an
/// integrated gauge's), in the metric's own unit, with the part of it spread over gaps.
public struct SeriesUse: Sendable, Equatable {
    public var consumption = 0.0
    public var estimated = 0.0

    public init(consumption: Double = 0, estimated: Double = 0) {
        self.consumption = consumption
        self.estimated = estimated
    }
}

/// Key-process machine time over a window, summed over devices, from the machine minutes.
public struct MachineTime: Sendable, Equatable {
    public var producingMs = 0.0
    public var ncProducingMs = 0.0
    public var unknownMs = 0.0

    public init(producingMs: Double = 0, ncProducingMs: Double = 0, unknownMs: Double = 0) {
        self.producingMs = producingMs
        self.ncProducingMs = ncProducingMs
        self.unknownMs = unknownMs
    }
}

/// Which rows an export covers; every filter reaches SQL as a bound parameter.
public struct ExportFilter: Sendable {
    public var from: Int64
    public var to: Int64
    /// Only these devices (nil: all).
    public var devices: [String]?
    public var metric: String?

    public init(from: Int64, to: Int64, devices: [String]? = nil, metric: String? = nil) {
        self.from = from
        self.to = to
        self.devices = devices
        self.metric = metric
    }
}

/// One exported reading or rollup row.
public struct ExportRow: Sendable {
    public var device: String
    public var metric: String
    public var ts: Int64
    public var value: Double?
    public var state: String?
    public var errorCode: Int64?
    public var seq: Int64?
    // Rollups only.
    public var count: Int?
    public var min: Double?
    public var mean: Double?
    public var max: Double?
    public var consumption: Double?
    public var seconds: Double?
}
