import Aggregation
import Foundation
import GRDB
import Glibc

/// Free and total bytes of the file system holding a path (statvfs): what an unprivileged
/// writer such as the daemon can still use.
public struct FileSystemSpace: Sendable, Equatable {
    public var freeBytes: Int64
    public var totalBytes: Int64

    public init(freeBytes: Int64, totalBytes: Int64) {
        self.freeBytes = freeBytes
        self.totalBytes = totalBytes
    }

    /// The free share, 0...1.
    public var freeFraction: Double { totalBytes > 0 ? Double(freeBytes) / Double(totalBytes) : 1 }

    /// The file system of `path` (its folder when the file does not exist yet); nil if unreadable.
    public static func of(_ path: String) -> FileSystemSpace? {
        var s = statvfs()
        let target = FileManager.default.fileExists(atPath: path) ? path : (URL(fileURLWithPath: path).deletingLastPathComponent().path)
        guard statvfs(target, &s) == 0 else { return nil }
        return FileSystemSpace(freeBytes: Int64(s.f_bavail) * Int64(s.f_frsize), totalBytes: Int64(s.f_blocks) * Int64(s.f_frsize))
    }
}

/// Where the database's bytes go and how long the disk lasts at the current growth, for
/// `zhizao status`.
///
/// Growth is estimated, not measured over time: the readings stored with event times in the
/// last 24 hours (or since the oldest reading, when the database is younger, at least an hour)
/// scaled to a day, times the bytes one stored reading costs today all-in (the database's used
/// pages, rollups and indexes included, over the readings it holds). Pages freed by pruning are
/// reused before the file grows, so they count as free space.
public struct StorageReport: Codable, Sendable, Equatable {
    /// A table's own bytes and those of its indexes.
    public struct TableBytes: Codable, Sendable, Equatable {
        public var bytes: Int64
        public var indexBytes: Int64

        enum CodingKeys: String, CodingKey {
            case bytes
            case indexBytes = "index_bytes"
        }
    }

    /// The database file and its WAL on disk.
    public var fileBytes: Int64
    /// Free pages inside the file, reused before it grows.
    public var freePageBytes: Int64
    /// Bytes per table from SQLite's `dbstat`; nil when this SQLite lacks it.
    public var tables: [String: TableBytes]?
    /// Readings in the raw tier.
    public var readings: Int64
    /// The oldest raw reading (event time, ms) and the oldest minute rollup (minute start, ms).
    public var oldestReadingTs: Int64?
    public var oldestMinute: Int64?
    /// The file system holding the database.
    public var fileSystemFreeBytes: Int64?
    public var fileSystemTotalBytes: Int64?
    /// Readings per day at the recent rate, and what they cost (see the type's comment).
    public var readingsPerDay: Double?
    public var bytesPerReading: Double?
    public var growthBytesPerDay: Double?
    /// Free file-system bytes plus free pages over the growth per day; nil without growth.
    public var daysUntilFull: Double?
    /// `postgresql` when read from PostgreSQL: `fileBytes` is then the database's size on the
    /// server (`pg_database_size`), tables sum their partitions, and the server's free space is
    /// not visible (nil for SQLite, whose file is local).
    public var engine: String?

    enum CodingKeys: String, CodingKey {
        case fileBytes = "file_bytes"
        case freePageBytes = "free_page_bytes"
        case tables, readings
        case oldestReadingTs = "oldest_reading_ts"
        case oldestMinute = "oldest_minute"
        case fileSystemFreeBytes = "file_system_free_bytes"
        case fileSystemTotalBytes = "file_system_total_bytes"
        case readingsPerDay = "readings_per_day"
        case bytesPerReading = "bytes_per_reading"
        case growthBytesPerDay = "growth_bytes_per_day"
        case daysUntilFull = "days_until_full"
        case engine
    }

    static let dayMs: Int64 = 86_400_000

