import Aggregation
import Foundation
import PlantRegistry
import PostgresClient
import Telemetry
import Testing

@testable import ReadingStore

/// The commands that change figures (close, reopen, value-added, rebuild, prune, backup) with
/// `--db postgresql://…`, while the real daemon writes the same database through the real
/// broker. Assertions read the tables directly.
@Suite("PostgreSQL: closed periods, rebuild and retention", .serialized)
struct PostgresAdminTests {
    /// `zhizao <args> --db <url> --devices <devices>`.
    func zhizao(_ args: [String], _ server: TestPostgres, devices: String = ZhizaoBinary.shippedDevices) throws -> (
        code: Int32, stdout: String, stderr: String
    ) {
        try ZhizaoBinary.run(args + ["--db", server.url, "--devices", devices])
    }

    /// Same, which must succeed.
    func ok(_ args: [String], _ server: TestPostgres, devices: String = ZhizaoBinary.shippedDevices) throws -> String {
        let r = try zhizao(args, server, devices: devices)
        guard r.code == 0 else { throw TestFailure("zhizao \(args.joined(separator: " ")): \(r.stderr)") }
        return r.stdout
    }

    /// The assembly workshop's main meter (a native JSON reading) at a site time.
    func publishEnergy(_ broker: TestBroker, _ siteTime: String, _ kwh: Double) throws {
        let ms = try #require(Timestamp.parseRFC3339(siteTime))
        try Publisher.publish(
            broker, topic: "zhizao/v1/ws-assembly/x", #"[{"device":"em-asm-main","ts":\#(ms),"metrics":{"energy":\#(kwh)}}]"#)
    }

    func waitForMeterReadings(_ db: PostgresConnection, _ count: Int64) throws {
        try waitUntil(timeout: 60, "\(count) readings of em-asm-main") {
            try db.execute("SELECT count(*) FROM readings r JOIN series s ON s.id = r.series_id WHERE s.device = 'em-asm-main'")
                .int(0, 0) == count
        }
    }

    /// A scope's electricity (kWh) in `table` over the day rows of [from, to) (site times).
    func kwh(_ db: PostgresConnection, _ table: String, _ scope: String, from: String, to: String) throws -> Double {
        try db.execute(
            """
            SELECT coalesce(sum(value), 0) FROM \(table) WHERE site = 'sz-baoan' AND scope = $1
                AND quantity = 'consumption.electricity' AND period = 'day' AND start >= $2 AND start < $3
            """, [.text(scope), .int(Timestamp.parseRFC3339(from) ?? 0), .int(Timestamp.parseRFC3339(to) ?? 0)]
        ).double(0, 0) ?? .nan
    }

    /// Every scope total and per-series minute figure as `key|value` rows (what indicators and
    /// query read), for comparing the daemons' bookings with a rebuild.
    func figures(_ db: PostgresConnection) throws -> [String: Double] {
        var out: [String: Double] = [:]
        for (_, _, sql) in PostgresIngestTests.comparisons where !sql.contains("FROM readings") {
            for (k, v) in try PostgresIngestTests.rows(db.execute(sql).rows.compactMap { $0[0] }) { out[k] = v }
        }
        return out
    }

    func near(_ a: Double, _ b: Double) -> Bool { abs(a - b) < 1e-9 }

    @Test func aClosedMonthStaysFrozenWhileLateReadingsArriveUntilReopened() throws {
        let broker = try TestBroker()
        let server = try TestPostgres()
        let dir = try temporaryDirectory("pg-periods")
        // Two daemons on one shared group: a late reading reaches either, and neither may trust
        // what it remembers about closures another process made.
        let daemons = try (0..<2).map { i in
            try DaemonProcess(
                broker: broker, database: server.url, clientID: "zhizao-it-pgp-\(i)", extra: ["--shared-group", "zhizao"],
                logPath: dir + "/d\(i).log")
        }
        for d in daemons { try d.start() }
        let db = try PostgresConnection(target: server.url)
        let (nov, dec, dec2) = ("2026-11-01T00:00:00+08:00", "2026-12-01T00:00:00+08:00", "2026-12-02T00:00:00+08:00")

        // em-asm-main (the site has no electricity main, so the site's electricity is its
        // workshops'): 1000 kWh at 22:00 and 1010 at 23:00 on 30 November, 1050 at 01:00 on
        // 1 December (site time, +08:00). November: 22→23 is 10 kWh, and half of 23:00→01:00's
        // 40 kWh: 30 kWh. December: 20 kWh.
        try publishEnergy(broker, "2026-11-30T22:00:00+08:00", 1000)
        try publishEnergy(broker, "2026-11-30T23:00:00+08:00", 1010)
        try publishEnergy(broker, "2026-12-01T01:00:00+08:00", 1050)
        try waitForMeterReadings(db, 3)
        #expect(near(try kwh(db, "scope_rollup", "workshop:ws-assembly", from: nov, to: dec), 30))
        #expect(near(try kwh(db, "scope_rollup", "workshop:ws-assembly", from: dec, to: dec2), 20))

        // Close November for the whole site, with the daemons running.
        let closed = try ok(["close", "--period", "2026-11"], server)
        #expect(closed.contains("closed 2026-11 site:sz-baoan"), "\(closed)")
        let again = try zhizao(["close", "--period", "2026-11", "--scope", "line:line-motor"], server)
        #expect(again.code == 1 && again.stderr.contains("already closed: 2026-11 site:sz-baoan"), "\(again.stderr)")
        let ongoing = try zhizao(["close", "--period", "2099-01"], server)
        #expect(ongoing.code == 1 && ongoing.stderr.contains("2099-01 has not ended yet"), "\(ongoing.stderr)")
        let row = try db.execute(#"SELECT site, scope, label, frozen FROM closed_period"#)
        #expect(row.count == 1 && row.rows[0][0] == "sz-baoan" && row.rows[0][1] == "site:sz-baoan" && row.rows[0][2] == "2026-11")
        #expect(row.rows.first?[3]?.contains("workshop:ws-assembly line:line-motor") == true, "\(row.rows)")

        // Late readings: 995 kWh at 21:00 on the 30th (adds 21→22: 5 kWh to November) and 1040
        // at midnight (23→00 now 30 kWh, all November; 00→01 10 kWh, December). Live November
        // would be 5 + 10 + 30 = 45 kWh: the closed 30 stay, +15 is pending. December is open and
        // takes its change at once: 20 → 10 kWh.
        try publishEnergy(broker, "2026-11-30T21:00:00+08:00", 995)
        try publishEnergy(broker, "2026-12-01T00:00:00+08:00", 1040)
        try waitForMeterReadings(db, 5)
        #expect(try db.execute("SELECT count(*) FROM quarantine").int(0, 0) == 0, "late readings are stored, not quarantined")
        for scope in ["workshop:ws-assembly", "site:sz-baoan"] {
            #expect(near(try kwh(db, "scope_rollup", scope, from: nov, to: dec), 30), "\(scope): the closed figure stands")
            #expect(near(try kwh(db, "scope_adjustment", scope, from: nov, to: dec), 15), "\(scope): 15 kWh pending")
        }
        #expect(near(try kwh(db, "scope_rollup", "workshop:ws-assembly", from: dec, to: dec2), 10))
        #expect(near(try kwh(db, "scope_adjustment", "workshop:ws-assembly", from: dec, to: dec2), 0), "December is open")
        // The meter's own November minutes took the late reading; what it added is recorded
        // apart: one reading (21:00) and 5 + 10 = 15 kWh.
        let held = try db.execute(
            """
            SELECT sum(a.n), sum(a.consumption) FROM series_adjustment a JOIN series s ON s.id = a.series_id
            WHERE s.device = 'em-asm-main' AND s.metric = 'energy'
            """)
        #expect(held.int(0, 0) == 1 && near(held.double(0, 1) ?? .nan, 15), "\(held.rows)")
        // What `zhizao periods` and `indicators` read: the closure, and the workshop's 15 kWh pending on the 30th.
        let plant = try Plant.load(directory: ZhizaoBinary.shippedDevices)
        let reader = try PostgresReader(url: server.url, plant: plant)
        #expect(try reader.closedPeriods().map(\.name) == ["2026-11 site:sz-baoan"])
        let pending = try reader.scopeAdjustments(
            scope: try #require(Scope("workshop:ws-assembly")), period: "day", from: Timestamp.parseRFC3339(nov)!,
            to: Timestamp.parseRFC3339(dec)!)
        #expect(pending.count == 1 && near(pending.first?.totals["consumption.electricity"] ?? .nan, 15), "\(pending)")
        #expect(pending.first?.start == Timestamp.parseRFC3339("2026-11-30T00:00:00+08:00"))
        // The reading commands show it as on SQLite: `indicators` the closed 30 kWh with +15 kWh
        // (1.8435 kgce = 15 × 0.1229) pending, `periods` the closure, `query` the meter's closed
        // 30th (30 kWh from 2 readings: what the late reading added is taken out) and open 1st
        // (10 kWh from 00:00 and 01:00) with a note.
        let json = try ok(
            [
                "indicators", "--scope", "workshop:ws-assembly", "--from", "2026-11-01", "--to", "2026-12-01", "--every", "all", "--format",
                "json",
            ],
            server)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        let shown = try #require(rows.count == 1 ? rows[0] : nil, "\(json)")
        #expect(near((shown["indicators"] as? [String: Any])?["electricity_kwh"] as? Double ?? .nan, 30), "\(json)")
        let shownPending = shown["pending_adjustment"] as? [String: Any]
        #expect(
            near(shownPending?["electricity_kwh"] as? Double ?? .nan, 15) && near(shownPending?["energy_kgce"] as? Double ?? .nan, 1.8435))
        let listed = try JSONSerialization.jsonObject(with: Data(try ok(["periods", "--format", "json"], server).utf8)) as? [[String: Any]]
        #expect(listed?.count == 1 && listed?.first?["period"] as? String == "2026-11", "\(String(describing: listed))")
        #expect(near((listed?.first?["pending"] as? [String: Any])?["electricity_kwh"] as? Double ?? .nan, 15))
        let query = try zhizao(
            [
                "query", "--device", "em-asm-main", "--metric", "energy", "--every", "1d", "--from", "2026-11-30", "--to", "2026-12-02",
                "--format", "json",
            ], server)
        #expect(query.code == 0 && query.stderr.contains("the window touches closed period 2026-11 site:sz-baoan"), "\(query.stderr)")
        let days = try #require(try JSONSerialization.jsonObject(with: Data(query.stdout.utf8)) as? [[String: Any]])
        var byDay: [String: [Double]] = [:]
        for day in days {
            let figures = [day["consumption"] as? Double ?? .nan, Double(day["readings"] as? Int ?? -1)]
            byDay[String((day["start"] as? String ?? "").prefix(10))] = figures
        }
        #expect(
            byDay.mapValues { $0.map { ($0 * 1e6).rounded() / 1e6 } } == ["2026-11-30": [30, 2], "2026-12-01": [10, 2]], "\(query.stdout)")

        // Changes to the closed month are refused, naming the period and the flag.
        let va = try zhizao(["value-added", "--period", "2026-11", "--scope", "workshop:ws-assembly", "--yuan", "5000000"], server)
        #expect(va.code == 1 && va.stderr.contains("--period 2026-11 touches closed period 2026-11 site:sz-baoan"), "\(va.stderr)")
        #expect(va.stderr.contains("pass --reopen"))
        _ = try ok(["value-added", "--period", "2026-10", "--scope", "site", "--yuan", "4000000"], server)
        let october = try db.execute("SELECT site, scope, yuan FROM value_added")
        #expect(october.rows == [["sz-baoan", "site:sz-baoan", "4000000"]], "\(october.rows)")
        let rebuild = try zhizao(["rebuild", "--from", "2026-11-30", "--to", "2026-12-01"], server)
        #expect(
            rebuild.code == 1 && rebuild.stderr.contains("--from/--to touches closed period 2026-11 site:sz-baoan"), "\(rebuild.stderr)")
        #expect(rebuild.stderr.contains("--reopen"))

