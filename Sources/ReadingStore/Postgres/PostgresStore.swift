public import Aggregation
import Foundation
public import PlantRegistry
import PostgresClient
public import Telemetry

/// The PostgreSQL store: the same contract as `SQLiteStore` (a batch is durable when `commit`
/// returns, duplicates never count twice), for a database that several daemons write at once
/// (one MQTT stream split by a shared subscription) and several sites share.
///
/// Concurrent writers stay exact because every batch transaction first takes a
/// transaction-scoped advisory lock per device it touches, in sorted order (no deadlock
/// between daemons), and only then reads neighbours; the aggregator's in-memory "newest point"
/// is forgotten at the start of each transaction, since another daemon may have moved it.
/// Rollup rows are written in sorted key order with additive upserts. Closed periods, the raw
/// retention horizon and a rebuild are coordinated through a writers' advisory lock that every
/// batch holds shared (`PostgresStore+Periods`, `PostgresStore+Maintenance`). A lost connection or a
/// restarted server makes `commit` throw `.unavailable` (the loop retries without
/// acknowledging, and the next attempt reconnects); a serialisation failure or deadlock throws
/// `.conflict`, and the loop retries the batch.
public final class PostgresStore: TelemetryStore {
    private let target: String
    private let passwordFile: String?
    private var connection: PostgresConnection?
    var keys: [SeriesKey] = []
    var seriesIDs: [Int64] = []
    /// The advisory-lock key of each registry series' device.
    var deviceLockKeys: [Int64] = []
    var deviceSeriesIDs: [[Int64]] = []
    var deviceSite: [String: String] = [:]
    var aggregator: Aggregator?
    /// The site each scope of the plan belongs to (scope ids are unique within a site).
    var scopeSite: [Scope: String] = [:]
    /// The sites this store's registry writes (closures and rebuilds are these sites' only).
    var sites: [String] = []
    /// Month partitions of `readings` known to exist (their start, ms).
    var partitions: Set<Int64> = []
    /// The closed periods of `sites` as last loaded, and the version they were loaded at; the
    /// version is read again in every batch transaction (another process may have closed or
    /// reopened one), the periods only when it changed.
    var knownClosures = ClosedPeriods()
    var closedVersion: [Int64]?
    /// Raw readings before this are gone (whole month partitions dropped): later readings older
    /// than it are quarantined, and the aggregator books nothing before it. Read in every batch
    /// transaction.
    public internal(set) var rawHorizonMs: Int64?

    /// The URL with any password removed, for messages and logs.
    public var redactedTarget: String { PostgresTarget.redacted(target) }

    /// Connects to `target` (a `postgresql://` URL) and migrates the schema. A password in the
    /// URL is refused: it would sit in argv, shell history and logs.
    public init(url target: String, passwordFile: String? = nil) throws {
        if PostgresTarget.hasPassword(target) {
            throw StoreError(
                "\(PostgresTarget.redacted(target)): a password in the database URL is refused (it would show in the process list and logs); "
                    + "put it in a password file (store.password_file, or PGPASSFILE in libpq's format) or PGPASSWORD",
                code: .other)
        }
        self.target = target
        self.passwordFile = passwordFile
        let db = try open()
        do {
            try PostgresSchema.migrate(db)
        } catch {
            throw Self.storeError(error, context: "cannot migrate the database \(redactedTarget)")
        }
    }

    /// The open connection, reconnecting when the last one was lost.
    func open() throws -> PostgresConnection {
        if let connection, connection.isOpen { return connection }
        connection = nil
        do {
            let c = try PostgresConnection(target: target, passwordFile: passwordFile)
            connection = c
            return c
        } catch {
            throw Self.storeError(error, context: "cannot connect to \(redactedTarget)")
        }
    }

    static func storeError(_ error: any Error, context: String? = nil) -> StoreError {
        if let e = error as? StoreError { return e }
        guard let pg = error as? PostgresError else { return StoreError(wrapping: error, context: context) }
        let code: StoreError.Code =
            switch pg.code {
            case .connection: .unavailable
            case .conflict: .conflict
            case .resources: .diskFull
            case .authentication, .noDatabase: .cannotOpen
            case .constraint, .other: .other
            }
        return StoreError(context.map { "\($0): \(pg)" } ?? "\(pg)", code: code)
    }

