import Aggregation
import GRDB
import PlantRegistry
import Telemetry

/// Rollup maintenance: neighbour look-ups for late readings, and writing a batch's rollup
/// changes in the transaction that stores its readings, so raw rows and rollups never disagree.
extension SQLiteStore {
    /// The stored readings of a series just before and just after `ts` (gateway errors skipped).
    static func neighbours(_ db: Database, series sid: Int64, ts: Int64) throws -> (before: SeriesPoint?, after: SeriesPoint?) {
        func point(_ row: Row?) -> SeriesPoint? {
            row.map { SeriesPoint(ts: $0["ts"], value: $0["value"] ?? 0, state: $0["state"]) }
        }
        let before = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT ts, value, state FROM readings INDEXED BY readings_by_series
            WHERE series_id = ? AND ts < ? AND error_code IS NULL ORDER BY ts DESC LIMIT 1
            """), arguments: [sid, ts])
        let after = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT ts, value, state FROM readings INDEXED BY readings_by_series
            WHERE series_id = ? AND ts > ? AND error_code IS NULL ORDER BY ts ASC LIMIT 1
            """), arguments: [sid, ts])
        return (point(before), point(after))
    }

    /// Writes one batch's rollup changes; machine minutes first, since they add scope changes.
    static func apply(_ delta: RollupDelta, plan: AggregationPlan, seriesIDs: [Int64], db: Database) throws {
        var delta = delta
        let minute = try db.cachedStatement(sql: """
            INSERT INTO rollup_minute(series_id, minute, n, sum, min, max, last_ts, last, consumption)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(series_id, minute) DO UPDATE SET
                n = n + excluded.n, sum = sum + excluded.sum,
                min = CASE WHEN excluded.min IS NOT NULL AND (min IS NULL OR excluded.min < min) THEN excluded.min ELSE min END,
                max = CASE WHEN excluded.max IS NOT NULL AND (max IS NULL OR excluded.max > max) THEN excluded.max ELSE max END,
                last = CASE WHEN excluded.last_ts IS NOT NULL AND (last_ts IS NULL OR excluded.last_ts > last_ts) THEN excluded.last ELSE last END,
                last_ts = CASE WHEN excluded.last_ts IS NOT NULL AND (last_ts IS NULL OR excluded.last_ts > last_ts) THEN excluded.last_ts ELSE last_ts END,
                consumption = consumption + excluded.consumption
            """)
        for (key, m) in delta.minutes {
            let has = m.count > 0
            try minute.execute(arguments: [seriesIDs[Int(key.series)], key.minute, m.count, m.sum,
                                            has ? m.min : nil, has ? m.max : nil, has ? m.lastTs : nil,
                                            has ? m.last : nil, m.consumption])
        }
        let state = try db.cachedStatement(sql: """
            INSERT INTO state_minute(series_id, minute, state, ms) VALUES (?, ?, ?, ?)
            ON CONFLICT(series_id, minute, state) DO UPDATE SET ms = ms + excluded.ms
            """)
        for (key, ms) in delta.states where ms != 0 {
            try state.execute(arguments: [seriesIDs[Int(key.series)], key.minute, key.state, ms])
        }
        try recomputeMachineMinutes(&delta, plan: plan, seriesIDs: seriesIDs, db: db)
        let scope = try db.cachedStatement(sql: """
            INSERT INTO scope_rollup(scope, quantity, period, start, value) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(scope, period, start, quantity) DO UPDATE SET value = value + excluded.value
            """)
        for (key, value) in delta.scopes where value != 0 {
            try scope.execute(arguments: [key.scope.key, key.quantity, key.period.rawValue, key.start, value])
        }
    }

    /// Producing time, and producing time under NC/automatic control, of key-process machines
    /// in the minutes a batch touched; their changes go to the machines' scopes.
    ///
    /// Within a minute the NC share of producing time is the NC share of the control-mode time
    /// (exact when state and mode change on the same readings, as gateways send them). A
    /// machine without a control-mode metric counts as NC when it is NC-capable. Producing
    /// time whose mode is unknown counts as producing, not as NC.
    static func recomputeMachineMinutes(_ delta: inout RollupDelta, plan: AggregationPlan, seriesIDs: [Int64],
                                        db: Database) throws {
        guard !delta.machineMinutes.isEmpty else { return }
        // Three range reads per machine and batch, not three reads per machine-minute.
        let states = try db.cachedStatement(sql: """
            SELECT minute, state, ms FROM state_minute WHERE series_id = ? AND minute BETWEEN ? AND ?
            """)
        let old = try db.cachedStatement(sql: """
            SELECT minute, producing_ms, nc_producing_ms FROM machine_minute WHERE device = ? AND minute BETWEEN ? AND ?
            """)
        let save = try db.cachedStatement(sql: """
            INSERT INTO machine_minute(device, minute, producing_ms, nc_producing_ms) VALUES (?, ?, ?, ?)
            ON CONFLICT(device, minute) DO UPDATE SET producing_ms = excluded.producing_ms, nc_producing_ms = excluded.nc_producing_ms
            """)
        let byMachine = Dictionary(grouping: delta.machineMinutes, by: \.machine)
        for (index, touched) in byMachine {
            let machine = plan.machines[index]
            let minutes = touched.map(\.minute)
            let lo = minutes.min()!, hi = minutes.max()!
            var producing: [Int64: Int64] = [:]
            for row in try Row.fetchAll(states, arguments: [seriesIDs[Int(machine.stateSeries)], lo, hi])
            where row["state"] as String == "producing" { producing[row["minute"], default: 0] += row["ms"] }
            var modes: [Int64: (nc: Int64, manual: Int64)] = [:]
            if let mode = machine.modeSeries {
                for row in try Row.fetchAll(states, arguments: [seriesIDs[Int(mode)], lo, hi]) {
                    let ms: Int64 = row["ms"]
                    var m = modes[row["minute"]] ?? (0, 0)
                    if row["state"] as String == "nc" { m.nc += ms } else { m.manual += ms }
                    modes[row["minute"]] = m
                }
            }
            var before: [Int64: (Int64, Double)] = [:]
            for row in try Row.fetchAll(old, arguments: [machine.device, lo, hi]) {
                before[row["minute"]] = (row["producing_ms"], row["nc_producing_ms"])
            }
            for minute in minutes {
                let p = producing[minute] ?? 0
                var nc = machine.ncCapable ? Double(p) : 0
                if machine.modeSeries != nil {
                    let m = modes[minute] ?? (0, 0)
                    nc = m.nc + m.manual > 0 ? Double(p) * Double(m.nc) / Double(m.nc + m.manual) : 0
                }
                let (pBefore, ncBefore) = before[minute] ?? (0, 0)
                guard p != pBefore || nc != ncBefore else { continue }
                try save.execute(arguments: [machine.device, minute, p, nc])
                for scope in machine.scopes {
                    delta.addScope(scope, AggregationPlan.producingMs, at: minute, Double(p - pBefore), calendar: plan.calendar)
                    delta.addScope(scope, AggregationPlan.ncProducingMs, at: minute, nc - ncBefore, calendar: plan.calendar)
                }
            }
        }
    }
}

