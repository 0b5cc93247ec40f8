import Foundation
import ReadingStore
import Testing

/// The CLI as a user types it: exit codes and messages.
@Suite("Command line")
struct CommandLineTests {
    @Test func versionNamesTheReleaseAndTheSchemas() throws {
        let r = try ZhizaoBinary.run(["--version"])
        #expect(r.code == 0)
        #expect(r.stdout.hasPrefix("zhizao "))
        #expect(r.stdout.contains("SQLite \(SchemaVersions.sqlite)") && r.stdout.contains("PostgreSQL \(SchemaVersions.postgres)"))
        #expect(SchemaVersions.sqlite.hasPrefix("v") && SchemaVersions.postgres.hasPrefix("pg"))
    }

    @Test func devicesListJSONHasTheDocumentedFields() throws {
        let r = try ZhizaoBinary.run(["devices", "list", "--devices", ZhizaoBinary.shippedDevices, "--format", "json"])
        #expect(r.code == 0)
        let devices = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(devices.count >= 20)
        for key in ["id", "site", "workshop", "line", "process", "key_process", "nc_capable", "decoder", "topic", "metrics"] {
            #expect(devices.allSatisfy { $0.keys.contains(key) }, "every device has \(key)")
        }
        let cnc = try #require(devices.first { $0["id"] as? String == "cnc-101" })
        #expect(cnc["decoder"] as? String == "neuron")
        #expect(cnc["topic"] as? String == "/neuron/zhizao/+/+")
        #expect(cnc["key_process"] as? Bool == true)
        let metrics = try #require(cnc["metrics"] as? [[String: Any]])
        let state = try #require(metrics.first { $0["name"] as? String == "state" })
        #expect(state["source"] as? String == "RUN_STATE")
        #expect(state["kind"] as? String == "state")
        let meter = try #require(devices.first { $0["id"] as? String == "em-shaft" })
        let energy = try #require((meter["metrics"] as? [[String: Any]])?.first { $0["name"] as? String == "energy" })
        #expect(energy["carrier"] as? String == "electricity")
        #expect(energy["unit"] as? String == "kWh")
    }

    /// The registry cache changes nothing a command prints: the same bytes from an empty cache
    /// (which the run fills) and from the warm one (which the run reads, not rewrites).
    @Test func devicesListPrintsTheSameWithAnEmptyAndAWarmRegistryCache() throws {
        let dir = try temporaryDirectory("regcache")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let devices = dir + "/devices"
        try FileManager.default.copyItem(atPath: ZhizaoBinary.shippedDevices, toPath: devices)
        // Files modified just now are not cached yet (their time could repeat): an hour old.
        let enumerator = try #require(FileManager.default.enumerator(atPath: devices))
        while let rel = enumerator.nextObject() as? String {
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: devices + "/" + rel)
        }
        let env = ["ZHIZAO_CACHE_DIR": dir + "/cache"]
        let cold = try ZhizaoBinary.run(["devices", "list", "--devices", devices, "--format", "json"], environment: env)
        #expect(cold.code == 0, "\(cold.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/cache")
        #expect(files.count == 1 && files[0].hasSuffix(".json"), "the cold run wrote the cache")
        let path = dir + "/cache/" + files[0]
        let written = try #require(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int)
        for format in ["json", "table"] {
            let warm = try ZhizaoBinary.run(["devices", "list", "--devices", devices, "--format", format], environment: env)
            // An empty cache of its own: parsed from the YAML.
            let plain = try ZhizaoBinary.run(
                ["devices", "list", "--devices", devices, "--format", format], environment: ["ZHIZAO_CACHE_DIR": dir + "/empty-\(format)"])
            #expect(warm.code == 0 && warm.stdout == plain.stdout && warm.stderr == plain.stderr, "\(format)")
            if format == "json" { #expect(warm.stdout == cold.stdout && !warm.stdout.isEmpty) }
        }
        // Replaced by a rename on every write: the same inode means the warm runs only read it.
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int == written)
    }

    @Test func validateReportsFileLineAndFixAndFails() throws {
        let dir = try temporaryDirectory("registry")
        try FileManager.default.createDirectory(atPath: dir + "/gateways", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: ZhizaoBinary.shippedDevices + "/plant.yaml", toPath: dir + "/plant.yaml")
        try """
        gateway: gw-x
        decoder: native
        topic: x/#
        devices:
          - id: m-1
            workshop: ws-machinig
            metrics:
              - {name: energy, kind: counter, unit: kWh, measures: energy}
        """.write(toFile: dir + "/gateways/x.yaml", atomically: true, encoding: .utf8)
        let r = try ZhizaoBinary.run(["devices", "validate", "--devices", dir])
        #expect(r.code != 0)
        #expect(r.stderr.contains("gateways/x.yaml:8:"), "the line of the metric missing its carrier")
        #expect(r.stderr.contains("missing `carrier`"))
        #expect(r.stderr.contains("gateways/x.yaml:6:"), "the line of the misspelt workshop")
        #expect(r.stderr.contains("did you mean `ws-machining`?"))
        let ok = try ZhizaoBinary.run(["devices", "validate", "--devices", ZhizaoBinary.shippedDevices])
        #expect(ok.code == 0)
    }

    @Test func configMistakeNamesTheFileAndExitsNonZero() throws {
        let dir = try temporaryDirectory("config")
        try "broker:\n  url: mqtt://127.0.0.1:1883\n  recieve_maximum: 10\n".write(
            toFile: dir + "/z.yaml", atomically: true, encoding: .utf8)
        let r = try ZhizaoBinary.run(["run", "--config", dir + "/z.yaml", "--db", dir + "/z.sqlite"])
        #expect(r.code != 0)
        #expect(r.stderr.contains("\(dir)/z.yaml:3"))
        #expect(r.stderr.contains("did you mean `receive_maximum`?"))
        let bad = try ZhizaoBinary.run(["run", "--broker", "http://x", "--db", dir + "/z.sqlite"])
        #expect(bad.code != 0)
        #expect(bad.stderr.contains("--broker"))
    }

    @Test func statusWithoutADatabaseSaysHowToFixIt() throws {
        let r = try ZhizaoBinary.run(["status", "--db", "/nonexistent/zhizao.sqlite"])
        #expect(r.code != 0)
        #expect(r.stderr.contains("zhizao run"))
    }

    @Test func helpProseWrapsAsParagraphs() throws {
        for cmd in [["run"], ["simulate"], ["indicators"], ["report"], ["devices", "discover"]] {
            let r = try ZhizaoBinary.run(cmd + ["--help"], environment: ["COLUMNS": "80"])
            let overview = r.stdout.components(separatedBy: "Examples:")[0].components(separatedBy: "\n")
            #expect(overview.allSatisfy { $0.count <= 80 }, "\(cmd) --help fits 80 columns")
            // A line followed by more of its paragraph was filled, not cut mid-sentence by a hard break.
            for (line, next) in zip(overview, overview.dropFirst()) where !line.isEmpty && !next.isEmpty && !line.hasSuffix(":") {
                #expect(line.count >= 60, "\(cmd) --help breaks early: \(line)")
            }
        }
    }

    @Test func helpHasExamples() throws {
        for cmd in [
            ["run"], ["status"], ["devices", "list"], ["devices", "validate"], ["devices", "discover"], ["readings"], ["quarantine"],
        ] {
            let r = try ZhizaoBinary.run(cmd + ["--help"])
            #expect(r.code == 0)
            #expect(r.stdout.contains("Examples:"), "\(cmd) --help has examples")
        }
    }
}
