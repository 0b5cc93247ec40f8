import Foundation
import GatewaySimulator
import Glibc
import PlantRegistry
import ReadingStore
import Telemetry
import Testing

/// Faults against real processes: nothing acknowledged is ever lost, memory stays bounded.
@Suite("Faults", .serialized)
struct FaultTests {

    func rssKB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? 0
    }

    /// Three publishers with sequence numbers that keep publishing until the 20th kill is done,
    /// beside the simulated plant. Every kill waits until the daemon has committed something
    /// since its last restart, so it lands while readings are arriving by construction, not by
    /// the machine's speed.
    @Test func twentyKillsAtRandomMomentsWithSeveralPublishers() throws {
        let devices = ["prs-401", "rbt-411", "tst-421"]
        let broker = try TestBroker()
        let dir = try temporaryDirectory("kills")
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite", clientID: "zhizao-it-kills")
        try daemon.start()
        // Plant time two days back, so its readings never share a timestamp with the streams below.
        let from = Int64(Date().timeIntervalSince1970 * 1000) - 2 * 86_400_000
        let simulator = Process()
        simulator.executableURL = URL(fileURLWithPath: try ZhizaoBinary.path)
        simulator.arguments = [
            "simulate", "--broker", broker.url, "--devices", ZhizaoBinary.shippedDevices, "--rate", "2500",
            "--duration", "10s", "--clean", "--seed", "5", "--from", Timestamp.formatRFC3339UTC(from),
            "--format", "json", "--client-id", "zhizao-it-sim",
        ]
        let report = dir + "/simulate.json"
        simulator.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(report)))
        try simulator.run()
        defer { stopProcess(simulator, signal: SIGKILL, grace: 0) }
        let publishers = try devices.map { try PacedPublisher(broker, device: $0, perSecond: 1_000) }
        defer { for p in publishers { p.abort() } }
        var rng = SeededGenerator(seed: 8)
        var killsMidStream = 0
        for _ in 0..<20 {
            let atRestart = try daemon.status().readingsStored
            try waitUntil(timeout: 60, "a commit since the restart") { try daemon.status().readingsStored > atRestart }
            usleep(UInt32(rng.next() % 250_000))  // a different moment of the stream each time
            if publishers.allSatisfy(\.isStreaming) { killsMidStream += 1 }
            daemon.killHard()
            try daemon.start()
        }
        #expect(killsMidStream == 20, "\(killsMidStream) of the 20 kills landed while all three streams were publishing")
        let published = try publishers.map { try $0.stop() }
        simulator.waitUntilExit()
        #expect(simulator.terminationStatus == 0)
        let simulated = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        // Sparkplug data sent while the host is down is lost by design (the host's session is clean;
        // edge nodes rebirth on request, which the simulator does not do): count the other formats.
        let persistent = (simulated["devices"] as? [[String: Any]] ?? [])
            .filter { $0["format"] as? String != "sparkplug" }.compactMap { $0["readings"] as? Int }.reduce(0, +)
        let expected = published.reduce(0, +) + persistent
        try daemon.waitForSettled(Int64(expected))
        // Every stream and the simulator were done at the broker before this: once the sentinel
        // is stored, nothing of theirs is still on its way.
        try daemon.passSentinel(broker, device: "em-motor", timeout: 180)
        for (d, n) in zip(devices, published) { try daemon.expectEverySequenceOnce(device: d, count: n, since: from + 86_400_000) }
        // The counter less the Sparkplug rows, read in one statement (one snapshot): Sparkplug data
        // comes on the host's own session and may still be committing.
        let sparkplug = try Plant.load(directory: ZhizaoBinary.shippedDevices).devices.filter { $0.sparkplug != nil }
            .map { "'\($0.id)'" }.joined(separator: ", ")
        let stored = try sqliteInteger(
            daemon.database,
            """
            SELECT (SELECT value FROM ingest_counters WHERE name = 'readings_stored')
                 - (SELECT count(*) FROM readings JOIN series ON series.id = readings.series_id WHERE series.device IN (\(sparkplug)))
            """)
        #expect(
            stored == Int64(expected + 1),
            "each reading counted once, the simulated plant's and the sentinel too: \(stored) of \(expected + 1)")
        #expect(daemon.terminate() == 0)
    }

    /// Runs `body` with a tmpfs of `size` mounted at a fresh folder (root only, as CI runs).
    func withTmpfs(size: String, _ body: (String) throws -> Void) throws {
        let dir = try temporaryDirectory("tmpfs")
        func mount(_ args: [String]) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/mount")
            p.arguments = args
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else {
                throw TestFailure(
                    "mount \(args.joined(separator: " ")) failed: this test needs root (CI and the developer machines run as root)")
            }
        }
        try mount(["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", dir])
        defer {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/umount")
            p.arguments = ["-l", dir]
            try? p.run()
            p.waitUntilExit()
        }
        try body(dir)
    }

    func remount(_ dir: String, _ options: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/mount")
        p.arguments = ["-o", "remount,\(options)", dir]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    /// Disk full, then space returns. (A read-only remount is refused by the kernel while the
    /// daemon holds the database open for writing, so "made read-only" is covered by the
    /// stalled-database test: the same failing-commit path.)
    @Test func diskFullThenSpaceReturns() throws {
        let count = 20_000
        try withTmpfs(size: "1m") { dir in
            let broker = try TestBroker()
            // The daemon tells systemd about each failed retry: the test's evidence that retries happened.
            let notify = try NotifySocket()
            let daemon = try DaemonProcess(
                broker: broker, database: dir + "/z.sqlite", clientID: "zhizao-it-full",
                environment: ["NOTIFY_SOCKET": notify.path])
            try daemon.start()
            try Publisher.stream(
                broker, topic: "zhizao/v1/ws-assembly/prs-401",
                lines: sequencedReadings(device: "prs-401", metric: "power", count: count))
            try waitUntil(timeout: 20, "the full disk to stop commits") { daemon.log.contains("commit failed") }
            let stuck = try daemon.status().readingsStored
            #expect(stuck < Int64(count))
            // Three more failed retries, each announced on the notify socket, before looking at the log.
            #expect(
                notify.wait(timeout: 60) { $0.contains { $0.contains("STATUS=commit failing (disk_full): attempt 4,") } },
                "the daemon kept retrying the commit, knowing the disk is full")
            #expect(daemon.log.contains("code=disk_full"), "the log says the disk is full, not just that a commit failed")
            #expect(daemon.log.components(separatedBy: "commit failed").count - 1 == 1, "said once, not every second")
            #expect(daemon.process?.isRunning == true)

            #expect(try daemon.status().readingsStored == stuck, "nothing commits while the disk is full")
            try remount(dir, "size=64m")
            try daemon.waitForSettled(Int64(count))
            try daemon.expectEverySequenceOnce(device: "prs-401", count: count)
            #expect(daemon.log.contains("commit succeeded again"))
            #expect(daemon.terminate() == 0)
        }
    }

    @Test func aStalledDatabaseMeansBackPressureNotMemory() throws {
        let count = 60_000
        let broker = try TestBroker()
        let dir = try temporaryDirectory("stall")
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite", clientID: "zhizao-it-stall")
        try daemon.start()
        try Publisher.publish(
            broker, topic: "zhizao/v1/ws-assembly/prs-401", #"{"device":"prs-401","ts":1,"seq":999999,"metrics":{"power":1}}"#)
        try daemon.waitForReadings(1)
        let baseline = rssKB(daemon.process!.processIdentifier)
        // Another writer holds the database (a stalled disk, a backup) until the test releases it:
        // it creates `locked` once its exclusive transaction has written, then waits for `release`.
        let lock = Process()
        lock.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        lock.arguments = ["-bail", daemon.database]
        let script = dir + "/lock.sql"
        try """
        .timeout 30000
        BEGIN EXCLUSIVE;
        INSERT INTO ingest_counters(name, value) VALUES ('lock', 1);
        .shell touch '\(dir)/locked'; while [ ! -e '\(dir)/release' ]; do sleep 0.05; done
        ROLLBACK;

        """.write(toFile: script, atomically: true, encoding: .utf8)
        lock.standardInput = FileHandle(forReadingAtPath: script)
        try lock.run()
        defer {
            _ = FileManager.default.createFile(atPath: dir + "/release", contents: nil)
            stopProcess(lock, signal: SIGTERM, grace: 5)
        }
        try waitUntil(timeout: 30, "the other writer to hold the lock") {
            guard lock.isRunning else { throw TestFailure("sqlite3 could not take the lock: exit \(lock.terminationStatus)") }
            return FileManager.default.fileExists(atPath: dir + "/locked")
        }
        let publisher = try Publisher.startStream(
            broker, topic: "zhizao/v1/ws-assembly/rbt-411",
            lines: sequencedReadings(device: "rbt-411", metric: "power", count: count))
        defer { stopProcess(publisher, signal: SIGKILL, grace: 0) }
        // While the lock is held the whole stream reaches the broker and the daemon's commit fails
        // (after its 5 s busy timeout): memory is sampled throughout.
        var peak = 0
        let deadline = Date().addingTimeInterval(120)
        while (publisher.isRunning || !daemon.log.contains("commit failed")) && Date() < deadline {
            peak = max(peak, rssKB(daemon.process!.processIdentifier))
            usleep(100_000)
        }
        try #require(daemon.log.contains("commit failed"), "the daemon's commit stalled on the lock")
        #expect(!publisher.isRunning && publisher.terminationStatus == 0)
        #expect(try daemon.status().readingsStored == 1, "nothing committed while the other writer held the lock")
        #expect(peak < baseline + 30_000, "resident memory bounded while commits wait: \(baseline) kB → peak \(peak) kB")
        _ = FileManager.default.createFile(atPath: dir + "/release", contents: nil)
        lock.waitUntilExit()
        #expect(lock.terminationStatus == 0)
        try daemon.waitForSettled(Int64(count + 1))
        try daemon.expectEverySequenceOnce(device: "rbt-411", count: count)
        #expect(daemon.log.contains("commit succeeded again"))
        #expect(daemon.terminate() == 0)
    }

    @Test func hostileNamesAndBytesTravelAsData() throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("hostile")
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite")
        try daemon.start()
        let now = Int64(Date().timeIntervalSince1970 * 1000) - 1000
        let nasty = ["x'); DROP TABLE readings; --", "\"quoted\" \\ back", "tab\tnew\nline", String(repeating: "long", count: 3000)]
        for (i, name) in nasty.enumerated() {
            let escaped = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\t", with: "\\t").replacingOccurrences(of: "\n", with: "\\n")
            try Publisher.publish(
                broker, topic: "zhizao/v1/ws-assembly/x",
                #"{"device":"\#(escaped)","ts":\#(now + Int64(i)),"metrics":{"\#(escaped)":1}}"#)
            try Publisher.publish(
                broker, topic: "zhizao/v1/ws-assembly/prs-401",
                #"{"device":"prs-401","ts":\#(now + Int64(i)),"metrics":{"power":1,"\#(escaped)":2}}"#)
        }
        // Invalid UTF-8 in a payload, sent as raw bytes.
        let raw = dir + "/raw.bin"
        try Data([0x7b, 0x22, 0x64, 0x65, 0x76, 0x69, 0x63, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]).write(
            to: URL(fileURLWithPath: raw))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_pub")
        p.arguments = ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", "zhizao/v1/ws-assembly/raw", "-f", raw]
        try p.run()
        p.waitUntilExit()
        try waitUntil(timeout: 15, "9 messages counted") { try daemon.status().messagesReceived >= 9 }
        let s = try daemon.status()
        #expect(s.readingsStored == 4, "the good power readings beside the hostile names")
        #expect(s.quarantinedByReason["unknown_device"] == 4 && s.quarantinedByReason["unknown_metric"] == 4)
        #expect(s.quarantinedByReason["malformed"] == 1)
        let q = try StoreReader(path: daemon.database).quarantine()
        #expect(q.contains { $0.detail.contains("DROP TABLE readings") }, "stored as text, not run as SQL")
        let cli = try ZhizaoBinary.run(["quarantine", "--db", daemon.database, "--limit", "20"])
        #expect(cli.code == 0)
        #expect(daemon.terminate() == 0)
    }

    @Test func theDatabaseIsNotWorldReadable() throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("perms")
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite")
        try daemon.start()
        try Publisher.publish(broker, topic: "factory/ws-machining/line-shaft/em-shaft/energy_kwh", "1")
        try daemon.waitForReadings(1)
        for suffix in ["", "-wal", "-shm"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: daemon.database + suffix)
            let mode = (attributes[.posixPermissions] as? Int) ?? 0o777
            #expect(mode & 0o077 == 0, "z.sqlite\(suffix) has mode \(String(mode, radix: 8))")
        }
        #expect(daemon.terminate() == 0)
    }
}
