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

    /// A minute row's columns as they mean (the row is stored compact, see `StoreSchema.v9`):
    /// one reading's min, max and last are its sum, and `last_ts` is absolute again. Readers
    /// read the view `minute_rollup` (`StoreSchema.v10`), which decodes the rows alike and adds
    /// the minutes whose one reading stands for them; retention reads rows below the floor,
    /// where every minute is a row, with this.
    static let minuteStats = """
        n, sum, iif(n = 1, sum, min) AS min, iif(n = 1, sum, max) AS max, minute + last_ms AS last_ts,
        iif(n = 1, sum, last) AS last, consumption, estimated
        """

    /// A state minute's time in the state (NULL is stored for the whole minute).
    static let stateMs = "ifnull(ms, 60000)"

    /// How a compact minute row takes in another: as `statsMerge`, with one reading's min, max
    /// and last read from (and left NULL for) its sum, and the last time in ms after the minute.
    static let minuteMerge: String = {
        let oldMin = "iif(n = 1, sum, min)"
        let oldMax = "iif(n = 1, sum, max)"
        let oldLast = "iif(n = 1, sum, last)"
        let newMin = "iif(excluded.n = 1, excluded.sum, excluded.min)"
        let newMax = "iif(excluded.n = 1, excluded.sum, excluded.max)"
        let newLast = "iif(excluded.n = 1, excluded.sum, excluded.last)"
        let one = "n + excluded.n = 1"
        let later = "excluded.last_ms IS NOT NULL AND (last_ms IS NULL OR excluded.last_ms > last_ms)"
        return """
            n = n + excluded.n, sum = sum + excluded.sum,
            min = CASE WHEN \(one) THEN NULL WHEN \(newMin) IS NOT NULL AND (\(oldMin) IS NULL OR \(newMin) < \(oldMin)) THEN \(newMin) ELSE \(oldMin) END,
            max = CASE WHEN \(one) THEN NULL WHEN \(newMax) IS NOT NULL AND (\(oldMax) IS NULL OR \(newMax) > \(oldMax)) THEN \(newMax) ELSE \(oldMax) END,
            last = CASE WHEN \(one) THEN NULL WHEN \(later) THEN \(newLast) ELSE \(oldLast) END,
            last_ms = CASE WHEN \(later) THEN excluded.last_ms ELSE last_ms END,
            consumption = consumption + excluded.consumption,
            estimated = estimated + excluded.estimated
            """
    }()

    /// The code of a state word in `state_word`, added on first use (inside `db`'s transaction).
    func stateCode(_ word: String, db: Database) throws -> Int64 {
        if let code = stateCodes[word] { return code }
        var code = try Int64.fetchOne(db.cachedStatement(sql: "SELECT code FROM state_word WHERE word = ?"), arguments: [word])
        if code == nil {
            try db.cachedStatement(sql: "INSERT INTO state_word(word) VALUES (?)").execute(arguments: [word])
            code = db.lastInsertedRowID
        }
        stateCodes[word] = code
        return code ?? 0
    }

    /// Writes one batch's rollup changes, computed by the aggregator.
    static func apply(
        _ delta: RollupDelta, plan: AggregationPlan, seriesIDs: [Int64], db: Database, stateCode: (String) throws -> Int64
    ) throws {
        let minute = try db.cachedStatement(
            sql: """
                INSERT INTO rollup_minute(series_id, minute, n, sum, min, max, last_ms, last, consumption, estimated)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(series_id, minute) DO UPDATE SET \(minuteMerge)
                """)
        func add(_ sid: Int64, _ start: Int64, _ m: RollupDelta.MinuteStats) throws {
            let has = m.count > 0
            let full = m.count > 1  // one reading: min, max and last are its sum
            try minute.execute(arguments: [
                sid, start, m.count, m.sum, full ? m.min : nil, full ? m.max : nil, has ? m.lastTs - start : nil,
                full ? m.last : nil, m.consumption, m.estimated,
            ])
        }
        // -1 when the minute has its row (or lies below the series' floor, where every minute is
        // one); otherwise how many numeric readings it holds now (see `StoreSchema.v10`). One
        // statement and one integer: it runs for nearly every reading.
        let look = try db.cachedStatement(
            sql: """
                SELECT CASE
                    WHEN EXISTS (SELECT 1 FROM rollup_minute WHERE series_id = ?1 AND minute = ?2) THEN -1
                    WHEN ?2 < ifnull((SELECT before FROM minute_floor WHERE series_id = ?1), ?2) THEN -1
                    ELSE (SELECT count(*) FROM readings WHERE series_id = ?1 AND ts >= ?2 AND ts < ?2 + 60000
                        AND value IS NOT NULL AND state_code IS NULL AND error_code IS NULL)
                    END
                """)
        let readings = try db.cachedStatement(
            sql: """
                SELECT ts, value FROM readings WHERE series_id = ? AND ts >= ? AND ts < ?
                AND value IS NOT NULL AND state_code IS NULL AND error_code IS NULL ORDER BY ts
                """)
        for (key, m) in delta.minutes {
            let sid = seriesIDs[Int(key.series)]
            let held: Int
            if delta.newMinutes.contains(key) {
                held = m.count  // the in-order case: known without a look
            } else {
                look.setUncheckedArguments([sid, key.minute])
                held = try Int.fetchOne(look) ?? -1
            }
            // A new minute (the batch's readings are stored already): one reading and no use
            // stays implicit, its reading standing for it.
            if held == m.count, m.count == 1, m.consumption == 0, m.estimated == 0 { continue }
            guard held >= 0, held != m.count else {
                try add(sid, key.minute, m)
                continue
            }
            // Readings stored before this batch stand for the minute: its row from them first.
            let inMinute = try Row.fetchAll(readings, arguments: [sid, key.minute, key.minute + 60_000]).map {
                (ts: $0[0] as Int64, value: $0[1] as Double)
            }
            let use = RollupDelta.MinuteStats(consumption: m.consumption, estimated: m.estimated)
            if m.count == 1, inMinute.count == 2, let before = inMinute.first(where: { $0.ts != m.lastTs }) {
                // The common late case: the row of the one reading before, then this batch's.
                try add(sid, key.minute, .one(before.ts, before.value))
                try add(sid, key.minute, m)
            } else {
                // Otherwise the row from the minute's readings in time order, then the use.
                for r in inMinute { try add(sid, key.minute, .one(r.ts, r.value)) }
                try add(sid, key.minute, use)
            }
        }
        let state = try db.cachedStatement(
            sql: """
                INSERT INTO state_minute(series_id, minute, state_code, ms) VALUES (?, ?, ?, nullif(?, 60000))
                ON CONFLICT(series_id, minute, state_code) DO UPDATE SET ms = nullif(ifnull(ms, 60000) + ifnull(excluded.ms, 60000), 60000)
                """)
        for (key, ms) in delta.states where ms != 0 {
            try state.execute(arguments: [seriesIDs[Int(key.series)], key.minute, stateCode(key.state), ms])
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

    /// A series' readings with their state words, for the queries below.
    private static let pointsFrom = """
        SELECT r.ts, r.value, w.word AS state FROM readings r LEFT JOIN state_word w ON w.code = r.state_code
        """

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
                        \(Self.pointsFrom)
                        WHERE r.series_id = ? AND r.ts < ? AND r.error_code IS NULL ORDER BY r.ts DESC LIMIT ?
                        """), arguments: [sid, ts, before]
            ).map(Self.point).reversed()
        }
        if after > 0 {
            a = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        \(Self.pointsFrom)
                        WHERE r.series_id = ? AND r.ts > ? AND r.error_code IS NULL ORDER BY r.ts ASC LIMIT ?
                        """), arguments: [sid, ts, after]
            ).map(Self.point)
        }
        return (b, a)
    }

    func points(_ series: SeriesIndex, from: Int64, to: Int64) throws -> [SeriesPoint] {
        try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    \(Self.pointsFrom)
                    WHERE r.series_id = ? AND r.ts >= ? AND r.ts < ? AND r.error_code IS NULL ORDER BY r.ts
                    """), arguments: [seriesIDs[Int(series)], from, to]
        ).map(Self.point)
    }

    func messageTimes(device: Int, from: Int64, to: Int64) throws -> [Int64] {
        let statement = try db.cachedStatement(
            sql: """
                SELECT ts FROM readings WHERE series_id = ? AND ts >= ? AND ts <= ? ORDER BY ts
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

extension RollupDelta.MinuteStats {
    /// The statistics of one reading at `ts`.
    fileprivate static func one(_ ts: Int64, _ value: Double) -> Self {
        var m = Self()
        m.count = 1
        m.sum = value
        m.min = value
        m.max = value
        m.lastTs = ts
        m.last = value
        return m
    }

    /// Use and estimate alone, no reading.
    fileprivate init(consumption: Double, estimated: Double) {
        self.init()
        self.consumption = consumption
        self.estimated = estimated
    }
}
