import Aggregation
import Foundation
import PlantRegistry
import ReadingStore
import Telemetry
import Testing

/// Closed periods through the real daemon and broker: a late reading for a closed month is
/// stored, leaves the closed figures as they were and shows beside them; a reopen folds it in,
/// after which the figures equal a rebuild; value-added and rebuild refuse without --reopen.
@Suite("Closed periods end to end", .serialized)
struct ClosedPeriodEndToEndTests {
    /// `zhizao <args> --db <db> --devices <shipped>`.
    func zhizao(_ args: [String], db: String) throws -> (code: Int32, stdout: String, stderr: String) {
        try ZhizaoBinary.run(args + ["--db", db, "--devices", ZhizaoBinary.shippedDevices])
    }

    /// Same, which must succeed.
    func ok(_ args: [String], db: String) throws -> String {
        let r = try zhizao(args, db: db)
        guard r.code == 0 else { throw TestFailure("zhizao \(args.joined(separator: " ")): \(r.stderr)") }
        return r.stdout
    }

    /// The one row `indicators --every all --format json` prints for a scope and window.
    func indicators(_ scope: String, from: String, to: String, db: String) throws -> [String: Any] {
        let json = try ok(["indicators", "--scope", scope, "--from", from, "--to", to, "--every", "all", "--format", "json"], db: db)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        return try #require(rows.count == 1 ? rows[0] : nil, "one row: \(json)")
    }

    func kwh(_ row: [String: Any]) -> Double? { (row["indicators"] as? [String: Any])?["electricity_kwh"] as? Double }
    /// Within floating-point noise of `expected` (use is spread minute by minute, then summed).
    func near(_ value: Double?, _ expected: Double) -> Bool { value.map { abs($0 - expected) < 1e-9 } ?? false }
    func pending(_ row: [String: Any]) -> [String: Any]? { row["pending_adjustment"] as? [String: Any] }

