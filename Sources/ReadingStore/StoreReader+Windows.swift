import GRDB
public import Telemetry

extension StoreReader {
    /// The minute-rollup use of each series over `[from, to)` (one indexed range read per
    /// series): what a window's ragged edges add between its stored hours.
    public func minuteUse(_ series: [SeriesKey], from: Int64, to: Int64) throws -> [SeriesKey: SeriesUse] {
        guard from < to, !series.isEmpty else { return [:] }
        return try db.read { db in
            let statement = try db.cachedStatement(
                sql: """
                    SELECT COALESCE(SUM(consumption), 0), COALESCE(SUM(estimated), 0) FROM rollup_minute
                    WHERE series_id = (SELECT id FROM series WHERE device = ? AND metric = ?) AND minute >= ? AND minute < ?
                    """)
            var out: [SeriesKey: SeriesUse] = [:]
            for key in Set(series) {
                guard let row = try Row.fetchOne(statement, arguments: [key.device, key.metric, from, to]) else { continue }
                out[key] = SeriesUse(consumption: row[0], estimated: row[1])
            }
            return out
        }
    }

    /// The machine minutes of `devices` over `[from, to)`, summed.
    public func machineTime(devices: [String], from: Int64, to: Int64) throws -> MachineTime {
        guard from < to, !devices.isEmpty else { return MachineTime() }
        return try db.read { db in
            let statement = try db.cachedStatement(
                sql: """
                    SELECT COALESCE(SUM(producing_ms), 0), COALESCE(SUM(nc_producing_ms), 0), COALESCE(SUM(unknown_ms), 0)
                    FROM machine_minute WHERE device = ? AND minute >= ? AND minute < ?
                    """)
            var out = MachineTime()
            for device in Set(devices) {
                guard let row = try Row.fetchOne(statement, arguments: [device, from, to]) else { continue }
                out.producingMs += row[0]
                out.ncProducingMs += row[1]
                out.unknownMs += row[2]
            }
            return out
        }
    }

    /// Minute rollups (and machine minutes) hold nothing before this time: retention folded them
    /// into hours. Nil when nothing was pruned.
    public func minuteHorizon() throws -> Int64? {
        try db.read { db in try Int64.fetchOne(db, sql: "SELECT before FROM retention_mark WHERE tier = 'minute'") }
    }
}
