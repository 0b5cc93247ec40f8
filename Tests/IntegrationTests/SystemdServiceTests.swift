import Foundation
import Glibc
import ReadingStore
import Telemetry
import Testing

/// `zhizao run` under systemd's protocols: notify, watchdog, reload on SIGHUP, stop.
@Suite("systemd service", .serialized)
struct SystemdServiceTests {
    @Test func notifiesReadyWatchdogReloadAndStoppingInOrder() throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("systemd")
        let devices = dir + "/devices"
        try FileManager.default.copyItem(atPath: ZhizaoBinary.shippedDevices, toPath: devices)
        let notify = try NotifySocket()
        // A 2 s watchdog: pings due every second, well apart from the ingest loop's 250 ms idle wake-up.
        let watchdogS = 2.0
        let daemon = try DaemonProcess(
            broker: broker, database: dir + "/z.sqlite", devices: devices,
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "\(Int(watchdogS * 1_000_000))"])
        try daemon.start()
        #expect(notify.wait(timeout: 10) { $0.contains { $0.hasPrefix("READY=1") } })
        #expect(notify.wait(timeout: 10) { $0.contains { $0.hasPrefix("STATUS=") && $0.contains("readings/s") } })

        // Pings at about half of WATCHDOG_USEC. systemd only requires one within every full
        // interval; the daemon aims at half so that scheduling delays fit in the other half. A
        // loaded machine makes intervals longer, never shorter, and delays this test's receiving
        // thread too (one late read makes one interval long and the next short), so: the median
        // interval is in [half/2, full) (pinging on every loop turn, ~0.25 s, or only at the full
        // interval both fail), and no interval exceeds the full one plus 1 s of slack for the
        // measurement itself.
        #expect(notify.wait(timeout: 60) { $0.filter { $0 == "WATCHDOG=1" }.count >= 7 }, "seven watchdog pings")
        let pings = notify.arrivals(of: "WATCHDOG=1")
        let intervals = zip(pings.dropFirst(), pings).map { $0 - $1 }.sorted()
        try #require(intervals.count >= 6)
        let median = intervals[intervals.count / 2]
        #expect(median >= watchdogS / 4 && median < watchdogS, "median ping interval \(median) s (intervals \(intervals))")
        #expect(intervals.last! < watchdogS + 1, "longest ping interval \(intervals.last!) s")

        // A valid new registry: a new gateway and device, taken without a restart.
        try """
        gateway: gw-new
        decoder: native
        topic: zz/new/#
        devices:
          - {id: new-1, site: sz-baoan, workshop: ws-assembly, metrics: [{name: p, kind: gauge, unit: kW, measures: other}]}
        """.write(toFile: devices + "/gateways/new.yaml", atomically: true, encoding: .utf8)
        kill(daemon.process!.processIdentifier, SIGHUP)
        try waitUntil(timeout: 10, "the reload") { daemon.log.contains("reloaded the registry") }
        #expect(
            notify.wait(timeout: 5) { m in
                guard let r = m.firstIndex(where: { $0.hasPrefix("RELOADING=1") }) else { return false }
                return m[r...].dropFirst().contains { $0.hasPrefix("READY=1") }
            })
        // The log line comes before the new subscription reaches the broker, and a message the
        // broker gets before it is dropped: publish again until stored (inserts are idempotent).
        let now = Int64(Date().timeIntervalSince1970 * 1000) - 1000
        try waitUntil(timeout: 30, "the new gateway's reading stored") {
            try Publisher.publish(broker, topic: "zz/new/x", #"{"device":"new-1","ts":\#(now),"metrics":{"p":4.5}}"#)
            return (try? daemon.waitForReadings(1, timeout: 1)) != nil
        }
        #expect(try StoreReader(path: daemon.database).readings(device: "new-1").map(\.value) == [.number(4.5)])

        // A broken registry: refused, logged with the reason, the running one kept.
        try "gateway: gw-new\ndecoder: nonsense\n".write(toFile: devices + "/gateways/new.yaml", atomically: true, encoding: .utf8)
        kill(daemon.process!.processIdentifier, SIGHUP)
        try waitUntil(timeout: 10, "the refusal") { daemon.log.contains("reload refused") }
        #expect(daemon.log.contains("nonsense"))
        try Publisher.publish(broker, topic: "zz/new/x", #"{"device":"new-1","ts":\#(now + 1),"metrics":{"p":5.5}}"#)
        try daemon.waitForReadings(2, timeout: 10)

        #expect(daemon.terminate() == 0)
        #expect(notify.wait(timeout: 3) { $0.contains { $0.hasPrefix("STOPPING=1") } })
        let kinds = notify.messages.compactMap { $0.split(separator: "=").first.map(String.init) }
        let ready = try #require(kinds.firstIndex(of: "READY"))
        #expect(kinds.firstIndex(of: "WATCHDOG")! > ready, "no watchdog ping before READY")
        #expect(kinds.firstIndex(of: "RELOADING")! > ready)
        #expect(kinds.last == "STOPPING")
    }

    @Test func theUnitsPassSystemdAnalyze() throws {
        let analyze = "/usr/bin/systemd-analyze"
        guard FileManager.default.isExecutableFile(atPath: analyze) else {
            throw TestFailure("systemd-analyze is missing: .ci/install-deps installs the systemd package")
        }
        let dir = try temporaryDirectory("unit")
        let shipped = URL(fileURLWithPath: ZhizaoBinary.shippedDevices).deletingLastPathComponent().appendingPathComponent("systemd")
        // The daemon and the backup timer with its service. Verified against the binary where the
        // units expect it, faked by a copy in a private root.
        let units = ["zhizao.service", "zhizao-backup.service", "zhizao-backup.timer"]
        for unit in units {
            let text = try String(contentsOfFile: shipped.appendingPathComponent(unit).path, encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/zhizao", with: try ZhizaoBinary.path)
            try text.write(toFile: dir + "/" + unit, atomically: true, encoding: .utf8)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: analyze)
        p.arguments = ["verify"] + units.map { dir + "/" + $0 }
        let out = dir + "/out"
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(out)))
        p.standardError = p.standardOutput
        try p.run()
        p.waitUntilExit()
        let report = try String(contentsOfFile: out, encoding: .utf8)
        #expect(p.terminationStatus == 0, "\(report)")
        #expect(!report.contains("Unknown key"), "\(report)")
    }
}

