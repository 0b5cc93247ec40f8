import Foundation
import ReadingStore
import Telemetry
import Testing

@Suite("SQLite store")
struct StoreTests {
    func withStore(_ body: (SQLiteStore, String) throws -> Void) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("zhizao-\(UUID().uuidString).sqlite").path
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
        let store = try SQLiteStore(path: path)
        try store.prepareSeries([SeriesKey(device: "d1", metric: "power"), SeriesKey(device: "d1", metric: "state")])
        try body(store, path)
    }

    func batch() -> IngestBatch {
        var b = IngestBatch()
        b.messages = 2
        b.readings = [
            Reading(series: 0, timestampMs: 1000, value: .number(1.5), seq: 1),
            Reading(series: 1, timestampMs: 1000, value: .state("idle"), seq: 1),
            Reading(series: 0, timestampMs: 2000, value: .error(3001)),
        ]
        b.quarantined = [
            .init(
                receivedAtMs: 5, topic: "t", payload: Array("xx".utf8), payloadBytes: 2,
                rejection: Rejection(reason: .malformed, detail: "bad"))
        ]
        return b
    }

    @Test func redeliveryNeverCountsTwice() throws {
        try withStore { store, path in
            #expect(try store.commit(batch(), committedAtMs: 10_000) == CommitOutcome(inserted: 3, duplicates: 0, quarantined: 1))
            #expect(try store.commit(batch(), committedAtMs: 11_000) == CommitOutcome(inserted: 0, duplicates: 3, quarantined: 1))
            let reader = try StoreReader(path: path)
            let s = try reader.status(nowMs: 11_500)
            #expect(s.readingsStored == 3)
            #expect(s.readingsDuplicate == 3)
            #expect(s.messagesReceived == 4)
            #expect(s.messagesQuarantined == 2)
            #expect(s.quarantinedByReason == ["malformed": 2])
            #expect(s.devices.map(\.device) == ["d1"])
            #expect(s.devices[0].lastReadingTs == 2000)
            #expect(s.ingestRatePerSecond == 0.3)
            let rows = try reader.readings()
            #expect(rows.map(\.value) == [.number(1.5), .state("idle"), .error(3001)])
            #expect(rows.map(\.seq) == [1, 1, nil])
        }
    }

    @Test func seriesIdsSurviveReopening() throws {
        try withStore { store, path in
            _ = try store.commit(batch(), committedAtMs: 10_000)
            let again = try SQLiteStore(path: path)
            // Registered in another order: identity is (device, metric), not the position.
            try again.prepareSeries([SeriesKey(device: "d1", metric: "state"), SeriesKey(device: "d1", metric: "power")])
            var b = IngestBatch()
            b.messages = 1
            b.readings = [Reading(series: 1, timestampMs: 1000, value: .number(9))]
            #expect(try again.commit(b, committedAtMs: 12_000).duplicates == 1)
        }
    }

    @Test func readerRefusesAMissingDatabase() {
        #expect { _ = try StoreReader(path: "/nonexistent/z.sqlite") } throws: { "\($0)".contains("zhizao run") }
    }
}
