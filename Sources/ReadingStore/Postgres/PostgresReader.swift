public import Aggregation
public import PlantRegistry
import PostgresClient
public import Telemetry

/// Read-only access to a PostgreSQL store: the same figures as `StoreReader` over the
/// PostgreSQL schema (`Schemas/database.postgres.sql`).
///
/// Several sites share one database, so the reader is site-keyed: given a registry, it reads
/// that registry's sites only (series, scope totals, machine minutes, device states); without
/// one it reads every site. Ingest counters, the quarantine and the audit trail are the
/// database's, shared by every daemon and site. States are stored as text and minutes in plain
/// columns (no compact encoding). Orderings use the "C" collation, so rows come out in the
/// byte order SQLite gives them whatever the database's locale. The session is read-only.
public final class PostgresReader: TelemetryReader {
    private let db: PostgresConnection
    /// The sites read (nil: all).
    private let sites: [String]?
    public let database: String

    /// Connects to `url` (password from `passwordFile`, `PGPASSFILE` or `PGPASSWORD`; one in the
    /// URL is refused) and reads the sites of `plant` (nil: every site in the database).
    public init(url: String, passwordFile: String? = nil, plant: Plant? = nil) throws {
        database = PostgresTarget.redacted(url)
        if PostgresTarget.hasPassword(url) {
            throw StoreError(
                "\(database): a password in the database URL is refused (it would show in the process list and shell history); "
                    + "put it in a password file (ZHIZAO_DB_PASSWORD_FILE, or PGPASSFILE in libpq's format) or PGPASSWORD",
                code: .cannotOpen)
        }
        sites = plant.map { $0.sites.map(\.id) }
        do {
            db = try PostgresConnection(target: url, passwordFile: passwordFile, applicationName: "zhizao-reader")
            try db.execute("SET default_transaction_read_only = on")
            guard try db.execute("SELECT to_regclass('scope_rollup') IS NOT NULL").string(0, 0) == "t" else {
                throw StoreError(
                    "\(database) holds no Zhizao schema: start `zhizao run --db \(database)` first, or pass the right --db URL",
                    code: .cannotOpen)
            }
        } catch {
            throw PostgresStore.storeError(error, context: "cannot read \(database)")
        }
    }

    /// Runs a statement, with the URL (never a password) in any failure.
    private func query(_ sql: String, _ parameters: [PostgresValue] = []) throws -> PostgresRows {
        do { return try db.execute(sql, parameters) } catch {
            throw PostgresStore.storeError(error, context: "cannot read \(database)")
        }
    }

    /// `column = ANY($n)` over the registry's sites, appending the parameter (TRUE without a registry).
    private func siteClause(_ column: String, _ parameters: inout [PostgresValue]) -> String {
        guard let sites else { return "TRUE" }
        parameters.append(PostgresArray.literal(sites.map { Optional($0) }))
        return "\(column) = ANY($\(parameters.count)::text[])"
    }

    /// Appends a parameter and returns its placeholder.
    private static func bind(_ value: PostgresValue, _ parameters: inout [PostgresValue]) -> String {
        parameters.append(value)
        return "$\(parameters.count)"
    }

    // MARK: - Status