    // MARK: - TelemetryStore

    public func prepareSeries(_ keys: [SeriesKey]) throws {
        do {
            let db = try open()
            let sites = PostgresArray.literal(keys.map { Optional($0.site) })
            let devices = PostgresArray.literal(keys.map { Optional($0.device) })
            let metrics = PostgresArray.literal(keys.map { Optional($0.metric) })
            let rows = try db.transaction {
                try db.execute(
                    """
                    INSERT INTO series (site, device, metric)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING
                    """, [sites, devices, metrics])
                return try db.execute(
                    """
                    SELECT s.id FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(site, device, metric, i)
                    JOIN series s ON s.site = k.site AND s.device = k.device AND s.metric = k.metric ORDER BY k.i
                    """, [sites, devices, metrics])
            }
            guard rows.count == keys.count else { throw StoreError("series vanished while registering") }
            seriesIDs = (0..<rows.count).map { rows.int($0, 0) ?? 0 }
            self.keys = keys
            deviceLockKeys = keys.map { Self.lockKey(site: $0.site, device: $0.device) }
            deviceSite = Dictionary(keys.map { ($0.device, $0.site) }, uniquingKeysWith: { a, _ in a })
            for site in keys.map(\.site) where !self.sites.contains(site) { self.sites.append(site) }
        } catch {
            throw Self.storeError(error, context: "cannot register series in \(redactedTarget)")
        }
    }

    public func enableAggregation(_ plan: AggregationPlan) {
        let aggregator = Aggregator(plan: plan)
        self.aggregator = aggregator
        var byDevice = [[Int64]](repeating: [], count: plan.deviceStateSeries.count)
        var sites: [Scope: String] = [:]
        for (i, sp) in plan.series.enumerated() where i < seriesIDs.count {
            if sp.device < byDevice.count { byDevice[sp.device].append(seriesIDs[i]) }
            for t in sp.targets { sites[t.scope] = keys[i].site }
        }
        for m in plan.machines where Int(m.stateSeries) < keys.count {
            for s in m.scopes { sites[s] = keys[Int(m.stateSeries)].site }
        }
        deviceSeriesIDs = byDevice
        scopeSite.merge(sites) { _, new in new }
        aggregator.window = horizonWindow
    }

    /// Names the site of every scope of `plant` (also those no series books into), for the
    /// commands that close, reopen or enter figures of a scope.
    public func useSites(of plant: Plant) {
        for site in plant.sites {
            for scope in site.scopes { scopeSite[scope] = site.id }
            if !sites.contains(site.id) { sites.append(site.id) }
        }
    }

    /// The aggregator's window while a raw horizon exists: it books nothing before it.
    var horizonWindow: Range<Int64>? { rawHorizonMs.map { $0..<(Int64.max / 4) } }

    public func commit(_ batch: IngestBatch, committedAtMs: Int64) throws -> CommitOutcome {
        do {
            let db = try open()
            // Not for readings the last known horizon refuses (the transaction reads it again).
            try ensurePartitions(for: batch.readings.filter { $0.timestampMs >= rawHorizonMs ?? .min }, db: db)
            return try db.transaction { try commitTransaction(batch, committedAtMs: committedAtMs, db: db) }
        } catch {
            aggregator?.resetCache()
            _ = aggregator?.takeDelta()
            if let c = connection, !c.isOpen { connection = nil }
            throw Self.storeError(error)
        }
    }

    public func recordAudit(_ entries: [AuditEntry]) throws {
        guard !entries.isEmpty else { return }
        do {
            try Self.insertAudit(entries, db: try open())
        } catch {
            throw Self.storeError(error, context: "cannot record the audit trail in \(redactedTarget)")
        }
    }