    /// Reads the report inside a read transaction of `db`, the database at `path`.
    static func read(_ db: Database, path: String, nowMs: Int64) throws -> StorageReport {
        let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
        let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
        let freePages = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
        let fm = FileManager.default
        let onDisk = [path, path + "-wal"].reduce(Int64(0)) { sum, p in
            sum + ((try? fm.attributesOfItem(atPath: p)[.size] as? Int64) ?? 0)
        }
        var report = StorageReport(fileBytes: onDisk, freePageBytes: freePages * pageSize, readings: 0)
        report.tables = try? tableBytes(db)
        report.readings = try Int64.fetchOne(db, sql: "SELECT count(*) FROM readings") ?? 0
        // Readings are keyed by series: each series' oldest is one look-up.
        report.oldestReadingTs = try Int64.fetchOne(
            db, sql: "SELECT min((SELECT min(ts) FROM readings WHERE series_id = s.id)) FROM series s")
        // The oldest minute row, or a reading older than it that stands for its minute (from its
        // series' floor on, see `StoreSchema.v10`): one short range per series.
        let oldestRow = try Int64.fetchOne(db, sql: "SELECT min(minute) FROM rollup_minute")
        let oldestReading = try Int64.fetchOne(
            db,
            sql: """
                SELECT min((SELECT min(r.ts) FROM readings r WHERE r.series_id = s.id AND r.ts >= ifnull(f.before, -9e18) AND r.ts < ?
                    AND r.value IS NOT NULL AND r.state_code IS NULL AND r.error_code IS NULL))
                FROM series s LEFT JOIN minute_floor f ON f.series_id = s.id
                """, arguments: [oldestRow ?? Int64.max])
        report.oldestMinute = [oldestRow, oldestReading.map { WindowCalendar.floor($0, WindowCalendar.minuteMs) }].compactMap { $0 }.min()
        let space = FileSystemSpace.of(path)
        report.fileSystemFreeBytes = space?.freeBytes
        report.fileSystemTotalBytes = space?.totalBytes
        if let oldest = report.oldestReadingTs {
            let since = max(oldest, nowMs - dayMs)
            let recent =
                try Int64.fetchOne(
                    db, sql: "SELECT count(*) FROM readings WHERE series_id IN (SELECT id FROM series) AND ts >= ? AND ts <= ?",
                    arguments: [since, nowMs]) ?? 0
            if nowMs - since >= dayMs / 24, report.readings > 0 {
                let perDay = Double(recent) * Double(dayMs) / Double(nowMs - since)
                let perReading = Double((pages - freePages) * pageSize) / Double(report.readings)
                report.readingsPerDay = perDay
                report.bytesPerReading = perReading
                report.growthBytesPerDay = perDay * perReading
                if let space, perDay > 0 {
                    report.daysUntilFull = Double(space.freeBytes + report.freePageBytes) / (perDay * perReading)
                }
            }
        }
        return report
    }

    /// Bytes per table, its indexes apart, from the `dbstat` virtual table.
    static func tableBytes(_ db: Database) throws -> [String: TableBytes] {
        var owner: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')") {
            owner[row["name"]] = row["tbl_name"]
        }
        var out: [String: TableBytes] = [:]
        // In aggregate mode `pageno` is the btree's page count; `pgsize` (its bytes) is a 32-bit
        // sum in SQLite 3.40 and wraps negative past 2 GiB (a month of the 40x plant's readings:
        // 733,337 pages, pgsize -1,291,218,944), so the bytes are pages times the page size.
        let sql = "SELECT name, pageno * (SELECT page_size FROM pragma_page_size) AS bytes FROM dbstat WHERE aggregate = TRUE"
        for row in try Row.fetchAll(db, sql: sql) {
            let name: String = row["name"]
            let bytes: Int64 = row["bytes"]
            let table = owner[name] ?? name
            var t = out[table] ?? TableBytes(bytes: 0, indexBytes: 0)
            if table == name { t.bytes += bytes } else { t.indexBytes += bytes }
            out[table] = t
        }
        return out
    }
}