        // Reopen: the pending 15 kWh are folded in, November is 45 kWh, nothing is pending.
        let reopened = try ok(["reopen", "--period", "2026-11"], server)
        #expect(reopened.contains("reopened 2026-11 site:sz-baoan: folded"), "\(reopened)")
        for scope in ["workshop:ws-assembly", "site:sz-baoan"] {
            #expect(near(try kwh(db, "scope_rollup", scope, from: nov, to: dec), 45), "\(scope)")
        }
        for table in ["closed_period", "scope_adjustment", "series_adjustment", "state_adjustment"] {
            #expect(try db.execute("SELECT count(*) FROM \(table)").int(0, 0) == 0, "\(table) is empty after the reopen")
        }
        // The daemons see the reopen: 990 kWh at 20:00 on the 30th adds 20→21: 5 kWh straight
        // into November's figures (50 kWh), nothing pending.
        try publishEnergy(broker, "2026-11-30T20:00:00+08:00", 990)
        try waitForMeterReadings(db, 6)
        #expect(near(try kwh(db, "scope_rollup", "workshop:ws-assembly", from: nov, to: dec), 50))
        #expect(try db.execute("SELECT count(*) FROM scope_adjustment").int(0, 0) == 0)

        // A rebuild while the daemons run recomputes exactly what they booked, row for row.
        let booked = try figures(db)
        #expect(booked.keys.contains { $0.hasPrefix("workshop:ws-assembly/consumption.electricity/day/") })
        _ = try ok(["rebuild", "--from", "2026-11-30", "--to", "2026-12-02"], server)
        #expect(PostgresIngestTests.differences(booked, try figures(db)).isEmpty, "a ranged rebuild changes nothing")
        _ = try ok(["rebuild"], server)
        let rebuilt = try figures(db)
        #expect(PostgresIngestTests.differences(booked, rebuilt).isEmpty, "\(PostgresIngestTests.differences(booked, rebuilt).prefix(5))")

