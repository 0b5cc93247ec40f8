import Aggregation
import Foundation
import GRDB
public import PlantRegistry
import Telemetry

/// What `zhizao status` reports, read from the database while the daemon runs.
public struct IngestStatus: Codable, Sendable {
    public struct DeviceSeen: Codable, Sendable {
        public var device: String
        /// Newest event time stored for the device (ms since epoch).
        public var lastReadingTs: Int64?
        /// When its newest reading was committed (ms since epoch).
        public var lastReceivedAt: Int64?
        /// Online or offline where the gateway says (Sparkplug); an offline device's metrics are stale.
        public var online: Bool?
        public var stateChangedAt: Int64?
        public var stateReason: String?

        enum CodingKeys: String, CodingKey {
            case device, online
            case lastReadingTs = "last_reading_ts"
            case lastReceivedAt = "last_received_at"
            case stateChangedAt = "state_changed_at"
            case stateReason = "state_reason"
        }
    }

    public var database: String
    public var readingsStored: Int64
    public var readingsDuplicate: Int64
    public var messagesReceived: Int64
    public var messagesQuarantined: Int64
    public var quarantinedByReason: [String: Int64]
    /// Readings committed per second over the last 10 seconds.
    public var ingestRatePerSecond: Double
    public var devices: [DeviceSeen]
    /// Data-quality events by kind (register drops, estimated gaps, unknown states): `zhizao quality` lists them.
    public var qualityEvents: [String: Int64] = [:]
    /// Bytes per table, the oldest day of each tier, free space and days until full; read only
    /// when asked for (`StoreReader.storage`), since it scans the file's pages.
    public var storage: StorageReport?

    enum CodingKeys: String, CodingKey {
        case qualityEvents = "quality_events"
        case storage
        case database
        case readingsStored = "readings_stored"
        case readingsDuplicate = "readings_duplicate"
        case messagesReceived = "messages_received"
        case messagesQuarantined = "messages_quarantined"
        case quarantinedByReason = "quarantined_by_reason"
        case ingestRatePerSecond = "ingest_rate_per_s"
        case devices
    }
}

/// Read-only access to a SQLite file for the CLI: never blocks or changes the running daemon's
/// database (`PostgresReader` reads PostgreSQL; both are `TelemetryReader`s).
public final class StoreReader: TelemetryReader {
    public typealias QualityEvent = ReadingStore.QualityEvent
    public typealias StoredReading = ReadingStore.StoredReading
    public typealias QuarantineEntry = ReadingStore.QuarantineEntry
    public typealias QuarantineSummary = ReadingStore.QuarantineSummary
    public typealias MinuteRollup = ReadingStore.MinuteRollup
    public typealias SeriesUse = ReadingStore.SeriesUse
    public typealias MachineTime = ReadingStore.MachineTime
    public typealias ExportFilter = ReadingStore.ExportFilter
    public typealias ExportRow = ReadingStore.ExportRow

    let db: DatabaseQueue
    public let path: String