    /// The assembly workshop's main meter (a native JSON reading) at a site time.
    func publishEnergy(_ broker: TestBroker, _ siteTime: String, _ kwh: Double) throws {
        let ms = try #require(Timestamp.parseRFC3339(siteTime))
        try Publisher.publish(
            broker, topic: "zhizao/v1/ws-assembly/x", #"[{"device":"em-asm-main","ts":\#(ms),"metrics":{"energy":\#(kwh)}}]"#)
    }

    /// em-asm-main's energy per local day from 30 November to 2 December: start → (consumption, readings).
    func meterDays(_ db: String) throws -> [String: [Double]] {
        let json = try ok(
            [
                "query", "--device", "em-asm-main", "--metric", "energy", "--every", "1d", "--from", "2026-11-30", "--to", "2026-12-02",
                "--format", "json",
            ],
            db: db)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        var out: [String: [Double]] = [:]
        for r in rows {
            out[String((r["start"] as? String ?? "").prefix(10))] = [
                r["consumption"] as? Double ?? .nan, Double(r["readings"] as? Int ?? -1),
            ]
        }
        return out
    }

    /// Every stored scope total (scope, period, start, quantity → value) in [from, to).
    func scopeTotals(_ db: String, from: Int64, to: Int64) throws -> [String: Double] {
        let reader = try StoreReader(path: db)
        var out: [String: Double] = [:]
        for scope in ["site:sz-baoan", "workshop:ws-assembly", "workshop:ws-machining"].compactMap(Scope.init) {
            for period in ["hour", "day"] {
                for (start, totals) in try reader.scopeTotals(scope: scope, period: period, from: from, to: to) {
                    for (q, v) in totals { out["\(scope) \(period) \(start) \(q)"] = v }
                }
            }
        }
        return out
    }

    @Test func aLateReadingForAClosedMonthIsHeldBesideItsFiguresUntilReopened() throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("periods")
        let db = dir + "/z.sqlite"
        let daemon = try DaemonProcess(broker: broker, database: db)
        try daemon.start()

        // em-asm-main (the assembly workshop's main meter; the site has no electricity main, so
        // the site's electricity is its workshops'): 1000 kWh at 22:00 and 1010 at 23:00 on
        // 30 November, 1050 at 01:00 on 1 December (site time, +08:00).
        try publishEnergy(broker, "2026-11-30T22:00:00+08:00", 1000)
        try publishEnergy(broker, "2026-11-30T23:00:00+08:00", 1010)
        try publishEnergy(broker, "2026-12-01T01:00:00+08:00", 1050)
        try daemon.waitForReadings(3)
        // November: 22→23 is 10 kWh, and half of 23:00→01:00's 40 kWh: 30 kWh. December: 20 kWh.
        let nov = ["--from", "2026-11", "--to", "2026-12"]
        #expect(near(kwh(try indicators("workshop:ws-assembly", from: nov[1], to: nov[3], db: db)), 30))
        #expect(near(kwh(try indicators("workshop:ws-assembly", from: "2026-12-01", to: "2026-12-02", db: db)), 20))

        // The meter's own days: 30 kWh from 2 readings on the 30th, 20 kWh from 1 on the 1st.
        #expect(try meterDays(db).mapValues { $0.map { ($0 * 1e6).rounded() / 1e6 } } == ["2026-11-30": [30, 2], "2026-12-01": [20, 1]])

        // Close November for the whole site (no --scope), with the daemon running.
        let closed = try ok(["close", "--period", "2026-11"], db: db)
        #expect(closed.contains("closed 2026-11 site:sz-baoan"), "\(closed)")
        let again = try zhizao(["close", "--period", "2026-11", "--scope", "line:line-motor"], db: db)
        #expect(again.code == 1 && again.stderr.contains("already closed: 2026-11 site:sz-baoan"), "\(again.stderr)")
        let ongoing = try zhizao(["close", "--period", "2099-01"], db: db)
        #expect(ongoing.code == 1 && ongoing.stderr.contains("2099-01 has not ended yet"), "\(ongoing.stderr)")
        let ragged = try zhizao(["close", "--from", "2026-11-01T06:00:00+08:00", "--to", "2026-11-02"], db: db)
        #expect(ragged.code == 2 && ragged.stderr.contains("--from 2026-11-01T06:00:00+08:00 is not the start of a local day"))

        // Late readings: 995 kWh at 21:00 on the 30th (adds 21→22: 5 kWh to November) and
        // 1040 at midnight (23→00 now 30 kWh, all November; 00→01 10 kWh, December). Live
        // November would be 5 + 10 + 30 = 45 kWh: the closed 30 stay, +15 is pending. December
        // is open and takes its change at once: 20 → 10 kWh.
        try publishEnergy(broker, "2026-11-30T21:00:00+08:00", 995)
        try publishEnergy(broker, "2026-12-01T00:00:00+08:00", 1040)
        try daemon.waitForReadings(5)
        #expect(try daemon.status().messagesQuarantined == 0, "late readings for a closed period are stored, not quarantined")
        for scope in ["workshop:ws-assembly", "site"] {
            let row = try indicators(scope, from: nov[1], to: nov[3], db: db)
            #expect(near(kwh(row), 30), "\(scope): the closed figure stands")
            let p = try #require(pending(row), "\(scope): \(row)")
            #expect(near(p["electricity_kwh"] as? Double, 15))
            // 15 kWh × 0.1229 kgce/kWh = 1.8435 kgce.
            #expect(near(p["energy_kgce"] as? Double, 1.8435))
            #expect(p["closed_periods"] as? [String] == ["2026-11 site:sz-baoan"])
            let notes = (row["indicators"] as? [String: Any])?["notes"] as? [String] ?? []
            #expect(notes.contains { $0.hasPrefix("closed period 2026-11 site:sz-baoan") && $0.contains("+15 kWh") }, "\(notes)")
        }
        let december = try indicators("workshop:ws-assembly", from: "2026-12-01", to: "2026-12-02", db: db)
        #expect(near(kwh(december), 10) && pending(december) == nil)
        // A day of November shows its own part: all 15 kWh fall on the 30th, none on the 29th.
        let day30 = try indicators("workshop:ws-assembly", from: "2026-11-30", to: "2026-12-01", db: db)
        #expect(near(kwh(day30), 30) && near(pending(day30)?["electricity_kwh"] as? Double, 15))
        // The table and CSV show the pending column beside the figures.
        let table = try ok(["indicators", "--scope", "workshop:ws-assembly"] + nov + ["--every", "all"], db: db)
        #expect(table.contains("pending adj. kWh") && table.contains("note: closed period 2026-11 site:sz-baoan"), "\(table)")
        let csv = try ok(["indicators", "--scope", "workshop:ws-assembly"] + nov + ["--every", "all", "--format", "csv"], db: db)
        #expect(csv.split(separator: "\n").last?.contains(",15.0,1.8,0,") == true, "\(csv)")
        // The meter's own 30th reads as closed too (30 kWh, 2 readings); the open 1st is live:
        // 10 kWh from 2 readings (00:00 and 01:00).
        #expect(try meterDays(db).mapValues { $0.map { ($0 * 1e6).rounded() / 1e6 } } == ["2026-11-30": [30, 2], "2026-12-01": [10, 2]])
        // The report carries the same note under its figures; `query` says the window touches a closed period.
        _ = try ok(["report", "--scope", "site"] + nov + ["--out", dir + "/r.html"], db: db)
        let html = try String(contentsOfFile: dir + "/r.html", encoding: .utf8)
        #expect(html.contains("closed period 2026-11 site:sz-baoan: figures as reported; late readings pending beside them: +15 kWh"))
        let query = try zhizao(["query", "--device", "em-asm-main", "--metric", "energy", "--every", "1d"] + nov, db: db)
        #expect(query.code == 0 && query.stderr.contains("the window touches closed period 2026-11 site:sz-baoan"), "\(query.stderr)")
        // `zhizao periods` lists the closure with what is pending for the site itself.
        let listed = try ok(["periods", "--format", "json"], db: db)
        let periods = try #require(try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [[String: Any]])
        #expect(
            periods.count == 1 && periods.first?["period"] as? String == "2026-11" && periods.first?["scope"] as? String == "site:sz-baoan")
        #expect(near((periods.first?["pending"] as? [String: Any])?["electricity_kwh"] as? Double, 15))