    /// Appends `entries` to the audit trail in the caller's transaction, in one statement.
    static func insertAudit(_ entries: [AuditEntry], db: PostgresConnection) throws {
        try db.execute(
            """
            INSERT INTO audit (at, command, "user", subject, before, after)
            SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
            """,
            [
                PostgresArray.literal(entries.map(\.atMs)), PostgresArray.literal(entries.map { Optional($0.command) }),
                PostgresArray.literal(entries.map { Optional($0.user) }), PostgresArray.literal(entries.map { Optional($0.subject) }),
                PostgresArray.literal(entries.map(\.before)), PostgresArray.literal(entries.map(\.after)),
            ])
    }

    // MARK: - The batch transaction

    private func commitTransaction(_ batch: IngestBatch, committedAtMs: Int64, db: PostgresConnection) throws -> CommitOutcome {
        var outcome = CommitOutcome()
        // 1. Hold the writers' lock shared (a close, reopen or prune waits for this commit, and
        //    this commit for it), then lock every device the batch touches, in sorted order:
        //    another daemon holding one of them finishes its transaction first, and its readings
        //    are then visible to ours.
        try db.execute("SELECT pg_advisory_xact_lock_shared($1)", [.int(PostgresSchema.writersLockKey)])
        let locks = Set(batch.readings.map { deviceLockKeys[Int($0.series)] }).sorted()
        if !locks.isEmpty {
            try db.execute("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k ORDER BY k", [PostgresArray.literal(locks)])
        }
        aggregator?.resetCache()
        // Read in this transaction: a prune by another process may have moved it.
        let horizon = try readRawHorizon(db)
        let kept = horizon.map { h in batch.readings.filter { $0.timestampMs >= h } } ?? batch.readings
        if kept.count < batch.readings.count, let horizon {
            let tooOld = batch.readings.filter { $0.timestampMs < horizon }
            try quarantineBeyondRetention(tooOld, horizon: horizon, receivedAtMs: committedAtMs, db: db)
            outcome.quarantined += tooOld.count
        }

        // 2. All readings in one statement; the ones that were new come back.
        var fresh = Set<ReadingIdentity>()
        if !kept.isEmpty {
            var sids: [Int64] = []
            var tss: [Int64] = []
            var values: [Double?] = []
            var states: [String?] = []
            var errors: [Int64?] = []
            var seqs: [Int64?] = []
            for r in kept {
                sids.append(seriesIDs[Int(r.series)])
                tss.append(r.timestampMs)
                switch r.value {
                case .number(let v):
                    values.append(v)
                    states.append(nil)
                    errors.append(nil)
                case .state(let s):
                    values.append(nil)
                    states.append(s)
                    errors.append(nil)
                case .error(let code):
                    values.append(nil)
                    states.append(nil)
                    errors.append(Int64(code))
                }
                seqs.append(r.seq.map { Int64($0) })
            }
            let inserted = try db.execute(
                """
                INSERT INTO readings (series_id, ts, value, state, error_code, seq)
                SELECT DISTINCT ON (series_id, ts) series_id, ts, value, state, error_code, seq
                FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::text[], $5::bigint[], $6::bigint[])
                    WITH ORDINALITY AS r(series_id, ts, value, state, error_code, seq, i)
                    ORDER BY series_id, ts, i
                ON CONFLICT DO NOTHING RETURNING series_id, ts
                """,
                [
                    PostgresArray.literal(sids), PostgresArray.literal(tss), PostgresArray.literal(values),
                    PostgresArray.literal(states), PostgresArray.literal(errors), PostgresArray.literal(seqs),
                ])
            for row in 0..<inserted.count {
                fresh.insert(ReadingIdentity(series: inserted.int(row, 0) ?? 0, ts: inserted.int(row, 1) ?? 0))
            }
        }

        // 3. Book the new readings in batch order; the history hides those not booked yet, so the
        //    aggregator sees exactly what SQLite's insert-then-book order shows it.
        let history = PostgresHistory(
            db: db, seriesIDs: seriesIDs, deviceSeriesIDs: deviceSeriesIDs, deviceSite: deviceSite, pending: fresh)
        var newest: [String: (site: String, ts: Int64)] = [:]
        for r in kept {
            let id = ReadingIdentity(series: seriesIDs[Int(r.series)], ts: r.timestampMs)
            guard history.pending.contains(id) else {
                outcome.duplicates += 1
                continue
            }
            history.pending.remove(id)
            outcome.inserted += 1
            try aggregator?.add(r, history: history)
            let key = keys[Int(r.series)]
            let deviceKey = key.site + "\u{1F}" + key.device
            if let t = newest[deviceKey], t.ts >= r.timestampMs {} else { newest[deviceKey] = (key.site, r.timestampMs) }
        }

        // 4. Quarantine, in one statement.
        if !batch.quarantined.isEmpty {
            let q = batch.quarantined
            try db.execute(
                """
                INSERT INTO quarantine (received_at, topic, reason, detail, payload, payload_bytes)
                SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::int[])
                """,
                [
                    PostgresArray.literal(q.map(\.receivedAtMs)), PostgresArray.literal(q.map { Optional($0.topic) }),
                    PostgresArray.literal(q.map { Optional($0.rejection.reason.rawValue) }),
                    PostgresArray.literal(q.map { Optional($0.rejection.detail) }), PostgresArray.literal(bytes: q.map(\.payload)),
                    PostgresArray.literal(q.map { Int64($0.payloadBytes) }),
                ])
            outcome.quarantined += q.count
        }

        // 5. Rollups; changes to closed figures are held beside them, not folded in.
        if let aggregator {
            try aggregator.finishMachines(history: history)
            var delta = aggregator.takeDelta()
            try refreshClosedPeriods(db)
            let series = delta.heldSeries(by: knownClosures) { self.keys[Int($0)].device }
            try hold(delta.takeHeld(by: knownClosures), series: series, db: db)
            try apply(delta, plan: aggregator.plan, db: db)
        }

        // 6. Device states, last seen, counters, the ingest rate.
        if !batch.deviceStates.isEmpty {
            let s = batch.deviceStates
            let site = { (device: String) in self.deviceSite[device] ?? "" }
            try db.execute(
                """
                INSERT INTO device_state (site, device, online, changed_at, reason)
                SELECT DISTINCT ON (site, device) * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::bigint[], $5::text[])
                    AS s(site, device, online, changed_at, reason) ORDER BY site, device, changed_at DESC
                ON CONFLICT (site, device) DO UPDATE SET online = excluded.online, changed_at = excluded.changed_at, reason = excluded.reason
                WHERE excluded.changed_at >= device_state.changed_at
                """,
                [
                    PostgresArray.literal(s.map { Optional(site($0.device)) }), PostgresArray.literal(s.map { Optional($0.device) }),
                    PostgresArray.literal(s.map { Optional($0.online ? "true" : "false") }), PostgresArray.literal(s.map(\.atMs)),
                    PostgresArray.literal(s.map { Optional($0.reason) }),
                ])
        }
        if !newest.isEmpty {
            let rows = newest.sorted { $0.key < $1.key }
            try db.execute(
                """
                INSERT INTO device_last_seen (site, device, last_reading_ts, last_received_at)
                SELECT site, device, ts, $4 FROM unnest($1::text[], $2::text[], $3::bigint[]) AS d(site, device, ts)
                ON CONFLICT (site, device) DO UPDATE SET
                    last_reading_ts = greatest(device_last_seen.last_reading_ts, excluded.last_reading_ts),
                    last_received_at = excluded.last_received_at
                """,
                [
                    PostgresArray.literal(rows.map { Optional($0.value.site) }),
                    PostgresArray.literal(rows.map { Optional(String($0.key.split(separator: "\u{1F}").last ?? "")) }),
                    PostgresArray.literal(rows.map(\.value.ts)), .int(committedAtMs),
                ])
        }
        var counters: [String: Int] = [
            "messages_received": batch.messages, "readings_stored": outcome.inserted,
            "readings_duplicate": outcome.duplicates, "messages_quarantined": outcome.quarantined,
        ]
        for e in batch.quarantined { counters["quarantined.\(e.rejection.reason.rawValue)", default: 0] += 1 }
        if kept.count < batch.readings.count {
            counters["quarantined.\(QuarantineReason.beyondRetention.rawValue)", default: 0] += batch.readings.count - kept.count
        }
        let bumps = counters.filter { $0.value != 0 }.sorted { $0.key < $1.key }
        if !bumps.isEmpty {
            try db.execute(
                """
                INSERT INTO ingest_counters (name, value) SELECT * FROM unnest($1::text[], $2::bigint[])
                ON CONFLICT (name) DO UPDATE SET value = ingest_counters.value + excluded.value
                """, [PostgresArray.literal(bumps.map { Optional($0.key) }), PostgresArray.literal(bumps.map { Int64($0.value) })])
        }
        try db.execute(
            """
            INSERT INTO ingest_seconds (second, readings, messages) VALUES ($1, $2, $3)
            ON CONFLICT (second) DO UPDATE SET readings = ingest_seconds.readings + excluded.readings,
                messages = ingest_seconds.messages + excluded.messages
            """, [.int(committedAtMs / 1000), .int(Int64(outcome.inserted)), .int(Int64(batch.messages))])
        return outcome
    }

