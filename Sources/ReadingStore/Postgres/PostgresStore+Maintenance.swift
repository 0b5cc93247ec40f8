import Aggregation
import Foundation
import PlantRegistry
import PostgresClient
import Telemetry

/// Rebuilding rollups and retention on PostgreSQL, while daemons keep writing.
///
/// A rebuild takes the same locks as a batch transaction (the writers' lock, then every device
/// of its registry in sorted order), so daemons wait for it and then book against what it
/// wrote. Retention drops whole month partitions of raw readings (never part of a month: the
/// raw horizon is the first day of a UTC month) and folds minute rollups into hours in small steps.
extension PostgresStore {
    /// Reads the raw horizon in the caller's transaction; the aggregator's window follows it.
    func readRawHorizon(_ db: PostgresConnection) throws -> Int64? {
        let rows = try db.execute("SELECT before FROM retention_mark WHERE tier = 'raw'")
        let horizon = rows.count == 0 ? nil : rows.int(0, 0)
        if horizon != rawHorizonMs {
            rawHorizonMs = horizon
            aggregator?.window = horizonWindow
        }
        return horizon
    }

    /// Quarantines readings older than the raw horizon, one row each, as `device/metric`
    /// (counted with the batch's other quarantine reasons by the caller).
    func quarantineBeyondRetention(_ readings: [Reading], horizon: Int64, receivedAtMs: Int64, db: PostgresConnection) throws {
        let names = readings.map { keys[Int($0.series)].device + "/" + keys[Int($0.series)].metric }
        try db.execute(
            """
            INSERT INTO quarantine (received_at, topic, reason, detail, payload, payload_bytes)
            SELECT $1, topic, $2, detail, ''::bytea, 0 FROM unnest($3::text[], $4::text[]) AS q(topic, detail)
            """,
            [
                .int(receivedAtMs), .text(QuarantineReason.beyondRetention.rawValue), PostgresArray.literal(names.map { Optional($0) }),
                PostgresArray.literal(
                    zip(names, readings).map { Optional(SQLiteStore.beyondRetentionDetail($0, $1.timestampMs, horizon: horizon)) }),
            ])
    }

    // MARK: - Rebuild