        // Changes to the closed month are refused, naming the period and the flag.
        let va = try zhizao(["value-added", "--period", "2026-11", "--scope", "workshop:ws-assembly", "--yuan", "5000000"], db: db)
        #expect(va.code == 1 && va.stderr.contains("--period 2026-11 touches closed period 2026-11 site:sz-baoan"), "\(va.stderr)")
        #expect(va.stderr.contains("pass --reopen"))
        let october = try zhizao(["value-added", "--period", "2026-10", "--scope", "site", "--yuan", "4000000"], db: db)
        #expect(october.code == 0, "an open month: \(october.stderr)")

        // Reopen: the pending 15 kWh are folded in, November is 45 kWh, nothing is pending.
        let reopened = try ok(["reopen", "--period", "2026-11"], db: db)
        #expect(reopened.contains("reopened 2026-11 site:sz-baoan: folded"), "\(reopened)")
        let folded = try indicators("workshop:ws-assembly", from: nov[1], to: nov[3], db: db)
        #expect(near(kwh(folded), 45) && pending(folded) == nil, "\(folded)")
        #expect(near(kwh(try indicators("site", from: nov[1], to: nov[3], db: db)), 45))
        // Reopened, the meter's 30th takes the late reading: 45 kWh from 3 readings.
        #expect(try meterDays(db).mapValues { $0.map { ($0 * 1e6).rounded() / 1e6 } } == ["2026-11-30": [45, 3], "2026-12-01": [10, 2]])
        let reopenedTotals = try scopeTotals(
            db, from: Timestamp.parseRFC3339("2026-11-01T00:00:00+08:00")!, to: Timestamp.parseRFC3339("2026-12-02T00:00:00+08:00")!)

        // Closed again for the workshop: value-added --reopen reopens it (audited) and records.
        _ = try ok(["close", "--period", "2026-11", "--scope", "workshop:ws-assembly"], db: db)
        _ = try ok(["value-added", "--period", "2026-11", "--scope", "workshop:ws-assembly", "--yuan", "5000000", "--reopen"], db: db)
        #expect(try StoreReader(path: db).closedPeriods().isEmpty)

