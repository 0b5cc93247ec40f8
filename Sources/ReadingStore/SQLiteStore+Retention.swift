import Aggregation
import Foundation
import GRDB
import Telemetry

/// What one prune step removed, and whether anything older than the horizons is left.
public struct PruneProgress: Sendable, Equatable {
    public var readings = 0
    public var minutes = 0
    /// Nothing left to prune for these horizons.
    public var done = false

    public init() {}
}

/// Retention tiers: raw readings and minute rollups older than their horizons are pruned in
/// small steps (each a short transaction, so a commit never waits long for the write lock);
/// minutes become per-series hour rollups first, so every window of an hour and more, and the
/// scope totals, keep the figures the pruned rows fed.
extension SQLiteStore {
    /// The aggregator's window while a raw horizon exists: it books nothing before it.
    var horizonWindow: Range<Int64>? { rawHorizonMs.map { $0..<(Int64.max / 4) } }

    /// Removes at most `maxRows` rows older than the horizons, in one short transaction.
    ///
    /// Raw readings before `rawBefore` go, except what late readings after it need as
    /// neighbours: the two newest reads of each series before it (a register's pair and its
    /// look-back), and for devices with state series their messages within the staleness window
    /// before it (which decide how long a state was known). Minute rollups before `minuteBefore`
    /// are folded into `rollup_hour` and `state_hour` in the same transaction, then deleted.
    /// Horizons only move forward; `minuteBefore` must not be later than `rawBefore`.
    public func pruneStep(rawBefore: Int64?, minuteBefore: Int64?, maxRows: Int = 2000) throws -> PruneProgress {
        guard let aggregator else { throw StoreError("pruning needs the device registry (aggregation is not enabled)") }
        if let r = rawBefore, let m = minuteBefore, m > r {
            throw StoreError("minute rollups would be pruned past the raw readings: keep minutes at least as long as raw readings")
        }
        let plan = aggregator.plan
        var progress = PruneProgress()
        do {
            try db.write { db in
                var budget = maxRows
                var unfinished = false
                if let rawBefore {
                    try db.execute(
                        sql: """
                            INSERT INTO retention_mark(tier, before) VALUES ('raw', ?)
                            ON CONFLICT(tier) DO UPDATE SET before = max(before, excluded.before)
                            """, arguments: [rawBefore])
                    let horizon = try Int64.fetchOne(db, sql: "SELECT before FROM retention_mark WHERE tier = 'raw'") ?? rawBefore
                    rawHorizonMs = horizon
                    aggregator.window = horizonWindow
                    // The staleness window each series' device needs kept before the horizon.
                    var keepBack: [Int64: Int64] = [:]
                    for (i, sp) in plan.series.enumerated() where i < seriesIDs.count {
                        let stale = plan.deviceStateSeries[sp.device].compactMap { plan.series[Int($0)].staleAfterMs }.max() ?? 0
                        keepBack[seriesIDs[i]] = stale
                    }
                    let guardRead = try db.cachedStatement(
                        sql: """
                            SELECT ts FROM readings WHERE series_id = ? AND ts < ? ORDER BY ts DESC LIMIT 1 OFFSET 1
                            """)
                    let delete = try db.cachedStatement(
                        sql: """
                            DELETE FROM readings WHERE (series_id, ts) IN (SELECT series_id, ts FROM readings
                            WHERE series_id = ? AND ts < ? ORDER BY ts LIMIT ?)
                            """)
                    for sid in try Int64.fetchAll(db, sql: "SELECT id FROM series ORDER BY id") where budget > 0 {
                        guard var keepFrom = try Int64.fetchOne(guardRead, arguments: [sid, horizon]) else { continue }
                        keepFrom = min(keepFrom, horizon - (keepBack[sid] ?? 0))
                        // Readings that stand for their minutes write them first (`StoreSchema.v10`).
                        let reached = try Self.materialiseMinutes(
                            db, series: sid, before: keepFrom, budget: &budget, calendar: plan.calendar)
                        if reached < keepFrom { unfinished = true }
                        try delete.execute(arguments: [sid, min(keepFrom, reached), budget])
                        budget -= db.changesCount
                        progress.readings += db.changesCount
                    }
                }
                if let minuteBefore, budget > 0 {
                    try db.execute(
                        sql: """
                            INSERT INTO retention_mark(tier, before) VALUES ('minute', ?)
                            ON CONFLICT(tier) DO UPDATE SET before = max(before, excluded.before)
                            """, arguments: [minuteBefore])
                    let horizon = try Int64.fetchOne(db, sql: "SELECT before FROM retention_mark WHERE tier = 'minute'") ?? minuteBefore
                    for sid in try Int64.fetchAll(db, sql: "SELECT id FROM series ORDER BY id") where budget > 0 {
                        let reached = try Self.materialiseMinutes(
                            db, series: sid, before: horizon, budget: &budget, calendar: plan.calendar)
                        if reached < horizon { unfinished = true }
                        let moved = try Self.foldMinutes(
                            db, series: sid, before: min(horizon, plan.calendar.minuteStart(reached)), budget: budget,
                            calendar: plan.calendar)
                        budget -= moved
                        progress.minutes += moved
                    }
                    let machine = try db.cachedStatement(
                        sql: """
                            DELETE FROM machine_minute WHERE device = ? AND minute IN
                            (SELECT minute FROM machine_minute WHERE device = ? AND minute < ? ORDER BY minute LIMIT ?)
                            """)
                    for m in plan.machines where budget > 0 {
                        try machine.execute(arguments: [m.device, m.device, horizon, budget])
                        budget -= db.changesCount
                    }
                }
                progress.done = budget > 0 && !unfinished
            }
            // Freed pages go back to the file system a few at a time (a no-op without auto_vacuum).
            try db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA incremental_vacuum(256)") }
        } catch {
            throw StoreError(wrapping: error, context: "pruning failed")
        }
        return progress
    }

