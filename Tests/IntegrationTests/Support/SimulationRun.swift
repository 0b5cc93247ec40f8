import Foundation
import ReadingStore
import Testing

/// What `zhizao simulate --format json` says it sent, and the check that a daemon stored exactly that.
struct SimulationRun {
    let report: [String: Any]
    /// Distinct readings in well-formed messages: what the daemon must store.
    let expected: Int
    let published: Int
    let malformed: Int
    /// Messages sent through a gateway that does not declare their device.
    let foreign: Int

    init(json: String) throws {
        report = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        expected = try #require(report["readings_expected"] as? Int)
        published = try #require(report["messages_published"] as? Int)
        malformed = try #require(report["malformed"] as? Int)
        foreign = try #require(report["foreign"] as? Int)
    }

    /// Waits until the daemon has stored every reading and counted every message, then expects
    /// nothing stored beyond the report and nothing quarantined beyond its deliberate
    /// imperfections (malformed and foreign messages).
    func expectStoredInFull(by daemon: DaemonProcess) throws {
        try daemon.waitForSettled(Int64(expected))
        try waitUntil(timeout: 30, "every message counted") { try daemon.status().messagesReceived >= Int64(published) }
        let s = try daemon.status()
        #expect(s.readingsStored == Int64(expected))
        #expect(s.messagesReceived == Int64(published))
        #expect(s.messagesQuarantined == Int64(malformed + foreign))
        #expect(s.quarantinedByReason["foreign_device"] == Int64(foreign))
        #expect(s.quarantinedByReason.keys.allSatisfy { $0 == "malformed" || $0 == "foreign_device" })
    }
}
