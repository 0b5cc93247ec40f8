import Foundation
import PostgresClient
import Testing

/// `zhizao run --db postgresql://…`: the real daemon, a real mosquitto and a real PostgreSQL,
/// each started on a free loopback port.
@Suite("PostgreSQL store: several daemons, one database", .serialized)
struct PostgresIngestTests {
    /// The shipped registry without its Sparkplug gateway: a Sparkplug host session is not
    /// shared (each daemon's host sees every Sparkplug message), so only with it gone does each
    /// published message reach exactly one daemon of the group, and the count of messages the
    /// daemons received becomes the signal that the stream is drained.
    func registryWithoutSparkplug() throws -> String {
        let dir = try temporaryDirectory("devices")
        try FileManager.default.removeItem(atPath: dir)
        try FileManager.default.copyItem(atPath: ZhizaoBinary.shippedDevices, toPath: dir)
        try FileManager.default.removeItem(atPath: dir + "/gateways/gw-air-sparkplug.yaml")
        return dir
    }

    /// Three daemons on one shared subscription and one PostgreSQL database, fed a simulated
    /// plant whose first hour is published a second time at once (duplicates arriving through
    /// other daemons, interleaved with the stream), store every reading once and book the same
    /// rollups, minute by minute, as one daemon on SQLite fed the same messages.
    @Test func threeDaemonsOnASharedGroupBookWhatOneSQLiteDaemonBooks() throws {
        let broker = try TestBroker()
        let server = try TestPostgres()
        let devices = try registryWithoutSparkplug()
        let dir = try temporaryDirectory("pg-shared")
        let reference = try DaemonProcess(broker: broker, database: dir + "/ref.sqlite", devices: devices, clientID: "zhizao-it-ref")
        try reference.start()
        let group = try (0..<3).map { i in
            try DaemonProcess(
                broker: broker, database: server.url, devices: devices, clientID: "zhizao-it-pg-\(i)",
                extra: ["--shared-group", "zhizao"], logPath: dir + "/pg-\(i).log")
        }
        for d in group { try d.start() }
        let from = "2026-11-02T00:00:00Z"
        let arguments = { (duration: String) in
            [
                "simulate", "--broker", broker.url, "--devices", devices, "--duration", duration, "--from", from,
                "--speed", "max", "--seed", "31", "--format", "json", "--client-id", "zhizao-it-sim-\(duration)",
            ]
        }
        // A second simulator repeats the first hour of the first while the first is still playing.
        let repeatRun = Process()
        repeatRun.executableURL = URL(fileURLWithPath: try ZhizaoBinary.path)
        repeatRun.arguments = arguments("1h")
        repeatRun.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(dir + "/repeat.json")))
        repeatRun.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(dir + "/repeat.err")))
        try repeatRun.run()
        let first = try ZhizaoBinary.run(arguments("4h"))
        repeatRun.waitUntilExit()
        #expect(first.code == 0, "\(first.stderr)")
        #expect(repeatRun.terminationStatus == 0, "\((try? String(contentsOfFile: dir + "/repeat.err", encoding: .utf8)) ?? "")")
        let report = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any]
        let again = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/repeat.json"))) as? [String: Any]
        let expected = Int64(report?["readings_expected"] as? Int ?? -1)
        let published = Int64((report?["messages_published"] as? Int ?? 0) + (again?["messages_published"] as? Int ?? 0))

        let db = try PostgresConnection(target: server.url)
        // Drained: every published message was received and committed by one of the three.
        try waitUntil(timeout: 240, "the three daemons to receive all \(published) messages") {
            try counter(db, "messages_received") == published
        }
        try reference.waitForSettled(expected)
        #expect(try db.execute("SELECT count(*) FROM readings").int(0, 0) == expected, "every reading stored once")
        #expect(try counter(db, "readings_stored") == expected, "readings_stored counts each once, whichever daemon stored it")
        #expect(try counter(db, "readings_duplicate") ?? 0 > 0, "the repeated hour arrived as duplicates")
        let shares = group.map { d in d.log.components(separatedBy: "] subscribed").count }
        #expect(shares.allSatisfy { $0 >= 2 }, "all three daemons subscribed")

        try Self.expectSameTables(reference.database, db)
        for d in group { #expect(d.terminate() == 0) }
        #expect(reference.terminate() == 0)
    }

    /// One of three daemons killed with SIGKILL mid-stream and restarted with its client id
    /// (its persistent session keeps what it had not acknowledged): nothing lost, nothing twice.
    @Test func aDaemonKilledMidStreamLosesNothing() throws {
        let broker = try TestBroker()
        let server = try TestPostgres()
        let dir = try temporaryDirectory("pg-kill")
        let group = try (0..<3).map { i in
            try DaemonProcess(
                broker: broker, database: server.url, clientID: "zhizao-it-pgk-\(i)", extra: ["--shared-group", "zhizao"],
                logPath: dir + "/pg-\(i).log")
        }
        for d in group { try d.start() }
        let count = 12_000
        let publisher = try PacedPublisher(broker, device: "rbt-411", count: count, holdingBack: 1_000, perSecond: 2_000)
        defer { publisher.abort() }
        let db = try PostgresConnection(target: server.url)
        let stored = {
            try db.execute("SELECT count(*) FROM readings r JOIN series s ON s.id = r.series_id WHERE s.device = 'rbt-411'").int(0, 0) ?? 0
        }
        try waitUntil(timeout: 120, "a third of the stream stored") { try stored() >= Int64(count / 3) }
        #expect(publisher.isStreaming, "the kill lands while the stream is still publishing")
        group[1].killHard()
        try group[1].start()
        #expect(try publisher.finish() == count)
        try waitUntil(timeout: 180, "all \(count) readings stored") { try stored() >= Int64(count) }
        let seqs = try db.execute(
            "SELECT count(*), count(DISTINCT r.seq) FROM readings r JOIN series s ON s.id = r.series_id WHERE s.device = 'rbt-411'")
        #expect(seqs.int(0, 0) == Int64(count))
        #expect(seqs.int(0, 1) == Int64(count), "every sequence number once")
        for d in group { #expect(d.terminate() == 0) }
    }

    /// PostgreSQL stopped mid-stream: the daemon stops acknowledging, says why once, reconnects
    /// when the server is back, and loses nothing.
    @Test func aDatabaseRestartMidStreamLosesNothing() throws {
        let broker = try TestBroker()
        let server = try TestPostgres()
        let dir = try temporaryDirectory("pg-restart")
        let daemon = try DaemonProcess(broker: broker, database: server.url, clientID: "zhizao-it-pgr", logPath: dir + "/d.log")
        try daemon.start()
        let count = 8_000
        let publisher = try PacedPublisher(broker, device: "tst-421", count: count, holdingBack: 1_000, perSecond: 2_000)
        defer { publisher.abort() }
        let db = { try PostgresConnection(target: server.url) }
        let stored = { (c: PostgresConnection) in
            try c.execute("SELECT count(*) FROM readings r JOIN series s ON s.id = r.series_id WHERE s.device = 'tst-421'").int(0, 0) ?? 0
        }
        try waitUntil(timeout: 120, "a quarter of the stream stored") { try stored(db()) >= Int64(count / 4) }
        try server.stop(mode: "immediate")
        try waitUntil(timeout: 60, "the daemon to report the lost database") { daemon.log.contains("cannot be reached") }
        #expect(publisher.isStreaming, "the restart lands while the stream is still publishing")
        try server.start()
        #expect(try publisher.finish() == count)
        let after = try db()
        try waitUntil(timeout: 180, "all \(count) readings stored") { try stored(after) >= Int64(count) }
        let seqs = try after.execute(
            "SELECT count(*), count(DISTINCT r.seq) FROM readings r JOIN series s ON s.id = r.series_id WHERE s.device = 'tst-421'")
        #expect(seqs.int(0, 0) == Int64(count))
        #expect(seqs.int(0, 1) == Int64(count), "every sequence number once")
        #expect(daemon.log.components(separatedBy: "commit failed").count - 1 == 1, "the problem is logged once, not per attempt")
        #expect(daemon.log.contains("commit succeeded again"))
        #expect(daemon.terminate() == 0)
    }

    /// Two sites' daemons, each with its own registry, write one database; both have a device
    /// `cnc-101`, and each keeps its own.
    @Test func twoSitesShareADatabaseWithTheSameDeviceIDs() throws {
        let broker = try TestBroker()
        let server = try TestPostgres()
        let dir = try temporaryDirectory("pg-sites")
        let second = try temporaryDirectory("devices-b")
        try FileManager.default.removeItem(atPath: second)
        try FileManager.default.copyItem(atPath: ZhizaoBinary.shippedDevices, toPath: second)
        for file in try FileManager.default.subpathsOfDirectory(atPath: second) where file.hasSuffix(".yaml") {
            let path = second + "/" + file
            let text = try String(contentsOfFile: path, encoding: .utf8)
            try text.replacingOccurrences(of: "sz-baoan", with: "dg-songshan").write(toFile: path, atomically: true, encoding: .utf8)
        }
        let a = try DaemonProcess(broker: broker, database: server.url, clientID: "zhizao-it-site-a", logPath: dir + "/a.log")
        let b = try DaemonProcess(
            broker: broker, database: server.url, devices: second, clientID: "zhizao-it-site-b", logPath: dir + "/b.log")
        try a.start()
        try b.start()
        // A line meter's register climbing 0.5 kWh a minute for 100 minutes: 49.5 kWh between the
        // first and the last read, booked once for each site's line.
        let base = (Int64(Date().timeIntervalSince1970 * 1000) / 60_000 - 200) * 60_000
        let lines = (0..<100).map { i in
            #"{"device":"em-motor","ts":\#(base + Int64(i) * 60_000),"metrics":{"energy":\#(1000 + Double(i) * 0.5)}}"#
        }
        try Publisher.stream(broker, topic: "zhizao/v1/ws-assembly/em-motor", lines: lines)
        let db = try PostgresConnection(target: server.url)
        try waitUntil(timeout: 60, "both sites to store the 100 readings") {
            try db.execute("SELECT count(*) FROM readings r JOIN series s ON s.id = r.series_id WHERE s.device = 'em-motor'").int(0, 0)
                == 200
        }
        let sites = try db.execute("SELECT DISTINCT site FROM series WHERE device = 'em-motor' ORDER BY site").rows.compactMap { $0[0] }
        #expect(sites == ["dg-songshan", "sz-baoan"])
        let totals = try db.execute(
            """
            SELECT site, sum(value) FROM scope_rollup WHERE scope = 'line:line-motor' AND quantity = 'consumption.electricity'
                AND period = 'day' GROUP BY site ORDER BY site
            """)
        #expect(totals.rows.map { $0[0] } == ["dg-songshan", "sz-baoan"], "each site's totals are its own")
        for row in 0..<totals.count { #expect(abs((totals.double(row, 1) ?? 0) - 49.5) < 1e-9) }
        #expect(a.terminate() == 0)
        #expect(b.terminate() == 0)
    }

    // MARK: - Comparing a SQLite and a PostgreSQL database

    /// Per table: rows as `key|value` in SQLite and PostgreSQL (ids differ, so series are named;
    /// SQLite's compact encoding, migrations v9 and v10, is decoded: state words by code, a whole
    /// minute in one state as a NULL duration, minutes of one reading from `minute_rollup`).
    static let comparisons: [(String, String, String)] = [
        (
            "readings",
            "SELECT s.device||'/'||s.metric||'/'||r.ts||'/'||coalesce(w.word,'')||'/'||coalesce(r.error_code,'')||'|'||CASE WHEN r.value IS NULL THEN 'null' ELSE printf('%.17g', r.value) END FROM readings r JOIN series s ON s.id = r.series_id LEFT JOIN state_word w ON w.code = r.state_code",
            "SELECT s.device||'/'||s.metric||'/'||r.ts||'/'||coalesce(r.state,'')||'/'||coalesce(r.error_code::text,'')||'|'||coalesce(r.value::text,'null') FROM readings r JOIN series s ON s.id = r.series_id"
        ),
        (
            "scope_rollup",
            "SELECT scope||'/'||quantity||'/'||period||'/'||start||'|'||printf('%.17g', value) FROM scope_rollup",
            "SELECT scope||'/'||quantity||'/'||period||'/'||start||'|'||value::text FROM scope_rollup"
        ),
        (
            "rollup_minute consumption",
            "SELECT s.device||'/'||s.metric||'/'||m.minute||'|'||printf('%.17g', m.consumption) FROM minute_rollup m JOIN series s ON s.id = m.series_id",
            "SELECT s.device||'/'||s.metric||'/'||m.minute||'|'||m.consumption::text FROM rollup_minute m JOIN series s ON s.id = m.series_id"
        ),
        (
            "rollup_minute counts",
            "SELECT s.device||'/'||s.metric||'/'||m.minute||'|'||m.n FROM minute_rollup m JOIN series s ON s.id = m.series_id",
            "SELECT s.device||'/'||s.metric||'/'||m.minute||'|'||m.n FROM rollup_minute m JOIN series s ON s.id = m.series_id"
        ),
        (
            "state_minute",
            "SELECT s.device||'/'||s.metric||'/'||m.minute||'/'||w.word||'|'||ifnull(m.ms, 60000) FROM state_minute m JOIN series s ON s.id = m.series_id JOIN state_word w ON w.code = m.state_code",
            "SELECT s.device||'/'||s.metric||'/'||m.minute||'/'||m.state||'|'||m.ms FROM state_minute m JOIN series s ON s.id = m.series_id"
        ),
        (
            "machine_minute",
            "SELECT device||'/'||minute||'/'||producing_ms||'/'||unknown_ms||'|'||printf('%.17g', nc_producing_ms) FROM machine_minute",
            "SELECT device||'/'||minute||'/'||producing_ms||'/'||unknown_ms||'|'||nc_producing_ms::text FROM machine_minute"
        ),
        (
            "quality_event",
            "SELECT s.device||'/'||s.metric||'/'||q.kind||'/'||q.start_ts||'/'||q.end_ts||'/'||q.n||'|'||printf('%.17g', q.amount) FROM quality_event q JOIN series s ON s.id = q.series_id",
            "SELECT s.device||'/'||s.metric||'/'||q.kind||'/'||q.start_ts||'/'||q.end_ts||'/'||q.n||'|'||q.amount::text FROM quality_event q JOIN series s ON s.id = q.series_id"
        ),
    ]

    /// Every table of `comparisons` holds the same rows in the SQLite file and the PostgreSQL
    /// database. A few hours' stream has no register drop or long gap, so only quality_event may
    /// be empty.
    static func expectSameTables(_ sqlitePath: String, _ db: PostgresConnection, _ context: String = "") throws {
        for (table, sqlite, postgres) in comparisons {
            let a = try rows(sqliteShell(sqlitePath, sqlite).split(separator: "\n").map(String.init))
            let b = try rows(db.execute(postgres).rows.compactMap { $0[0] })
            #expect(!a.isEmpty || table == "quality_event", "\(table): the reference has rows")
            let found = differences(a, b)
            #expect(found.isEmpty, "\(table) differs from one SQLite daemon's\(context): \(found.prefix(5))")
        }
    }

    /// `key|value` lines as a map. A `null` value becomes part of the key; rows whose value is
    /// below 1e-9 are dropped (an additive row that went back to zero, give or take rounding
    /// residue of a different summation order, is the same figure as no row).
    static func rows(_ lines: [String]) throws -> [String: Double] {
        var out: [String: Double] = [:]
        for line in lines where !line.isEmpty {
            guard let bar = line.lastIndex(of: "|") else { throw TestFailure("no value in \(line)") }
            let value = String(line[line.index(after: bar)...])
            if value == "null" {
                out[line] = 1
                continue
            }
            guard let v = Double(value) else { throw TestFailure("not a number in \(line)") }
            if abs(v) < 1e-9 { continue }
            out[String(line[..<bar])] = v
        }
        return out
    }

    /// Keys whose values differ by more than summation order explains (relative 1e-9, absolute 1e-6).
    static func differences(_ a: [String: Double], _ b: [String: Double]) -> [String] {
        var out: [String] = []
        for key in Set(a.keys).union(b.keys).sorted() {
            let x = a[key]
            let y = b[key]
            guard let x, let y else {
                out.append("\(key): \(x.map { "\($0)" } ?? "none") vs \(y.map { "\($0)" } ?? "none")")
                continue
            }
            if abs(x - y) > max(1e-6, 1e-9 * max(abs(x), abs(y))) { out.append("\(key): \(x) vs \(y)") }
        }
        return out
    }
}

/// An ingest counter summed over every daemon that writes the database.
private func counter(_ db: PostgresConnection, _ name: String) throws -> Int64? {
    try db.execute("SELECT value FROM ingest_counters WHERE name = $1", [.text(name)]).int(0, 0)
}
