import Aggregation
import Foundation
import GRDB
public import Telemetry

/// What `zhizao status` reports, read from the database while the daemon runs.
public struct IngestStatus: Codable, Sendable {
    public struct DeviceSeen: Codable, Sendable {
        public var device: String
        /// Newest event time stored for the device (ms since epoch).
        public var lastReadingTs: Int64
        /// When its newest reading was committed (ms since epoch).
        public var lastReceivedAt: Int64

        enum CodingKeys: String, CodingKey {
            case device
            case lastReadingTs = "last_reading_ts"
            case lastReceivedAt = "last_received_at"
        }
    }

    public var database: String
    public var readingsStored: Int64
    public var readingsDuplicate: Int64
    public var messagesReceived: Int64
    public var messagesQuarantined: Int64
    public var quarantinedByReason: [String: Int64]
    /// Readings committed per second over the last 10 seconds.
    public var ingestRatePerSecond: Double
    public var devices: [DeviceSeen]

    enum CodingKeys: String, CodingKey {
        case database
        case readingsStored = "readings_stored"
        case readingsDuplicate = "readings_duplicate"
        case messagesReceived = "messages_received"
        case messagesQuarantined = "messages_quarantined"
        case quarantinedByReason = "quarantined_by_reason"
        case ingestRatePerSecond = "ingest_rate_per_s"
        case devices
    }
}

/// Read-only access for the CLI: never blocks or changes the running daemon's database.
public final class StoreReader {
    let db: DatabaseQueue
    public let path: String

    /// Opens an existing database read-only.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError("no database at \(path): start `zhizao run` first, or pass --db PATH")
        }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(5)
        do { db = try DatabaseQueue(path: path, configuration: config) } catch {
            throw StoreError("cannot open \(path) read-only: \(error)")
        }
        self.path = path
    }

    /// Counters, quarantine by reason, per-device last seen and the current rate.
    public func status(nowMs: Int64) throws -> IngestStatus {
        try db.read { db in
            var counters: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, value FROM ingest_counters") {
                counters[row["name"]] = row["value"]
            }
            var byReason: [String: Int64] = [:]
            for (name, v) in counters where name.hasPrefix("quarantined.") {
                byReason[String(name.dropFirst("quarantined.".count))] = v
            }
            let since = nowMs / 1000 - 10
            let recent = try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(readings), 0) FROM ingest_seconds WHERE second >= ?",
                                            arguments: [since]) ?? 0
            let devices = try Row.fetchAll(db, sql: "SELECT device, last_reading_ts, last_received_at FROM device_last_seen ORDER BY device")
                .map { IngestStatus.DeviceSeen(device: $0["device"], lastReadingTs: $0["last_reading_ts"], lastReceivedAt: $0["last_received_at"]) }
            return IngestStatus(database: path, readingsStored: counters["readings_stored"] ?? 0,
                                readingsDuplicate: counters["readings_duplicate"] ?? 0,
                                messagesReceived: counters["messages_received"] ?? 0,
                                messagesQuarantined: counters["messages_quarantined"] ?? 0,
                                quarantinedByReason: byReason, ingestRatePerSecond: Double(recent) / 10, devices: devices)
        }
    }

    /// A stored reading with its identity spelled out.
    public struct StoredReading: Sendable, Equatable {
        public var device: String
        public var metric: String
        public var timestampMs: Int64
        public var value: ReadingValue
        public var seq: Int64?
    }

    /// Readings in time order, optionally for one device (used by `zhizao readings` and tests).
    public func readings(device: String? = nil, limit: Int = 1000) throws -> [StoredReading] {
        try db.read { db in
            var sql = """
                SELECT s.device, s.metric, r.ts, r.value, r.state, r.error_code, r.seq
                FROM readings r JOIN series s ON s.id = r.series_id
                """
            var args: StatementArguments = []
            if let device { sql += " WHERE s.device = ?"; args += [device] }
            sql += " ORDER BY r.ts DESC, s.device DESC, s.metric DESC LIMIT ?"
            args += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: args).reversed().map { row in
                let value: ReadingValue
                if let v: Double = row["value"] { value = .number(v) }
                else if let s: String = row["state"] { value = .state(s) }
                else { value = .error(row["error_code"] ?? 0) }
                return StoredReading(device: row["device"], metric: row["metric"], timestampMs: row["ts"], value: value, seq: row["seq"])
            }
        }
    }

    /// Quarantined messages, newest first.
    public struct QuarantineEntry: Sendable {
        public var receivedAtMs: Int64
        public var topic: String
        public var reason: String
        public var detail: String
        public var payloadBytes: Int
    }

    public func quarantine(limit: Int = 100) throws -> [QuarantineEntry] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT received_at, topic, reason, detail, payload_bytes FROM quarantine ORDER BY id DESC LIMIT ?",
                             arguments: [limit]).map {
                QuarantineEntry(receivedAtMs: $0["received_at"], topic: $0["topic"], reason: $0["reason"],
                                detail: $0["detail"], payloadBytes: $0["payload_bytes"])
            }
        }
    }
}