    /// Opens an existing database read-only.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError("no database at \(path): start `zhizao run` first, or pass --db PATH", code: .cannotOpen)
        }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(5)
        do { db = try DatabaseQueue(path: path, configuration: config) } catch {
            throw StoreError(wrapping: error, context: "cannot open \(path) read-only")
        }
        self.path = path
    }

    /// The file's path.
    public var database: String { path }

    /// Quality events ending in `[from, to)`, of the given devices (all when nil), oldest first.
    public func qualityEvents(from: Int64, to: Int64, devices: Set<String>? = nil) throws -> [QualityEvent] {
        try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.device, s.metric, q.kind, q.start_ts, q.end_ts, q.amount FROM quality_event q JOIN series s ON s.id = q.series_id
                    WHERE q.end_ts >= ? AND q.end_ts < ? AND q.n > 0 ORDER BY q.end_ts, s.device, s.metric, q.kind
                    """, arguments: [from, to]
            ).compactMap { row -> QualityEvent? in
                let device: String = row["device"]
                if let devices, !devices.contains(device) { return nil }
                return QualityEvent(
                    device: device, metric: row["metric"], kind: row["kind"], startMs: row["start_ts"],
                    endMs: row["end_ts"], amount: row["amount"])
            }
        }
    }

    /// Counters, quarantine by reason, per-device last seen and the current rate.
    public func status(nowMs: Int64) throws -> IngestStatus {
        try db.read { db in
            var counters: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, value FROM ingest_counters") {
                counters[row["name"]] = row["value"]
            }
            var byReason: [String: Int64] = [:]
            for (name, v) in counters where name.hasPrefix("quarantined.") {
                byReason[String(name.dropFirst("quarantined.".count))] = v
            }
            let since = nowMs / 1000 - 10
            let recent =
                try Int64.fetchOne(
                    db, sql: "SELECT COALESCE(SUM(readings), 0) FROM ingest_seconds WHERE second >= ?",
                    arguments: [since]) ?? 0
            let devices = try Row.fetchAll(
                db,
                sql: """
                    SELECT d.device, l.last_reading_ts, l.last_received_at, s.online, s.changed_at, s.reason
                    FROM (SELECT device FROM device_last_seen UNION SELECT device FROM device_state) d
                    LEFT JOIN device_last_seen l ON l.device = d.device LEFT JOIN device_state s ON s.device = d.device
                    ORDER BY d.device
                    """
            ).map {
                IngestStatus.DeviceSeen(
                    device: $0["device"], lastReadingTs: $0["last_reading_ts"], lastReceivedAt: $0["last_received_at"],
                    online: $0["online"], stateChangedAt: $0["changed_at"], stateReason: $0["reason"])
            }
            var status = IngestStatus(
                database: path, readingsStored: counters["readings_stored"] ?? 0,
                readingsDuplicate: counters["readings_duplicate"] ?? 0,
                messagesReceived: counters["messages_received"] ?? 0,
                messagesQuarantined: counters["messages_quarantined"] ?? 0,
                quarantinedByReason: byReason, ingestRatePerSecond: Double(recent) / 10, devices: devices)
            for row in try Row.fetchAll(db, sql: "SELECT kind, SUM(n) AS n FROM quality_event GROUP BY kind") {
                status.qualityEvents[row["kind"]] = row["n"]
            }
            return status
        }
    }

    /// Where the database's bytes go and how long the disk lasts (see `StorageReport`).
    public func storage(nowMs: Int64) throws -> StorageReport {
        try db.read { db in try StorageReport.read(db, path: path, nowMs: nowMs) }
    }

    /// Readings in time order, optionally for one device (used by `zhizao readings` and tests).
    /// Readings are keyed by series: the newest `limit` of each series are taken, then the
    /// newest `limit` of those.
    public func readings(device: String? = nil, limit: Int = 1000) throws -> [StoredReading] {
        try db.read { db in
            var sql = "SELECT id, device, metric FROM series"
            var args: StatementArguments = []
            if let device {
                sql += " WHERE device = ?"
                args += [device]
            }
            let newest = try db.cachedStatement(
                sql: """
                    SELECT r.ts, r.value, w.word AS state, r.error_code, r.seq FROM readings r
                    LEFT JOIN state_word w ON w.code = r.state_code WHERE r.series_id = ? ORDER BY r.ts DESC LIMIT ?
                    """)
            var out: [StoredReading] = []
            for series in try Row.fetchAll(db, sql: sql, arguments: args) {
                for row in try Row.fetchAll(newest, arguments: [series["id"], limit]) {
                    let value: ReadingValue
                    if let v: Double = row["value"] {
                        value = .number(v)
                    } else if let s: String = row["state"] {
                        value = .state(s)
                    } else {
                        value = .error(row["error_code"] ?? 0)
                    }
                    out.append(
                        StoredReading(
                            device: series["device"], metric: series["metric"], timestampMs: row["ts"], value: value,
                            seq: row["seq"]))
                }
            }
            out.sort { ($0.timestampMs, $0.device, $0.metric) < ($1.timestampMs, $1.device, $1.metric) }
            return Array(out.suffix(limit))
        }
    }

    /// Quarantined messages, newest first.
    public func quarantine(limit: Int = 100) throws -> [QuarantineEntry] {
        try db.read { db in
            try Row.fetchAll(
                db, sql: "SELECT received_at, topic, reason, detail, payload_bytes FROM quarantine ORDER BY id DESC LIMIT ?",
                arguments: [limit]
            ).map {
                QuarantineEntry(
                    receivedAtMs: $0["received_at"], topic: $0["topic"], reason: $0["reason"],
                    detail: $0["detail"], payloadBytes: $0["payload_bytes"])
            }
        }
    }
}

extension StoreReader {
    /// A scope's stored totals per local hour or day in [from, to): `start` → quantity → value.
    public func scopeTotals(scope: Scope, period: String, from: Int64, to: Int64) throws -> [(start: Int64, totals: [String: Double])] {
        try scopeRows(table: "scope_rollup", scopes: [scope], period: period, from: from, to: to)[scope] ?? []
    }

    /// Several scopes' stored totals in one read: scope → what `scopeTotals(scope:…)` gives it.
    public func scopeTotals(scopes: [Scope], period: String, from: Int64, to: Int64) throws
        -> [Scope: [(start: Int64, totals: [String: Double])]]
    {
        try scopeRows(table: "scope_rollup", scopes: scopes, period: period, from: from, to: to)
    }

    /// Rows of `scope_rollup` or `scope_adjustment` (same keys) per scope and start, every scope
    /// read in one transaction by one prepared statement: an indexed range per scope (SQLite is
    /// in process, so a seek per scope costs less than sorting one `IN` query's rows by scope),
    /// its columns decoded by type rather than through GRDB's generic `Row` subscripts, which
    /// cost more than the query when an indicator table reads 160 lines' days.
    func scopeRows(table: String, scopes: [Scope], period: String, from: Int64, to: Int64) throws
        -> [Scope: [(start: Int64, totals: [String: Double])]]
    {
        try db.read { db in
            var out: [Scope: [(start: Int64, totals: [String: Double])]] = [:]
            guard !scopes.isEmpty, try db.tableExists(table) else { return out }
            let statement = try db.cachedStatement(
                sql: """
                    SELECT start, quantity, value FROM \(table)
                    WHERE scope = ? AND period = ? AND start >= ? AND start < ? ORDER BY start
                    """)
            let sqlite = statement.sqliteStatement
            for scope in Set(scopes) {
                var rows: [(start: Int64, totals: [String: Double])] = []
                let cursor = try Row.fetchCursor(statement, arguments: [scope.key, period, from, to])
                while try cursor.next() != nil {
                    let start = Int64(sqliteStatement: sqlite, index: 0)
                    // Room for a day's quantities up front: growing each start's dictionary cost more than the read.
                    if rows.last?.start != start { rows.append((start, Dictionary(minimumCapacity: 8))) }
                    rows[rows.count - 1].totals[String(sqliteStatement: sqlite, index: 1)] = Double(sqliteStatement: sqlite, index: 2)
                }
                if !rows.isEmpty { out[scope] = rows }
            }
            return out
        }
    }

    /// Value added recorded for a scope: local month start → yuan, for months in [from, to).
    public func valueAdded(scope: Scope, from: Int64, to: Int64) throws -> [Int64: Double] {
        try valueAdded(scopes: [scope], from: from, to: to)[scope] ?? [:]
    }

    /// Value added of several scopes in one read: scope → what `valueAdded(scope:…)` gives it.
    public func valueAdded(scopes: [Scope], from: Int64, to: Int64) throws -> [Scope: [Int64: Double]] {
        try db.read { db in
            var out: [Scope: [Int64: Double]] = [:]
            guard !scopes.isEmpty else { return out }
            let statement = try db.cachedStatement(sql: "SELECT month, yuan FROM value_added WHERE scope = ? AND month >= ? AND month < ?")
            let sqlite = statement.sqliteStatement
            for scope in Set(scopes) {
                let cursor = try Row.fetchCursor(statement, arguments: [scope.key, from, to])
                while try cursor.next() != nil {
                    out[scope, default: [:]][Int64(sqliteStatement: sqlite, index: 0)] = Double(sqliteStatement: sqlite, index: 1)
                }
            }
            return out
        }
    }

    /// A series' rollups composed from its minutes into `every` windows in site time
    /// (15-minute, hour, day or month), for [from, to). Windows of an hour and more also take in
    /// the hour rollups kept for minutes pruned by retention (they precede every kept minute).
    public func rollups(
        device: String, metric: String, from: Int64, to: Int64, every: WindowCalendar.Every,
        calendar: WindowCalendar
    ) throws -> [MinuteRollup] {
        let hours = every.keepsHours ? try statRows(device: device, metric: metric, from: from, to: to, hours: true) : []
        return MinuteRollup.compose(
            try hours + minuteRollups(device: device, metric: metric, from: from, to: to), every: every, calendar: calendar)
    }

    /// Time in each state per `every` window, composed from the minutes: start → state → ms.
    public func stateWindows(
        device: String, metric: String, from: Int64, to: Int64, every: WindowCalendar.Every,
        calendar: WindowCalendar
    ) throws -> [Int64: [String: Int64]] {
        var out: [Int64: [String: Int64]] = [:]
        let hours = every.keepsHours ? try stateRows(device: device, metric: metric, from: from, to: to, hours: true) : [:]
        for part in [hours, try stateMinutes(device: device, metric: metric, from: from, to: to)] {
            for (start, states) in part { out[calendar.windowStart(start, every), default: [:]].merge(states, uniquingKeysWith: +) }
        }
        return out
    }

    /// A series' one-minute rollups in [from, to).
    public func minuteRollups(device: String, metric: String, from: Int64, to: Int64) throws -> [MinuteRollup] {
        try statRows(device: device, metric: metric, from: from, to: to, hours: false)
    }

    /// A series' statistics per minute, or per hour from `rollup_hour` (kept for minutes pruned
    /// by retention), in [from, to) and in time order.
    func statRows(device: String, metric: String, from: Int64, to: Int64, hours: Bool) throws -> [MinuteRollup] {
        // Minutes from `minute_rollup` (rows and the readings that stand for theirs), searched by
        // `at` between minute starts; the series id as a value, so the search reaches both keys.
        let (table, start, key) = hours ? ("rollup_hour", "hour", "hour") : ("minute_rollup", "minute", "at")
        func minuteUp(_ t: Int64) -> Int64 { t > Int64.max - 60_000 ? t : WindowCalendar.floor(t + 59_999, WindowCalendar.minuteMs) }
        let (from, to) = hours ? (from, to) : (minuteUp(from), minuteUp(to))
        return try db.read { db in
            guard
                let sid = try Int64.fetchOne(
                    db, sql: "SELECT id FROM series WHERE device = ? AND metric = ?", arguments: [device, metric])
            else { return [] }
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT \(start) AS start, n, sum, min, max, last, consumption FROM \(table)
                    WHERE series_id = ? AND \(key) >= ? AND \(key) < ? ORDER BY \(start)
                    """, arguments: [sid, from, to]
            ).map {
                MinuteRollup(
                    minute: $0["start"], count: $0["n"], sum: $0["sum"], min: $0["min"], max: $0["max"],
                    last: $0["last"], consumption: $0["consumption"])
            }
        }
    }

    /// Time in each state per minute of a state series in [from, to): minute → state → ms.
    public func stateMinutes(device: String, metric: String, from: Int64, to: Int64) throws -> [Int64: [String: Int64]] {
        try stateRows(device: device, metric: metric, from: from, to: to, hours: false)
    }

    /// State time per minute, or per hour from `state_hour` (kept for minutes pruned by retention).
    func stateRows(device: String, metric: String, from: Int64, to: Int64, hours: Bool) throws -> [Int64: [String: Int64]] {
        let sql =
            hours
            ? """
            SELECT hour AS start, state, ms FROM state_hour
            WHERE series_id = (SELECT id FROM series WHERE device = ? AND metric = ?) AND hour >= ? AND hour < ? AND ms != 0
            """
            : """
            SELECT m.minute AS start, w.word AS state, \(SQLiteStore.stateMs) AS ms FROM state_minute m
            JOIN state_word w ON w.code = m.state_code
            WHERE m.series_id = (SELECT id FROM series WHERE device = ? AND metric = ?) AND m.minute >= ? AND m.minute < ?
            AND \(SQLiteStore.stateMs) != 0
            """
        return try db.read { db in
            var out: [Int64: [String: Int64]] = [:]
            for row in try Row.fetchAll(db, sql: sql, arguments: [device, metric, from, to]) {
                out[row["start"], default: [:]][row["state"]] = row["ms"]
            }
            return out
        }
    }
}

