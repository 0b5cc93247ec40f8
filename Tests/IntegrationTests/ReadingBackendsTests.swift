import Foundation
import PlantRegistry
import ReadingStore
import Testing

/// Every reading command on SQLite and on PostgreSQL: one simulated plant's stream ingested by a
/// daemon on each (both subscribed to the same broker, so both get every message), then the same
/// command lines print the same figures from either database.
@Suite("Reading commands on SQLite and PostgreSQL", .serialized)
struct ReadingBackendsTests {
    @Test func theSameStreamPrintsTheSameFiguresOnBothBackends() throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("backends")
        // Without the Sparkplug gateway: two daemons would otherwise both be the host of one group.
        let devices = try PostgresIngestTests().registryWithoutSparkplug()
        let sqlite = try DaemonProcess(
            broker: broker, database: try Backend.sqlite.newStore(in: dir), devices: devices, clientID: "zhizao-it-both-sqlite",
            logPath: dir + "/sqlite.log")
        let postgres = try DaemonProcess(
            broker: broker, database: try Backend.postgres.newStore(in: dir), devices: devices, clientID: "zhizao-it-both-pg",
            logPath: dir + "/pg.log")
        try sqlite.start()
        try postgres.start()
        let sim = try ZhizaoBinary.run([
            "simulate", "--broker", broker.url, "--devices", devices, "--from", "2026-11-02T00:00:00Z", "--duration", "6h",
            "--speed", "max", "--seed", "41", "--format", "json",
        ])
        #expect(sim.code == 0, "\(sim.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(sim.stdout.utf8)) as? [String: Any]
        let expected = Int64(report?["readings_expected"] as? Int ?? -1)
        try sqlite.waitForSettled(expected)
        try postgres.waitForSettled(expected)
        #expect(sqlite.terminate() == 0)
        #expect(postgres.terminate() == 0)

        let window = ["--from", "2026-11-02T00:00:00Z", "--to", "2026-11-02T06:00:00Z"]
        let out = dir + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        func run(_ backend: DaemonProcess, _ args: [String], file: String? = nil) throws -> String {
            let r = try ZhizaoBinary.run(args + ["--db", backend.database, "--devices", devices], environment: ["LANG": "C.UTF-8"])
            #expect(r.code == 0, "\(args.joined(separator: " ")) on \(backend.database): \(r.stderr)")
            if let file { return try String(contentsOfFile: file, encoding: .utf8) }
            return r.stdout
        }
        // Each command line, on each database, prints the same figures.
        let commands: [(args: [String], file: String?, masksTimes: Bool)] = [
            (["indicators", "--by", "workshop"] + window, nil, false),
            (["indicators", "--by", "line", "--format", "csv"] + window, nil, false),
            (["indicators", "--scope", "site", "--every", "1h", "--format", "csv"] + window, nil, false),
            (["indicators", "--scope", "line:line-motor", "--every", "shift", "--format", "json"] + window, nil, false),
            (["indicators", "--by", "site"] + window, nil, false),
            (["query", "--device", "pm-mach-main", "--metric", "energy", "--every", "1h", "--format", "csv"] + window, nil, false),
            (["query", "--device", "cnc-101", "--metric", "state", "--every", "1h", "--format", "csv"] + window, nil, false),
            (["query", "--device", "cnc-101", "--metric", "power", "--every", "15m"] + window, nil, false),
            (["readings", "--limit", "300"], nil, false),
            (["readings", "--device", "cnt-shaft", "--limit", "40"], nil, false),
            (["quality", "--format", "csv"] + window, nil, false),
            (["export", "readings", "--scope", "line:line-shaft", "--out", out + "/readings.csv"] + window, out + "/readings.csv", false),
            (["export", "rollups", "--out", out + "/rollups.json"] + window, out + "/rollups.json", false),
            (["report", "--scope", "workshop:ws-assembly", "--out", out + "/report.html"] + window, out + "/report.html", false),
            (["audit"], nil, false),
            // Receive times are each daemon's own clock: compared without them.
            (["quarantine", "--limit", "200"], nil, true),
            (["devices", "discover", "--since", "-1d"], nil, true),
        ]
        for c in commands {
            let a = try run(sqlite, c.args, file: c.file)
            let b = try run(postgres, c.args, file: c.file)
            #expect(!a.isEmpty)
            let differences = Self.differences(a, b, maskingTimes: c.masksTimes)
            #expect(differences.isEmpty, "\(c.args.joined(separator: " ")): SQLite vs PostgreSQL: \(differences.prefix(5))")
        }
        // The batched reads of an indicator table give each scope what its own read gives, on both.
        let plant = try Plant.load(directory: devices)
        let scopes = plant.sites.flatMap(\.scopes) + [.line("no-such-line")]
        let (t0, t1) = (Int64(1_793_491_200_000), Int64(1_793_664_000_000))  // 2026-11-01T00:00Z, 2026-11-03T00:00Z
        func text(_ rows: [(start: Int64, totals: [String: Double])]) -> [String] {
            rows.map { row in "\(row.start) " + row.totals.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            }
        }
        for backend in [sqlite, postgres] {
            let reader = try openTelemetryReader(backend.database, plant: plant)
            for period in ["hour", "day"] {
                let batch = try reader.scopeTotals(scopes: scopes, period: period, from: t0, to: t1)
                #expect(batch[.site("sz-baoan")] != nil && batch[.line("no-such-line")] == nil, "\(backend.database) \(period)")
                for scope in scopes {
                    let alone = try reader.scopeTotals(scope: scope, period: period, from: t0, to: t1)
                    #expect(text(batch[scope] ?? []) == text(alone), "\(backend.database) \(period) \(scope)")
                }
            }
        }

