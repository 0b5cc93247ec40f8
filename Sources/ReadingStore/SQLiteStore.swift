import Aggregation
import Foundation
import GRDB
public import PlantRegistry
public import Telemetry

/// The SQLite store the daemon writes to, through GRDB on the system SQLite.
///
/// One connection, owned by the ingest thread; WAL mode so `zhizao status` and the other
/// read-only commands read while it writes.
public final class SQLiteStore: TelemetryStore {
    /// How hard a commit waits for the disk.
    public enum Durability: String, Sendable, CaseIterable {
        /// Survives a crash or kill of the daemon; an OS crash may lose the last commits.
        case normal
        /// Also survives power loss (an fsync per commit).
        case full
    }

    let db: DatabaseQueue
    var seriesIDs: [Int64] = []
    private var seriesDevice: [String] = []
    private var seriesMetric: [String] = []
    private var lastPruneSecond: Int64 = 0
    var aggregator: Aggregator?
    private var deviceSeriesIDs: [[Int64]] = []
    /// Raw readings older than this were pruned (`retention_mark`): later ones older than it
    /// are refused, and the aggregator books nothing before it.
    public internal(set) var rawHorizonMs: Int64?
    /// State words' codes in `state_word`, so a state reading costs no look-up; a code added by
    /// a transaction that then fails is forgotten with it (all are, and read again).
    var stateCodes: [String: Int64] = [:]
    /// The closed periods as last loaded, and the version they were loaded at (see `refreshClosedPeriods`).
    var closedPeriods = ClosedPeriods()
    var closedVersion: [Int64]?
    public let path: String

    /// The writer's page cache in KiB (SQLite's default is 2,000).
    static let cacheKiB = 32 * 1024

    /// What the WAL file is cut back to after a checkpoint, in bytes. Large catch-up commits
    /// grow it (96 MB seen at 40 plants), and SQLite otherwise keeps the file at its high-water
    /// mark for good.
    static let walLimitBytes = 32 * 1024 * 1024