    /// Writes one batch's rollup changes, each table in one statement with its rows in key order
    /// (two daemons updating the same rows lock them in the same order).
    func apply(_ delta: RollupDelta, plan: AggregationPlan, db: PostgresConnection) throws {
        let minutes = delta.minutes.map { (sid: seriesIDs[Int($0.key.series)], time: $0.key.minute, m: $0.value) }
            .sorted { ($0.sid, $0.time) < ($1.sid, $1.time) }
        try Self.upsertStats(minutes, into: "rollup_minute", at: "minute", db: db)
        let states = delta.states.filter { $0.value != 0 }
            .map { (sid: seriesIDs[Int($0.key.series)], time: $0.key.minute, state: $0.key.state, ms: $0.value) }
            .sorted { ($0.sid, $0.time, $0.state) < ($1.sid, $1.time, $1.state) }
        try Self.upsertStates(states, into: "state_minute", at: "minute", db: db)
        let machines = delta.machineRows.map { row in
            let m = plan.machines[row.key.machine]
            return (site: keys[Int(m.stateSeries)].site, device: m.device, minute: row.key.minute, v: row.value)
        }.sorted { ($0.site, $0.device, $0.minute) < ($1.site, $1.device, $1.minute) }
        let (gone, kept) = (machines.filter { $0.v.isZero }, machines.filter { !$0.v.isZero })
        if !gone.isEmpty {
            try db.execute(
                """
                DELETE FROM machine_minute m USING unnest($1::text[], $2::text[], $3::bigint[]) AS g(site, device, minute)
                WHERE m.site = g.site AND m.device = g.device AND m.minute = g.minute
                """,
                [
                    PostgresArray.literal(gone.map { Optional($0.site) }), PostgresArray.literal(gone.map { Optional($0.device) }),
                    PostgresArray.literal(gone.map(\.minute)),
                ])
        }
        if !kept.isEmpty {
            try db.execute(
                """
                INSERT INTO machine_minute (site, device, minute, producing_ms, nc_producing_ms, unknown_ms)
                SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::float8[], $6::bigint[])
                ON CONFLICT (site, device, minute) DO UPDATE SET producing_ms = excluded.producing_ms,
                    nc_producing_ms = excluded.nc_producing_ms, unknown_ms = excluded.unknown_ms
                """,
                [
                    PostgresArray.literal(kept.map { Optional($0.site) }), PostgresArray.literal(kept.map { Optional($0.device) }),
                    PostgresArray.literal(kept.map(\.minute)), PostgresArray.literal(kept.map(\.v.producingMs)),
                    PostgresArray.literal(kept.map { Optional($0.v.ncProducingMs) }), PostgresArray.literal(kept.map(\.v.unknownMs)),
                ])
        }
        let quality = delta.quality.filter { $0.value.count != 0 || $0.value.amount != 0 }
            .map { (sid: seriesIDs[Int($0.key.series)], kind: $0.key.kind.rawValue, start: $0.key.start, end: $0.key.end, c: $0.value) }
            .sorted { ($0.sid, $0.kind, $0.start, $0.end) < ($1.sid, $1.kind, $1.start, $1.end) }
        if !quality.isEmpty {
            let args: [PostgresValue] = [
                PostgresArray.literal(quality.map(\.sid)), PostgresArray.literal(quality.map { Optional($0.kind) }),
                PostgresArray.literal(quality.map(\.start)), PostgresArray.literal(quality.map(\.end)),
                PostgresArray.literal(quality.map { Int64($0.c.count) }), PostgresArray.literal(quality.map { Optional($0.c.amount) }),
            ]
            try db.execute(
                """
                INSERT INTO quality_event AS q (series_id, kind, start_ts, end_ts, n, amount)
                SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::int[], $6::float8[])
                ON CONFLICT (series_id, kind, start_ts, end_ts) DO UPDATE SET n = q.n + excluded.n, amount = q.amount + excluded.amount
                """, args)
            try db.execute(
                """
                DELETE FROM quality_event q USING unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[]) AS k(series_id, kind, start_ts, end_ts)
                WHERE q.series_id = k.series_id AND q.kind = k.kind AND q.start_ts = k.start_ts AND q.end_ts = k.end_ts AND q.n = 0
                """, Array(args.prefix(4)))
        }
        let scopes = delta.scopes.filter { $0.value != 0 }
            .map { (site: scopeSite[$0.key.scope] ?? "", key: $0.key, value: $0.value) }
            .sorted {
                ($0.site, $0.key.scope.key, $0.key.period.rawValue, $0.key.start, $0.key.quantity)
                    < ($1.site, $1.key.scope.key, $1.key.period.rawValue, $1.key.start, $1.key.quantity)
            }
        if !scopes.isEmpty {
            try db.execute(
                """
                INSERT INTO scope_rollup AS s (site, scope, quantity, period, start, value)
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::float8[])
                ON CONFLICT (site, scope, period, start, quantity) DO UPDATE SET value = s.value + excluded.value
                """,
                [
                    PostgresArray.literal(scopes.map { Optional($0.site) }),
                    PostgresArray.literal(scopes.map { Optional($0.key.scope.key) }),
                    PostgresArray.literal(scopes.map { Optional($0.key.quantity) }),
                    PostgresArray.literal(scopes.map { Optional($0.key.period.rawValue) }), PostgresArray.literal(scopes.map(\.key.start)),
                    PostgresArray.literal(scopes.map { Optional($0.value) }),
                ])
        }
    }

