import InMemoryLogging
import Logging
import ReadingStore
import Testing

@testable import IngestDaemon

/// The daemon's watch on its disk: a warning at most once an hour below a tenth free, and the
/// free bytes on the Prometheus endpoint.
@Suite("Disk space watch")
struct DiskSpaceWatchTests {
    static let second: UInt64 = 1_000_000_000

    @Test func warnsBelowATenthFreeAtMostOnceAnHour() {
        let logs = InMemoryLogHandler()
        let metrics = IngestMetrics()
        var watch = DiskSpaceWatch(path: "/data/z.sqlite", logger: Logger(label: "test") { _ in logs }, metrics: metrics)
        var free: Int64 = 50
        watch.measure = { _ in FileSystemSpace(freeBytes: free, totalBytes: 100) }
        func warnings() -> Int { logs.entries.filter { $0.level == .warning }.count }

        watch.check(nowNs: 1 * Self.second)
        #expect(warnings() == 0, "half free: no warning")
        #expect(String(decoding: metrics.render(), as: UTF8.self).contains("zhizao_disk_free_bytes 50"))

        free = 9
        watch.check(nowNs: 5 * Self.second)
        #expect(warnings() == 0, "not measured again within ten seconds")
        watch.check(nowNs: 11 * Self.second)
        #expect(warnings() == 1)
        let warning = logs.entries.first { $0.level == .warning }
        #expect(warning?.metadata["free_bytes"] == "9")
        #expect(warning?.metadata["db"] == "/data/z.sqlite")
        #expect(String(decoding: metrics.render(), as: UTF8.self).contains("zhizao_disk_free_bytes 9"))

        for minute in 1...59 { watch.check(nowNs: 11 * Self.second + UInt64(minute) * 60 * Self.second) }
        #expect(warnings() == 1, "once an hour, however often it is measured")
        watch.check(nowNs: 11 * Self.second + 3600 * Self.second)
        #expect(warnings() == 2, "again after an hour")
    }

    @Test func measuresTheRealFileSystem() throws {
        let space = try #require(FileSystemSpace.of("/tmp/not-yet-created.sqlite"))
        #expect(space.totalBytes > 0 && space.freeBytes >= 0 && space.freeBytes <= space.totalBytes)
    }
}
