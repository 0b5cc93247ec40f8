import Foundation
import Testing

/// Exact windows, units, CO2 scopes, value added and per-site calendars on a database the real
/// daemon filled from the two-site registry in `Tests/Fixtures/two-sites` (its readings.jsonl
/// published through mosquitto), on SQLite and on PostgreSQL. The figures are worked out in Tests/UnitTests/ExactWindowTests.swift:
/// em-a (Wh) 60 kWh/h and em-b (MWh) 30 kWh/h in Shenzhen, gas 2 m³/h, steam 100 kg/h, 10 good/h,
/// em-de 10 kWh/h in Berlin across the 2026-10-25 change to winter time.
@Suite("Exact windows and per-site calendars end to end", .serialized)
struct ExactWindowEndToEndTests {
    static let registry = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/two-sites").path

    /// The fixture's readings stored by the daemon. They are dated November 2026: the daemon
    /// quarantines readings from the future, so this needs a clock past 2026-11-04.
    static func filledDatabase(backend: Backend) throws -> String {
        try #require(Date().timeIntervalSince1970 > 1_793_721_600, "the fixture's readings must be in the past")
        let broker = try TestBroker()
        let dir = try temporaryDirectory("windows")
        let daemon = try DaemonProcess(
            broker: broker, database: try backend.newStore(in: dir), devices: registry, logPath: dir + "/daemon.log")
        try daemon.start()
        let lines = try String(contentsOfFile: registry + "/readings.jsonl", encoding: .utf8).split(separator: "\n").map(String.init)
        try Publisher.stream(broker, topic: "zz/meters/all", lines: lines)
        try daemon.waitForReadings(Int64(lines.count))
        #expect(daemon.terminate() == 0)
        return daemon.database
    }

    func run(_ db: String, _ args: [String]) throws -> (code: Int32, stdout: String, stderr: String) {
        try ZhizaoBinary.run(args + ["--db", db, "--devices", Self.registry])
    }

    func json(_ db: String, _ args: [String]) throws -> [[String: Any]] {
        let r = try run(db, ["indicators", "--format", "json"] + args)
        #expect(r.code == 0, "\(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
    }

    func figure(_ row: [String: Any], _ key: String) -> Double? { (row["indicators"] as? [String: Any])?[key] as? Double }

    func close(_ a: Double?, _ b: Double, _ what: String = "") {
        #expect(a.map { abs($0 - b) < 1e-6 * max(1, abs(b)) } == true, "\(String(describing: a)) ≠ \(b) \(what)")
    }

    @Test(arguments: Backend.allCases)
    func windowsUnitsScopesValueAddedAndSitesThroughTheRealDaemon(backend: Backend) throws {
        let db = try Self.filledDatabase(backend: backend)
        // The issue's window: exactly 24 h, not the stored days it touches.
        let issue = try json(
            db, ["--scope", "site:cn-sz", "--every", "all", "--from", "2026-11-02T12:00+08:00", "--to", "2026-11-03T12:00+08:00"])
        try #require(issue.count == 1)
        #expect(issue[0]["start"] as? String == "2026-11-02T12:00+08:00")
        // Wh and MWh registers in kWh: 1,440 + 720; gas 48 m³, steam 2.4 t, 240 good.
        close(figure(issue[0], "electricity_kwh"), 2160)
        close(figure(issue[0], "good_units"), 240)
        close(figure(issue[0], "energy_kgce"), 632.3904)
        close(figure(issue[0], "co2_scope1_kg"), 103.776)
        close(figure(issue[0], "co2_scope2_kg"), 1759.056)
        let scopes = (issue[0]["indicators"] as? [String: Any])?["co2_scopes"] as? [String: [String]]
        #expect(scopes == ["scope1": ["natural_gas"], "scope2": ["electricity", "steam"]])
        // OEE's planned busy time over the same window: 23 h (see the unit test).
        let line = try json(
            db, ["--scope", "line:line-a", "--every", "all", "--from", "2026-11-02T12:00+08:00", "--to", "2026-11-03T12:00+08:00"])
        close(((line.first?["indicators"] as? [String: Any])?["oee"] as? [String: Any])?["pbt_h"] as? Double, 23)

        // Ragged edges: 22.75 h × 90 kWh; the table says which CO2 scopes a row includes.
        let ragged = try json(
            db, ["--scope", "site:cn-sz", "--every", "all", "--from", "2026-11-02T12:30+08:00", "--to", "2026-11-03T11:15+08:00"])
        close(ragged.first.flatMap { figure($0, "electricity_kwh") }, 2047.5)
        let table = try run(db, ["indicators", "--scope", "site:cn-sz", "--every", "all", "--from", "2026-11-02", "--to", "2026-11-04"])
        #expect(table.code == 0 && table.stdout.contains("CO2 scopes") && table.stdout.contains("1+2"), "\(table.stdout)")
        // query cuts its first window at --from too: em-a's Wh register, 12:30–13:00 = 30,000 Wh.
        let query = try run(
            db,
            [
                "query", "--device", "em-a", "--metric", "energy", "--from", "2026-11-02T12:30+08:00", "--to",
                "2026-11-02T14:00+08:00", "--every", "1h", "--format", "csv",
            ])
        #expect(query.stdout.contains("\n2026-11-02T12:30+08:00,30000.0,"), "\(query.stdout)")

        // Value added per month: November whole gives tce per 10,000 yuan, half of it gives none.
        let set = try run(db, ["value-added", "--period", "2026-11", "--scope", "site:cn-sz", "--yuan", "2000000"])
        #expect(set.code == 0, "\(set.stderr)")
        let month = try json(db, ["--scope", "site:cn-sz", "--every", "1mo", "--from", "2026-11", "--to", "2026-12"])
        close(month.first.flatMap { figure($0, "tce_per_10k_yuan") }, 0.004942524)
        close(month.first.flatMap { figure($0, "co2_kg_per_10k_yuan") }, 16.33984)
        let half = try json(db, ["--scope", "site:cn-sz", "--every", "1mo", "--from", "2026-11", "--to", "2026-11-16"])
        try #require(half.count == 1)
        #expect(figure(half[0], "tce_per_10k_yuan") == nil)
        let notes = (half[0]["indicators"] as? [String: Any])?["notes"] as? [String] ?? []
        #expect(notes.contains { $0.contains("2026-11 is only partly in this window") }, "\(notes)")

        // Berlin: its own zone for the times typed and printed, its 25-hour day, its factors.
        let berlin = try json(db, ["--scope", "site:de-be", "--every", "1d", "--from", "2026-10-24", "--to", "2026-10-27"])
        #expect(
            berlin.compactMap { $0["start"] as? String } == [
                "2026-10-24T00:00+02:00", "2026-10-25T00:00+02:00", "2026-10-26T00:00+01:00",
            ])
        #expect(berlin.compactMap { figure($0, "electricity_kwh") } == [120, 250, 120])
        close(berlin.count == 3 ? figure(berlin[1], "co2_scope2_kg") : nil, 95)
        close(berlin.count == 3 ? figure(berlin[1], "energy_kgce") : nil, 50)
        let shift = try json(db, ["--scope", "site:de-be", "--every", "shift", "--from", "2026-10-25", "--to", "2026-10-26"])
        #expect(shift.compactMap { $0["start"] as? String } == ["2026-10-25T06:00+01:00 shift day"])
        close(shift.first.flatMap { figure($0, "electricity_kwh") }, 160)
    }
}