extension StoreReader {
    /// A scope's stored totals per local hour or day in [from, to): `start` → quantity → value.
    public func scopeTotals(scope: String, period: String, from: Int64, to: Int64) throws -> [(start: Int64, totals: [String: Double])] {
        try db.read { db in
            var out: [(start: Int64, totals: [String: Double])] = []
            for row in try Row.fetchAll(db, sql: """
                SELECT start, quantity, value FROM scope_rollup
                WHERE scope = ? AND period = ? AND start >= ? AND start < ? ORDER BY start
                """, arguments: [scope, period, from, to]) {
                let start: Int64 = row["start"]
                if out.last?.start != start { out.append((start, [:])) }
                out[out.count - 1].totals[row["quantity"]] = row["value"]
            }
            return out
        }
    }

    /// Value added recorded for a scope: local month start → yuan, for months in [from, to).
    public func valueAdded(scope: String, from: Int64, to: Int64) throws -> [Int64: Double] {
        try db.read { db in
            var out: [Int64: Double] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT month, yuan FROM value_added WHERE scope = ? AND month >= ? AND month < ?",
                                        arguments: [scope, from, to]) {
                out[row["month"]] = row["yuan"]
            }
            return out
        }
    }

    /// Every scope that has stored totals.
    public func scopes() throws -> [String] {
        try db.read { db in try String.fetchAll(db, sql: "SELECT DISTINCT scope FROM scope_rollup ORDER BY scope") }
    }

    /// A series' one-minute rollups in [from, to) (for `zhizao query` and tests).
    public struct MinuteRollup: Sendable, Equatable {
        public var minute: Int64
        public var count: Int
        public var sum: Double
        public var min: Double?
        public var max: Double?
        public var last: Double?
        public var consumption: Double
    }

    /// A series' rollups composed from its minutes into `every` windows in site time
    /// (15-minute, hour, day or month), for [from, to).
    public func rollups(device: String, metric: String, from: Int64, to: Int64, every: WindowCalendar.Every,
                        calendar: WindowCalendar) throws -> [MinuteRollup] {
        var out: [MinuteRollup] = []
        for m in try minuteRollups(device: device, metric: metric, from: from, to: to) {
            let start = calendar.windowStart(m.minute, every)
            if out.last?.minute == start {
                var w = out[out.count - 1]
                w.count += m.count
                w.sum += m.sum
                if let v = m.min { w.min = Swift.min(w.min ?? v, v) }
                if let v = m.max { w.max = Swift.max(w.max ?? v, v) }
                if m.last != nil { w.last = m.last }  // minutes come in time order
                w.consumption += m.consumption
                out[out.count - 1] = w
            } else {
                var w = m
                w.minute = start
                out.append(w)
            }
        }
        return out
    }

    /// Time in each state per `every` window, composed from the minutes: start → state → ms.
    public func stateWindows(device: String, metric: String, from: Int64, to: Int64, every: WindowCalendar.Every,
                             calendar: WindowCalendar) throws -> [Int64: [String: Int64]] {
        var out: [Int64: [String: Int64]] = [:]
        for (minute, states) in try stateMinutes(device: device, metric: metric, from: from, to: to) {
            out[calendar.windowStart(minute, every), default: [:]].merge(states, uniquingKeysWith: +)
        }
        return out
    }

    public func minuteRollups(device: String, metric: String, from: Int64, to: Int64) throws -> [MinuteRollup] {
        try db.read { db in
            try Row.fetchAll(db, sql: """
                SELECT minute, n, sum, min, max, last, consumption FROM rollup_minute
                WHERE series_id = (SELECT id FROM series WHERE device = ? AND metric = ?) AND minute >= ? AND minute < ?
                ORDER BY minute
                """, arguments: [device, metric, from, to]).map {
                MinuteRollup(minute: $0["minute"], count: $0["n"], sum: $0["sum"], min: $0["min"], max: $0["max"],
                             last: $0["last"], consumption: $0["consumption"])
            }
        }
    }

    /// Time in each state per minute of a state series in [from, to): minute → state → ms.
    public func stateMinutes(device: String, metric: String, from: Int64, to: Int64) throws -> [Int64: [String: Int64]] {
        try db.read { db in
            var out: [Int64: [String: Int64]] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT minute, state, ms FROM state_minute
                WHERE series_id = (SELECT id FROM series WHERE device = ? AND metric = ?) AND minute >= ? AND minute < ? AND ms != 0
                """, arguments: [device, metric, from, to]) {
                out[row["minute"], default: [:]][row["state"]] = row["ms"]
            }
            return out
        }
    }
}