    /// Opens (creating and migrating if needed) the database at `path`.
    public init(path: String, durability: Durability = .normal) throws {
        var config = Configuration()
        config.journalMode = .wal
        config.busyMode = .timeout(5)
        let sync = durability == .full ? "FULL" : "NORMAL"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(sync)")
            // A batch touches the newest index pages of every series it holds (readings, minute
            // and state rollups): at 40 plants that is thousands of pages, which SQLite's 2 MiB
            // default cache re-read from the file on every commit. 32 MiB holds them.
            try db.execute(sql: "PRAGMA cache_size = -\(Self.cacheKiB)")
            try db.execute(sql: "PRAGMA journal_size_limit = \(Self.walLimitBytes)")
            // Pages freed by pruning go back to the file system in steps (`PRAGMA incremental_vacuum`).
            // This takes effect on a new file only; an older one needs one `zhizao prune --vacuum`.
            try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
        }
        do {
            db = try DatabaseQueue(path: path, configuration: config)
            try StoreSchema.migrator.migrate(db)
            rawHorizonMs = try db.read { try Int64.fetchOne($0, sql: "SELECT before FROM retention_mark WHERE tier = 'raw'") }
        } catch {
            throw StoreError(wrapping: error, context: "cannot open the database \(path)")
        }
        self.path = path
    }

    public func prepareSeries(_ keys: [SeriesKey]) throws {
        seriesIDs = try db.write { db in
            var ids: [Int64] = []
            ids.reserveCapacity(keys.count)
            let insert = try db.cachedStatement(sql: "INSERT INTO series(device, metric) VALUES (?, ?) ON CONFLICT DO NOTHING")
            let select = try db.cachedStatement(sql: "SELECT id FROM series WHERE device = ? AND metric = ?")
            for k in keys {
                try insert.execute(arguments: [k.device, k.metric])
                guard let id = try Int64.fetchOne(select, arguments: [k.device, k.metric]) else {
                    throw StoreError("series \(k.device)/\(k.metric) vanished while registering")
                }
                ids.append(id)
            }
            return ids
        }
        seriesDevice = keys.map(\.device)
        seriesMetric = keys.map(\.metric)
    }

    /// Keeps rollups from now on, in the same transactions as the readings.
    public func enableAggregation(_ plan: AggregationPlan) {
        aggregator = Aggregator(plan: plan)
        aggregator?.window = horizonWindow
        var byDevice = [[Int64]](repeating: [], count: plan.deviceStateSeries.count)
        for (i, sp) in plan.series.enumerated() where i < seriesIDs.count && sp.device < byDevice.count {
            byDevice[sp.device].append(seriesIDs[i])
        }
        deviceSeriesIDs = byDevice
    }

    /// `device/metric` of a registry series, for messages.
    func plantSeriesKey(_ series: SeriesIndex) -> String {
        let i = Int(series)
        return i < seriesDevice.count ? "\(seriesDevice[i])/\(seriesMetric[i])" : "series \(i)"
    }

    /// The stored readings as the aggregator may ask for them, inside `db`'s transaction.
    private func history(_ db: Database) -> SQLiteHistory {
        SQLiteHistory(db: db, seriesIDs: seriesIDs, deviceSeriesIDs: deviceSeriesIDs)
    }

    public func commit(_ batch: IngestBatch, committedAtMs: Int64) throws -> CommitOutcome {
        do {
            return try commitTransaction(batch, committedAtMs: committedAtMs)
        } catch {
            // The transaction rolled back: forget what the aggregator learnt from it.
            aggregator?.resetCache()
            _ = aggregator?.takeDelta()
            stateCodes.removeAll()
            throw StoreError(wrapping: error)
        }
    }

    private func commitTransaction(_ batch: IngestBatch, committedAtMs: Int64) throws -> CommitOutcome {
        try db.write { db in
            var outcome = CommitOutcome()
            let insert = try db.cachedStatement(
                sql: """
                    INSERT OR IGNORE INTO readings(series_id, ts, value, state_code, error_code, seq) VALUES (?, ?, ?, ?, ?, ?)
                    """)
            var newest: [String: Int64] = [:]
            let history = self.history(db)
            // Read in this transaction, so a `zhizao prune` that moved it meanwhile is seen.
            let horizon = try Int64.fetchOne(db.cachedStatement(sql: "SELECT before FROM retention_mark WHERE tier = 'raw'"))
            if horizon != rawHorizonMs {
                rawHorizonMs = horizon
                aggregator?.window = horizonWindow
            }
            var tooOld: [Reading] = []
            for r in batch.readings {
                if let horizon, r.timestampMs < horizon {
                    tooOld.append(r)
                    continue
                }
                let sid = seriesIDs[Int(r.series)]
                switch r.value {
                case .number(let v): insert.setUncheckedArguments([sid, r.timestampMs, v, nil, nil, r.seq])
                case .state(let s): insert.setUncheckedArguments([sid, r.timestampMs, nil, try stateCode(s, db: db), nil, r.seq])
                case .error(let code): insert.setUncheckedArguments([sid, r.timestampMs, nil, nil, code, r.seq])
                }
                try insert.execute()
                if db.changesCount > 0 {
                    outcome.inserted += 1
                    try aggregator?.add(r, history: history)
                    let device = seriesDevice[Int(r.series)]
                    if let t = newest[device], t >= r.timestampMs {} else { newest[device] = r.timestampMs }
                } else {
                    outcome.duplicates += 1
                }
            }
            if !tooOld.isEmpty {
                try quarantineBeyondRetention(tooOld, horizon: horizon ?? 0, receivedAtMs: committedAtMs, db: db)
                outcome.quarantined += tooOld.count
            }
            if !batch.quarantined.isEmpty {
                let q = try db.cachedStatement(
                    sql: """
                        INSERT INTO quarantine(received_at, topic, reason, detail, payload, payload_bytes) VALUES (?, ?, ?, ?, ?, ?)
                        """)
                for e in batch.quarantined {
                    try q.execute(arguments: [
                        e.receivedAtMs, e.topic, e.rejection.reason.rawValue, e.rejection.detail,
                        Data(e.payload), e.payloadBytes,
                    ])
                    try Self.bump(db, [("quarantined.\(e.rejection.reason.rawValue)", 1)])
                }
                outcome.quarantined += batch.quarantined.count
            }
            if let aggregator {
                try aggregator.finishMachines(history: history)
                var delta = aggregator.takeDelta()
                // Changes to closed figures are held beside them, not folded in.
                try refreshClosedPeriods(db)
                let series = delta.heldSeries(by: closedPeriods) { self.seriesDevice[Int($0)] }
                try Self.hold(delta.takeHeld(by: closedPeriods), series: series, seriesIDs: seriesIDs, db: db)
                try Self.apply(delta, plan: aggregator.plan, seriesIDs: seriesIDs, db: db) {
                    try self.stateCode($0, db: db)
                }
            }
            if !batch.deviceStates.isEmpty {
                let state = try db.cachedStatement(
                    sql: """
                        INSERT INTO device_state(device, online, changed_at, reason) VALUES (?, ?, ?, ?)
                        ON CONFLICT(device) DO UPDATE SET online = excluded.online, changed_at = excluded.changed_at, reason = excluded.reason
                        WHERE excluded.changed_at >= changed_at
                        """)
                for s in batch.deviceStates { try state.execute(arguments: [s.device, s.online, s.atMs, s.reason]) }
            }
            let seen = try db.cachedStatement(
                sql: """
                    INSERT INTO device_last_seen(device, last_reading_ts, last_received_at) VALUES (?, ?, ?)
                    ON CONFLICT(device) DO UPDATE SET last_reading_ts = max(last_reading_ts, excluded.last_reading_ts),
                                                      last_received_at = excluded.last_received_at
                    """)
            for (device, ts) in newest { try seen.execute(arguments: [device, ts, committedAtMs]) }
            try Self.bump(
                db,
                [
                    ("messages_received", batch.messages), ("readings_stored", outcome.inserted),
                    ("readings_duplicate", outcome.duplicates), ("messages_quarantined", outcome.quarantined),
                ])
            let second = committedAtMs / 1000
            try db.cachedStatement(
                sql: """
                    INSERT INTO ingest_seconds(second, readings, messages) VALUES (?, ?, ?)
                    ON CONFLICT(second) DO UPDATE SET readings = readings + excluded.readings, messages = messages + excluded.messages
                    """
            ).execute(arguments: [second, outcome.inserted, batch.messages])
            if second >= lastPruneSecond + 60 {
                // The rate window needs seconds, not hours: prune once a minute, not per commit.
                try db.cachedStatement(sql: "DELETE FROM ingest_seconds WHERE second < ?").execute(arguments: [second - 3600])
                lastPruneSecond = second
            }
            return outcome
        }
    }

    /// Recomputes rollups from the raw readings, in one transaction; the result equals what
    /// streaming ingest produced, whatever order the readings arrived in. With a range, only
    /// the local days it touches are recomputed (whole days, so hour and day totals stay whole).
    /// `actor` and `window` (the range as the user gave it) go into the audit trail, in the same transaction.
    /// A range touching a closed period is refused (`PeriodClosedError`) unless `reopen`, which
    /// reopens it first, in the same transaction.
    public func rebuildRollups(
        from: Int64? = nil, to: Int64? = nil, by actor: AuditActor, window: String, reopen: Bool = false,
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws {
        guard let aggregator else { throw StoreError("rebuild needs the device registry (aggregation is not enabled)") }
        let calendar = aggregator.plan.calendar
        let start = from.map { calendar.dayStart($0) } ?? Int64.min / 4
        if let horizon = rawHorizonMs, start < horizon {
            // The raw readings a rebuild would recompute from are gone: the rollups kept are all there is.
            throw StoreError(
                "the raw readings before \(Timestamp.formatRFC3339UTC(horizon)) were pruned (retention), so "
                    + "their rollups cannot be recomputed: pass --from with a day on or after it")
        }
        let end = to.map { calendar.dayStart($0 - 1 + 25 * WindowCalendar.hourMs) } ?? Int64.max / 4
        aggregator.resetCache()
        _ = aggregator.takeDelta()
        aggregator.window = start..<end
        defer {
            aggregator.window = horizonWindow
            aggregator.resetCache()
        }
        // A failed rebuild rolls back the state codes it added.
        var committed = false
        defer { if !committed { stateCodes.removeAll() } }
        try db.write { db in
            try Self.guardClosed(db, from: start, to: end, scopes: nil, reopen: reopen, action: .rebuild, by: actor)
            for table in ["rollup_minute", "state_minute", "machine_minute"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE minute >= ? AND minute < ?", arguments: [start, end])
            }
            try db.execute(sql: "DELETE FROM scope_rollup WHERE start >= ? AND start < ?", arguments: [start, end])
            // Quality events belong to the minute their interval ends in.
            try db.execute(sql: "DELETE FROM quality_event WHERE end_ts >= ? AND end_ts < ?", arguments: [start, end])
            let history = self.history(db)
            for index in seriesIDs.indices {
                let series = SeriesIndex(index)
                try aggregator.addSorted(series: series, history.rebuildPoints(series, from: start, to: end), history: history)
                try aggregator.finishMachines(history: history)
                try Self.apply(aggregator.takeDelta(), plan: aggregator.plan, seriesIDs: seriesIDs, db: db) {
                    try self.stateCode($0, db: db)
                }
                progress(index + 1, seriesIDs.count)
            }
            // Days of other sites' zones that straddle the cut: their totals again from their hours.
            let cuts: [Int64] = (from == nil ? [] : [start]) + (to == nil ? [] : [end - 1])
            if aggregator.plan.calendars.count > 1 { try Self.resumSiteDays(db, plan: aggregator.plan, around: cuts) }
            try Self.insertAudit(
                db,
                [
                    actor.entry(
                        "rollups \(window)", before: nil,
                        after: "recomputed from raw readings (\(seriesIDs.count) series)")
                ])
        }
        committed = true
    }

    /// Records a month's industrial value added for a scope (replacing an earlier figure), and
    /// in the same transaction the change in the audit trail; `period` names the month there.
    /// A month closed for the scope is refused (`PeriodClosedError`) unless `reopen`.
    public func setValueAdded(
        scope: Scope, monthStart: Int64, monthEnd: Int64, period: String, yuan: Double, by actor: AuditActor, reopen: Bool = false
    ) throws {
        try db.write { db in
            try Self.guardClosed(
                db, from: monthStart, to: monthEnd, scopes: [scope], reopen: reopen, action: .valueAdded, by: actor)
            let before = try Double.fetchOne(
                db, sql: "SELECT yuan FROM value_added WHERE scope = ? AND month = ?",
                arguments: [scope.key, monthStart])
            try db.execute(
                sql: """
                    INSERT INTO value_added(scope, month, yuan) VALUES (?, ?, ?)
                    ON CONFLICT(scope, month) DO UPDATE SET yuan = excluded.yuan
                    """, arguments: [scope.key, monthStart, yuan])
            try Self.insertAudit(
                db,
                [
                    actor.entry(
                        "value_added \(scope.key) \(period)", before: before.map { "\($0) yuan" },
                        after: "\(yuan) yuan")
                ])
        }
    }

    public func recordAudit(_ entries: [AuditEntry]) throws {
        guard !entries.isEmpty else { return }
        do { try db.write { db in try Self.insertAudit(db, entries) } } catch { throw StoreError(wrapping: error) }
    }

    static func insertAudit(_ db: Database, _ entries: [AuditEntry]) throws {
        let insert = try db.cachedStatement(sql: "INSERT INTO audit(at, command, user, subject, before, after) VALUES (?, ?, ?, ?, ?, ?)")
        for e in entries { try insert.execute(arguments: [e.atMs, e.command, e.user, e.subject, e.before, e.after]) }
    }

    /// Adds to named counters in one statement (one per commit, whatever the batch held).
    static func bump(_ db: Database, _ deltas: [(String, Int)]) throws {
        let nonZero = deltas.filter { $0.1 != 0 }
        guard !nonZero.isEmpty else { return }
        let rows = Array(repeating: "(?, ?)", count: nonZero.count).joined(separator: ", ")
        var args: StatementArguments = []
        for (name, by) in nonZero { args += [name, by] }
        try db.cachedStatement(
            sql: """
                INSERT INTO ingest_counters(name, value) VALUES \(rows) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value
                """
        ).execute(arguments: args)
    }
}

