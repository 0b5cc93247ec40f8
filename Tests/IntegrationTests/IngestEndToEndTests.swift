import Foundation
import ReadingStore
import Telemetry
import Testing

/// A real mosquitto, the real daemon binary, a real client, a real SQLite file.
@Suite("Ingest end to end", .serialized)
struct IngestEndToEndTests {
    @Test func everyDecoderStoresWhatTheGatewaySent() throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("e2e")
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite")
        try daemon.start()
        let now = Int64(Date().timeIntervalSince1970 * 1000) - 5_000

        try Publisher.publish(
            broker, topic: "zhizao/v1/ws-assembly/prs-401",
            #"{"device":"prs-401","ts":\#(now),"seq":7,"metrics":{"state":"producing","mode":"nc","power":3.5}}"#)
        try Publisher.publish(
            broker, topic: "/neuron/zhizao/s7-shaft/cnc101",
            #"{"timestamp":\#(now),"node":"s7-shaft","group":"cnc101","values":{"RUN_STATE":1,"P_TOTAL":1234},"errors":{"OP_MODE":3001}}"#)
        try Publisher.publish(
            broker, topic: "/neuron/zhizao/s7-shaft/cnc102",
            #"{"timestamp":\#(now),"node":"s7-shaft","group":"cnc102","tags":[{"name":"RUN_STATE","value":3},{"name":"PART_CNT","value":17}]}"#
        )
        try Publisher.publish(broker, topic: "factory/ws-machining/line-shaft/em-shaft/energy_kwh", "1234.5")
        try Publisher.publish(broker, topic: "factory/ws-machining/line-shaft/em-shaft/power_kw", "88.5", eventTime: "\(now)")
        try daemon.waitForReadings(10, timeout: 20)

        let rows = try StoreReader(path: daemon.database).readings()
        func value(_ device: String, _ metric: String) -> ReadingValue? {
            rows.first { $0.device == device && $0.metric == metric }?.value
        }
        #expect(rows.count == 10)
        #expect(value("prs-401", "state") == .state("producing"))
        #expect(value("prs-401", "mode") == .state("nc"))
        #expect(value("prs-401", "power") == .number(3.5))
        #expect(rows.first { $0.device == "prs-401" }?.seq == 7)
        #expect(value("cnc-101", "state") == .state("producing"))
        #expect(value("cnc-101", "power") == .number(12.34))
        #expect(value("cnc-101", "mode") == .error(3001))
        #expect(value("cnc-102", "state") == .state("idle"))
        #expect(value("cnc-102", "part_count") == .number(17))
        #expect(value("em-shaft", "energy") == .number(1234.5))
        #expect(value("em-shaft", "power") == .number(88.5))
        #expect(
            rows.filter { $0.metric != "energy" || $0.device != "em-shaft" }.allSatisfy { $0.timestampMs == now },
            "event times from the payloads, and from the MQTT v5 user property `ts` for the plain value")

        // `zhizao status` reads the same database while the daemon runs.
        let status = try ZhizaoBinary.run(["status", "--db", daemon.database, "--format", "json"])
        #expect(status.code == 0)
        let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        #expect(json?["readings_stored"] as? Int == 10)
        #expect(json?["messages_received"] as? Int == 5)
        #expect(json?["messages_quarantined"] as? Int == 0)
        #expect(daemon.terminate() == 0)
    }

    @Test func badInputIsQuarantinedAndNeverCostsAGoodReading() throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("quarantine")
        let config = dir + "/zhizao.yaml"
        try "ingest:\n  max_payload_bytes: 400\n  max_future_skew_s: 60\n".write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite", extra: ["--config", config])
        try daemon.start()
        let now = Int64(Date().timeIntervalSince1970 * 1000) - 1_000
        let topic = "zhizao/v1/ws-assembly/prs-401"
        let lines = [
            #"{"device":"prs-401","ts":\#(now),"metrics":{"power":1}}"#,
            #"{"device":"prs-401","ts":\#(now + 1),"metrics":{"power":"#,  // malformed
            #"{"device":"ghost-9","ts":\#(now + 2),"metrics":{"power":1}}"#,  // unknown device
            #"{"device":"prs-401","ts":\#(now + 3),"metrics":{"power":2,"torque":5}}"#,  // unknown metric (power kept)
            #"{"device":"prs-401","ts":\#(now + 4),"metrics":{"power":NaN}}"#,  // non-finite
            #"{"device":"prs-401","ts":\#(now + 86_400_000),"metrics":{"power":1}}"#,  // future
            #"{"device":"prs-401","ts":\#(now + 5),"metrics":{"power":1},"pad":"\#(String(repeating: "x", count: 500))"}"#,  // oversize
            #"{"device":"prs-401","ts":\#(now + 6),"metrics":{"state":"exploded"}}"#,  // invalid state
            #"{"device":"prs-401","ts":\#(now + 7),"metrics":{"power":3}}"#,
        ]
        try Publisher.stream(broker, topic: topic, lines: lines)
        try Publisher.publish(broker, topic: "factory/ws-machining/line-shaft/em-shaft/energy_kwh", "Infinity")
        try daemon.waitForReadings(3, timeout: 20)
        try waitUntil(timeout: 10, "10 messages counted") { try daemon.status().messagesReceived >= 10 }

        let s = try daemon.status()
        #expect(s.readingsStored == 3)
        #expect(s.messagesReceived == 10)
        #expect(
            s.quarantinedByReason == [
                "malformed": 1, "unknown_device": 1, "unknown_metric": 1, "non_finite": 2,
                "future_timestamp": 1, "oversize": 1, "invalid_value": 1,
            ])
        #expect(s.messagesQuarantined == 8)
        let powers = try StoreReader(path: daemon.database).readings(device: "prs-401").map(\.value)
        #expect(powers == [.number(1), .number(2), .number(3)])

        let q = try ZhizaoBinary.run(["quarantine", "--db", daemon.database])
        #expect(q.code == 0)
        #expect(q.stdout.contains("ghost-9") && q.stdout.contains("torque") && q.stdout.contains("oversize"))
        #expect(daemon.terminate() == 0)
    }

    @Test func sigtermCommitsAcknowledgesAndExitsZero() throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("sigterm")
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite", clientID: "zhizao-it-sigterm")
        try daemon.start()
        try Publisher.stream(
            broker, topic: "zhizao/v1/ws-assembly/prs-401",
            lines: sequencedReadings(device: "prs-401", metric: "power", count: 2_000))
        try daemon.waitForReadings(2_000)
        #expect(daemon.terminate() == 0)
        #expect(daemon.log.contains("ingest stopped"))
        // The process has exited, so its log is complete: our own DISCONNECT is no lost link.
        #expect(daemon.log.contains("disconnecting from the broker"))
        #expect(!daemon.log.contains("connection to the broker lost"))
        // Everything was acknowledged: a restart with the same session receives nothing again
        // before a sentinel published after the restart (redeliveries would come first).
        try daemon.start()
        try daemon.passSentinel(broker, device: "tst-421")
        let s = try daemon.status()
        #expect(s.readingsStored == 2_001)
        #expect(s.messagesReceived == 2_001, "no message of the first run delivered again")
        #expect(s.readingsDuplicate == 0)
        #expect(daemon.terminate() == 0)
    }
}
