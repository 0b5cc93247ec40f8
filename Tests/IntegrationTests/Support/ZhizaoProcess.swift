import Foundation
import Glibc
import ReadingStore
import Testing

/// The built `zhizao` binary, run as a user runs it.
enum ZhizaoBinary {
    /// `$ZHIZAO_BIN`, or `zhizao` beside the test bundle in the build folder.
    static var path: String {
        get throws {
            if let p = ProcessInfo.processInfo.environment["ZHIZAO_BIN"] { return p }
            let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            let candidate = dir.appendingPathComponent("zhizao").path
            guard FileManager.default.isExecutableFile(atPath: candidate) else {
                throw TestFailure("no zhizao binary at \(candidate): run `swift build` first or set ZHIZAO_BIN")
            }
            return candidate
        }
    }

    /// Runs a CLI command to completion and returns its exit code and output; `environment`
    /// adds to (or overrides) the test's own, e.g. `["TZ": "UTC"]`. The locale is pinned to
    /// `LANG=C.UTF-8` (English output) unless `environment` sets one, so a tester's Chinese
    /// locale does not change what the tests read. The registry cache lives in the run's own
    /// temporary folder unless `environment` names one, so tests never write into `$HOME`.
    static func run(_ args: [String], environment: [String: String] = [:]) throws -> (code: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try path)
        p.arguments = args
        let dir = try temporaryDirectory("cli")
        var base = ProcessInfo.processInfo.environment.filter { $0.key != "LC_ALL" && $0.key != "LC_MESSAGES" }
        base["LANG"] = "C.UTF-8"
        base["ZHIZAO_CACHE_DIR"] = dir + "/cache"
        p.environment = base.merging(environment) { $1 }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(dir + "/out")))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(dir + "/err")))
        p.standardOutput = out
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        return (
            p.terminationStatus, try String(contentsOfFile: dir + "/out", encoding: .utf8),
            try String(contentsOfFile: dir + "/err", encoding: .utf8)
        )
    }

    /// The repository's shipped `Devices/`.
    static var shippedDevices: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Devices").path
    }
}

/// `zhizao run` as a child process with its log in a file.
final class DaemonProcess: @unchecked Sendable {
    let database: String
    let logPath: String
    let arguments: [String]
    let clientID: String
    let environment: [String: String]
    private(set) var process: Process?
    private var starts = 0
    /// The registry has a Sparkplug gateway: the daemon opens a host session beside the ingest one.
    let sparkplugHost: Bool

    init(
        broker: TestBroker, database: String, devices: String = ZhizaoBinary.shippedDevices,
        clientID: String = "zhizao-it-\(UUID().uuidString.prefix(8))", extra: [String] = [],
        environment: [String: String] = [:], logPath: String? = nil
    ) throws {
        self.database = database
        self.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        self.logPath = logPath ?? database + ".log"
        self.clientID = clientID
        let gateways = (try? FileManager.default.contentsOfDirectory(atPath: devices + "/gateways")) ?? []
        sparkplugHost = gateways.contains {
            ((try? String(contentsOfFile: devices + "/gateways/" + $0, encoding: .utf8)) ?? "").contains("decoder: sparkplug")
        }
        self.arguments = ["run", "--broker", broker.url, "--db", database, "--devices", devices, "--client-id", clientID] + extra
        _ = try createFile(self.logPath)
    }

    /// Starts the daemon and waits until it has subscribed, and so has its Sparkplug host session
    /// when there is one (it has a clean session: Sparkplug messages published before it
    /// subscribed are never delivered).
    func start() throws {
        try launch()
        let p = process!
        let expected = starts
        try waitUntil(timeout: 30, "the daemon to subscribe (log: \(logPath))") {
            guard p.isRunning else { throw TestFailure("the daemon exited: \(self.log)") }
            let log = self.log
            return log.components(separatedBy: "] subscribed").count - 1 >= expected
                && (!sparkplugHost || log.components(separatedBy: "Sparkplug primary host online").count - 1 >= expected)
        }
    }

    /// Starts the daemon without waiting for anything.
    func launch() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try ZhizaoBinary.path)
        p.arguments = arguments
        p.environment = environment
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        p.standardError = log
        p.standardOutput = log
        try p.run()
        process = p
        starts += 1
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// kill -9: no chance to commit or acknowledge anything.
    func killHard() {
        guard let p = process else { return }
        stopProcess(p, signal: SIGKILL, grace: 0)
        process = nil
    }

    /// SIGTERM and the exit status.
    func terminate() -> Int32 {
        guard let p = process else { return -1 }
        stopProcess(p, signal: SIGTERM, grace: 15)
        process = nil
        return p.terminationStatus
    }

    deinit { killHard() }

    func status() throws -> IngestStatus {
        try openTelemetryReader(database).status(nowMs: Int64(Date().timeIntervalSince1970 * 1000))
    }

    /// Waits until the store holds `count` readings, or its count stops moving for `quiet`
    /// seconds (so a loss shows as a short, precise failure rather than a long time-out). The
    /// quiet period is generous: a daemon starved of CPU on a loaded machine also stops moving.
    func waitForSettled(_ count: Int64, quiet: Double = 10, timeout: Double = 180) throws {
        var last: Int64 = -1
        var since = Date()
        try waitUntil(timeout: timeout, "\(count) readings in \(database)") {
            let n = try status().readingsStored
            if n >= count { return true }
            if n != last {
                last = n
                since = Date()
            }
            return Date().timeIntervalSince(since) > quiet
        }
    }

    /// Waits until the store holds at least `count` readings.
    func waitForReadings(_ count: Int64, timeout: Double = 60) throws {
        try waitUntil(timeout: timeout, "\(count) readings in \(database)") {
            guard FileManager.default.fileExists(atPath: database) || database.hasPrefix("postgresql://") else { return false }
            return try status().readingsStored >= count
        }
    }
}

