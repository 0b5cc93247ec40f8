import Foundation
import ReadingStore
import Testing

/// `zhizao simulate` through a real broker into the real daemon: what it says it sent is stored.
@Suite("Simulated gateways end to end", .serialized)
struct SimulateTests {
    @Test func whatTheSimulatorSentIsWhatTheDaemonStored() throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("simulate")
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite")
        try daemon.start()
        let r = try ZhizaoBinary.run([
            "simulate", "--broker", broker.url, "--devices", ZhizaoBinary.shippedDevices,
            "--duration", "6h", "--speed", "max", "--seed", "11", "--format", "json",
        ])
        #expect(r.code == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let expected = try #require(report["readings_expected"] as? Int)
        let published = try #require(report["messages_published"] as? Int)
        let malformed = try #require(report["malformed"] as? Int)
        let foreign = try #require(report["foreign"] as? Int)
        #expect(expected > 10_000)
        #expect(foreign == 6, "one foreign message per simulated hour")
        #expect((report["messages_per_format"] as? [String: Int])?.keys.sorted() == ["native", "neuron", "plain", "sparkplug"])
        try daemon.waitForSettled(Int64(expected))
        try waitUntil(timeout: 20, "every message counted") { try daemon.status().messagesReceived >= Int64(published) }
        let s = try daemon.status()
        #expect(s.readingsStored == Int64(expected))
        #expect(s.messagesReceived == Int64(published))
        #expect(s.messagesQuarantined == Int64(malformed + foreign))
        #expect(s.quarantinedByReason["foreign_device"] == Int64(foreign))
        #expect(s.quarantinedByReason.keys.allSatisfy { $0 == "malformed" || $0 == "foreign_device" })
        #expect(daemon.terminate() == 0)
    }

    @Test func badFlagsSayWhatToDo() throws {
        let r = try ZhizaoBinary.run(["simulate", "--speed", "fast"])
        #expect(r.code != 0)
        #expect(r.stderr.contains("--speed fast"))
        let d = try ZhizaoBinary.run(["simulate", "--duration", "a week"])
        #expect(d.code != 0)
        #expect(d.stderr.contains("7d"))
    }
}
