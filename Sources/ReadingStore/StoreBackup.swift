import Foundation
import GRDB

/// A consistent copy of a live database through SQLite's online backup API, verified before it
/// takes the destination's name.
///
/// The copy is one `sqlite3_backup_step` inside a read transaction of the source: in WAL mode a
/// reader never blocks the daemon's commits, and a single step never restarts when the daemon
/// writes meanwhile (a multi-step backup restarts on every foreign write, so under steady ingest
/// it would never finish). The snapshot's row counts are read in that same transaction, so the
/// copy must hold exactly them.
public enum StoreBackup {
    /// What a backup copied, and what the verification of the copy found.
    public struct Report: Sendable, Equatable {
        /// Rows per table in the source's snapshot (and, verified, in the copy).
        public var rows: [String: Int64]
        /// The copy's size in bytes.
        public var bytes: Int64
        /// How long the copy and its verification took.
        public var seconds: Double
    }

    /// The tables whose row counts are compared between the snapshot and the copy.
    static let countedTables = ["readings", "series", "rollup_minute", "state_minute", "scope_rollup", "quarantine", "audit"]

    /// Copies the database at `source` to `destination`: written beside it under a temporary
    /// name, verified (integrity check, row counts equal to the snapshot's), switched out of WAL
    /// mode so the copy is one self-contained file, then renamed into place.
    /// An existing `destination` is replaced only when `replace` is true.
    public static func backup(source: String, to destination: String, replace: Bool = false) throws -> Report {
        let started = Date()
        guard FileManager.default.fileExists(atPath: source) else {
            throw StoreError("no database at \(source): pass --db PATH (the daemon's database)", code: .cannotOpen)
        }
        if !replace && FileManager.default.fileExists(atPath: destination) {
            throw StoreError("\(destination) exists: choose another --out or pass --force to replace it", code: .other)
        }
        let partial = destination + ".partial"
        removeDatabaseFiles(partial)
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        let rows: [String: Int64]
        do {
            let from = try DatabaseQueue(path: source, configuration: config)
            let to = try DatabaseQueue(path: partial)
            rows = try from.read { src in
                // The first read fixes the snapshot; the backup step below copies that snapshot.
                let counts = try counts(src)
                try to.writeWithoutTransaction { dest in try src.backup(to: dest) }
                return counts
            }
            try to.writeWithoutTransaction { dest in try dest.execute(sql: "PRAGMA journal_mode = DELETE") }
            try to.close()
        } catch {
            removeDatabaseFiles(partial)
            throw StoreError(wrapping: error, context: "backup of \(source) to \(destination) failed")
        }
        do {
            try verify(partial, expecting: rows)
        } catch {
            removeDatabaseFiles(partial)
            throw error
        }
        if rename(partial, destination) != 0 {
            let reason = String(cString: strerror(errno))
            removeDatabaseFiles(partial)
            throw StoreError("cannot rename the verified copy to \(destination): \(reason)", code: .io)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: destination)[.size] as? Int64) ?? 0
        return Report(rows: rows, bytes: size, seconds: Date().timeIntervalSince(started))
    }

    /// Opens a copy read-only and checks it: `PRAGMA integrity_check` says ok and every counted
    /// table holds the snapshot's rows.
    public static func verify(_ path: String, expecting rows: [String: Int64]) throws {
        var config = Configuration()
        config.readonly = true
        do {
            let copy = try DatabaseQueue(path: path, configuration: config)
            try copy.read { db in
                let check = try String.fetchAll(db, sql: "PRAGMA integrity_check")
                guard check == ["ok"] else {
                    throw StoreError(
                        "the copy \(path) fails its integrity check: \(check.prefix(5).joined(separator: "; "))",
                        code: .corrupt)
                }
                let found = try counts(db)
                for (table, n) in rows where found[table] != n {
                    throw StoreError(
                        "the copy \(path) holds \(found[table] ?? 0) rows of \(table), the snapshot \(n)",
                        code: .corrupt)
                }
            }
            try copy.close()
        } catch {
            throw StoreError(wrapping: error, context: "verifying the backup")
        }
    }

    static func counts(_ db: Database) throws -> [String: Int64] {
        var out: [String: Int64] = [:]
        for table in countedTables where try db.tableExists(table) {
            out[table] = try Int64.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0
        }
        return out
    }

    /// Removes a database file with its journal, WAL and shared-memory files.
    static func removeDatabaseFiles(_ path: String) {
        for suffix in ["", "-journal", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}