    public func status(nowMs: Int64) throws -> IngestStatus {
        var counters: [String: Int64] = [:]
        let c = try query("SELECT name, value FROM ingest_counters")
        for r in 0..<c.count { counters[c.string(r, 0) ?? ""] = c.int(r, 1) }
        var byReason: [String: Int64] = [:]
        for (name, v) in counters where name.hasPrefix("quarantined.") {
            byReason[String(name.dropFirst("quarantined.".count))] = v
        }
        let recent =
            try query("SELECT COALESCE(SUM(readings), 0) FROM ingest_seconds WHERE second >= $1", [.int(nowMs / 1000 - 10)]).int(0, 0) ?? 0
        var p: [PostgresValue] = []
        let d = try query(
            """
            SELECT d.device, l.last_reading_ts, l.last_received_at, s.online, s.changed_at, s.reason
            FROM (SELECT site, device FROM device_last_seen UNION SELECT site, device FROM device_state) d
            LEFT JOIN device_last_seen l ON l.site = d.site AND l.device = d.device
            LEFT JOIN device_state s ON s.site = d.site AND s.device = d.device
            WHERE \(siteClause("d.site", &p)) ORDER BY d.device COLLATE "C", d.site COLLATE "C"
            """, p)
        let devices = (0..<d.count).map { r in
            IngestStatus.DeviceSeen(
                device: d.string(r, 0) ?? "", lastReadingTs: d.int(r, 1), lastReceivedAt: d.int(r, 2),
                online: d.string(r, 3).map { $0 == "t" }, stateChangedAt: d.int(r, 4), stateReason: d.string(r, 5))
        }
        var status = IngestStatus(
            database: database, readingsStored: counters["readings_stored"] ?? 0, readingsDuplicate: counters["readings_duplicate"] ?? 0,
            messagesReceived: counters["messages_received"] ?? 0, messagesQuarantined: counters["messages_quarantined"] ?? 0,
            quarantinedByReason: byReason, ingestRatePerSecond: Double(recent) / 10, devices: devices)
        p = []
        let q = try query(
            "SELECT q.kind, SUM(q.n) FROM quality_event q JOIN series s ON s.id = q.series_id WHERE \(siteClause("s.site", &p)) GROUP BY q.kind",
            p)
        for r in 0..<q.count { status.qualityEvents[q.string(r, 0) ?? ""] = q.int(r, 1) }
        return status
    }

    /// PostgreSQL's equivalent of the SQLite file report: the database's size
    /// (`pg_database_size`) as `fileBytes`, each table's bytes over its partitions
    /// (`pg_table_size`, `pg_indexes_size`), the registry's sites' readings and growth. The
    /// server's file system is not visible from here, so free space and days until full are absent.
    public func storage(nowMs: Int64) throws -> StorageReport {
        var report = StorageReport(
            fileBytes: try query("SELECT pg_database_size(current_database())").int(0, 0) ?? 0, freePageBytes: 0, readings: 0)
        report.engine = "postgresql"
        let t = try query(
            """
            SELECT c.relname,
                (SELECT COALESCE(sum(pg_table_size(p.relid)), 0) FROM pg_partition_tree(c.oid) p),
                (SELECT COALESCE(sum(pg_indexes_size(p.relid)), 0) FROM pg_partition_tree(c.oid) p)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
            """)
        var tables: [String: StorageReport.TableBytes] = [:]
        for r in 0..<t.count { tables[t.string(r, 0) ?? ""] = .init(bytes: t.int(r, 1) ?? 0, indexBytes: t.int(r, 2) ?? 0) }
        report.tables = tables
        var p: [PostgresValue] = []
        let site = siteClause("s.site", &p)
        let r = try query(
            "SELECT count(*), min(r.ts) FROM readings r JOIN series s ON s.id = r.series_id WHERE \(site)", p)
        report.readings = r.int(0, 0) ?? 0
        report.oldestReadingTs = r.int(0, 1)
        report.oldestMinute = try query(
            "SELECT min(m.minute) FROM rollup_minute m JOIN series s ON s.id = m.series_id WHERE \(site)", p
        ).int(0, 0)
        if let oldest = report.oldestReadingTs {
            let since = max(oldest, nowMs - StorageReport.dayMs)
            var q = p
            let recent =
                try query(
                    """
                    SELECT count(*) FROM readings r JOIN series s ON s.id = r.series_id
                    WHERE \(site) AND r.ts >= \(Self.bind(.int(since), &q)) AND r.ts <= \(Self.bind(.int(nowMs), &q))
                    """, q
                ).int(0, 0) ?? 0
            if nowMs - since >= StorageReport.dayMs / 24, report.readings > 0 {
                let perDay = Double(recent) * Double(StorageReport.dayMs) / Double(nowMs - since)
                let perReading = Double(report.fileBytes) / Double(report.readings)
                report.readingsPerDay = perDay
                report.bytesPerReading = perReading
                report.growthBytesPerDay = perDay * perReading
            }
        }
        return report
    }