        // Closed again for the site; with the daemon stopped, a rebuild is refused, then with --reopen runs.
        _ = try ok(["close", "--period", "2026-11"], db: db)
        #expect(daemon.terminate() == 0)
        let refused = try zhizao(["rebuild"], db: db)
        #expect(refused.code == 1 && refused.stderr.contains("closed period 2026-11 site:sz-baoan") && refused.stderr.contains("--reopen"))
        let ranged = try zhizao(["rebuild", "--from", "2026-11-30", "--to", "2026-12-01"], db: db)
        #expect(ranged.code == 1 && ranged.stderr.contains("--from/--to touches closed period 2026-11 site:sz-baoan"), "\(ranged.stderr)")
        _ = try ok(["rebuild", "--reopen"], db: db)
        let rebuilt = try scopeTotals(
            db, from: Timestamp.parseRFC3339("2026-11-01T00:00:00+08:00")!, to: Timestamp.parseRFC3339("2026-12-02T00:00:00+08:00")!)
        // The figures after the reopen equal a rebuild of the same readings, row for row.
        #expect(Set(rebuilt.keys) == Set(reopenedTotals.keys))
        for (key, value) in rebuilt { #expect(abs(value - (reopenedTotals[key] ?? .nan)) < 1e-9, "\(key)") }
        #expect(rebuilt.keys.contains { $0.hasPrefix("workshop:ws-assembly day") })

        // The audit trail: each close and reopen, with who reopened and what was folded.
        let audit = try StoreReader(path: db).audit().filter { $0.subject.hasPrefix("period ") }
        #expect(audit.map(\.command) == ["close", "reopen", "close", "value-added", "close", "rebuild"])
        #expect(audit[0].subject == "period 2026-11 site:sz-baoan")
        #expect(audit[0].after?.hasPrefix("closed; frozen site:sz-baoan, workshop:") == true, "\(audit[0])")
        #expect(audit[0].after?.contains("workshop:ws-assembly, line:line-motor") == true, "\(audit[0])")
        // What the site's November held at close (30 kWh), and what the reopen folded (15 kWh).
        #expect(audit[0].after?.contains("consumption.electricity 30") == true, "\(audit[0])")
        #expect(audit[1].after?.contains("folded") == true && audit[1].after?.contains("consumption.electricity 15") == true, "\(audit[1])")
        #expect(audit[1].before?.hasPrefix("closed ") == true)
        #expect(audit[3].subject == "period 2026-11 workshop:ws-assembly" && audit[3].after?.contains("nothing pending") == true)
    }

    @Test func closuresOfRelatedScopesCannotOverlapAndReopenFindsThemByScope() throws {
        let dir = try temporaryDirectory("periods-scopes")
        let db = dir + "/z.sqlite"
        _ = try SQLiteStore(path: db)
        // Two unrelated scopes close the same month; the site, which holds both, cannot.
        _ = try ok(["close", "--period", "2026-11", "--scope", "line:line-motor"], db: db)
        _ = try ok(["close", "--period", "2026-11", "--scope", "workshop:ws-machining"], db: db)
        let site = try zhizao(["close", "--from", "2026-11-20", "--to", "2026-12-01"], db: db)
        #expect(site.code == 1, "\(site.stderr)")
        #expect(site.stderr.contains("already closed: 2026-11 line:line-motor, 2026-11 workshop:ws-machining"), "\(site.stderr)")
        // The next month is free; a day of it too, for another line.
        _ = try ok(["close", "--period", "2026-10-05", "--scope", "line:line-pump"], db: db)
        let listed = try ok(["periods", "--format", "csv"], db: db).split(separator: "\n")
        #expect(listed.count == 4, "header and three closures: \(listed)")
        #expect(
            listed.dropFirst().map { $0.split(separator: ",").prefix(2).joined(separator: " ") }.sorted()
                == ["2026-10-05 line:line-pump", "2026-11 line:line-motor", "2026-11 workshop:ws-machining"])
        // Reopening the machining workshop's line reopens the workshop's closure, and only it.
        let reopened = try ok(["reopen", "--period", "2026-11", "--scope", "line:line-shaft"], db: db)
        #expect(
            reopened.split(separator: "\n") == ["reopened 2026-11 workshop:ws-machining: folded 0 late adjustment row(s) into its figures"])
        #expect(try StoreReader(path: db).closedPeriods().map(\.name) == ["2026-10-05 line:line-pump", "2026-11 line:line-motor"])
        // An unknown scope is named with the known ones; a day that is not a day is refused.
        let unknown = try zhizao(["close", "--period", "2026-11", "--scope", "line:nope"], db: db)
        #expect(unknown.code == 2 && unknown.stderr.contains("unknown scope line:nope for --scope"), "\(unknown.stderr)")
        let bad = try zhizao(["close", "--period", "2026-11-31"], db: db)
        #expect(bad.code == 2 && bad.stderr.contains("--period 2026-11-31 is not a month or a day"), "\(bad.stderr)")
    }
}
