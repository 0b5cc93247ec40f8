import Foundation
import ReadingStore
import Testing

/// Onboarding devices the registry lacks with `zhizao devices discover`, against the real
/// daemon and broker.
@Suite("Devices discover", .serialized)
struct DiscoverTests {
    /// A copy of the shipped registry plus an empty gateway file for a new plain-value gateway,
    /// as the README's onboarding steps have the user write first.
    func registryCopy() throws -> String {
        let dir = try temporaryDirectory("registry")
        try FileManager.default.removeItem(atPath: dir)
        try FileManager.default.copyItem(atPath: ZhizaoBinary.shippedDevices, toPath: dir)
        try """
        gateway: gw-plant2
        decoder: plain
        topic: plant2/+/+/+/+
        topic_template: plant2/{workshop}/{line}/{device}/{metric}
        devices: []

        """.write(toFile: dir + "/gateways/gw-plant2.yaml", atomically: true, encoding: .utf8)
        return dir
    }

    @Test func nothingUnknownKeepsYAMLEmptyWithTheSentenceOnStderr() throws {
        let dir = try temporaryDirectory("discover-empty")
        _ = try SQLiteStore(path: dir + "/z.sqlite")
        let args = ["--db", dir + "/z.sqlite", "--devices", ZhizaoBinary.shippedDevices]
        let yaml = try ZhizaoBinary.run(["devices", "discover", "--format", "yaml"] + args)
        #expect(yaml.code == 0 && yaml.stdout.isEmpty && yaml.stderr.contains("no unknown topic or device"))
        let table = try ZhizaoBinary.run(["devices", "discover"] + args)
        #expect(table.code == 0 && table.stdout.contains("no unknown topic or device"))
    }