        // Closed again for the workshop: value-added --reopen reopens it (audited) and records.
        _ = try ok(["close", "--period", "2026-11", "--scope", "workshop:ws-assembly"], server)
        _ = try ok(["value-added", "--period", "2026-11", "--scope", "workshop:ws-assembly", "--yuan", "5000000", "--reopen"], server)
        #expect(try db.execute("SELECT count(*) FROM closed_period").int(0, 0) == 0)
        #expect(try db.execute("SELECT yuan FROM value_added WHERE scope = 'workshop:ws-assembly'").double(0, 0) == 5_000_000)
        // Closed again for the site: rebuild --reopen reopens it and runs.
        _ = try ok(["close", "--period", "2026-11"], server)
        _ = try ok(["rebuild", "--reopen"], server)
        #expect(try db.execute("SELECT count(*) FROM closed_period").int(0, 0) == 0)
        #expect(PostgresIngestTests.differences(booked, try figures(db)).isEmpty)

        // The audit trail: each close and reopen, with what the site's November held at close
        // (30 kWh) and what the reopen folded (15 kWh).
        let audit = try db.execute(#"SELECT command, subject, before, after FROM audit WHERE subject LIKE 'period %' ORDER BY id"#).rows
        #expect(audit.map { $0[0] ?? "" } == ["close", "reopen", "close", "value-added", "close", "rebuild"], "\(audit)")
        #expect(audit.first?[1] == "period 2026-11 site:sz-baoan")
        #expect(audit.first?[3]?.contains("consumption.electricity 30") == true, "\(audit)")
        #expect(audit.dropFirst().first?[3]?.contains("consumption.electricity 15") == true, "\(audit)")
        #expect(audit.dropFirst().first?[2]?.hasPrefix("closed ") == true)
        for d in daemons { #expect(d.terminate() == 0) }
    }

    /// The first millisecond of the UTC month `offset` months from the one holding `ms`.
    func utcMonth(_ ms: Int64, _ offset: Int) -> Int64 {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let date = Date(timeIntervalSince1970: Double(ms) / 1000)
        let first = calendar.date(from: calendar.dateComponents([.year, .month], from: date))!
        return Int64(calendar.date(byAdding: .month, value: offset, to: first)!.timeIntervalSince1970 * 1000)
    }

    /// Per series: readings, consumption and estimated use over minute and hour rows together
    /// (what query and the ragged edges of indicators read), and every scope total.
    func retainedFigures(_ db: PostgresConnection) throws -> [String: Double] {
        var out: [String: Double] = [:]
        let rows = try db.execute(
            """
            SELECT s.device || '/' || s.metric, sum(n), sum(consumption), sum(estimated) FROM (
                SELECT series_id, n, consumption, estimated FROM rollup_minute
                UNION ALL SELECT series_id, n, consumption, estimated FROM rollup_hour) r
            JOIN series s ON s.id = r.series_id GROUP BY 1
            """)
        for i in 0..<rows.count {
            let key = rows.string(i, 0) ?? ""
            out[key + " readings"] = rows.double(i, 1)
            out[key + " consumption"] = rows.double(i, 2)
            out[key + " estimated"] = rows.double(i, 3)
        }
        let scopes = try db.execute(
            "SELECT site || ' ' || scope || ' ' || period || ' ' || start || ' ' || quantity, value FROM scope_rollup")
        for i in 0..<scopes.count { out[scopes.string(i, 0) ?? ""] = scopes.double(i, 1) }
        return out
    }

    /// Retention on PostgreSQL: whole month partitions before the raw horizon's month are
    /// dropped, the month holding the horizon stays whole, minutes before it become hours, and
    /// every figure stays as it was; a later reading older than the horizon is quarantined and
    /// a rebuild before it is refused.
    @Test func pruneDropsWholeMonthsAndKeepsEveryFigure() throws {
        let server = try TestPostgres()
        let plant = try Plant.load(directory: ZhizaoBinary.shippedDevices)
        let store = try PostgresStore(url: server.url)
        try store.prepareSeries(plant.series)
        store.enableAggregation(AggregationPlan(plant: plant))
        let meter = try #require(plant.series.firstIndex { $0.device == "em-asm-main" && $0.metric == "energy" })
        // Three whole UTC months before this one (A, B, C), the meter read every hour from the
        // second day of A to the last day of C, climbing 2 kWh an hour.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let (a, b, c, m) = (utcMonth(now, -3), utcMonth(now, -2), utcMonth(now, -1), utcMonth(now, 0))
        let hour: Int64 = 3_600_000
        var t = a + 24 * hour
        var register = 1000.0
        while t < m - 24 * hour {
            var batch = IngestBatch()
            batch.messages = 1
            for _ in 0..<24 {
                batch.readings.append(Reading(series: SeriesIndex(meter), timestampMs: t, value: .number(register)))
                t += hour
                register += 2
            }
            _ = try store.commit(batch, committedAtMs: now)
        }
        let db = try PostgresConnection(target: server.url)
        let partitions = {
            try db.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'readings'::regclass ORDER BY 1"
            ).rows.compactMap { $0[0] }
        }
        #expect(try partitions().count == 3, "one partition per month A, B, C")
        let count = { (from: Int64, to: Int64) in
            try db.execute("SELECT count(*) FROM readings WHERE ts >= $1 AND ts < $2", [.int(from), .int(to)]).int(0, 0) ?? -1
        }
        let (inA, inB, inC) = (try count(a, b), try count(b, c), try count(c, m))
        #expect(inA > 0 && inB > 0 && inC > 0)
        let before = try retainedFigures(db)
        // What the reading commands print over A..C per site day (local midnights: the site is
        // +08:00, so A's first local midnight is 16 h after its UTC start), before and after.
        let iso = ISO8601DateFormatter()
        let window = [
            "--from", iso.string(from: Date(timeIntervalSince1970: Double(a + 16 * hour) / 1000)),
            "--to", iso.string(from: Date(timeIntervalSince1970: Double(m - 8 * hour) / 1000)), "--every", "1d", "--format", "csv",
        ]
        let printed = {
            [
                try self.ok(["query", "--device", "em-asm-main", "--metric", "energy"] + window, server),
                try self.ok(["indicators", "--scope", "workshop:ws-assembly"] + window, server),
            ]
        }
        let printedBefore = try printed()
        #expect(printedBefore[0].split(separator: "\n").count > 60, "a row per day over about three months")
        // 2 kWh between each pair of the meter's hourly reads.
        let expected = 2 * Double(inA + inB + inC - 1)
        #expect(before["em-asm-main/energy consumption"].map { abs($0 - expected) < 1e-6 } == true, "\(before.keys.sorted().prefix(5))")

        // The raw horizon asked for falls on the 15th of B (give or take the local day): A goes
        // whole, B stays whole although half of it is older than asked.
        let days = Int((now - (b + 14 * 24 * hour)) / (24 * hour))
        // A long read of the readings holds the drop back: the prune gives up (the daemons it
        // would stall) and says why; nothing is dropped.
        let reader = try PostgresConnection(target: server.url)
        try reader.execute("BEGIN")
        try reader.execute("SELECT count(*) FROM readings")
        let held = try zhizao(["prune", "--raw-days", "\(days)", "--minute-days", "\(days)"], server)
        #expect(held.code == 1 && held.stderr.contains("lock timeout"), "\(held.stderr)")
        #expect(try partitions().count == 3)
        try reader.execute("COMMIT")
        let pruned = try ok(["prune", "--raw-days", "\(days)", "--minute-days", "\(days)"], server)
        #expect(pruned.contains("whole months dropped"), "\(pruned)")
        #expect(try partitions().count == 2, "A dropped, B and C kept")
        #expect(try count(.min, b) == 0 && count(b, c) == inB && count(c, m) == inC)
        #expect(try db.execute("SELECT before FROM retention_mark WHERE tier = 'raw'").int(0, 0) == b, "the horizon is B's first day")
        // Minutes before the horizon are hours now; none are pruned past it (late readings in B still book into B's minutes).
        #expect(try db.execute("SELECT count(*) FROM rollup_minute WHERE minute < $1", [.int(b)]).int(0, 0) == 0)
        #expect(
            try db.execute("SELECT count(*) FROM rollup_minute WHERE minute >= $1 AND minute < $2", [.int(b), .int(c)]).int(0, 0) ?? 0 > 0)
        #expect(try db.execute("SELECT count(*) FROM rollup_hour").int(0, 0) ?? 0 > 0)
        let after = try retainedFigures(db)
        let differences = PostgresIngestTests.differences(before, after)
        #expect(differences.isEmpty, "\(differences.prefix(5))")
        // The commands read A's hours where its minutes were: the same lines.
        #expect(try printed() == printedBefore)