    public func rebuildRollups(
        from: Int64? = nil, to: Int64? = nil, by actor: AuditActor, window: String, reopen: Bool = false,
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws {
        guard let aggregator else { throw StoreError("rebuild needs the device registry (aggregation is not enabled)") }
        let plan = aggregator.plan
        let start = from.map { plan.calendar.dayStart($0) } ?? Int64.min / 4
        let end = to.map { plan.calendar.dayStart($0 - 1 + 25 * WindowCalendar.hourMs) } ?? Int64.max / 4
        aggregator.resetCache()
        _ = aggregator.takeDelta()
        defer {
            aggregator.window = horizonWindow
            aggregator.resetCache()
            _ = aggregator.takeDelta()
        }
        // Exclusive only when it may reopen a closure; otherwise daemons of other sites go on.
        try administer(exclusive: reopen, context: "cannot rebuild the rollups in \(redactedTarget)") { db in
            if let horizon = try readRawHorizon(db), start < horizon {
                throw StoreError(
                    "the raw readings before \(Timestamp.formatRFC3339UTC(horizon)) were dropped (retention), so "
                        + "their rollups cannot be recomputed: pass --from with a day on or after it")
            }
            try guardClosed(db, from: start, to: end, scopes: nil, reopen: reopen, action: .rebuild, by: actor)
            // The daemons' device locks, all of them, in the order every batch takes them.
            try db.execute(
                "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k ORDER BY k",
                [PostgresArray.literal(Set(deviceLockKeys).sorted())])
            aggregator.window = start..<end
            let sids = PostgresArray.literal(seriesIDs)
            let range: [PostgresValue] = [.int(start), .int(end)]
            for table in ["rollup_minute", "state_minute"] {
                try db.execute("DELETE FROM \(table) WHERE series_id = ANY($3::bigint[]) AND minute >= $1 AND minute < $2", range + [sids])
            }
            try db.execute(
                "DELETE FROM machine_minute WHERE site = ANY($3::text[]) AND minute >= $1 AND minute < $2", range + [sitesLiteral])
            try db.execute("DELETE FROM scope_rollup WHERE site = ANY($3::text[]) AND start >= $1 AND start < $2", range + [sitesLiteral])
            // Quality events belong to the minute their interval ends in.
            try db.execute("DELETE FROM quality_event WHERE series_id = ANY($3::bigint[]) AND end_ts >= $1 AND end_ts < $2", range + [sids])
            let history = PostgresHistory(
                db: db, seriesIDs: seriesIDs, deviceSeriesIDs: deviceSeriesIDs, deviceSite: deviceSite, pending: [])
            for index in seriesIDs.indices {
                let series = SeriesIndex(index)
                try aggregator.addSorted(series: series, history.rebuildPoints(series, from: start, to: end), history: history)
                try aggregator.finishMachines(history: history)
                try apply(aggregator.takeDelta(), plan: plan, db: db)
                progress(index + 1, seriesIDs.count)
            }
            let cuts: [Int64] = (from == nil ? [] : [start]) + (to == nil ? [] : [end - 1])
            if plan.calendars.count > 1 { try resumSiteDays(db, plan: plan, around: cuts) }
            try Self.insertAudit(
                [actor.entry("rollups \(window)", before: nil, after: "recomputed from raw readings (\(seriesIDs.count) series)")], db: db)
        }
    }

    /// Each scope's day totals again from its hour totals, for the days of its own site's
    /// calendar holding one of `instants` (a ranged rebuild cuts at the first site's midnight;
    /// see `SQLiteStore.resumSiteDays`).
    private func resumSiteDays(_ db: PostgresConnection, plan: AggregationPlan, around instants: [Int64]) throws {
        for (scope, index) in plan.scopeSites.sorted(by: { $0.key.key < $1.key.key }) {
            let calendar = plan.calendars.indices.contains(index) ? plan.calendars[index] : plan.calendar
            let site = scopeSite[scope] ?? ""
            for day in Set(instants.map { calendar.dayStart($0) }).sorted() {
                let next = calendar.dayStart(day + 25 * WindowCalendar.hourMs)
                let args: [PostgresValue] = [.text(site), .text(scope.key), .int(day), .int(next)]
                try db.execute(
                    "DELETE FROM scope_rollup WHERE site = $1 AND scope = $2 AND period = 'day' AND start = $3", Array(args.prefix(3)))
                try db.execute(
                    """
                    INSERT INTO scope_rollup (site, scope, quantity, period, start, value)
                    SELECT site, scope, quantity, 'day', $3, sum(value) FROM scope_rollup
                    WHERE site = $1 AND scope = $2 AND period = 'hour' AND start >= $3 AND start < $4
                    GROUP BY site, scope, quantity HAVING sum(value) <> 0
                    """, args)
            }
        }
    }

    // MARK: - Retention

    /// One retention step. Raw readings: the month partitions that end on or before the UTC
    /// month holding `rawBefore` are dropped whole (a month partly inside the horizon stays
    /// whole until its last day has passed the horizon), and the raw horizon moves to that
    /// month's start. Minute rollups before `minuteBefore` (never past the raw horizon) are
    /// folded into `rollup_hour`/`state_hour` and deleted, at most `maxRows` per step, each step
    /// a short transaction. A drop that cannot lock `readings` within 5 s (a long read holds it)
    /// fails the step; the daemon's pacer tries again a minute later.
    public func pruneStep(rawBefore: Int64?, minuteBefore: Int64?, maxRows: Int) throws -> PruneProgress {
        guard let aggregator else { throw StoreError("pruning needs the device registry (aggregation is not enabled)") }
        if let r = rawBefore, let m = minuteBefore, m > r {
            throw StoreError("minute rollups would be pruned past the raw readings: keep minutes at least as long as raw readings")
        }
        var progress = PruneProgress()
        var minuteHorizon = minuteBefore
        if let rawBefore, (rawHorizonMs ?? .min) < Self.monthStart(rawBefore) {
            // Partitions are never made before the horizon, so once it reached the cut (as every
            // commit reads it) there is nothing to drop until the next month.
            let cut = Self.monthStart(rawBefore)
            let dropped = try administer(exclusive: true, context: "pruning failed in \(redactedTarget)") { db in
                // After the writers' lock, as every holder of both takes them: no partition is made meanwhile.
                try db.execute("SELECT pg_advisory_xact_lock($1)", [.int(PostgresSchema.schemaLockKey)])
                // Dropping a partition waits for readers of `readings` (a long export) while the
                // daemons wait for this: give up after a few seconds and try again later instead.
                try db.execute("SET LOCAL lock_timeout = '5s'")
                try db.execute(
                    """
                    INSERT INTO retention_mark (tier, before) VALUES ('raw', $1)
                    ON CONFLICT (tier) DO UPDATE SET before = greatest(retention_mark.before, excluded.before)
                    """, [.int(cut)])
                let horizon = try readRawHorizon(db) ?? cut
                let names = try db.execute(
                    """
                    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                    WHERE i.inhparent = 'readings'::regclass ORDER BY 1
                    """
                ).rows.compactMap { $0[0] }
                var gone: [(start: Int64, rows: Int)] = []
                for name in names {
                    guard let start = Self.partitionStart(name), Self.monthStart(start + 32 * 86_400_000) <= horizon else { continue }
                    let rows = Int(try db.execute("SELECT count(*) FROM \(name)").int(0, 0) ?? 0)
                    try db.execute("DROP TABLE \(name)")
                    gone.append((start, rows))
                }
                return gone
            }
            partitions.subtract(dropped.map(\.start))
            progress.readings = dropped.reduce(0) { $0 + $1.rows }
        }
        if let rawBefore { minuteHorizon = minuteHorizon.map { min($0, rawHorizonMs ?? Self.monthStart(rawBefore)) } }
        var budget = maxRows
        if let minuteHorizon {
            let plan = aggregator.plan
            budget -= try administer(exclusive: false, context: "pruning failed in \(redactedTarget)") { db in
                try db.execute(
                    """
                    INSERT INTO retention_mark (tier, before) VALUES ('minute', $1)
                    ON CONFLICT (tier) DO UPDATE SET before = greatest(retention_mark.before, excluded.before)
                    """, [.int(minuteHorizon)])
                let horizon = try db.execute("SELECT before FROM retention_mark WHERE tier = 'minute'").int(0, 0) ?? minuteHorizon
                var calendars: [Int64: WindowCalendar] = [:]
                for (i, sp) in plan.series.enumerated() where i < seriesIDs.count { calendars[seriesIDs[i]] = plan.calendar(series: sp) }
                let moved = try foldMinutes(db, before: horizon, budget: budget, calendars: calendars)
                progress.minutes = moved
                let machines = try db.execute(
                    """
                    DELETE FROM machine_minute WHERE (site, device, minute) IN (SELECT site, device, minute FROM machine_minute
                    WHERE site = ANY($1::text[]) AND minute < $2 ORDER BY site, device, minute LIMIT $3)
                    """, [sitesLiteral, .int(horizon), .int(Int64(max(0, budget - moved)))]
                ).affected
                return moved + machines
            }
        }
        progress.done = budget > 0
        return progress
    }

    /// Folds up to `budget` minute rows (numeric, then states) of this store's series before
    /// `before` into hour rows of each series' site calendar and deletes them; returns how many
    /// went. The rows are locked first, so a commit adding to one waits and then writes anew.
    private func foldMinutes(_ db: PostgresConnection, before: Int64, budget: Int, calendars: [Int64: WindowCalendar]) throws -> Int {
        let sids = PostgresArray.literal(seriesIDs)
        let rows = try db.execute(
            """
            SELECT series_id, minute, n, sum, min, max, last_ts, last, consumption, estimated FROM rollup_minute
            WHERE series_id = ANY($1::bigint[]) AND minute < $2 ORDER BY series_id, minute LIMIT $3 FOR UPDATE
            """, [sids, .int(before), .int(Int64(budget))])
        var hours: [ReadingIdentity: RollupDelta.MinuteStats] = [:]
        for i in 0..<rows.count {
            let sid = rows.int(i, 0) ?? 0
            let minute = rows.int(i, 1) ?? 0
            let key = ReadingIdentity(series: sid, ts: calendars[sid]?.hourStart(minute) ?? minute)
            var m = RollupDelta.MinuteStats()
            m.count = Int(rows.int(i, 2) ?? 0)
            m.sum = rows.double(i, 3) ?? 0
            m.min = rows.double(i, 4) ?? .infinity
            m.max = rows.double(i, 5) ?? -.infinity
            m.lastTs = rows.int(i, 6) ?? .min
            m.last = rows.double(i, 7) ?? 0
            m.consumption = rows.double(i, 8) ?? 0
            m.estimated = rows.double(i, 9) ?? 0
            hours[key, default: RollupDelta.MinuteStats()].merge(m)
        }
        let hourRows = hours.map { (sid: $0.key.series, time: $0.key.ts, m: $0.value) }.sorted { ($0.sid, $0.time) < ($1.sid, $1.time) }
        if !hourRows.isEmpty {
            try Self.upsertStats(hourRows, into: "rollup_hour", at: "hour", db: db)
            try db.execute(
                """
                DELETE FROM rollup_minute m USING unnest($1::bigint[], $2::bigint[]) AS g(series_id, minute)
                WHERE m.series_id = g.series_id AND m.minute = g.minute
                """,
                [
                    PostgresArray.literal((0..<rows.count).map { rows.int($0, 0) ?? 0 }),
                    PostgresArray.literal((0..<rows.count).map { rows.int($0, 1) ?? 0 }),
                ])
        }
        let left = budget - rows.count
        guard left > 0 else { return rows.count }
        let moved = try db.execute(
            """
            WITH gone AS (
                DELETE FROM state_minute WHERE (series_id, minute, state) IN (SELECT series_id, minute, state FROM state_minute
                WHERE series_id = ANY($1::bigint[]) AND minute < $2 ORDER BY series_id, minute, state LIMIT $3 FOR UPDATE)
                RETURNING series_id, minute, state, ms)
            SELECT series_id, minute, state, ms FROM gone
            """, [sids, .int(before), .int(Int64(left))])
        var states: [String: (sid: Int64, time: Int64, state: String, ms: Int64)] = [:]
        for i in 0..<moved.count {
            let sid = moved.int(i, 0) ?? 0
            let minute = moved.int(i, 1) ?? 0
            let hour = calendars[sid]?.hourStart(minute) ?? minute
            let state = moved.string(i, 2) ?? ""
            states["\(sid) \(hour) \(state)", default: (sid, hour, state, 0)].ms += moved.int(i, 3) ?? 0
        }
        try Self.upsertStates(
            states.values.sorted { ($0.sid, $0.time, $0.state) < ($1.sid, $1.time, $1.state) }, into: "state_hour", at: "hour", db: db)
        return rows.count + moved.count
    }

    /// The month start of a `readings_YYYYMM` partition, or nil for another name.
    static func partitionStart(_ name: String) -> Int64? {
        guard name.hasPrefix("readings_"), name.count == 15, let ym = Int64(name.suffix(6)) else { return nil }
        let (y, m) = (ym / 100, ym % 100)
        guard (1...12).contains(m) else { return nil }
        return daysFromCivil(y, m, 1) * 86_400_000
    }
}

extension RollupDelta.MinuteStats {
    /// Adds another minute's figures (an hour is its minutes merged): counts and sums add, the
    /// extremes widen, the later last value wins.
    fileprivate mutating func merge(_ other: Self) {
        count += other.count
        sum += other.sum
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
        if other.lastTs > lastTs {
            lastTs = other.lastTs
            last = other.last
        }
        consumption += other.consumption
        estimated += other.estimated
    }
}

extension PostgresStore: AdminStore {}