    /// Adds time per state to `table` (`state_minute`, or `state_hour` when retention folds
    /// minutes) in one statement, rows in key order.
    static func upsertStates(
        _ rows: [(sid: Int64, time: Int64, state: String, ms: Int64)], into table: String, at column: String, db: PostgresConnection
    ) throws {
        guard !rows.isEmpty else { return }
        try db.execute(
            """
            INSERT INTO \(table) AS s (series_id, \(column), state, ms)
            SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[])
            ON CONFLICT (series_id, \(column), state) DO UPDATE SET ms = s.ms + excluded.ms
            """,
            [
                PostgresArray.literal(rows.map(\.sid)), PostgresArray.literal(rows.map(\.time)),
                PostgresArray.literal(rows.map { Optional($0.state) }), PostgresArray.literal(rows.map(\.ms)),
            ])
    }

    /// Adds per-series figures to `table` (`rollup_minute`, or `rollup_hour` when retention
    /// folds minutes) in one statement, rows in key order: counts and sums add, extremes widen,
    /// the later last value wins.
    static func upsertStats(
        _ rows: [(sid: Int64, time: Int64, m: RollupDelta.MinuteStats)], into table: String, at column: String, db: PostgresConnection
    )
        throws
    {
        guard !rows.isEmpty else { return }
        let read = rows.map { $0.m.count > 0 }
        try db.execute(
            """
            INSERT INTO \(table) AS r (series_id, \(column), n, sum, min, max, last_ts, last, consumption, estimated)
            SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::float8[], $5::float8[], $6::float8[], $7::bigint[],
                $8::float8[], $9::float8[], $10::float8[])
            ON CONFLICT (series_id, \(column)) DO UPDATE SET
                n = r.n + excluded.n, sum = r.sum + excluded.sum,
                min = CASE WHEN excluded.min IS NOT NULL AND (r.min IS NULL OR excluded.min < r.min) THEN excluded.min ELSE r.min END,
                max = CASE WHEN excluded.max IS NOT NULL AND (r.max IS NULL OR excluded.max > r.max) THEN excluded.max ELSE r.max END,
                last = CASE WHEN excluded.last_ts IS NOT NULL AND (r.last_ts IS NULL OR excluded.last_ts > r.last_ts)
                    THEN excluded.last ELSE r.last END,
                last_ts = CASE WHEN excluded.last_ts IS NOT NULL AND (r.last_ts IS NULL OR excluded.last_ts > r.last_ts)
                    THEN excluded.last_ts ELSE r.last_ts END,
                consumption = r.consumption + excluded.consumption, estimated = r.estimated + excluded.estimated
            """,
            [
                PostgresArray.literal(rows.map(\.sid)), PostgresArray.literal(rows.map(\.time)),
                PostgresArray.literal(rows.map { Int64($0.m.count) }), PostgresArray.literal(rows.map { Optional($0.m.sum) }),
                PostgresArray.literal(zip(rows, read).map { $1 && $0.m.min.isFinite ? $0.m.min : nil }),
                PostgresArray.literal(zip(rows, read).map { $1 && $0.m.max.isFinite ? $0.m.max : nil }),
                PostgresArray.literal(zip(rows, read).map { $1 && $0.m.lastTs > .min ? $0.m.lastTs : nil }),
                PostgresArray.literal(zip(rows, read).map { $1 && $0.m.lastTs > .min ? $0.m.last : nil }),
                PostgresArray.literal(rows.map { Optional($0.m.consumption) }),
                PostgresArray.literal(rows.map { Optional($0.m.estimated) }),
            ])
    }