    @Test func discoverListsUnknownDevicesAndItsYAMLValidatesOnceThePlaceIsFilledIn() throws {
        let registry = try registryCopy()
        let broker = try TestBroker()
        let dir = try temporaryDirectory("discover")
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite", devices: registry)
        try daemon.start()
        let now = Int64(Date().timeIntervalSince1970 * 1000) - 1000
        for i in 0..<3 {
            try Publisher.publish(
                broker, topic: "zhizao/v1/ws-assembly/edge",
                #"{"device":"prs-901","ts":\#(now + Int64(i)),"metrics":{"power":3.5,"state":"producing","good_count":12}}"#)
        }
        try Publisher.publish(
            broker, topic: "/neuron/zhizao/s7-new/cnc201",
            #"{"timestamp":\#(now),"node":"s7-new","group":"cnc201","values":{"RUN_STATE":1,"P_TOTAL":350}}"#)
        try Publisher.publish(broker, topic: "plant2/ws-x/line-y/em-9/energy_kwh", "12.5")
        try Publisher.publish(broker, topic: "plant2/ws-x/line-y/em-9/power_kw", "3.1")
        try waitUntil(timeout: 20, "six quarantined messages") { try daemon.status().messagesQuarantined >= 6 }
        #expect(daemon.terminate() == 0)
        let args = ["--db", daemon.database, "--devices", registry]

        let table = try ZhizaoBinary.run(["devices", "discover"] + args)
        #expect(table.code == 0, "\(table.stderr)")
        let rows = table.stdout.split(separator: "\n").map(String.init)
        #expect(rows.first?.contains("messages") == true && rows.first?.contains("first seen (site time Asia/Shanghai)") == true)
        let native = try #require(rows.first { $0.contains("prs-901") })
        #expect(
            native.hasPrefix("gw-assembly-native") && native.contains(" 3 ") && native.contains("good_count=12")
                && native.contains("state=\"producing\""))
        let neuron = try #require(rows.first { $0.contains("cnc201") })
        #expect(neuron.contains("gw-machining-neuron") && neuron.contains("node s7-new") && neuron.contains("RUN_STATE=1"))
        let plain = try #require(rows.first { $0.contains("em-9") })
        #expect(
            plain.hasPrefix("gw-plant2") && plain.contains(" 2 ") && plain.contains("energy_kwh=12.5") && plain.contains("power_kw=3.1"))
        #expect(!table.stdout.contains("prs-401"), "known devices are not listed")

        // The YAML: one part per gateway file, each named in its first comment.
        let yaml = try ZhizaoBinary.run(["devices", "discover", "--format", "yaml"] + args)
        #expect(yaml.code == 0, "\(yaml.stderr)")
        let marker = "# ---- add to the end of the `devices:` list of "
        let parts = yaml.stdout.components(separatedBy: marker).dropFirst()
        #expect(parts.count == 3, "\(yaml.stdout)")
        for part in parts {
            let file = String(part.prefix { $0 != " " })
            #expect(file.hasPrefix(registry + "/gateways/"), "\(file)")
            let body = part.drop { $0 != "\n" }
            let handle = try #require(FileHandle(forWritingAtPath: file))
            handle.seekToEndOfFile()
            handle.write(Data(body.utf8))
            try handle.close()
        }
        if try String(contentsOfFile: registry + "/gateways/gw-plant2.yaml", encoding: .utf8).contains("devices: []") {
            let text = try String(contentsOfFile: registry + "/gateways/gw-plant2.yaml", encoding: .utf8)
            try text.replacingOccurrences(of: "devices: []", with: "devices:").write(
                toFile: registry + "/gateways/gw-plant2.yaml",
                atomically: true, encoding: .utf8)
        }
        // Unfilled TODOs are refused, naming the workshop.
        let unfilled = try ZhizaoBinary.run(["devices", "validate", "--devices", registry])
        #expect(unfilled.code != 0 && unfilled.stderr.contains("no workshop TODO"), "\(unfilled.stderr)")
        // Filled in as a user would: workshop and line set, process set for one and deleted for the others.
        for name in ["gw-assembly-native", "gw-machining-neuron", "gw-plant2"] {
            let path = registry + "/gateways/\(name).yaml"
            var text = try String(contentsOfFile: path, encoding: .utf8)
            let (workshop, line) = name == "gw-assembly-native" ? ("ws-assembly", "line-motor") : ("ws-machining", "line-shaft")
            text = text.replacingOccurrences(of: "workshop: TODO", with: "workshop: \(workshop)")
                .replacingOccurrences(of: "line: TODO", with: "line: \(line)")
            text =
                name == "gw-assembly-native"
                ? text.replacingOccurrences(of: "process: TODO", with: "process: press-fit")
                : text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("process: TODO") }.joined(
                    separator: "\n")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let filled = try ZhizaoBinary.run(["devices", "validate", "--devices", registry])
        #expect(filled.code == 0, "\(filled.stderr)")
        let list = try ZhizaoBinary.run(["devices", "list", "--devices", registry, "--format", "json"])
        let listed = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        let cnc = try #require(listed.first { $0["id"] as? String == "cnc201" })
        #expect((cnc["metrics"] as? [[String: Any]])?.compactMap { $0["source"] as? String }.sorted() == ["P_TOTAL", "RUN_STATE"])
        let em = try #require(listed.first { $0["id"] as? String == "em-9" })
        let energy = try #require((em["metrics"] as? [[String: Any]])?.first { $0["name"] as? String == "energy_kwh" })
        #expect(energy["unit"] as? String == "kWh" && energy["carrier"] as? String == "electricity")
        // Now known, they are no longer discovered.
        let after = try ZhizaoBinary.run(["devices", "discover"] + args)
        #expect(after.code == 0 && after.stdout.contains("no unknown topic or device"), "\(after.stdout)")
        let badSince = try ZhizaoBinary.run(["devices", "discover", "--since", "last week"] + args)
        #expect(badSince.code == 2 && badSince.stderr.contains("--since"))
    }
}
