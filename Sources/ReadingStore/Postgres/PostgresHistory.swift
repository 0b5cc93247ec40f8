import Aggregation
import PostgresClient
import Telemetry

/// The stored readings as the aggregator sees them on PostgreSQL, read inside the batch's
/// transaction (after its device locks).
///
/// The batch's readings are inserted in one statement before they are booked one by one, so
/// the ones not booked yet (`pending`) are hidden here: the aggregator sees what SQLite's
/// insert-then-book order shows it, and books each pair exactly once.
final class PostgresHistory: ReadingHistory {
    let db: PostgresConnection
    let seriesIDs: [Int64]
    let deviceSeriesIDs: [[Int64]]
    /// The site of each device id of the registry (machine minutes are kept per site).
    let deviceSite: [String: String]
    var pending: Set<ReadingIdentity>
    /// How many pending readings each series has (to widen a LIMIT past the hidden rows).
    private var pendingCount: [Int64: Int] = [:]

    init(
        db: PostgresConnection, seriesIDs: [Int64], deviceSeriesIDs: [[Int64]], deviceSite: [String: String],
        pending: Set<ReadingIdentity>
    ) {
        self.db = db
        self.deviceSite = deviceSite
        self.seriesIDs = seriesIDs
        self.deviceSeriesIDs = deviceSeriesIDs
        self.pending = pending
        for p in pending { pendingCount[p.series, default: 0] += 1 }
    }

    private func visible(_ sid: Int64, _ ts: Int64) -> Bool {
        pendingCount[sid] == nil || !pending.contains(ReadingIdentity(series: sid, ts: ts))
    }

    private func points(_ rows: PostgresRows, sid: Int64) -> [SeriesPoint] {
        var out: [SeriesPoint] = []
        out.reserveCapacity(rows.count)
        for i in 0..<rows.count {
            let ts = rows.int(i, 0) ?? 0
            guard visible(sid, ts) else { continue }
            out.append(SeriesPoint(ts: ts, value: rows.double(i, 1) ?? 0, state: rows.string(i, 2)))
        }
        return out
    }

    func neighbours(_ series: SeriesIndex, around ts: Int64, before: Int, after: Int) throws
        -> (before: [SeriesPoint], after: [SeriesPoint])
    {
        let sid = seriesIDs[Int(series)]
        let extra = pendingCount[sid] ?? 0
        var b: [SeriesPoint] = []
        var a: [SeriesPoint] = []
        if before > 0 {
            let rows = try db.execute(
                """
                SELECT ts, value, state FROM readings WHERE series_id = $1 AND ts < $2 AND error_code IS NULL
                ORDER BY ts DESC LIMIT $3
                """, [.int(sid), .int(ts), .int(Int64(before + extra))])
            b = Array(points(rows, sid: sid).prefix(before).reversed())
        }
        if after > 0 {
            let rows = try db.execute(
                """
                SELECT ts, value, state FROM readings WHERE series_id = $1 AND ts > $2 AND error_code IS NULL
                ORDER BY ts ASC LIMIT $3
                """, [.int(sid), .int(ts), .int(Int64(after + extra))])
            a = Array(points(rows, sid: sid).prefix(after))
        }
        return (b, a)
    }

    func points(_ series: SeriesIndex, from: Int64, to: Int64) throws -> [SeriesPoint] {
        let sid = seriesIDs[Int(series)]
        let rows = try db.execute(
            """
            SELECT ts, value, state FROM readings WHERE series_id = $1 AND ts >= $2 AND ts < $3 AND error_code IS NULL ORDER BY ts
            """, [.int(sid), .int(from), .int(to)])
        return points(rows, sid: sid)
    }

    func messageTimes(device: Int, from: Int64, to: Int64) throws -> [Int64] {
        let sids = deviceSeriesIDs[device]
        guard !sids.isEmpty else { return [] }
        let rows = try db.execute(
            "SELECT series_id, ts FROM readings WHERE series_id = ANY($1::bigint[]) AND ts >= $2 AND ts <= $3 ORDER BY ts",
            [PostgresArray.literal(sids), .int(from), .int(to)])
        var times: [Int64] = []
        for i in 0..<rows.count {
            let sid = rows.int(i, 0) ?? 0
            let ts = rows.int(i, 1) ?? 0
            if visible(sid, ts) { times.append(ts) }
        }
        return times
    }

    func machineMinutes(device: String, from: Int64, to: Int64) throws -> [Int64: RollupDelta.MachineMinuteValue] {
        let rows = try db.execute(
            """
            SELECT minute, producing_ms, nc_producing_ms, unknown_ms FROM machine_minute
            WHERE site = $1 AND device = $2 AND minute BETWEEN $3 AND $4
            """, [.text(deviceSite[device] ?? ""), .text(device), .int(from), .int(to)])
        var out: [Int64: RollupDelta.MachineMinuteValue] = [:]
        for i in 0..<rows.count {
            out[rows.int(i, 0) ?? 0] = .init(
                producingMs: rows.int(i, 1) ?? 0, ncProducingMs: rows.double(i, 2) ?? 0, unknownMs: rows.int(i, 3) ?? 0)
        }
        return out
    }
}