        // On SQLite (one site) --by site is the one row of the site.
        let bySite = try run(sqlite, ["indicators", "--by", "site", "--format", "json"] + window)
        let siteRows = try #require(try JSONSerialization.jsonObject(with: Data(bySite.utf8)) as? [[String: Any]])
        #expect(siteRows.map { $0["scope"] as? String } == ["site:sz-baoan"])

        // status: the same counters and devices; the storage part says what PostgreSQL has instead of a file.
        let s = try JSONSerialization.jsonObject(with: Data(try run(sqlite, ["status", "--format", "json"]).utf8)) as? [String: Any]
        let p = try JSONSerialization.jsonObject(with: Data(try run(postgres, ["status", "--format", "json"]).utf8)) as? [String: Any]
        for key in ["readings_stored", "readings_duplicate", "messages_received", "messages_quarantined"] {
            #expect(s?[key] as? Int == p?[key] as? Int, "\(key)")
        }
        #expect(s?["readings_stored"] as? Int == Int(expected))
        #expect(
            (s?["quarantined_by_reason"] as? [String: Int]) == (p?["quarantined_by_reason"] as? [String: Int])
                && s?["quarantined_by_reason"] != nil)
        func seen(_ status: [String: Any]?) -> [String] {
            ((status?["devices"] as? [[String: Any]]) ?? []).map { "\($0["device"] ?? "")@\($0["last_reading_ts"] ?? "")" }
        }
        #expect(seen(s) == seen(p) && !seen(s).isEmpty)
        let storage = p?["storage"] as? [String: Any]
        #expect(storage?["engine"] as? String == "postgresql")
        #expect(((storage?["tables"] as? [String: Any])?["readings"] as? [String: Any])?["bytes"] as? Int ?? 0 > 0)
        #expect(storage?["readings"] as? Int == Int(expected))
        let table = try run(postgres, ["status"])
        #expect(table.contains("on the PostgreSQL server") && table.contains("file system free      not available"))
        #expect(try QueryExportReportTests().schemaErrors("status.schema.json", try run(postgres, ["status", "--format", "json"])) == "")
    }

    /// Two sites' daemons write one PostgreSQL database, each with its own registry (the second
    /// site's electricity converts at 0.3 kgce/kWh, not 0.1229), and both get the same
    /// workshop main-meter stream: `indicators --by site` shows each site with its own figures.
    @Test func bySiteComparesTheSitesOfOneDatabase() throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("by-site")
        let url = try Backend.postgres.newStore(in: dir)
        let second = try temporaryDirectory("devices-b")
        try FileManager.default.removeItem(atPath: second)
        try FileManager.default.copyItem(atPath: ZhizaoBinary.shippedDevices, toPath: second)
        for file in try FileManager.default.subpathsOfDirectory(atPath: second) where file.hasSuffix(".yaml") {
            let path = second + "/" + file
            var text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "sz-baoan", with: "dg-songshan")
            text = text.replacingOccurrences(
                of: "energy_coefficients: {electricity: 0.1229,", with: "energy_coefficients: {electricity: 0.3,")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        #expect(try String(contentsOfFile: second + "/plant.yaml", encoding: .utf8).contains("electricity: 0.3,"))
        let a = try DaemonProcess(broker: broker, database: url, clientID: "zhizao-it-bysite-a", logPath: dir + "/a.log")
        let b = try DaemonProcess(broker: broker, database: url, devices: second, clientID: "zhizao-it-bysite-b", logPath: dir + "/b.log")
        try a.start()
        try b.start()
        // The assembly workshop's main meter climbs 0.5 kWh a minute for 100 minutes: 99 intervals,
        // 49.5 kWh, the only electricity either site meters in the window.
        let base = (Int64(Date().timeIntervalSince1970 * 1000) / 60_000 - 200) * 60_000
        let lines = (0..<100).map { i in
            #"{"device":"em-asm-main","ts":\#(base + Int64(i) * 60_000),"metrics":{"energy":\#(1000 + Double(i) * 0.5)}}"#
        }
        try Publisher.stream(broker, topic: "zhizao/v1/ws-assembly/em-asm-main", lines: lines)
        try waitUntil(timeout: 60, "both sites to store the 100 readings") {
            let sites = try [(a, nil), (b, second)].map { (d: DaemonProcess, dir: String?) in
                try PostgresReaderProbe.readings(url: d.database, devices: dir, device: "em-asm-main")
            }
            return sites == [100, 100]
        }
        #expect(a.terminate() == 0)
        #expect(b.terminate() == 0)

        let f = ISO8601DateFormatter()
        let window = ["--from", f.string(from: Date(ms: base)), "--to", f.string(from: Date(ms: base + 100 * 60_000))]
        let r = try ZhizaoBinary.run(
            [
                "indicators", "--by", "site", "--db", url, "--site-devices", ZhizaoBinary.shippedDevices, "--site-devices", second,
                "--format", "json",
            ]
                + window)
        #expect(r.code == 0, "\(r.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["scope"] as? String } == ["site:sz-baoan", "site:dg-songshan"])
        func figure(_ row: [String: Any], _ key: String) -> Double? { (row["indicators"] as? [String: Any])?[key] as? Double }
        for row in rows { #expect(abs((figure(row, "electricity_kwh") ?? 0) - 49.5) < 1e-9, "\(row)") }
        // 49.5 kWh × 0.1229 kgce/kWh = 6.08355 kgce; × 0.3 = 14.85 kgce.
        #expect(abs((figure(rows[0], "energy_kgce") ?? 0) - 6.08355) < 1e-9)
        #expect(abs((figure(rows[1], "energy_kgce") ?? 0) - 14.85) < 1e-9)
        let table = try ZhizaoBinary.run(
            ["indicators", "--by", "site", "--db", url, "--site-devices", ZhizaoBinary.shippedDevices, "--site-devices", second] + window)
        #expect(
            table.code == 0 && table.stdout.contains("(sz-baoan)") && table.stdout.contains("(dg-songshan)"), "each site's grid-factor note"
        )

        // A site stored without its registry is refused, by name.
        let missing = try ZhizaoBinary.run(["indicators", "--by", "site", "--db", url, "--devices", ZhizaoBinary.shippedDevices] + window)
        #expect(
            missing.code == 2 && missing.stderr.contains("dg-songshan") && missing.stderr.contains("--site-devices"), "\(missing.stderr)")
        let scoped = try ZhizaoBinary.run(["indicators", "--by", "site", "--scope", "site", "--db", url] + window)
        #expect(scoped.code == 64 && scoped.stderr.contains("leave out --scope"), "\(scoped.code) \(scoped.stderr)")
        // Each registry alone reads its own site: the same device id, two figures.
        let one = try ZhizaoBinary.run(
            ["indicators", "--scope", "site", "--every", "all", "--db", url, "--devices", second, "--format", "json"] + window)
        let oneRows = try #require(try JSONSerialization.jsonObject(with: Data(one.stdout.utf8)) as? [[String: Any]])
        #expect(oneRows.count == 1 && abs((oneRows.first.flatMap { figure($0, "energy_kgce") } ?? 0) - 14.85) < 1e-9)
    }

    /// A password in the URL is refused without printing it; an empty database says how to fill it.
    @Test func aPasswordInTheURLIsRefusedAndAnEmptyDatabaseSaysWhatToDo() throws {
        let leaked = try ZhizaoBinary.run(["status", "--db", "postgresql://zhizao:s3cret@127.0.0.1:1/zhizao"])
        #expect(leaked.code == 1)
        #expect(!leaked.stderr.contains("s3cret") && leaked.stderr.contains("zhizao:***@") && leaked.stderr.contains("PGPASSWORD"))
        let empty = try TestPostgres.shared().newDatabase()
        let r = try ZhizaoBinary.run(["indicators", "--db", empty, "--devices", ZhizaoBinary.shippedDevices])
        #expect(r.code == 1 && r.stderr.contains("no Zhizao schema") && r.stderr.contains("zhizao run --db \(empty)"), "\(r.stderr)")
    }

    // MARK: - Comparing outputs

    /// Lines that differ between two outputs: tokens (split at white space, commas, quotes and
    /// brackets) must be equal, numbers within 1e-9 relative (summation order differs between
    /// the stores' batches); with `maskingTimes`, times of day (receive times) are not compared.
    static func differences(_ a: String, _ b: String, maskingTimes: Bool) -> [String] {
        let linesA = (maskingTimes ? maskTimes(a) : a).split(separator: "\n", omittingEmptySubsequences: false)
        let linesB = (maskingTimes ? maskTimes(b) : b).split(separator: "\n", omittingEmptySubsequences: false)
        guard linesA.count == linesB.count else { return ["\(linesA.count) lines vs \(linesB.count)"] }
        var out: [String] = []
        for (x, y) in zip(linesA, linesB) where x != y {
            let tx = tokens(x)
            let ty = tokens(y)
            let same =
                tx.count == ty.count
                && zip(tx, ty).allSatisfy { p, q in
                    if p == q { return true }
                    guard let u = Double(p), let v = Double(q) else { return false }
                    return abs(u - v) <= max(1e-9, 1e-9 * max(abs(u), abs(v)))
                }
            if !same { out.append("\(x) | \(y)") }
        }
        return out
    }

    static func tokens(_ line: Substring) -> [String] {
        line.split(whereSeparator: { " \t,\"[]{}<>=".contains($0) }).map(String.init)
    }

    /// Every RFC 3339 time (site time or UTC) replaced by `<time>`.
    static func maskTimes(_ text: String) -> String {
        text.replacingOccurrences(
            of: #"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?"#, with: "<time>", options: .regularExpression)
    }
}

/// Readings of one device as a registry's reader sees them (its site only).
enum PostgresReaderProbe {
    static func readings(url: String, devices: String?, device: String) throws -> Int {
        let plant = try Plant.load(directory: devices ?? ZhizaoBinary.shippedDevices)
        return try openTelemetryReader(url, plant: plant).readings(device: device, limit: 1_000).count
    }
}

extension Date {
    init(ms: Int64) { self.init(timeIntervalSince1970: Double(ms) / 1000) }
}
