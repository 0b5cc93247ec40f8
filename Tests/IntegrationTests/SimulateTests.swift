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
        let run = try SimulationRun(json: r.stdout)
        #expect(run.expected > 10_000)
        #expect(run.foreign == 6, "one foreign message per simulated hour")
        #expect((run.report["messages_per_format"] as? [String: Int])?.keys.sorted() == ["native", "neuron", "plain", "sparkplug"])
        try run.expectStoredInFull(by: daemon)
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
