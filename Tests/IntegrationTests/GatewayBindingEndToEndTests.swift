import Foundation
import ReadingStore
import Telemetry
import Testing

/// Issue 18's spoofing cases against the example plant, through a real broker and daemon: each
/// is quarantined as `foreign_device` and the good readings beside it are stored.
@Suite("Gateway binding end to end", .serialized)
struct GatewayBindingEndToEndTests {
    @Test func readingsFromAGatewayThatDoesNotDeclareTheirDeviceAreQuarantined() throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("binding")
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite")
        try daemon.start()
        let now = Int64(Date().timeIntervalSince1970 * 1000) - 5_000

        // cnc-101 (the machining Neuron gateway's) named on the assembly gateway's native topic,
        // beside a good reading of the assembly line's own meter.
        try Publisher.publish(
            broker, topic: "zhizao/v1/ws-assembly/x",
            """
            [{"device":"cnc-101","ts":\(now),"metrics":{"P_TOTAL":99999}},
             {"device":"em-motor","ts":\(now),"metrics":{"power":4.5}}]
            """)
        // em-shaft (ws-machining/line-shaft) placed on the motor line, then on the utility gateway's topic.
        try Publisher.publish(broker, topic: "factory/ws-assembly/line-motor/em-shaft/energy_kwh", "77777", eventTime: "\(now + 1)")
        try Publisher.publish(broker, topic: "utility/sz-baoan/em-shaft/energy_kwh", "88888", eventTime: "\(now + 2)")
        // Its own gateway, its own place: stored. Sent last, it is the sentinel for the others.
        try Publisher.publish(broker, topic: "factory/ws-machining/line-shaft/em-shaft/energy_kwh", "1000", eventTime: "\(now + 3)")
        try waitUntil(timeout: 20, "the four messages counted") { try daemon.status().messagesReceived >= 4 }

        let s = try daemon.status()
        #expect(s.messagesReceived == 4)
        #expect(s.quarantinedByReason == ["foreign_device": 3])
        let rows = try StoreReader(path: daemon.database).readings()
        #expect(
            rows.map { "\($0.device)/\($0.metric)=\($0.value)" }.sorted()
                == ["em-motor/power=\(ReadingValue.number(4.5))", "em-shaft/energy=\(ReadingValue.number(1000))"])
        let q = try StoreReader(path: daemon.database).quarantine()
        #expect(q.count == 3)
        #expect(
            q.contains {
                $0.topic == "zhizao/v1/ws-assembly/x"
                    && $0.detail.contains("device cnc-101 belongs to gateway gw-machining-neuron")
                    && $0.detail.contains("the topic belongs to gateway gw-assembly-native")
            })
        #expect(q.contains { $0.topic.hasPrefix("factory/ws-assembly") && $0.detail.contains("workshop ws-machining") })
        #expect(q.contains { $0.topic.hasPrefix("utility/") && $0.detail.contains("the topic belongs to gateway gw-utility-plain") })
        #expect(daemon.terminate() == 0)
    }
}
