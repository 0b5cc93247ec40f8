import Foundation
import ReadingStore
import Sparkplug
import Telemetry
import Testing

/// A full Sparkplug B conversation through a real broker with the real daemon as primary host.
@Suite("Sparkplug B primary host", .serialized)
struct SparkplugHostTests {
    static func m(_ name: String?, alias: UInt64?, _ type: SparkplugDataType, _ value: SparkplugValue) -> SparkplugMetric {
        SparkplugMetric(name: name, alias: alias, timestamp: nil, datatype: type, value: value)
    }

    /// Publishes a Sparkplug payload (protobuf bytes from a file) with mosquitto_pub.
    func send(
        _ broker: TestBroker, _ type: SparkplugMessageType, device: String? = nil, seq: UInt64?,
        _ metrics: [SparkplugMetric], dir: String
    ) throws {
        let topic = SparkplugTopic(group: "sz-baoan", type: type, edgeNode: "air-station", device: device).text
        let now = UInt64(Date().timeIntervalSince1970 * 1000) - 1000
        let file = dir + "/\(UUID().uuidString).bin"
        try Data(try SparkplugPayload.encode(timestamp: now, seq: seq, metrics: metrics)).write(to: URL(fileURLWithPath: file))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_pub")
        p.arguments = ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", topic, "-f", file]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    /// The first message on `topic` (retained ones included), or nil after `seconds`. `start`
    /// runs once mosquitto_sub has provably subscribed: it also subscribes to a probe topic
    /// holding a retained message, listed after `topic`, and the broker sends retained messages
    /// only after it has taken the subscriptions before them.
    func firstMessage(_ broker: TestBroker, topic: String, seconds: Int, start: (() throws -> Void)? = nil) throws -> [UInt8]? {
        let dir = try temporaryDirectory("sub")
        let probe = "zhizao-it/probe/\(UUID().uuidString)"
        try Publisher.publish(broker, topic: probe, "ready", retain: true)
        let out = dir + "/out"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_sub")
        // One line per message: the topic, a space, the payload in hex.
        p.arguments = ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", topic, "-t", probe, "-C", "2", "-W", "\(seconds)", "-F", "%t %x"]
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(out)))
        try p.run()
        defer { stopProcess(p, signal: SIGKILL, grace: 0) }
        func lines() -> [Substring] {
            ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n")
        }
        try waitUntil(timeout: 15, "mosquitto_sub to subscribe") {
            guard p.isRunning || lines().contains(where: { $0.hasPrefix(probe + " ") }) else {
                throw TestFailure("mosquitto_sub exited before subscribing: \(lines())")
            }
            return lines().contains { $0.hasPrefix(probe + " ") }
        }
        try start?()
        p.waitUntilExit()
        guard let line = lines().first(where: { $0.hasPrefix(topic + " ") }) else { return nil }
        let hex = Array(line.dropFirst(topic.count + 1).utf8)
        return stride(from: 0, to: hex.count - 1, by: 2).compactMap { UInt8(String(decoding: hex[$0...$0 + 1], as: UTF8.self), radix: 16) }
    }

    func state(_ daemon: DaemonProcess, _ device: String) throws -> (online: Bool?, reason: String?) {
        let d = try daemon.status().devices.first { $0.device == device }
        return (d?.online, d?.stateReason)
    }

    @Test func birthDataGapRebirthStaleAndRealDeathAndState() throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("sparkplug")
        try "sparkplug:\n  host_id: zhizao-it\n  reorder_timeout_ms: 300\n".write(
            toFile: dir + "/z.yaml", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite", extra: ["--config", dir + "/z.yaml"])
        try daemon.start()
        try waitUntil(timeout: 10, "the host online") { daemon.log.contains("Sparkplug primary host online") }

        // The host's retained STATE says online, in the Sparkplug 3.0 JSON form.
        let online = try #require(try firstMessage(broker, topic: "spBv1.0/STATE/zhizao-it", seconds: 5))
        #expect(String(decoding: online, as: UTF8.self).hasPrefix("{\"online\":true,\"timestamp\":"))

        // Birth, device birth, data by alias.
        try send(broker, .nbirth, seq: 0, [Self.m("bdSeq", alias: nil, .int64, .number(7))], dir: dir)
        try send(
            broker, .dbirth, device: "compressor-1", seq: 1,
            [
                Self.m("Air/Delivered", alias: 1, .double, .number(1000)), Self.m("Motor/Power", alias: 2, .float, .number(37.5)),
                Self.m("Status/Running", alias: 3, .boolean, .bool(true)),
            ], dir: dir)
        try send(
            broker, .ddata, device: "compressor-1", seq: 2,
            [Self.m(nil, alias: 1, .double, .number(1012.5)), Self.m(nil, alias: 3, .boolean, .bool(false))], dir: dir)
        try daemon.waitForReadings(5, timeout: 15)
        let rows = try StoreReader(path: daemon.database).readings(device: "cmp-1")
        #expect(rows.map(\.metric).sorted() == ["air", "air", "power", "state", "state"])
        #expect(rows.contains { $0.metric == "state" && $0.value == .state("idle") })
        #expect(try state(daemon, "cmp-1").online == true)

        // A sequence gap: after the reorder timeout the host asks the edge node for a rebirth.
        let ncmd = try firstMessage(broker, topic: "spBv1.0/sz-baoan/NCMD/air-station", seconds: 8) {
            try send(broker, .ddata, device: "compressor-1", seq: 5, [Self.m(nil, alias: 2, .float, .number(40))], dir: dir)
        }
        let request = try SparkplugPayload(serializedBytes: try #require(ncmd))
        #expect(request.metrics.contains { $0.name == "Node Control/Rebirth" && $0.value == .bool(true) })

        // A death with a stale bdSeq is ignored: data sent after it, on the same path, is still
        // stored (after a death that counted it would be quarantined, the node being offline), and
        // by then the death has been handled. The real one marks the node's devices offline.
        try send(broker, .ndeath, seq: nil, [Self.m("bdSeq", alias: nil, .int64, .number(6))], dir: dir)
        try send(broker, .ddata, device: "compressor-1", seq: 6, [Self.m(nil, alias: 2, .float, .number(41))], dir: dir)
        try waitUntil(timeout: 15, "the data after the stale death handled") {
            let reader = try StoreReader(path: daemon.database)
            return try reader.readings(device: "cmp-1").contains { $0.value == .number(41) }
                || reader.quarantine().contains { $0.detail.contains("before its NBIRTH") }
        }
        #expect(
            try StoreReader(path: daemon.database).readings(device: "cmp-1").contains { $0.value == .number(41) },
            "the stale death left the node online")
        #expect(try state(daemon, "cmp-1").online == true)
        try send(broker, .ndeath, seq: nil, [Self.m("bdSeq", alias: nil, .int64, .number(7))], dir: dir)
        try waitUntil(timeout: 10, "cmp-1 offline") { try state(daemon, "cmp-1").online == false }
        #expect(try state(daemon, "cmp-1").reason == "NDEATH")
        let status = try ZhizaoBinary.run(["status", "--db", daemon.database])
        #expect(status.stdout.contains("OFFLINE (stale, NDEATH)"))

        // The rebirth brings it back.
        try send(broker, .nbirth, seq: 0, [Self.m("bdSeq", alias: nil, .int64, .number(8))], dir: dir)
        try send(broker, .dbirth, device: "compressor-1", seq: 1, [Self.m("Air/Delivered", alias: 1, .double, .number(1100))], dir: dir)
        try waitUntil(timeout: 10, "cmp-1 online again") { try state(daemon, "cmp-1").online == true }

        // A clean stop says offline, retained.
        #expect(daemon.terminate() == 0)
        let offline = try #require(try firstMessage(broker, topic: "spBv1.0/STATE/zhizao-it", seconds: 5))
        #expect(String(decoding: offline, as: UTF8.self).hasPrefix("{\"online\":false"))
    }
}
