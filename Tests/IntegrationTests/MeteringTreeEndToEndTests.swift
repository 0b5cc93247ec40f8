import Foundation
import Testing

/// The metering tree, products and on-site media on a database the real daemon filled, read
/// back through `zhizao indicators` and `zhizao quality`.
@Suite("Metering tree end to end", .serialized)
struct MeteringTreeEndToEndTests {
    /// The plant of the metering-tree tests: ws1 makes shafts (intermediate, l1) and motors
    /// (final, factor 1, l2); ws2 makes pumps (final, factor 0.5, l3).
    static let plant = try! String(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/metering-tree/plant.yaml"), encoding: .utf8)

    /// The issue's layout in the older roles: the site main, the workshop's own feeder marked
    /// `sub`, a line meter inside it; on-site compressed air on line l1; one counter per line.
    static let gateway = """
        gateway: gw-t
        decoder: native
        topic: zz/t/#
        devices:
          - {id: site-main, meter_role: main, metrics: [{name: e, kind: counter, unit: kWh, measures: energy, carrier: electricity}]}
          - {id: ws1-feeder, workshop: ws1, meter_role: sub, metrics: [{name: e, kind: counter, unit: kWh, measures: energy, carrier: electricity}]}
          - {id: l1-meter, workshop: ws1, line: l1, meter_role: sub, metrics: [{name: e, kind: counter, unit: kWh, measures: energy, carrier: electricity}]}
          - {id: air-l1, workshop: ws1, line: l1, origin: on_site, metrics: [{name: e, kind: counter, unit: m3, measures: energy, carrier: compressed_air}]}
          - {id: cnt-l1, workshop: ws1, line: l1, metrics: [{name: good, kind: counter, unit: pcs, measures: good_count}]}
          - {id: cnt-l2, workshop: ws1, line: l2, metrics: [{name: good, kind: counter, unit: pcs, measures: good_count}]}
          - {id: cnt-l3, workshop: ws2, line: l3, metrics: [{name: good, kind: counter, unit: pcs, measures: good_count}]}
        """

    /// 2025-11-24T10:00+08:00: reads at 10:00, 11:00 and 12:00 close the hours 10:00 and 11:00.
    static let t0: Int64 = 1_763_949_600_000

    static func registry() throws -> String {
        let dir = try temporaryDirectory("tree-registry")
        try FileManager.default.createDirectory(atPath: dir + "/gateways", withIntermediateDirectories: true)
        try plant.write(toFile: dir + "/plant.yaml", atomically: true, encoding: .utf8)
        try gateway.write(toFile: dir + "/gateways/gw-t.yaml", atomically: true, encoding: .utf8)
        return dir
    }

    @Test(arguments: Backend.allCases)
    func theTreeProductsAndMediaFromADaemonFilledDatabase(backend: Backend) throws {
        let devices = try Self.registry()
        let broker = try TestBroker()
        let dir = try temporaryDirectory("tree")
        let daemon = try DaemonProcess(
            broker: broker, database: try backend.newStore(in: dir), devices: devices, logPath: dir + "/daemon.log")
        try daemon.start()
        // Register reads at 10:00, 11:00, 12:00. Hour 10: site 1,000 kWh, workshop feeder 600,
        // line 400, air 500 m3, good 100 shafts, 40 motors, 60 pumps. Hour 11: site 1,000,
        // feeder 600, line 700 (more than its feeder: a balance failure), nothing else.
        let reads: [String: [Double]] = [
            "site-main": [0, 1000, 2000], "ws1-feeder": [0, 600, 1200], "l1-meter": [0, 400, 1100],
            "air-l1": [0, 500, 500], "cnt-l1": [0, 100, 100], "cnt-l2": [0, 40, 40], "cnt-l3": [0, 60, 60],
        ]
        var lines: [String] = []
        for (device, values) in reads.sorted(by: { $0.key < $1.key }) {
            let metric = device.hasPrefix("cnt") ? "good" : "e"
            for (k, v) in values.enumerated() {
                lines.append(#"{"device":"\#(device)","ts":\#(Self.t0 + Int64(k) * 3_600_000),"metrics":{"\#(metric)":\#(v)}}"#)
            }
        }
        try Publisher.stream(broker, topic: "zz/t/all", lines: lines)
        try daemon.waitForReadings(Int64(lines.count))
        #expect(daemon.terminate() == 0)

        func indicators(_ args: [String]) throws -> [[String: Any]] {
            let r = try ZhizaoBinary.run(
                ["indicators", "--db", daemon.database, "--devices", devices, "--format", "json"] + args)
            #expect(r.code == 0, "\(r.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        }
        func hour(_ scope: String, _ h: Int) throws -> [String: Any] {
            let rows = try indicators([
                "--scope", scope, "--from", "2025-11-24T\(h):00:00+08:00", "--to", "2025-11-24T\(h + 1):00:00+08:00", "--every", "1h",
            ])
            return try #require(rows.first?["indicators"] as? [String: Any])
        }
        func close(_ a: Any?, _ b: Double) -> Bool { (a as? Double).map { abs($0 - b) < 1e-6 } ?? false }

        // Hour 10: workshop = its feeder 600 (not 600 + 400), unmetered 600 − 400 = 200.
        let ws = try hour("workshop:ws1", 10)
        #expect(close(ws["electricity_kwh"], 600) && close((ws["unmetered"] as? [String: Any])?["electricity"], 200), "\(ws)")
        #expect(ws["balance_violation_hours"] as? Int == 0)
        // Site = its main 1,000, unmetered 1,000 − 600 = 400; output = final products only:
        // 40 motors × 1 + 60 pumps × 0.5 = 70 standard units (the 100 shafts are intermediate);
        // comprehensive energy 1,000 × 0.1229 = 122.9 kgce without the air made on site
        // (500 m3 × 0.04 = 20 kgce, shown apart).
        let site = try hour("site", 10)
        #expect(close(site["electricity_kwh"], 1000) && close((site["unmetered"] as? [String: Any])?["electricity"], 400), "\(site)")
        #expect(close(site["good_units"], 70) && close(site["kwh_per_good_unit"], 1000.0 / 70))
        #expect(close(site["energy_kgce"], 122.9) && close(site["on_site_media_kgce"], 20))
        // The line: 400 kWh × 0.1229 + 20 kgce of air allocated = 69.16 kgce for 100 shafts.
        let line = try hour("line:l1", 10)
        #expect(close(line["energy_kgce"], 69.16) && close(line["kgce_per_good_unit"], 0.6916), "\(line)")
        #expect(line["unmetered"] == nil)

        // Hour 11: the line's 700 kWh exceed the feeder's 600 + 2% = 612 by 88.
        let failing = try hour("workshop:ws1", 11)
        #expect(failing["balance_violation_hours"] as? Int == 1, "\(failing)")
        let q = try ZhizaoBinary.run([
            "quality", "--db", daemon.database, "--devices", devices, "--from", "2025-11-24", "--to", "2025-11-25",
            "--format", "json",
        ])
        #expect(q.code == 0, "\(q.stderr)")
        let events = try #require(try JSONSerialization.jsonObject(with: Data(q.stdout.utf8)) as? [[String: Any]])
        let balance = events.filter { $0["kind"] as? String == "balance" }
        #expect(balance.count == 1, "\(events)")
        #expect(balance.first?["device"] as? String == "workshop:ws1" && balance.first?["metric"] as? String == "electricity")
        #expect(close(balance.first?["amount"], 88) && (balance.first?["start"] as? String)?.hasPrefix("2025-11-24T11:00") == true)

        // One row per product over the day, each in its own unit.
        let products = try indicators(["--scope", "site", "--by", "product", "--from", "2025-11-24", "--to", "2025-11-25"])
        #expect(products.compactMap { $0["product"] as? String } == ["shaft", "motor", "pump"])
        #expect(products.compactMap { ($0["indicators"] as? [String: Any])?["good_units"] as? Double } == [100, 40, 60])
    }

    @Test(arguments: Backend.allCases)
    func withoutAFactorUnlikeProductsGetNoPerUnitFigure(backend: Backend) throws {
        let devices = try Self.registry()
        try Self.plant.replacingOccurrences(of: ", factor: 0.5", with: "")
            .write(toFile: devices + "/plant.yaml", atomically: true, encoding: .utf8)
        let broker = try TestBroker()
        let dir = try temporaryDirectory("tree-unlike")
        let daemon = try DaemonProcess(
            broker: broker, database: try backend.newStore(in: dir), devices: devices, logPath: dir + "/daemon.log")
        try daemon.start()
        var lines: [String] = []
        for (device, metric, values) in [("site-main", "e", [0.0, 1000]), ("cnt-l2", "good", [0, 40]), ("cnt-l3", "good", [0, 60])] {
            for (k, v) in values.enumerated() {
                lines.append(#"{"device":"\#(device)","ts":\#(Self.t0 + Int64(k) * 3_600_000),"metrics":{"\#(metric)":\#(v)}}"#)
            }
        }
        try Publisher.stream(broker, topic: "zz/t/all", lines: lines)
        try daemon.waitForReadings(Int64(lines.count))
        #expect(daemon.terminate() == 0)
        let r = try ZhizaoBinary.run([
            "indicators", "--db", daemon.database, "--devices", devices, "--scope", "site", "--from", "2025-11-24",
            "--to", "2025-11-25", "--every", "all",
        ])
        #expect(r.code == 0, "\(r.stderr)")
        // Motors and pumps without the pump's factor: no kWh per unit over 100 unlike units.
        #expect(r.stdout.contains("unlike units") && r.stdout.contains("--by product"), "\(r.stdout)")
        let json = try ZhizaoBinary.run([
            "indicators", "--db", daemon.database, "--devices", devices, "--scope", "site", "--from", "2025-11-24",
            "--to", "2025-11-25", "--every", "all", "--format", "json",
        ])
        let row = try #require((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])?.first)
        let i = try #require(row["indicators"] as? [String: Any])
        #expect(i["kwh_per_good_unit"] == nil && (i["good_by_product"] as? [String: Double]) == ["motor": 40, "pump": 60])
    }
}