/// A store failure with a code the ingest loop acts on and a message fit for a log line or a
/// terminal.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is: a full disk waits for space, a busy database for the other
    /// writer, a corrupt or read-only file for a person.
    public enum Code: String, Sendable, CaseIterable {
        /// The file system holding the database is full (SQLITE_FULL).
        case diskFull = "disk_full"
        /// Another connection holds the write lock (SQLITE_BUSY, SQLITE_LOCKED).
        case busy
        /// The file or its folder cannot be written (SQLITE_READONLY, SQLITE_PERM).
        case readOnly = "read_only"
        /// The file is not a database or is damaged (SQLITE_CORRUPT, SQLITE_NOTADB).
        case corrupt
        /// The file cannot be opened (SQLITE_CANTOPEN).
        case cannotOpen = "cannot_open"
        /// The disk reported an I/O error (SQLITE_IOERR).
        case io
        /// The database server cannot be reached or the connection was lost (PostgreSQL): the
        /// next attempt reconnects.
        case unavailable
        /// Another writer's transaction conflicted (PostgreSQL serialisation failure or deadlock):
        /// retry the batch.
        case conflict
        /// A bad request from our side, or anything else.
        case other
    }

    public let code: Code
    public let description: String

    public init(_ description: String, code: Code = .other) {
        self.code = code
        self.description = description
    }

    /// Wraps whatever the database layer threw, keeping SQLite's primary result code as a `Code`.
    init(wrapping error: any Error, context: String? = nil) {
        if let e = error as? StoreError {
            self = context.map { StoreError("\($0): \(e.description)", code: e.code) } ?? e
            return
        }
        let code: Code
        if let e = error as? DatabaseError {
            switch e.resultCode.primaryResultCode {
            case .SQLITE_FULL: code = .diskFull
            case .SQLITE_BUSY, .SQLITE_LOCKED: code = .busy
            case .SQLITE_READONLY, .SQLITE_PERM: code = .readOnly
            case .SQLITE_CORRUPT, .SQLITE_NOTADB: code = .corrupt
            case .SQLITE_CANTOPEN: code = .cannotOpen
            case .SQLITE_IOERR: code = .io
            default: code = .other
            }
        } else {
            code = .other
        }
        self.init(context.map { "\($0): \(error)" } ?? "\(error)", code: code)
    }
}