extension ExportFilter {
    /// The SQL condition and its arguments, `time` naming the time column.
    func whereClause(time: String) -> (String, StatementArguments) {
        var sql = "\(time) >= ? AND \(time) < ?"
        var args: StatementArguments = [from, to]
        if let devices {
            sql += " AND s.device IN (\(Array(repeating: "?", count: max(1, devices.count)).joined(separator: ",")))"
            args += StatementArguments(devices.isEmpty ? [""] : devices)
        }
        if let metric {
            sql += " AND s.metric = ?"
            args += [metric]
        }
        return (sql, args)
    }
}

extension StoreReader {
    /// How many rows an export will write (for the progress bar).
    public func countReadings(_ filter: ExportFilter) throws -> Int {
        try db.read { db in
            let (w, args) = filter.whereClause(time: "r.ts")
            return try Int.fetchOne(
                db, sql: "SELECT count(*) FROM series s JOIN readings r ON r.series_id = s.id WHERE \(w)",
                arguments: args) ?? 0
        }
    }

    /// Streams readings in time order without holding them in memory.
    public func exportReadings(_ filter: ExportFilter, _ body: (ExportRow) throws -> Void) throws {
        try db.read { db in
            let (w, args) = filter.whereClause(time: "r.ts")
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT s.device, s.metric, r.ts, r.value, w.word, r.error_code, r.seq
                    FROM series s JOIN readings r ON r.series_id = s.id LEFT JOIN state_word w ON w.code = r.state_code
                    WHERE \(w) ORDER BY r.ts, s.device, s.metric
                    """, arguments: args)
            while let row = try rows.next() {
                try body(
                    ExportRow(device: row[0], metric: row[1], ts: row[2], value: row[3], state: row[4], errorCode: row[5], seq: row[6]))
            }
        }
    }

    public func countRollups(_ filter: ExportFilter) throws -> Int {
        try db.read { db in
            let (w, args) = filter.whereClause(time: "m.minute")
            let numeric =
                try Int.fetchOne(
                    db, sql: "SELECT count(*) FROM minute_rollup m JOIN series s ON s.id = m.series_id WHERE \(w)",
                    arguments: args) ?? 0
            let states =
                try Int.fetchOne(
                    db,
                    sql: "SELECT count(*) FROM state_minute m JOIN series s ON s.id = m.series_id WHERE \(w) AND ifnull(m.ms, 60000) != 0",
                    arguments: args) ?? 0
            return numeric + states
        }
    }

    /// Streams one-minute rollups (numeric, then states) without holding them in memory.
    public func exportRollups(_ filter: ExportFilter, _ body: (ExportRow) throws -> Void) throws {
        try db.read { db in
            let (w, args) = filter.whereClause(time: "m.minute")
            let numeric = try Row.fetchCursor(
                db,
                sql: """
                    SELECT s.device, s.metric, m.minute, m.n, m.sum, m.min, m.max, m.last, m.consumption
                    FROM minute_rollup m JOIN series s ON s.id = m.series_id WHERE \(w) ORDER BY m.minute, s.device, s.metric
                    """, arguments: args)
            while let row = try numeric.next() {
                let n: Int = row[3]
                let sum: Double = row[4]
                try body(
                    ExportRow(
                        device: row[0], metric: row[1], ts: row[2], value: row[7], count: n, min: row[5],
                        mean: n > 0 ? sum / Double(n) : nil, max: row[6], consumption: row[8]))
            }
            let states = try Row.fetchCursor(
                db,
                sql: """
                    SELECT s.device, s.metric, m.minute, w.word, ifnull(m.ms, 60000)
                    FROM state_minute m JOIN series s ON s.id = m.series_id JOIN state_word w ON w.code = m.state_code
                    WHERE \(w) AND ifnull(m.ms, 60000) != 0 ORDER BY m.minute, s.device, s.metric, w.word
                    """, arguments: args)
            while let row = try states.next() {
                let ms: Int64 = row[4]
                try body(ExportRow(device: row[0], metric: row[1], ts: row[2], state: row[3], seconds: Double(ms) / 1000))
            }
        }
    }
}
