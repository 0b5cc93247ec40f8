import ArgumentParser
import Foundation
import ReadingStore

/// `zhizao backup`: a consistent, verified copy of the live database.
struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the database while the daemon runs (SQLite online backup).",
        discussion: """
            Copies a snapshot of the database with SQLite's online backup API (never a file copy,
            which can catch a commit half-written): the daemon keeps committing meanwhile. The copy
            is written beside --out, opened and checked (integrity check, row counts equal to the
            snapshot's), made a single self-contained file (no WAL), then renamed to --out. An
            existing --out is replaced only with --force. To restore: stop the daemon, move the
            database and its -wal and -shm files aside, copy the backup to the database's path, and
            start the daemon.

            Examples:
              zhizao backup --db /var/lib/zhizao/zhizao.sqlite --out /mnt/backup/zhizao-2026-11-28.sqlite
              zhizao backup --out /var/lib/zhizao-backup/zhizao.sqlite --force
            """)

    @OptionGroup var store: StoreOptions
    @Option(help: ArgumentHelp("Where to write the copy.", valueName: "FILE")) var out: String
    @Flag(help: "Replace --out if it exists (the old copy stays until the new one is verified).") var force = false

    func run() throws {
        if StoreTarget.isPostgres(store.db) {
            throw fail(
                "--db \(StoreTarget.redacted(store.db)) is PostgreSQL: zhizao backup copies a SQLite file only. Back up "
                    + "PostgreSQL with its own tools: pg_dump (a consistent logical copy while the daemons write, e.g. "
                    + "pg_dump -Fc -f zhizao.dump '\(StoreTarget.redacted(store.db))'; restore with pg_restore) or "
                    + "pg_basebackup (a physical copy of the whole server, with WAL archiving for point-in-time recovery)",
                code: 2)
        }
        let source = URL(fileURLWithPath: store.db).standardizedFileURL.path
        let target = URL(fileURLWithPath: out).standardizedFileURL.path
        guard source != target else { throw fail("--out is the database itself: choose another file", code: 2) }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), isDirectory.boolValue {
            throw fail("--out \(out) is a directory: name the file, e.g. --out \(out)/zhizao.sqlite", code: 2)
        }
        let report: StoreBackup.Report
        umask(0o077)  // the copy holds what the database holds: readable by its owner only
        do { report = try StoreBackup.backup(source: store.db, to: out, replace: force) } catch { throw fail("\(error)") }
        let readings = report.rows["readings"] ?? 0
        print(
            "backed up \(store.db) to \(out): \(report.bytes) bytes, \(readings) readings, "
                + "integrity ok, row counts verified (\(String(format: "%.1f", report.seconds)) s)")
    }
}