extension DaemonProcess {
    /// Every sequence number 0..<count of `device` stored exactly once (counting its readings
    /// from `since` on, when other publishers write the same device earlier in time).
    func expectEverySequenceOnce(device: String, count: Int, since: Int64 = .min) throws {
        let rows = try openTelemetryReader(database).readings(device: device, limit: count * 20).filter { $0.timestampMs >= since }
        let seqs = Set(rows.compactMap(\.seq))
        #expect(rows.count == count, "\(device): \(rows.count) rows of \(count)")
        #expect(seqs.count == count && seqs.min() == 0 && seqs.max() == Int64(count - 1), "distinct sequence numbers")
    }
}

extension DaemonProcess {
    /// Publishes one good reading of `device` (a native JSON device of ws-assembly) and waits
    /// until it is stored. The broker hands the daemon's session its messages in the order it
    /// accepted them (redeliveries first), so once the sentinel is stored the daemon has handled
    /// everything published before it: what did not happen by then is not merely late.
    /// Adds one reading to `readingsStored` and one message to `messagesReceived`.
    func passSentinel(_ broker: TestBroker, device: String = "tst-421", timeout: Double = 60) throws {
        let ts = Int64(Date().timeIntervalSince1970 * 1000) - 60_000
        try Publisher.publish(
            broker, topic: "zhizao/v1/ws-assembly/\(device)",
            #"{"device":"\#(device)","ts":\#(ts),"metrics":{"power":0.5}}"#)
        try waitUntil(timeout: timeout, "the sentinel reading of \(device) at \(ts) stored") {
            try openTelemetryReader(database).readings(device: device, limit: 100_000).contains { $0.timestampMs == ts }
        }
    }
}

/// Publishes with mosquitto_pub, the reference MQTT client.
enum Publisher {
    /// Publishes one message and waits for the broker's acknowledgement.
    static func publish(
        _ broker: TestBroker, topic: String, _ payload: String, qos: Int = 1, retain: Bool = false,
        login: (String, String)? = nil, eventTime: String? = nil
    ) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try executable("mosquitto_pub", in: ["/usr/bin"]))
        p.arguments =
            ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "\(qos)", "-t", topic, "-m", payload]
            + (retain ? ["-r"] : [])
            + (login.map { ["-u", $0.0, "-P", $0.1] } ?? [])
            + (eventTime.map { ["-V", "mqttv5", "-D", "publish", "user-property", "ts", $0] } ?? [])
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TestFailure("mosquitto_pub failed with \(p.terminationStatus)") }
    }

    /// Starts publishing each line of `lines` as one message on `topic`; returns the running process.
    static func startStream(_ broker: TestBroker, topic: String, lines: [String], qos: Int = 1) throws -> Process {
        let dir = try temporaryDirectory("pub")
        let file = dir + "/lines.txt"
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try executable("mosquitto_pub", in: ["/usr/bin"]))
        p.arguments = [
            "-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "\(qos)", "-t", topic, "-l",
            "-i", "zhizao-it-pub-\(UUID().uuidString.prefix(8))",
        ]
        p.standardInput = FileHandle(forReadingAtPath: file)
        try p.run()
        return p
    }

    /// Publishes all lines and waits until the publisher is done.
    static func stream(_ broker: TestBroker, topic: String, lines: [String], qos: Int = 1) throws {
        let p = try startStream(broker, topic: topic, lines: lines, qos: qos)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TestFailure("mosquitto_pub -l failed with \(p.terminationStatus)") }
    }
}

/// Native JSON readings with sequence numbers, one per message, timestamps in the recent past
/// (`base` + the sequence number; pass the same `base` to calls that continue one stream).
func sequencedReadings(
    device: String, metric: String, count: Int, from start: Int = 0,
    base: Int64 = Int64(Date().timeIntervalSince1970 * 1000) - 200_000
) -> [String] {
    return (start..<(start + count)).map { i in
        #"{"device":"\#(device)","ts":\#(base + Int64(i)),"seq":\#(i),"metrics":{"\#(metric)":\#(Double(i % 1000) / 10)}}"#
    }
}