    public func storedSites() throws -> [String] {
        try query(#"SELECT site FROM (SELECT DISTINCT site FROM series) s ORDER BY site COLLATE "C""#).rows.compactMap { $0[0] }
    }

    // MARK: - Raw readings, quarantine, quality, audit

    public func readings(device: String? = nil, limit: Int = 1000) throws -> [StoredReading] {
        var p: [PostgresValue] = [.int(Int64(limit))]
        var filter = siteClause("s.site", &p)
        if let device { filter += " AND s.device = \(Self.bind(.text(device), &p))" }
        let rows = try query(
            """
            SELECT s.device, s.metric, r.ts, r.value, r.state, r.error_code, r.seq FROM series s
            CROSS JOIN LATERAL (SELECT * FROM readings x WHERE x.series_id = s.id ORDER BY x.ts DESC LIMIT $1) r
            WHERE \(filter)
            """, p)
        var out = (0..<rows.count).map { i in
            StoredReading(
                device: rows.string(i, 0) ?? "", metric: rows.string(i, 1) ?? "", timestampMs: rows.int(i, 2) ?? 0,
                value: Self.value(rows, i, number: 3, state: 4, error: 5), seq: rows.int(i, 6))
        }
        // Sorted here, not in SQL, so ties order by bytes as SQLite's readings do.
        out.sort { ($0.timestampMs, $0.device, $0.metric) < ($1.timestampMs, $1.device, $1.metric) }
        return Array(out.suffix(limit))
    }

    private static func value(_ rows: PostgresRows, _ i: Int, number: Int, state: Int, error: Int) -> ReadingValue {
        if let v = rows.double(i, number) { return .number(v) }
        if let s = rows.string(i, state) { return .state(s) }
        return .error(rows.int(i, error) ?? 0)
    }

    /// Quarantined messages, newest first (of every site: the quarantine is the database's).
    public func quarantine(limit: Int = 100) throws -> [QuarantineEntry] {
        let rows = try query(
            "SELECT received_at, topic, reason, detail, payload_bytes FROM quarantine ORDER BY id DESC LIMIT $1", [.int(Int64(limit))])
        return (0..<rows.count).map { i in
            QuarantineEntry(
                receivedAtMs: rows.int(i, 0) ?? 0, topic: rows.string(i, 1) ?? "", reason: rows.string(i, 2) ?? "",
                detail: rows.string(i, 3) ?? "", payloadBytes: Int(rows.int(i, 4) ?? 0))
        }
    }

    public func quarantineSummaries(reasons: [String], sinceMs: Int64) throws -> [QuarantineSummary] {
        guard !reasons.isEmpty else { return [] }
        let rows = try query(
            """
            WITH g AS (
                SELECT topic, reason, COUNT(*) AS n, MIN(received_at) AS first, MAX(received_at) AS last, MAX(id) AS newest
                FROM quarantine WHERE received_at >= $1 AND reason = ANY($2::text[]) GROUP BY topic, reason)
            SELECT g.topic, g.reason, g.n, g.first, g.last, q.payload, q.payload_bytes
            FROM g JOIN quarantine q ON q.id = g.newest ORDER BY g.topic COLLATE "C", g.reason COLLATE "C"
            """, [.int(sinceMs), PostgresArray.literal(reasons.map { Optional($0) })])
        return (0..<rows.count).map { i in
            QuarantineSummary(
                topic: rows.string(i, 0) ?? "", reason: rows.string(i, 1) ?? "", messages: Int(rows.int(i, 2) ?? 0),
                firstReceivedAtMs: rows.int(i, 3) ?? 0, lastReceivedAtMs: rows.int(i, 4) ?? 0,
                samplePayload: Self.bytes(hex: rows.string(i, 5) ?? ""), samplePayloadBytes: Int(rows.int(i, 6) ?? 0))
        }
    }

    /// A `bytea` in PostgreSQL's hex output format (`\x0a1b…`) as bytes.
    static func bytes(hex text: String) -> [UInt8] {
        var out: [UInt8] = []
        var high: UInt8?
        for c in text.utf8.dropFirst(2) {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            default: continue
            }
            if let h = high {
                out.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        return out
    }

    public func qualityEvents(from: Int64, to: Int64, devices: Set<String>? = nil) throws -> [QualityEvent] {
        var p: [PostgresValue] = [.int(from), .int(to)]
        let rows = try query(
            """
            SELECT s.device, s.metric, q.kind, q.start_ts, q.end_ts, q.amount FROM quality_event q JOIN series s ON s.id = q.series_id
            WHERE q.end_ts >= $1 AND q.end_ts < $2 AND q.n > 0 AND \(siteClause("s.site", &p))
            ORDER BY q.end_ts, s.device COLLATE "C", s.metric COLLATE "C", q.kind COLLATE "C"
            """, p)
        return (0..<rows.count).compactMap { i in
            let device = rows.string(i, 0) ?? ""
            if let devices, !devices.contains(device) { return nil }
            return QualityEvent(
                device: device, metric: rows.string(i, 1) ?? "", kind: rows.string(i, 2) ?? "", startMs: rows.int(i, 3) ?? 0,
                endMs: rows.int(i, 4) ?? 0, amount: rows.double(i, 5) ?? 0)
        }
    }

    /// The audit trail (the database's, every site's), oldest first.
    public func audit(from: Int64? = nil, to: Int64? = nil) throws -> [AuditEntry] {
        let rows = try query(
            #"SELECT at, command, "user", subject, before, after FROM audit WHERE at >= $1 AND at < $2 ORDER BY at, id"#,
            [.int(from ?? Int64.min), .int(to ?? Int64.max)])
        return (0..<rows.count).map { i in
            AuditEntry(
                atMs: rows.int(i, 0) ?? 0, command: rows.string(i, 1) ?? "", user: rows.string(i, 2) ?? "",
                subject: rows.string(i, 3) ?? "", before: rows.string(i, 4), after: rows.string(i, 5))
        }
    }

    // MARK: - Rollups

    public func scopeTotals(scope: Scope, period: String, from: Int64, to: Int64) throws -> [(start: Int64, totals: [String: Double])] {
        try scopeRows("scope_rollup", scopes: [scope], period: period, from: from, to: to)[scope] ?? []
    }

    public func scopeTotals(scopes: [Scope], period: String, from: Int64, to: Int64) throws
        -> [Scope: [(start: Int64, totals: [String: Double])]]
    {
        try scopeRows("scope_rollup", scopes: scopes, period: period, from: from, to: to)
    }

    /// Scopes' rows of `scope_rollup` or `scope_adjustment` per start in [from, to), in one
    /// query (a round trip per scope would cost more than the rows); the sites' rows of a
    /// scope and start add up.
    private func scopeRows(_ table: String, scopes: [Scope], period: String, from: Int64, to: Int64) throws
        -> [Scope: [(start: Int64, totals: [String: Double])]]
    {
        let byKey = Dictionary(scopes.map { ($0.key, $0) }) { a, _ in a }
        guard !byKey.isEmpty else { return [:] }
        var p: [PostgresValue] = [PostgresArray.literal(byKey.keys.map { Optional($0) }), .text(period), .int(from), .int(to)]
        let rows = try query(
            """
            SELECT scope, start, quantity, value FROM \(table)
            WHERE scope = ANY($1::text[]) AND period = $2 AND start >= $3 AND start < $4 AND \(siteClause("site", &p))
            ORDER BY scope, start
            """, p)
        var out: [Scope: [(start: Int64, totals: [String: Double])]] = [:]
        for i in 0..<rows.count {
            guard let scope = byKey[rows.string(i, 0) ?? ""] else { continue }
            let start = rows.int(i, 1) ?? 0
            if out[scope]?.last?.start != start { out[scope, default: []].append((start, [:])) }
            out[scope]![out[scope]!.count - 1].totals[rows.string(i, 2) ?? "", default: 0] += rows.double(i, 3) ?? 0
        }
        return out
    }

    public func valueAdded(scope: Scope, from: Int64, to: Int64) throws -> [Int64: Double] {
        try valueAdded(scopes: [scope], from: from, to: to)[scope] ?? [:]
    }

    public func valueAdded(scopes: [Scope], from: Int64, to: Int64) throws -> [Scope: [Int64: Double]] {
        let byKey = Dictionary(scopes.map { ($0.key, $0) }) { a, _ in a }
        guard !byKey.isEmpty else { return [:] }
        var p: [PostgresValue] = [PostgresArray.literal(byKey.keys.map { Optional($0) }), .int(from), .int(to)]
        let rows = try query(
            """
            SELECT scope, month, yuan FROM value_added
            WHERE scope = ANY($1::text[]) AND month >= $2 AND month < $3 AND \(siteClause("site", &p))
            """, p)
        var out: [Scope: [Int64: Double]] = [:]
        for i in 0..<rows.count {
            guard let scope = byKey[rows.string(i, 0) ?? ""] else { continue }
            out[scope, default: [:]][rows.int(i, 1) ?? 0] = rows.double(i, 2)
        }
        return out
    }

    /// One series' rows of a per-series table in [from, to): `columns` of `table` (alias `m`)
    /// ordered by its time column `at` (`minute`, or `hour` in the hour tier).
    private func seriesRows(
        _ table: String, _ columns: String, at: String = "minute", device: String, metric: String, from: Int64, to: Int64,
        extra: String = ""
    )
        throws -> PostgresRows
    {
        var p: [PostgresValue] = [.text(device), .text(metric), .int(from), .int(to)]
        return try query(
            """
            SELECT \(columns) FROM \(table) m JOIN series s ON s.id = m.series_id
            WHERE s.device = $1 AND s.metric = $2 AND m.\(at) >= $3 AND m.\(at) < $4 AND \(siteClause("s.site", &p))\(extra)
            ORDER BY m.\(at)
            """, p)
    }

    /// Windows compose the hours retention kept (`rollup_hour`, for minutes it folded) with the
    /// minutes still stored, as SQLite's reader does.
    public func rollups(
        device: String, metric: String, from: Int64, to: Int64, every: WindowCalendar.Every, calendar: WindowCalendar
    ) throws -> [MinuteRollup] {
        let hours = every.keepsHours ? try statRows("rollup_hour", device: device, metric: metric, from: from, to: to) : []
        return MinuteRollup.compose(
            try hours + minuteRollups(device: device, metric: metric, from: from, to: to), every: every, calendar: calendar)
    }

    public func stateWindows(
        device: String, metric: String, from: Int64, to: Int64, every: WindowCalendar.Every, calendar: WindowCalendar
    ) throws -> [Int64: [String: Int64]] {
        var out: [Int64: [String: Int64]] = [:]
        let hours = every.keepsHours ? try stateRows("state_hour", device: device, metric: metric, from: from, to: to) : [:]
        for part in [hours, try stateMinutes(device: device, metric: metric, from: from, to: to)] {
            for (start, states) in part { out[calendar.windowStart(start, every), default: [:]].merge(states, uniquingKeysWith: +) }
        }
        return out
    }

    public func minuteRollups(device: String, metric: String, from: Int64, to: Int64) throws -> [MinuteRollup] {
        try statRows("rollup_minute", device: device, metric: metric, from: from, to: to)
    }

    public func stateMinutes(device: String, metric: String, from: Int64, to: Int64) throws -> [Int64: [String: Int64]] {
        try stateRows("state_minute", device: device, metric: metric, from: from, to: to)
    }

    /// A series' statistics per minute (`rollup_minute`) or per hour (`rollup_hour`) in [from, to).
    private func statRows(_ table: String, device: String, metric: String, from: Int64, to: Int64) throws -> [MinuteRollup] {
        let start = table == "rollup_hour" ? "hour" : "minute"
        let rows = try seriesRows(
            table, "m.\(start), m.n, m.sum, m.min, m.max, m.last, m.consumption", at: start, device: device, metric: metric, from: from,
            to: to)
        return (0..<rows.count).map { i in
            MinuteRollup(
                minute: rows.int(i, 0) ?? 0, count: Int(rows.int(i, 1) ?? 0), sum: rows.double(i, 2) ?? 0, min: rows.double(i, 3),
                max: rows.double(i, 4), last: rows.double(i, 5), consumption: rows.double(i, 6) ?? 0)
        }
    }

    /// A state series' time per state per minute (`state_minute`) or hour (`state_hour`): start → state → ms.
    private func stateRows(_ table: String, device: String, metric: String, from: Int64, to: Int64) throws -> [Int64: [String: Int64]] {
        let start = table == "state_hour" ? "hour" : "minute"
        let rows = try seriesRows(
            table, "m.\(start), m.state, m.ms", at: start, device: device, metric: metric, from: from, to: to, extra: " AND m.ms != 0")
        var out: [Int64: [String: Int64]] = [:]
        for i in 0..<rows.count { out[rows.int(i, 0) ?? 0, default: [:]][rows.string(i, 1) ?? ""] = rows.int(i, 2) }
        return out
    }

    /// One statement for all series (their sites are in their keys).
    public func minuteUse(_ series: [SeriesKey], from: Int64, to: Int64) throws -> [SeriesKey: SeriesUse] {
        guard from < to, !series.isEmpty else { return [:] }
        let keys = Array(Set(series))
        let rows = try query(
            """
            SELECT k.i, COALESCE(SUM(m.consumption), 0), COALESCE(SUM(m.estimated), 0)
            FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(site, device, metric, i)
            JOIN series s ON s.site = k.site AND s.device = k.device AND s.metric = k.metric
            JOIN rollup_minute m ON m.series_id = s.id AND m.minute >= $4 AND m.minute < $5
            GROUP BY k.i
            """,
            [
                PostgresArray.literal(keys.map { Optional($0.site) }), PostgresArray.literal(keys.map { Optional($0.device) }),
                PostgresArray.literal(keys.map { Optional($0.metric) }), .int(from), .int(to),
            ])
        // Every key is answered, with zero use where nothing is stored (as SQLite's reader does).
        var out = Dictionary(uniqueKeysWithValues: keys.map { ($0, SeriesUse()) })
        for i in 0..<rows.count {
            guard let k = rows.int(i, 0), k >= 1, Int(k) <= keys.count else { continue }
            out[keys[Int(k) - 1]] = SeriesUse(consumption: rows.double(i, 1) ?? 0, estimated: rows.double(i, 2) ?? 0)
        }
        return out
    }

    public func machineTime(devices: [String], from: Int64, to: Int64) throws -> MachineTime {
        guard from < to, !devices.isEmpty else { return MachineTime() }
        var p: [PostgresValue] = [PostgresArray.literal(Array(Set(devices)).map { Optional($0) }), .int(from), .int(to)]
        let rows = try query(
            """
            SELECT COALESCE(SUM(producing_ms), 0), COALESCE(SUM(nc_producing_ms), 0), COALESCE(SUM(unknown_ms), 0)
            FROM machine_minute WHERE device = ANY($1::text[]) AND minute >= $2 AND minute < $3 AND \(siteClause("site", &p))
            """, p)
        return MachineTime(producingMs: rows.double(0, 0) ?? 0, ncProducingMs: rows.double(0, 1) ?? 0, unknownMs: rows.double(0, 2) ?? 0)
    }

    /// Minute rows hold nothing before this time: retention folded them into hours (nil when
    /// nothing was folded). The mark is the database's: every site's minutes are folded alike.
    public func minuteHorizon() throws -> Int64? {
        let rows = try query("SELECT before FROM retention_mark WHERE tier = 'minute'")
        return rows.count == 0 ? nil : rows.int(0, 0)
    }

    // MARK: - Export

    /// The export's condition on `time`, with its parameters.
    private func exportClause(_ filter: ExportFilter, time: String) -> (String, [PostgresValue]) {
        var p: [PostgresValue] = [.int(filter.from), .int(filter.to)]
        var sql = "\(time) >= $1 AND \(time) < $2 AND \(siteClause("s.site", &p))"
        if let devices = filter.devices {
            sql += " AND s.device = ANY(\(Self.bind(PostgresArray.literal(devices.map { Optional($0) }), &p))::text[])"
        }
        if let metric = filter.metric { sql += " AND s.metric = \(Self.bind(.text(metric), &p))" }
        return (sql, p)
    }

    public func countReadings(_ filter: ExportFilter) throws -> Int {
        let (w, p) = exportClause(filter, time: "r.ts")
        return Int(try query("SELECT count(*) FROM series s JOIN readings r ON r.series_id = s.id WHERE \(w)", p).int(0, 0) ?? 0)
    }

    public func countRollups(_ filter: ExportFilter) throws -> Int {
        let (w, p) = exportClause(filter, time: "m.minute")
        let n = try query(
            """
            SELECT (SELECT count(*) FROM rollup_minute m JOIN series s ON s.id = m.series_id WHERE \(w))
                + (SELECT count(*) FROM state_minute m JOIN series s ON s.id = m.series_id WHERE \(w) AND m.ms != 0)
            """, p)
        return Int(n.int(0, 0) ?? 0)
    }

    public func exportReadings(_ filter: ExportFilter, _ body: (ExportRow) throws -> Void) throws {
        let (w, p) = exportClause(filter, time: "r.ts")
        try stream(
            """
            SELECT s.device, s.metric, r.ts, r.value, r.state, r.error_code, r.seq
            FROM series s JOIN readings r ON r.series_id = s.id
            WHERE \(w) ORDER BY r.ts, s.device COLLATE "C", s.metric COLLATE "C"
            """, p
        ) { rows, i in
            try body(
                ExportRow(
                    device: rows.string(i, 0) ?? "", metric: rows.string(i, 1) ?? "", ts: rows.int(i, 2) ?? 0, value: rows.double(i, 3),
                    state: rows.string(i, 4), errorCode: rows.int(i, 5), seq: rows.int(i, 6)))
        }
    }

    public func exportRollups(_ filter: ExportFilter, _ body: (ExportRow) throws -> Void) throws {
        let (w, p) = exportClause(filter, time: "m.minute")
        try stream(
            """
            SELECT s.device, s.metric, m.minute, m.n, m.sum, m.min, m.max, m.last, m.consumption
            FROM rollup_minute m JOIN series s ON s.id = m.series_id WHERE \(w)
            ORDER BY m.minute, s.device COLLATE "C", s.metric COLLATE "C"
            """, p
        ) { rows, i in
            let n = Int(rows.int(i, 3) ?? 0)
            let sum = rows.double(i, 4) ?? 0
            try body(
                ExportRow(
                    device: rows.string(i, 0) ?? "", metric: rows.string(i, 1) ?? "", ts: rows.int(i, 2) ?? 0, value: rows.double(i, 7),
                    count: n, min: rows.double(i, 5), mean: n > 0 ? sum / Double(n) : nil, max: rows.double(i, 6),
                    consumption: rows.double(i, 8)))
        }
        try stream(
            """
            SELECT s.device, s.metric, m.minute, m.state, m.ms
            FROM state_minute m JOIN series s ON s.id = m.series_id
            WHERE \(w) AND m.ms != 0 ORDER BY m.minute, s.device COLLATE "C", s.metric COLLATE "C", m.state COLLATE "C"
            """, p
        ) { rows, i in
            try body(
                ExportRow(
                    device: rows.string(i, 0) ?? "", metric: rows.string(i, 1) ?? "", ts: rows.int(i, 2) ?? 0, state: rows.string(i, 3),
                    seconds: Double(rows.int(i, 4) ?? 0) / 1000))
        }
    }

    /// Runs `sql` through a cursor in one read-only transaction, 10,000 rows at a time, so an
    /// export of months never sits in memory whole.
    private func stream(_ sql: String, _ parameters: [PostgresValue], _ row: (PostgresRows, Int) throws -> Void) throws {
        do {
            try db.transaction {
                try db.execute("DECLARE export_rows NO SCROLL CURSOR FOR " + sql, parameters)
                while true {
                    let rows = try db.execute("FETCH 10000 FROM export_rows")
                    for i in 0..<rows.count { try row(rows, i) }
                    if rows.count < 10000 { break }
                }
                try db.execute("CLOSE export_rows")
            }
        } catch let error as PostgresError {
            throw PostgresStore.storeError(error, context: "cannot read \(database)")
        }
    }

    // MARK: - Closed periods

    /// None yet: closing periods on PostgreSQL is not there yet, so nothing is frozen.
    /// The closures of the sites read, earliest first.
    public func closedPeriods() throws -> [ClosedPeriod] {
        do { return try PostgresStore.loadClosedPeriods(db, sites: sites).map(\.period) } catch {
            throw PostgresStore.storeError(error, context: "cannot read the closed periods in \(database)")
        }
    }

    /// A scope's late adjustments per local hour or day in [from, to): held beside its closed figures.
    public func scopeAdjustments(scope: Scope, period: String, from: Int64, to: Int64) throws -> [(start: Int64, totals: [String: Double])]
    {
        try scopeRows("scope_adjustment", scopes: [scope], period: period, from: from, to: to)[scope] ?? []
    }

    /// What late readings added to a series' minutes inside closed periods (min, max and last
    /// are nil: not separable).
    public func heldMinutes(device: String, metric: String, from: Int64, to: Int64) throws -> [MinuteRollup] {
        let rows = try seriesRows(
            "series_adjustment", "m.minute, sum(m.n), sum(m.sum), sum(m.consumption)", device: device, metric: metric, from: from, to: to,
            extra: " GROUP BY m.minute")
        return (0..<rows.count).map { i in
            MinuteRollup(
                minute: rows.int(i, 0) ?? 0, count: Int(rows.int(i, 1) ?? 0), sum: rows.double(i, 2) ?? 0, min: nil, max: nil, last: nil,
                consumption: rows.double(i, 3) ?? 0)
        }
    }

    /// What late readings added to a state series' time inside closed periods: minute → state → ms.
    public func heldStateMinutes(device: String, metric: String, from: Int64, to: Int64) throws -> [Int64: [String: Int64]] {
        let rows = try seriesRows(
            "state_adjustment", "m.minute, m.state, sum(m.ms)", device: device, metric: metric, from: from, to: to,
            extra: " GROUP BY m.minute, m.state")
        var out: [Int64: [String: Int64]] = [:]
        for i in 0..<rows.count { out[rows.int(i, 0) ?? 0, default: [:]][rows.string(i, 1) ?? ""] = rows.int(i, 2) }
        return out
    }
}