        // A late reading in A is quarantined, not booked against missing neighbours; one in B is stored.
        var late = IngestBatch()
        late.messages = 1
        late.readings = [
            Reading(series: SeriesIndex(meter), timestampMs: a + 40 * hour + 1, value: .number(1)),
            Reading(series: SeriesIndex(meter), timestampMs: b + 40 * hour + 1, value: .number(1)),
        ]
        let outcome = try PostgresStore(url: server.url).preparedCommit(late, plant: plant, at: now)
        #expect(outcome.inserted == 1 && outcome.quarantined == 1)
        #expect(try partitions().count == 2, "no partition made again for A")
        let q = try db.execute("SELECT reason, detail FROM quarantine")
        #expect(q.rows.first?[0] == "beyond_retention" && q.rows.first?[1]?.contains("retention.raw_days") == true, "\(q.rows)")
        #expect(try db.execute("SELECT value FROM ingest_counters WHERE name = 'quarantined.beyond_retention'").int(0, 0) == 1)

        // A rebuild cannot recompute what is gone: refused, naming the flag.
        let all = try zhizao(["rebuild"], server)
        #expect(all.code != 0 && all.stderr.contains("dropped") && all.stderr.contains("--from"), "\(all.stderr)")

        // The daemon's pacer does the same with `retention.raw_days`: asked to keep from the 15th
        // of C, it drops B whole and keeps C whole; every figure stays.
        let kept = try retainedFigures(db)
        let broker = try TestBroker()
        let dir = try temporaryDirectory("pg-pacer")
        let daysC = Int((now - (c + 14 * 24 * hour)) / (24 * hour))
        try "retention:\n  raw_days: \(daysC)\n".write(toFile: dir + "/z.yaml", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(
            broker: broker, database: server.url, clientID: "zhizao-it-pacer", extra: ["--config", dir + "/z.yaml"], logPath: dir + "/d.log"
        )
        try daemon.start()
        try waitUntil(timeout: 60, "the daemon's retention pass (log: \(daemon.logPath))") { daemon.log.contains("retention pass done") }
        #expect(try partitions() == [PostgresStoreNames.partition(c)], "B dropped, C kept whole")
        #expect(try count(.min, c) == 0 && count(c, m) == inC)
        #expect(try db.execute("SELECT before FROM retention_mark WHERE tier = 'raw'").int(0, 0) == c)
        let paced = PostgresIngestTests.differences(kept, try retainedFigures(db))
        #expect(paced.isEmpty, "\(paced.prefix(5))")
        #expect(daemon.terminate() == 0)
    }