/// The optional Prometheus endpoint, scraped during ingest.
@Suite("Metrics endpoint", .serialized)
struct MetricsEndpointTests {
    func scrape(port: Int, path: String = "/metrics") throws -> String {
        guard let fd = connectLoopback(port: port) else { throw TestFailure("cannot connect to the metrics port \(port)") }
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        return String(decoding: response, as: UTF8.self)
    }

    func value(_ text: String, _ name: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last!) }
    }

    @Test func metricsMatchStatus() throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("metrics")
        let port = try freeLoopbackPort()
        let daemon = try DaemonProcess(
            broker: broker, database: dir + "/z.sqlite",
            environment: ["ZHIZAO_METRICS_LISTEN": "127.0.0.1:\(port)"])
        try daemon.start()
        try Publisher.stream(
            broker, topic: "zhizao/v1/ws-assembly/prs-401",
            lines: sequencedReadings(device: "prs-401", metric: "power", count: 500) + ["{not json"])
        try daemon.waitForReadings(500)
        try waitUntil(timeout: 10, "the malformed message counted") { try daemon.status().messagesQuarantined == 1 }
        let text = try scrape(port: port)
        #expect(text.hasPrefix("HTTP/1.1 200 OK"))
        let status = try daemon.status()
        #expect(value(text, "zhizao_readings_committed_total") == Double(status.readingsStored))
        #expect(value(text, "zhizao_messages_received_total") == Double(status.messagesReceived))
        #expect(text.contains("zhizao_messages_quarantined_total{reason=\"malformed\"} 1"))
        #expect(value(text, "zhizao_broker_connected") == 1)
        let free = try #require(value(text, "zhizao_disk_free_bytes"), "the database's free disk space is exported")
        let statvfs = try #require(FileSystemSpace.of(daemon.database))
        #expect(free > 0 && abs(free - Double(statvfs.freeBytes)) < 0.05 * Double(statvfs.totalBytes))
        #expect(text.contains("zhizao_commit_seconds_bucket") && text.contains("zhizao_ingest_lag_seconds_count"))
        #expect(try scrape(port: port, path: "/").hasPrefix("HTTP/1.1 404"))
        #expect(daemon.terminate() == 0)
    }
}