    /// Writes the rows of a series' minutes below `before` that its readings stand for (one
    /// reading, no use: not stored, see `StoreSchema.v10`), looking at up to `budget` readings
    /// and spending one per row written, and lowers the part its readings stand for
    /// (`minute_floor`, a minute start) accordingly. Returns how far it got: every reading
    /// before that time has its minute's row, so it may be pruned alone, and the minutes before
    /// its minute start may be folded.
    static func materialiseMinutes(
        _ db: Database, series sid: Int64, before: Int64, budget: inout Int, calendar: WindowCalendar
    ) throws -> Int64 {
        let floor = try Int64.fetchOne(db.cachedStatement(sql: "SELECT before FROM minute_floor WHERE series_id = ?"), arguments: [sid])
        if let floor, floor >= before { return before }
        guard budget > 0 else { return floor ?? Int64.min }
        let limit = budget
        let readings = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT ts, value FROM readings WHERE series_id = ? AND ts >= ? AND ts < ?
                    AND value IS NOT NULL AND state_code IS NULL AND error_code IS NULL ORDER BY ts LIMIT ?
                    """), arguments: [sid, floor ?? Int64.min, before, limit])
        // A minute holding more than one reading has its row already: OR IGNORE keeps it.
        let insert = try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO rollup_minute(series_id, minute, n, sum, last_ms, consumption, estimated)
                VALUES (?, ?, 1, ?, ?, 0, 0)
                """)
        for r in readings {
            let ts: Int64 = r[0]
            let minute = calendar.minuteStart(ts)
            try insert.execute(arguments: [sid, minute, r[1] as Double, ts - minute])
            budget -= db.changesCount
        }
        // Looked at all: done up to `before`; else up to the end of the last minute looked at
        // (another reading in it means the minute has its row).
        let last: Int64? = readings.last?[0]
        let reached = readings.count < limit ? before : calendar.minuteStart(last ?? before) + WindowCalendar.minuteMs
        try db.cachedStatement(
            sql: """
                INSERT INTO minute_floor(series_id, before) VALUES (?, ?)
                ON CONFLICT(series_id) DO UPDATE SET before = max(before, excluded.before)
                """
        ).execute(arguments: [sid, calendar.minuteStart(reached)])
        return reached
    }

    /// Folds up to `budget` minute rows of a series before `before` into hour rows (numeric,
    /// then states) and deletes them; returns how many minute rows went.
    static func foldMinutes(_ db: Database, series: Int64, before: Int64, budget: Int, calendar: WindowCalendar) throws -> Int {
        var moved = 0
        let minutes = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT series_id, minute, \(minuteStats) FROM rollup_minute
                    WHERE series_id = ? AND minute < ? ORDER BY minute LIMIT ?
                    """), arguments: [series, before, budget])
        let hour = try db.cachedStatement(
            sql: """
                INSERT INTO rollup_hour(series_id, hour, n, sum, min, max, last_ts, last, consumption, estimated)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(series_id, hour) DO UPDATE SET \(statsMerge)
                """)
        let dropMinute = try db.cachedStatement(sql: "DELETE FROM rollup_minute WHERE series_id = ? AND minute = ?")
        for m in minutes {
            let minute: Int64 = m["minute"]
            try hour.execute(arguments: [
                m["series_id"], calendar.hourStart(minute), m["n"], m["sum"], m["min"], m["max"],
                m["last_ts"], m["last"], m["consumption"], m["estimated"],
            ])
            try dropMinute.execute(arguments: [m["series_id"], minute])
            moved += 1
        }
        let states = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT m.series_id, m.minute, m.state_code, w.word AS state, \(stateMs) AS ms
                    FROM state_minute m JOIN state_word w ON w.code = m.state_code
                    WHERE m.series_id = ? AND m.minute < ? ORDER BY m.minute LIMIT ?
                    """), arguments: [series, before, max(0, budget - moved)])
        let stateHour = try db.cachedStatement(
            sql: """
                INSERT INTO state_hour(series_id, hour, state, ms) VALUES (?, ?, ?, ?)
                ON CONFLICT(series_id, hour, state) DO UPDATE SET ms = ms + excluded.ms
                """)
        let dropState = try db.cachedStatement(sql: "DELETE FROM state_minute WHERE series_id = ? AND minute = ? AND state_code = ?")
        for s in states {
            let minute: Int64 = s["minute"]
            try stateHour.execute(arguments: [s["series_id"], calendar.hourStart(minute), s["state"], s["ms"]])
            try dropState.execute(arguments: [s["series_id"], minute, s["state_code"]])
            moved += 1
        }
        return moved
    }

    /// Quarantines readings older than the raw horizon, one row each, under the topic-less
    /// name `device/metric` (the store does not see topics); counted per reason like the rest.
    func quarantineBeyondRetention(_ readings: [Reading], horizon: Int64, receivedAtMs: Int64, db: Database) throws {
        let q = try db.cachedStatement(
            sql: """
                INSERT INTO quarantine(received_at, topic, reason, detail, payload, payload_bytes) VALUES (?, ?, ?, ?, ?, 0)
                """)
        for r in readings {
            let key = plantSeriesKey(r.series)
            try q.execute(arguments: [
                receivedAtMs, key, QuarantineReason.beyondRetention.rawValue,
                Self.beyondRetentionDetail(key, r.timestampMs, horizon: horizon), Data(),
            ])
        }
        try Self.bump(db, [("quarantined.\(QuarantineReason.beyondRetention.rawValue)", readings.count)])
    }

    /// Why a reading of `key` at `ts` was quarantined as older than the raw horizon.
    static func beyondRetentionDetail(_ key: String, _ ts: Int64, horizon: Int64) -> String {
        "reading of \(key) at \(Timestamp.formatRFC3339UTC(ts)) is older than the raw "
            + "retention horizon \(Timestamp.formatRFC3339UTC(horizon)): the neighbours it would be booked "
            + "against were pruned (retention.raw_days)"
    }

    /// Rewrites the file with incremental auto-vacuum on (an older database was created
    /// without it); takes an exclusive lock for as long as the copy takes.
    public func vacuum() throws {
        do {
            try db.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
                try db.execute(sql: "VACUUM")
            }
        } catch {
            throw StoreError(wrapping: error, context: "VACUUM failed")
        }
    }
}
