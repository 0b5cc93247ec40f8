import Foundation
import ReadingStore
import Testing

/// `zhizao backup` against the real daemon while it ingests.
@Suite("Online backup", .serialized)
struct BackupTests {
    /// The sequence numbers of `device` stored in the database at `path`.
    func storedSequences(_ path: String, device: String) throws -> Set<Int64> {
        Set(try StoreReader(path: path).readings(device: device, limit: 1_000_000).compactMap(\.seq))
    }

    @Test func aBackupTakenMidStreamHoldsEveryReadingCommittedBeforeItBegan() throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("backup")
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite")
        try daemon.start()
        let stream = try PacedPublisher(broker, device: "prs-401", perSecond: 3_000)
        defer { stream.abort() }
        try daemon.waitForReadings(3_000)
        // What was committed before the backup began.
        let before = try storedSequences(daemon.database, device: "prs-401")
        try #require(before.count >= 3_000)

        let r = try ZhizaoBinary.run(["backup", "--db", daemon.database, "--out", dir + "/copy.sqlite"])
        #expect(r.code == 0, "\(r.stderr)")
        #expect(r.stdout.contains("integrity ok"))
        // The stream was still running when the backup ended: it was taken while the daemon wrote.
        #expect(stream.isStreaming, "the backup ended after the stream")

        let copied = try storedSequences(dir + "/copy.sqlite", device: "prs-401")
        #expect(before.subtracting(copied).isEmpty, "\(before.subtracting(copied).count) committed readings missing from the copy")
        let copy = dir + "/copy.sqlite"
        #expect(try sqliteShell(copy, "PRAGMA integrity_check") == "ok")
        #expect(try sqliteShell(copy, "PRAGMA journal_mode") == "delete", "a single self-contained file")
        // The copy is consistent: its counters and its rows agree (one transaction's view).
        #expect(
            try sqliteInteger(copy, "SELECT count(*) FROM readings")
                == sqliteInteger(copy, "SELECT value FROM ingest_counters WHERE name = 'readings_stored'"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/copy.sqlite-wal"))

        let published = try stream.stop()
        try daemon.waitForSettled(Int64(published))
        #expect(try daemon.status().readingsStored == Int64(published))
        #expect(Int64(copied.count) < Int64(published), "the daemon went on storing after the backup")
        #expect(daemon.terminate() == 0)

        // The copy restores: the daemon starts on it and it holds what it held.
        let restored = try DaemonProcess(broker: broker, database: dir + "/copy.sqlite")
        try restored.start()
        #expect(try restored.status().readingsStored == Int64(copied.count))
        #expect(restored.terminate() == 0)
    }

    @Test func mistakesNameTheFlag() throws {
        let dir = try temporaryDirectory("backup-flags")
        _ = try SQLiteStore(path: dir + "/z.sqlite")
        let ok = try ZhizaoBinary.run(["backup", "--db", dir + "/z.sqlite", "--out", dir + "/b.sqlite"])
        #expect(ok.code == 0, "\(ok.stderr)")
        let again = try ZhizaoBinary.run(["backup", "--db", dir + "/z.sqlite", "--out", dir + "/b.sqlite"])
        #expect(again.code != 0)
        #expect(again.stderr.contains("--force"))
        #expect(try ZhizaoBinary.run(["backup", "--db", dir + "/z.sqlite", "--out", dir + "/b.sqlite", "--force"]).code == 0)
        let missing = try ZhizaoBinary.run(["backup", "--db", dir + "/none.sqlite", "--out", dir + "/c.sqlite"])
        #expect(missing.code != 0)
        #expect(missing.stderr.contains("--db"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/c.sqlite"))
        let itself = try ZhizaoBinary.run(["backup", "--db", dir + "/z.sqlite", "--out", dir + "/z.sqlite"])
        #expect(itself.code != 0)
        #expect(itself.stderr.contains("--out"))
    }
}
