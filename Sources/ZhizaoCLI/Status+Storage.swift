import Foundation
import ReadingStore

/// The storage part of `zhizao status`: bytes per table, the oldest day of each tier, free
/// space and days until full.
extension Status {
    func printStorage(_ s: StorageReport, clock: SiteClock) {
        let postgres = s.engine == "postgresql"
        if postgres {
            print("database size         \(bytes(s.fileBytes)) on the PostgreSQL server (pg_database_size, every site's data)")
        } else {
            print("database size         \(bytes(s.fileBytes)) on disk (with WAL), \(bytes(s.freePageBytes)) free pages to reuse")
        }
        if let tables = s.tables {
            for (name, t) in tables.sorted(by: { $0.value.bytes + $0.value.indexBytes > $1.value.bytes + $1.value.indexBytes })
            where t.bytes + t.indexBytes >= 4096 * 4 {
                let index = t.indexBytes > 0 ? " + \(bytes(t.indexBytes)) indexes" : ""
                print("  \(name.padding(toLength: 20, withPad: " ", startingAt: 0))\(bytes(t.bytes))\(index)")
            }
        } else {
            print("  (bytes per table need SQLite's dbstat, which this SQLite lacks)")
        }
        print("oldest raw reading    \(s.oldestReadingTs.map { clock.time($0) } ?? "-") (\(clock.heading); \(s.readings) readings kept)")
        print("oldest minute rollup  \(s.oldestMinute.map { clock.time($0) } ?? "-")")
        if let free = s.fileSystemFreeBytes, let total = s.fileSystemTotalBytes, total > 0 {
            print(
                "file system free      \(bytes(free)) of \(bytes(total)) (\(String(format: "%.1f", 100 * Double(free) / Double(total)))%)")
        } else if postgres {
            print("file system free      not available (the server's disk is not visible to a client; days until full likewise)")
        }
        if let perDay = s.readingsPerDay, let perReading = s.bytesPerReading, let growth = s.growthBytesPerDay {
            let full = s.daysUntilFull.map { "; full in ≈ \(Int($0)) days" } ?? ""
            print(
                "growth                ≈ \(bytes(Int64(growth)))/day (\(Int(perDay)) readings/day over the last 24 h "
                    + "× \(Int(perReading)) B per stored reading, all tables\(postgres ? " of the database" : ""))\(full)")
        } else {
            print("growth                - (less than an hour of readings)")
        }
    }

    func storageRows(_ s: StorageReport) -> [[String]] {
        var rows = [["storage.file_bytes", String(s.fileBytes)], ["storage.free_page_bytes", String(s.freePageBytes)]]
        if let engine = s.engine { rows.append(["storage.engine", engine]) }
        for (name, t) in (s.tables ?? [:]).sorted(by: { $0.key < $1.key }) {
            rows.append(["storage.table.\(name).bytes", String(t.bytes)])
            rows.append(["storage.table.\(name).index_bytes", String(t.indexBytes)])
        }
        let optional: [(String, String?)] = [
            ("oldest_reading_ts", s.oldestReadingTs.map(String.init)), ("oldest_minute", s.oldestMinute.map(String.init)),
            ("file_system_free_bytes", s.fileSystemFreeBytes.map(String.init)),
            ("file_system_total_bytes", s.fileSystemTotalBytes.map(String.init)),
            ("growth_bytes_per_day", s.growthBytesPerDay.map { String(Int64($0)) }),
            ("days_until_full", s.daysUntilFull.map { String(format: "%.1f", $0) }),
        ]
        for (name, value) in optional { if let value { rows.append(["storage.\(name)", value]) } }
        return rows
    }

    /// Bytes in binary units, one decimal.
    func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var u = 0
        while v >= 1024 && u < units.count - 1 {
            v /= 1024
            u += 1
        }
        return u == 0 ? "\(n) B" : String(format: "%.1f", v) + " " + units[u]
    }
}
