import Aggregation
import GRDB
import PlantRegistry
import Telemetry

/// Rollup maintenance: neighbour look-ups for late readings, and writing a batch's rollup
/// changes in the transaction that stores its readings, so raw rows and rollups never disagree.
extension SQLiteStore {
    /// How a row of statistics (minute or hour) takes in another: counts and sums add, min and
    /// max widen, the later `last` wins.
    static let statsMerge = """
        n = n + excluded.n, sum = sum + excluded.sum,
        min = CASE WHEN excluded.min IS NOT NULL AND (min IS NULL OR excluded.min < min) THEN excluded.min ELSE min END,
        max = CASE WHEN excluded.max IS NOT NULL AND (max IS NULL OR excluded.max > max) THEN excluded.max ELSE max END,
        last = CASE WHEN excluded.last_ts IS NOT NULL AND (last_ts IS NULL OR excluded.last_ts > last_ts) THEN excluded.last ELSE last END,
        last_ts = CASE WHEN excluded.last_ts IS NOT NULL AND (last_ts IS NULL OR excluded.last_ts > last_ts) THEN excluded.last_ts ELSE last_ts END,
        consumption = consumption + excluded.consumption,
        estimated = estimated + excluded.estimated
        """

    /// Writes one batch's rollup changes, computed by the aggregator.
    static func apply(_ delta: RollupDelta, plan: AggregationPlan, seriesIDs: [Int64], db: Database) throws {
        let minute = try db.cachedStatement(
            sql: """
                INSERT INTO rollup_minute(series_id, minute, n, sum, min, max, last_ts, last, consumption, estimated)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(series_id, minute) DO UPDATE SET \(statsMerge)
                """)
        for (key, m) in delta.minutes {
            let has = m.count > 0
            try minute.execute(arguments: [
                seriesIDs[Int(key.series)], key.minute, m.count, m.sum,
                has ? m.min : nil, has ? m.max : nil, has ? m.lastTs : nil,
                has ? m.last : nil, m.consumption, m.estimated,
            ])
        }
        let state = try db.cachedStatement(
            sql: """
                INSERT INTO state_minute(series_id, minute, state, ms) VALUES (?, ?, ?, ?)
                ON CONFLICT(series_id, minute, state) DO UPDATE SET ms = ms + excluded.ms
                """)
        for (key, ms) in delta.states where ms != 0 {
            try state.execute(arguments: [seriesIDs[Int(key.series)], key.minute, key.state, ms])
        }
        let machine = try db.cachedStatement(
            sql: """
                INSERT INTO machine_minute(device, minute, producing_ms, nc_producing_ms, unknown_ms) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(device, minute) DO UPDATE SET producing_ms = excluded.producing_ms,
                    nc_producing_ms = excluded.nc_producing_ms, unknown_ms = excluded.unknown_ms
                """)
        let noMachine = try db.cachedStatement(sql: "DELETE FROM machine_minute WHERE device = ? AND minute = ?")
        for (key, v) in delta.machineRows {
            let device = plan.machines[key.machine].device
            if v.isZero {
                try noMachine.execute(arguments: [device, key.minute])
            } else {
                try machine.execute(arguments: [device, key.minute, v.producingMs, v.ncProducingMs, v.unknownMs])
            }
        }
        let quality = try db.cachedStatement(
            sql: """
                INSERT INTO quality_event(series_id, kind, start_ts, end_ts, n, amount) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(series_id, kind, start_ts, end_ts) DO UPDATE SET n = n + excluded.n, amount = amount + excluded.amount
                """)
        let emptyQuality = try db.cachedStatement(
            sql: "DELETE FROM quality_event WHERE series_id = ? AND kind = ? AND start_ts = ? AND end_ts = ? AND n = 0")
        for (key, change) in delta.quality where change.count != 0 || change.amount != 0 {
            let args: StatementArguments = [seriesIDs[Int(key.series)], key.kind.rawValue, key.start, key.end]
            try quality.execute(arguments: args + [change.count, change.amount])
            try emptyQuality.execute(arguments: args)
        }
        let scope = try db.cachedStatement(
            sql: """
                INSERT INTO scope_rollup(scope, quantity, period, start, value) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(scope, period, start, quantity) DO UPDATE SET value = value + excluded.value
                """)
        for (key, value) in delta.scopes where value != 0 {
            try scope.execute(arguments: [key.scope.key, key.quantity, key.period.rawValue, key.start, value])
        }
    }
}

/// The stored readings as the aggregator sees them, read inside the batch's transaction.
struct SQLiteHistory: ReadingHistory {
    let db: Database
    let seriesIDs: [Int64]
    /// The store's series ids of each device (index in the registry).
    let deviceSeriesIDs: [[Int64]]

    private static func point(_ row: Row) -> SeriesPoint {
        SeriesPoint(ts: row["ts"], value: row["value"] ?? 0, state: row["state"])
    }

    func neighbours(_ series: SeriesIndex, around ts: Int64, before: Int, after: Int) throws
        -> (before: [SeriesPoint], after: [SeriesPoint])
    {
        let sid = seriesIDs[Int(series)]
        var b: [SeriesPoint] = []
        var a: [SeriesPoint] = []
        if before > 0 {
            b = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT ts, value, state FROM readings INDEXED BY readings_by_series
                        WHERE series_id = ? AND ts < ? AND error_code IS NULL ORDER BY ts DESC LIMIT ?
                        """), arguments: [sid, ts, before]
            ).map(Self.point).reversed()
        }
        if after > 0 {
            a = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT ts, value, state FROM readings INDEXED BY readings_by_series
                        WHERE series_id = ? AND ts > ? AND error_code IS NULL ORDER BY ts ASC LIMIT ?
                        """), arguments: [sid, ts, after]
            ).map(Self.point)
        }
        return (b, a)
    }

    func points(_ series: SeriesIndex, from: Int64, to: Int64) throws -> [SeriesPoint] {
        try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT ts, value, state FROM readings INDEXED BY readings_by_series
                    WHERE series_id = ? AND ts >= ? AND ts < ? AND error_code IS NULL ORDER BY ts
                    """), arguments: [seriesIDs[Int(series)], from, to]
        ).map(Self.point)
    }

    func messageTimes(device: Int, from: Int64, to: Int64) throws -> [Int64] {
        let statement = try db.cachedStatement(
            sql: """
                SELECT ts FROM readings INDEXED BY readings_by_series WHERE series_id = ? AND ts >= ? AND ts <= ? ORDER BY ts
                """)
        var times: [Int64] = []
        for sid in deviceSeriesIDs[device] { times += try Int64.fetchAll(statement, arguments: [sid, from, to]) }
        return times.sorted()
    }

    func machineMinutes(device: String, from: Int64, to: Int64) throws -> [Int64: RollupDelta.MachineMinuteValue] {
        var out: [Int64: RollupDelta.MachineMinuteValue] = [:]
        for row in try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT minute, producing_ms, nc_producing_ms, unknown_ms FROM machine_minute WHERE device = ? AND minute BETWEEN ? AND ?
                    """), arguments: [device, from, to])
        {
            out[row["minute"]] = .init(
                producingMs: row["producing_ms"], ncProducingMs: row["nc_producing_ms"], unknownMs: row["unknown_ms"])
        }
        return out
    }
}
