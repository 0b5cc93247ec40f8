import Foundation
import ReadingStore
import Telemetry
import Testing

/// The documents in `Schemas/` describe what the code really reads and writes.
///
/// JSON Schema validation uses Debian's python3-jsonschema (installed by `.ci/install-deps`):
/// no Swift package here validates JSON Schema 2020-12.
@Suite("Schemas match the code")
struct SchemaTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static func schema(_ name: String) -> String { repo.appendingPathComponent("Schemas/\(name)").path }

    /// Validates JSON (or YAML, parsed as YAML) documents against a schema; returns the errors.
    func validate(schema: String, documents: [String], yaml: Bool = false) throws -> String {
        let dir = try temporaryDirectory("schema")
        var paths: [String] = []
        for (i, d) in documents.enumerated() {
            let p = "\(dir)/doc\(i)"
            try d.write(toFile: p, atomically: true, encoding: .utf8)
            paths.append(p)
        }
        let script = """
            import json, sys, yaml, jsonschema
            schema = json.load(open(sys.argv[1]))
            jsonschema.Draft202012Validator.check_schema(schema)
            v = jsonschema.Draft202012Validator(schema)
            bad = []
            for path in sys.argv[3:]:
                doc = yaml.safe_load(open(path)) if sys.argv[2] == "yaml" else json.load(open(path))
                bad += ["%s: %s at %s" % (path, e.message, list(e.path)) for e in v.iter_errors(doc)]
            print("\\n".join(bad))
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", script, schema, yaml ? "yaml" : "json"] + paths
        let out = dir + "/out"
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(out)))
        p.standardError = p.standardOutput
        try p.run()
        p.waitUntilExit()
        let text = try String(contentsOfFile: out, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        if p.terminationStatus != 0 { return "python failed: \(text)" }
        return text
    }

    @Test func shippedRegistryFollowsTheRegistrySchema() throws {
        let devices = ZhizaoBinary.shippedDevices
        var files = [try String(contentsOfFile: devices + "/plant.yaml", encoding: .utf8)]
        for f in try FileManager.default.contentsOfDirectory(atPath: devices + "/gateways").sorted() where f.hasSuffix(".yaml") {
            files.append(try String(contentsOfFile: devices + "/gateways/" + f, encoding: .utf8))
        }
        #expect(files.count >= 4)
        #expect(try validate(schema: Self.schema("registry.schema.json"), documents: files, yaml: true) == "")
        // And the schema is not vacuous: a misspelt key fails it, as it fails the loader.
        let broken = files[1].replacingOccurrences(of: "decoder:", with: "decodr:")
        #expect(try validate(schema: Self.schema("registry.schema.json"), documents: [broken], yaml: true) != "")
    }

    @Test func devicesListOutputFollowsItsSchema() throws {
        let r = try ZhizaoBinary.run(["devices", "list", "--devices", ZhizaoBinary.shippedDevices, "--format", "json"])
        #expect(r.code == 0)
        #expect(try validate(schema: Self.schema("devices-list.schema.json"), documents: [r.stdout]) == "")
    }

    @Test func statusOutputFollowsItsSchema() throws {
        let dir = try temporaryDirectory("status-schema")
        let store = try SQLiteStore(path: dir + "/z.sqlite")
        try store.prepareSeries([SeriesKey(device: "d1", metric: "power")])
        var batch = IngestBatch()
        batch.messages = 2
        batch.readings = [Reading(series: 0, timestampMs: 1_000, value: .number(1))]
        batch.quarantined = [
            .init(
                receivedAtMs: 1, topic: "t", payload: [], payloadBytes: 0,
                rejection: Rejection(reason: .unknownDevice, detail: "x"))
        ]
        _ = try store.commit(batch, committedAtMs: 2_000)
        let r = try ZhizaoBinary.run(["status", "--db", dir + "/z.sqlite", "--format", "json"])
        #expect(r.code == 0)
        #expect(try validate(schema: Self.schema("status.schema.json"), documents: [r.stdout]) == "")
    }

    @Test func statusShowsBytesPerTableTiersFreeSpaceAndGrowth() throws {
        let dir = try temporaryDirectory("status-storage")
        let store = try SQLiteStore(path: dir + "/z.sqlite")
        try store.prepareSeries([SeriesKey(device: "d1", metric: "power")])
        // Two hours of one reading a minute, ending now: 1,440 readings a day at this rate.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let first = now - 2 * 3_600_000 + 1
        var batch = IngestBatch()
        batch.messages = 120
        batch.readings = (0..<120).map { Reading(series: 0, timestampMs: first + Int64($0) * 60_000, value: .number(Double($0))) }
        _ = try store.commit(batch, committedAtMs: now)
        let r = try ZhizaoBinary.run(["status", "--db", dir + "/z.sqlite", "--format", "json"])
        #expect(r.code == 0, "\(r.stderr)")
        #expect(try validate(schema: Self.schema("status.schema.json"), documents: [r.stdout]) == "")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let storage = try #require(json["storage"] as? [String: Any])
        let tables = try #require(storage["tables"] as? [String: [String: Int]])
        #expect((tables["readings"]?["bytes"] ?? 0) > 0)
        #expect(tables["readings"]?["index_bytes"] == 0, "readings keyed (series_id, ts): no second index")
        #expect((tables["quarantine"]?["index_bytes"] ?? 0) > 0, "quarantine_by_reason counted as the table's index")
        #expect(storage["oldest_reading_ts"] as? Int64 == first)
        #expect(storage["readings"] as? Int == 120)
        let perDay = try #require(storage["readings_per_day"] as? Double)
        #expect(abs(perDay - 1_440) < 30, "\(perDay) readings a day")
        let free = try #require(storage["file_system_free_bytes"] as? Double)
        let growth = try #require(storage["growth_bytes_per_day"] as? Double)
        let days = try #require(storage["days_until_full"] as? Double)
        let freePages = try #require(storage["free_page_bytes"] as? Double)
        #expect(abs(days - (free + freePages) / growth) <= 0.01 * days + 1)
        let table = try ZhizaoBinary.run(["status", "--db", dir + "/z.sqlite"])
        #expect(table.stdout.contains("file system free") && table.stdout.contains("full in"))
        // Not vacuous: a storage object without its sizes fails the schema.
        let broken = r.stdout.replacingOccurrences(of: "\"file_bytes\"", with: "\"file_size\"")
        #expect(try validate(schema: Self.schema("status.schema.json"), documents: [broken]) != "")
    }

    @Test func auditOutputFollowsItsSchema() throws {
        let dir = try temporaryDirectory("audit-schema")
        let store = try SQLiteStore(path: dir + "/z.sqlite")
        try store.recordAudit([
            AuditEntry(
                atMs: 1_764_400_000_000, command: "reload", user: "zhizao", subject: "registry",
                before: "sha256 a", after: "sha256 b"),
            AuditEntry(
                atMs: 1_764_400_000_001, command: "rebuild", user: "root", subject: "rollups all",
                before: nil, after: "recomputed"),
        ])
        let r = try ZhizaoBinary.run(["audit", "--db", dir + "/z.sqlite", "--devices", ZhizaoBinary.shippedDevices, "--format", "json"])
        #expect(r.code == 0, "\(r.stderr)")
        #expect(r.stdout.contains("\"before\" : \"sha256 a\""))
        #expect(try validate(schema: Self.schema("audit.schema.json"), documents: [r.stdout]) == "")
        // Not vacuous: an entry without its subject fails it.
        let broken = r.stdout.replacingOccurrences(of: "\"subject\"", with: "\"subjekt\"")
        #expect(try validate(schema: Self.schema("audit.schema.json"), documents: [broken]) != "")
    }

    @Test func readingSchemaAcceptsWhatTheNativeDecoderAccepts() throws {
        let good = [
            #"{"device":"prs-401","ts":1764400000000,"seq":7,"metrics":{"power":3.5,"state":"producing","on":true}}"#,
            #"[{"device":"prs-401","ts":"2025-11-29T14:46:40+08:00","metrics":{"power":1}}]"#,
        ]
        #expect(try validate(schema: Self.schema("reading.schema.json"), documents: good) == "")
        let bad = #"{"device":"prs-401","metrics":{"power":1}}"#
        #expect(try validate(schema: Self.schema("reading.schema.json"), documents: [bad]) != "")
    }

    @Test func databaseSQLMirrorsTheMigrations() throws {
        let dir = try temporaryDirectory("sql")
        _ = try SQLiteStore(path: dir + "/migrated.sqlite")
        func schema(_ db: String, input: String? = nil) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            p.arguments = [
                db,
                "SELECT type || ' ' || name || ': ' || sql FROM sqlite_master WHERE name NOT LIKE 'grdb%' AND sql IS NOT NULL ORDER BY name",
            ]
            if let input {
                let setup = Process()
                setup.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
                setup.arguments = [db]
                setup.standardInput = FileHandle(forReadingAtPath: input)
                try setup.run()
                setup.waitUntilExit()
            }
            let out = dir + "/\(UUID().uuidString)"
            p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(out)))
            try p.run()
            p.waitUntilExit()
            return try String(contentsOfFile: out, encoding: .utf8)
        }
        let migrated = try schema(dir + "/migrated.sqlite")
        let documented = try schema(dir + "/documented.sqlite", input: Self.schema("database.sql"))
        #expect(migrated.contains("CREATE TABLE \"readings\""), "v9-footprint renames its rebuilt readings table")
        #expect(migrated == documented)
    }
}