    /// `zhizao rebuild` while two daemons on a shared group store a simulated plant's stream and
    /// a paced one:
    /// it waits for their device locks and they for its, so afterwards every rollup equals what
    /// one SQLite daemon fed the same messages booked, and a second rebuild changes nothing.
    @Test func aRebuildWhileDaemonsWriteLeavesWhatTheyBook() throws {
        let broker = try TestBroker()
        let server = try TestPostgres()
        let devices = try PostgresIngestTests().registryWithoutSparkplug()
        let dir = try temporaryDirectory("pg-rebuild")
        let reference = try DaemonProcess(broker: broker, database: dir + "/ref.sqlite", devices: devices, clientID: "zhizao-it-rref")
        try reference.start()
        let group = try (0..<2).map { i in
            try DaemonProcess(
                broker: broker, database: server.url, devices: devices, clientID: "zhizao-it-rpg-\(i)",
                extra: ["--shared-group", "zhizao"], logPath: dir + "/pg-\(i).log")
        }
        for d in group { try d.start() }
        let simulation = Process()
        simulation.executableURL = URL(fileURLWithPath: try ZhizaoBinary.path)
        simulation.arguments = [
            "simulate", "--broker", broker.url, "--devices", devices, "--duration", "3h", "--from", "2026-11-02T00:00:00Z",
            "--speed", "max", "--seed", "7", "--format", "json", "--client-id", "zhizao-it-rsim",
        ]
        simulation.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(dir + "/sim.json")))
        simulation.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(dir + "/sim.err")))
        try simulation.run()
        let db = try PostgresConnection(target: server.url)
        try waitUntil(timeout: 120, "the daemons to store the first readings") {
            try db.execute("SELECT count(*) FROM readings").int(0, 0) ?? 0 >= 500
        }
        // A paced stream whose tail is held back until the rebuild returned: it runs while the
        // daemons write, by construction.
        let count = 6_000
        let paced = try PacedPublisher(broker, device: "tst-421", count: count, holdingBack: 1_000, perSecond: 2_000)
        defer { paced.abort() }
        let during = try zhizao(["rebuild"], server, devices: devices)
        #expect(during.code == 0, "\(during.stderr)")
        #expect(paced.isStreaming, "the rebuild ran while the stream was being stored")
        #expect(try paced.finish() == count)
        simulation.waitUntilExit()
        #expect(simulation.terminationStatus == 0, "\((try? String(contentsOfFile: dir + "/sim.err", encoding: .utf8)) ?? "")")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/sim.json"))) as? [String: Any]
        let expected = Int64(report?["readings_expected"] as? Int ?? -1) + Int64(count)
        let published = Int64(report?["messages_published"] as? Int ?? -1) + Int64(count)
        try waitUntil(timeout: 240, "the two daemons to receive all \(published) messages") {
            try db.execute("SELECT value FROM ingest_counters WHERE name = 'messages_received'").int(0, 0) == published
        }
        try reference.waitForSettled(expected)
        #expect(try db.execute("SELECT count(*) FROM readings").int(0, 0) == expected)
        try PostgresIngestTests.expectSameTables(reference.database, db, " after a rebuild")
        let booked = try figures(db)
        _ = try ok(["rebuild"], server, devices: devices)
        let again = PostgresIngestTests.differences(booked, try figures(db))
        #expect(again.isEmpty, "\(again.prefix(5))")
        let audit = try db.execute("SELECT count(*) FROM audit WHERE command = 'rebuild' AND subject = 'rollups all'")
        #expect(audit.int(0, 0) == 2, "both rebuilds are audited")
        for d in group { #expect(d.terminate() == 0) }
        #expect(reference.terminate() == 0)
    }

    /// Runs `zhizao <arguments>` while another session holds the advisory lock `lock` (shared
    /// or not) in an open transaction: the command must wait for it (seen in `pg_locks`, not
    /// guessed from time), and succeed once it is released.
    func expectWaits(_ arguments: [String], for lock: Int64, heldShared: Bool, _ what: String) throws {
        let server = try TestPostgres()
        _ = try PostgresStore(url: server.url)
        let holder = try PostgresConnection(target: server.url)
        try holder.execute("BEGIN")
        try holder.execute(heldShared ? "SELECT pg_advisory_xact_lock_shared($1)" : "SELECT pg_advisory_xact_lock($1)", [.int(lock)])
        let command = Process()
        command.executableURL = URL(fileURLWithPath: try ZhizaoBinary.path)
        command.arguments = arguments + ["--db", server.url, "--devices", ZhizaoBinary.shippedDevices]
        let dir = try temporaryDirectory("pg-lock")
        command.environment = ProcessInfo.processInfo.environment.merging(["ZHIZAO_CACHE_DIR": dir + "/cache"]) { $1 }
        command.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(dir + "/err")))
        command.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(dir + "/out")))
        try command.run()
        // A bigint advisory lock shows as classid (high 32 bits) and objid (low 32 bits).
        let key = UInt64(bitPattern: lock)
        let watcher = try PostgresConnection(target: server.url)
        try waitUntil(timeout: 60, "zhizao \(arguments[0]) to wait for \(what)") {
            try watcher.execute(
                """
                SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid::text = $1 AND objid::text = $2
                """, [.text(String(key >> 32)), .text(String(key & 0xFFFF_FFFF))]
            ).int(0, 0) == 1
        }
        #expect(command.isRunning, "still waiting")
        try holder.execute("COMMIT")
        command.waitUntilExit()
        #expect(command.terminationStatus == 0, "\((try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? "")")
    }

    /// A rebuild takes the device locks a daemon's batch takes: it waits while another session
    /// holds em-asm-main's.
    @Test func aRebuildWaitsForTheDeviceLocksOfTheDaemons() throws {
        try expectWaits(
            ["rebuild"], for: PostgresStore.lockKey(site: "sz-baoan", device: "em-asm-main"), heldShared: false,
            "em-asm-main's device lock")
    }

    /// A close waits for the batch transactions in flight (each holds the writers' lock shared),
    /// so no batch books into a period closed after it looked at the closures.
    @Test func aCloseWaitsForTheCommitsInFlight() throws {
        try expectWaits(["close", "--period", "2026-11"], for: PostgresSchema.writersLockKey, heldShared: true, "the writers' lock")
    }

    @Test func backupRefersToPostgresToolsNamingTheFlag() throws {
        let r = try ZhizaoBinary.run(["backup", "--db", "postgresql://zhizao@127.0.0.1:1/zhizao", "--out", "/tmp/x.sqlite"])
        #expect(r.code == 2, "\(r.stderr)")
        #expect(r.stderr.contains("--db postgresql://zhizao@127.0.0.1:1/zhizao is PostgreSQL"), "\(r.stderr)")
        #expect(r.stderr.contains("pg_dump") && r.stderr.contains("pg_basebackup"))
    }
}

extension PostgresStore {
    /// Commits one batch through a store set up as the daemon sets it up.
    fileprivate func preparedCommit(_ batch: IngestBatch, plant: Plant, at ms: Int64) throws -> CommitOutcome {
        try prepareSeries(plant.series)
        enableAggregation(AggregationPlan(plant: plant))
        return try commit(batch, committedAtMs: ms)
    }
}

/// Names the store gives its objects, spelled out for assertions.
enum PostgresStoreNames {
    /// `readings_YYYYMM` of the UTC month starting at `ms`.
    static func partition(_ ms: Int64) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let d = calendar.dateComponents([.year, .month], from: Date(timeIntervalSince1970: Double(ms) / 1000))
        return String(format: "readings_%04d%02d", d.year ?? 0, d.month ?? 0)
    }
}
