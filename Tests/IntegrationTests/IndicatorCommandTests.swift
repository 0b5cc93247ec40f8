import Foundation
import ReadingStore
import Testing

/// `zhizao indicators` over a database the real daemon filled from the simulated plant.
@Suite("Indicators end to end", .serialized)
struct IndicatorCommandTests {
    /// A database with `duration` (two days) of the example plant up to now, ingested by the
    /// daemon: a SQLite file or a PostgreSQL database (a URL), as `backend` says.
    static func filledDatabase(duration: String = "2d", backend: Backend = .sqlite) throws -> String {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("indicators")
        let daemon = try DaemonProcess(broker: broker, database: try backend.newStore(in: dir), logPath: dir + "/daemon.log")
        try daemon.start()
        let r = try ZhizaoBinary.run([
            "simulate", "--broker", broker.url, "--devices", ZhizaoBinary.shippedDevices,
            "--duration", duration, "--speed", "max", "--seed", "21", "--format", "json",
        ])
        #expect(r.code == 0, "\(r.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        try daemon.waitForSettled(Int64(report?["readings_expected"] as? Int ?? 0))
        #expect(daemon.terminate() == 0)
        return daemon.database
    }

    func json(_ args: [String]) throws -> [[String: Any]] {
        let r = try ZhizaoBinary.run(["indicators", "--devices", ZhizaoBinary.shippedDevices, "--format", "json"] + args)
        #expect(r.code == 0, "\(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
    }

    @Test(arguments: Backend.allCases)
    func figuresAddUpAcrossTheTreeAndCompareWithABaseline(backend: Backend) throws {
        let db = try Self.filledDatabase(backend: backend)
        let byWorkshop = try json(["--db", db, "--by", "workshop", "--from", "-3d", "--to", "now"])
        let site = try json(["--db", db, "--scope", "site", "--from", "-3d", "--to", "now", "--every", "all"])
        #expect(byWorkshop.count == 2 && site.count == 1)
        func figure(_ row: [String: Any], _ key: String) -> Double? { (row["indicators"] as? [String: Any])?[key] as? Double }
        let workshopsKWh = byWorkshop.compactMap { figure($0, "electricity_kwh") }.reduce(0, +)
        let siteKWh = try #require(figure(site[0], "electricity_kwh"))
        #expect(siteKWh > 1000)
        // The site is its two workshops' main meters plus the office feeder's integrated power,
        // nothing counted twice.
        let office = try openTelemetryReader(db).minuteRollups(device: "em-office", metric: "power", from: 0, to: .max)
            .map(\.consumption).reduce(0, +)
        #expect(office > 100)
        #expect(abs(siteKWh - workshopsKWh - office) < 1e-6 * siteKWh)
        let good = try #require(figure(site[0], "good_units"))
        #expect(abs(try #require(figure(site[0], "kwh_per_good_unit")) - siteKWh / good) < 1e-9)
        #expect(figure(site[0], "static_control_rate") == 10.0 / 15)
        let operational = try #require(figure(site[0], "operational_control_rate"))
        #expect(operational > 0.3 && operational < 1)

        // Daily rows in site time, then the same window against itself as a baseline: 0% change.
        let daily = try json(["--db", db, "--scope", "site", "--from", "-3d", "--to", "now", "--every", "1d"])
        #expect(daily.count >= 2)
        #expect(daily.allSatisfy { ($0["start"] as? String)?.hasSuffix("T00:00+08:00") == true })
        let dailyKWh = daily.compactMap { figure($0, "electricity_kwh") }.reduce(0, +)
        #expect(abs(dailyKWh - siteKWh) < 1e-6 * siteKWh)
        let compared = try json([
            "--db", db, "--scope", "site", "--from", "-3d", "--to", "now", "--every", "all",
            "--baseline", "-3d..now",
        ])
        let change = try #require(compared[0]["change_pct"] as? [String: Double])
        #expect(abs(try #require(change["kgce_per_good_unit"])) < 1e-9)
    }

    @Test func valueAddedOfAMonthInProgressGivesNoFigureAndSaysWhy() throws {
        let db = try Self.filledDatabase()
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM"
        f.timeZone = TimeZone(identifier: "Asia/Shanghai")
        let month = f.string(from: Date())
        let set = try ZhizaoBinary.run([
            "value-added", "--db", db, "--devices", ZhizaoBinary.shippedDevices,
            "--period", month, "--scope", "site", "--yuan", "20000000",
        ])
        #expect(set.code == 0, "\(set.stderr)")
        let rows = try json(["--db", db, "--scope", "site", "--from", month, "--to", "now", "--every", "1mo"])
        let monthRow = try #require(rows.first)
        let i = try #require(monthRow["indicators"] as? [String: Any])
        // The month is not over yet: the window holds part of it, so its value added divides
        // nothing (whole months are in ExactWindowEndToEndTests), and a note says so.
        #expect(i["energy_kgce"] as? Double != nil)
        #expect(i["tce_per_10k_yuan"] == nil && i["kgce_per_10k_yuan"] == nil)
        #expect((i["notes"] as? [String])?.contains { $0.contains("\(month) is only partly in this window") } == true)
        let bad = try ZhizaoBinary.run([
            "value-added", "--db", db, "--devices", ZhizaoBinary.shippedDevices,
            "--period", "November", "--yuan", "1",
        ])
        #expect(bad.code == 2)
        #expect(bad.stderr.contains("YYYY-MM"))
    }

    @Test func unknownScopeNamesTheNearestAndExitsTwo() throws {
        let dir = try temporaryDirectory("scope")
        _ = try SQLiteStore(path: dir + "/z.sqlite")
        let r = try ZhizaoBinary.run([
            "indicators", "--db", dir + "/z.sqlite", "--devices", ZhizaoBinary.shippedDevices,
            "--scope", "workshop:ws-machinng",
        ])
        #expect(r.code == 2)
        #expect(r.stderr.contains("workshop:ws-machining"))
        let empty = try ZhizaoBinary.run(["indicators", "--db", dir + "/z.sqlite", "--devices", ZhizaoBinary.shippedDevices])
        #expect(empty.code == 0)
        #expect(empty.stdout.contains("no figures stored"))
    }
}
