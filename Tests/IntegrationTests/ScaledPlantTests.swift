import Foundation
import ReadingStore
import Testing

/// `zhizao simulate --scale N`: the example plant replicated, its registry written for the
/// daemon, and a scaled run through the real broker and daemon stored in full.
@Suite("A plant N times the example", .serialized)
struct ScaledPlantTests {
    /// The devices `zhizao devices list --format json` reads from a registry.
    func listing(_ devices: String) throws -> [[String: Any]] {
        let r = try ZhizaoBinary.run(["devices", "list", "--format", "json", "--devices", devices])
        #expect(r.code == 0, "\(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
    }

    @Test func theRegistryOfThreeCopiesValidates() throws {
        let dir = try temporaryDirectory("scale3") + "/devices"
        let w = try ZhizaoBinary.run([
            "simulate", "--scale", "3", "--write-devices", dir, "--devices", ZhizaoBinary.shippedDevices,
        ])
        #expect(w.code == 0, "\(w.stderr)")
        let v = try ZhizaoBinary.run(["devices", "validate", "--devices", dir])
        #expect(v.code == 0, "\(v.stdout)\(v.stderr)")

        let original = try listing(ZhizaoBinary.shippedDevices)
        let scaled = try listing(dir)
        let ids = scaled.compactMap { $0["id"] as? String }
        // Three copies of every device: copy 1 keeps its id, copies 2 and 3 end in -x02, -x03.
        #expect(scaled.count == 3 * original.count)
        #expect(Set(ids).count == ids.count, "device ids are distinct")
        for device in original.compactMap({ $0["id"] as? String }) {
            #expect(ids.contains(device) && ids.contains(device + "-x02") && ids.contains(device + "-x03"), "\(device)")
        }
        // Each copy's devices sit in that copy's workshops and lines.
        for d in scaled {
            let id = try #require(d["id"] as? String)
            let suffix = id.hasSuffix("-x02") ? "-x02" : id.hasSuffix("-x03") ? "-x03" : ""
            for place in [d["workshop"], d["line"]].compactMap({ $0 as? String }) {
                #expect(suffix.isEmpty ? !place.contains("-x") : place.hasSuffix(suffix), "\(id) in \(place)")
            }
        }
        // The workshop-named native gateway is one per copy; the others hold every copy's devices.
        let gateways = try FileManager.default.contentsOfDirectory(atPath: dir + "/gateways").sorted()
        #expect(gateways.contains("gw-assembly-native-x03.yaml"))
        #expect(!gateways.contains("gw-lines-plain-x02.yaml"))
    }

    @Test func oneCopyIsTheShippedRegistry() throws {
        let dir = try temporaryDirectory("scale1") + "/devices"
        let w = try ZhizaoBinary.run([
            "simulate", "--scale", "1", "--write-devices", dir, "--devices", ZhizaoBinary.shippedDevices,
        ])
        #expect(w.code == 0, "\(w.stderr)")
        let original = try listing(ZhizaoBinary.shippedDevices)
        let written = try listing(dir)
        #expect(!original.isEmpty)
        // The same devices, metrics (series), places, roles and gateway bindings, in the same order.
        #expect(
            try JSONSerialization.data(withJSONObject: written, options: .sortedKeys)
                == JSONSerialization.data(withJSONObject: original, options: .sortedKeys))
    }

    @Test func aScaledRunIsStoredInFull() throws {
        let dir = try temporaryDirectory("scale-run")
        let devices = dir + "/devices"
        let w = try ZhizaoBinary.run([
            "simulate", "--scale", "3", "--write-devices", devices, "--devices", ZhizaoBinary.shippedDevices,
        ])
        #expect(w.code == 0, "\(w.stderr)")
        let broker = try TestBroker()
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite", devices: devices)
        try daemon.start()
        let r = try ZhizaoBinary.run([
            "simulate", "--broker", broker.url, "--devices", ZhizaoBinary.shippedDevices, "--scale", "3",
            "--duration", "2h", "--speed", "max", "--seed", "5", "--format", "json",
        ])
        #expect(r.code == 0, "\(r.stderr)")
        let run = try SimulationRun(json: r.stdout)
        let perDevice = try #require(run.report["devices"] as? [[String: Any]])
        // One foreign message per simulated hour (at tick 30 of each 60): two in two hours.
        #expect(run.foreign == 2)
        // Every copy's devices published: a copy-3 device of each format sent readings.
        for device in ["cnc-101-x03", "em-shaft-x03", "prs-401-x03", "cmp-1-x03"] {
            let sent = perDevice.first { $0["device"] as? String == device }?["readings"] as? Int ?? 0
            #expect(sent > 0, "\(device) sent readings")
        }
        // Stored in full; quarantined exactly the simulator's deliberate imperfections.
        try run.expectStoredInFull(by: daemon)
        #expect(daemon.terminate() == 0)
    }

    @Test func aBadScaleSaysWhatToDo() throws {
        let r = try ZhizaoBinary.run(["simulate", "--scale", "0"])
        #expect(r.code != 0)
        #expect(r.stderr.contains("--scale 0"))
    }
}