    // MARK: - Partitions

    /// Creates the month partitions the batch's readings need, once per month per process,
    /// under the schema lock (two daemons may reach a new month together), none before the raw
    /// horizon.
    private func ensurePartitions(for readings: [Reading], db: PostgresConnection) throws {
        var needed = Set<Int64>()
        for r in readings {
            let start = Self.monthStart(r.timestampMs)
            if !partitions.contains(start) { needed.insert(start) }
        }
        guard !needed.isEmpty else { return }
        try db.transaction {
            try db.execute("SELECT pg_advisory_xact_lock($1)", [.int(PostgresSchema.schemaLockKey)])
            // A month retention dropped is never made again (a prune holds this lock as it drops).
            let horizon = try readRawHorizon(db) ?? .min
            for start in needed.sorted() where Self.monthStart(start + 32 * 86_400_000) > horizon {
                let end = Self.monthStart(start + 32 * 86_400_000)
                try db.execute(
                    "CREATE TABLE IF NOT EXISTS \(Self.partitionName(start)) PARTITION OF readings FOR VALUES FROM (\(start)) TO (\(end))")
            }
        }
        partitions.formUnion(needed)
    }

    /// The UTC month holding `ms`, as its first millisecond.
    static func monthStart(_ ms: Int64) -> Int64 {
        let (y, m) = yearMonth(ms)
        return daysFromCivil(y, m, 1) * 86_400_000
    }

    /// `readings_YYYYMM` for the UTC month starting at `start`.
    static func partitionName(_ start: Int64) -> String {
        let (y, m) = yearMonth(start)
        let month = m < 10 ? "0\(m)" : "\(m)"
        return "readings_\(y < 0 ? "m\(-y)" : "\(y)")\(month)"
    }

    private static func yearMonth(_ ms: Int64) -> (Int64, Int64) {
        // Howard Hinnant's days-to-civil algorithm: no Calendar needed for UTC months.
        let days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m)
    }

    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// A device's advisory-lock key: a stable 64-bit FNV-1a hash of `site/device` (the same in
    /// every daemon, so they lock the same device with the same key).
    static func lockKey(site: String, device: String) -> Int64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in (site + "/" + device).utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return Int64(bitPattern: h)
    }
}

/// A stored reading's identity in the database.
struct ReadingIdentity: Hashable {
    var series: Int64
    var ts: Int64
}
