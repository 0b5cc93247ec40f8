import PayloadDecoders
import PlantRegistry
import Sparkplug
import Telemetry
import Testing

/// The primary host's bookkeeping, message by message (no broker).
@Suite("Sparkplug host session")
struct SparkplugSessionTests {
    static let gateway = """
        gateway: gw-sp
        decoder: sparkplug
        group_id: g1
        devices:
          - id: pump-1
            workshop: ws1
            sparkplug: {edge_node_id: edge-1, device_id: pump}
            metrics:
              - {name: flow, source: Flow, kind: gauge, unit: m3/h, measures: other}
              - {name: running, source: Running, kind: state, measures: machine_state, states: {"true": producing, "false": idle}}
          - id: edge-1-node
            workshop: ws1
            sparkplug: {edge_node_id: edge-1}
            metrics:
              - {name: temp, source: Cabinet/Temp, kind: gauge, unit: C, measures: other}
        """
    static let now: Int64 = 1_764_400_000_000

    /// The session behind a decoder, collecting the messages it asks to publish (the batch
    /// carries them, as it does in the ingest loop).
    final class Host {
        let plant: Plant
        let decoder: PayloadDecoder
        var session: SparkplugSession { decoder.sparkplug! }
        private var outbound: [IngestBatch.Outbound] = []

        func takeOutbound() -> [IngestBatch.Outbound] {
            defer { outbound = [] }
            return outbound
        }

        func housekeeping(nowMs: Int64) { outbound += session.housekeeping(nowMs: nowMs) }

        init(reorderTimeoutMs: Int64 = 1000) throws {
            plant = try Plant.load(directory: try Fixtures.registry(["gateways/sp.yaml": SparkplugSessionTests.gateway]))
            decoder = PayloadDecoder(plant: plant, sparkplug: .init(hostID: "zz", reorderTimeoutMs: reorderTimeoutMs, rebirthIntervalMs: 0))
        }

        func send(
            _ type: SparkplugMessageType, device: String? = nil, seq: UInt64?, _ metrics: [SparkplugMetric],
            at now: Int64 = SparkplugSessionTests.now
        ) throws -> IngestBatch {
            let topic = SparkplugTopic(group: "g1", type: type, edgeNode: "edge-1", device: device).text
            let bytes = try SparkplugPayload.encode(timestamp: UInt64(now - 1000), seq: seq, metrics: metrics)
            var batch = IngestBatch()
            var t = topic
            t.withUTF8 { tb in
                bytes.withUnsafeBytes { pb in
                    decoder.decode(topic: UnsafeRawBufferPointer(tb), payload: pb, receivedAtMs: now, into: &batch)
                }
            }
            outbound += batch.outbound
            return batch
        }

        func series(_ device: String, _ metric: String) -> SeriesIndex {
            SeriesIndex(plant.series.firstIndex(of: SeriesKey(device: device, metric: metric))!)
        }
    }

    static func m(_ name: String?, alias: UInt64?, _ type: SparkplugDataType, _ value: SparkplugValue) -> SparkplugMetric {
        SparkplugMetric(name: name, alias: alias, timestamp: nil, datatype: type, value: value)
    }

    static let nbirth = [
        m("bdSeq", alias: nil, .int64, .number(3)), m("Node Control/Rebirth", alias: nil, .boolean, .bool(false)),
        m("Cabinet/Temp", alias: 1, .double, .number(31.5)),
    ]
    static let dbirth = [m("Flow", alias: 10, .double, .number(4.25)), m("Running", alias: 11, .boolean, .bool(true))]

    func rebirthRequests(_ host: Host) throws -> [String] {
        try host.takeOutbound().filter { $0.topic.contains("/NCMD/") }.map { o in
            let p = try SparkplugPayload(serializedBytes: o.payload)
            #expect(p.metrics.contains { $0.name == "Node Control/Rebirth" && $0.value == .bool(true) && $0.datatype == .boolean })
            return o.topic
        }
    }

    @Test func birthThenDataByAliasThenDeath() throws {
        let h = try Host()
        let nb = try h.send(.nbirth, seq: 0, Self.nbirth)
        #expect(nb.readings.map(\.value) == [.number(31.5)])
        #expect(nb.quarantined.isEmpty)
        #expect(nb.deviceStates.map(\.device) == ["edge-1-node"] && nb.deviceStates[0].online)
        let db = try h.send(.dbirth, device: "pump", seq: 1, Self.dbirth)
        #expect(db.readings.map(\.value) == [.number(4.25), .state("producing")])
        #expect(db.deviceStates.map(\.device) == ["pump-1"])
        let data = try h.send(
            .ddata, device: "pump", seq: 2, [Self.m(nil, alias: 10, .double, .number(5.5)), Self.m(nil, alias: 11, .boolean, .bool(false))])
        #expect(
            data.readings == [
                Reading(series: h.series("pump-1", "flow"), timestampMs: Self.now - 1000, value: .number(5.5)),
                Reading(series: h.series("pump-1", "running"), timestampMs: Self.now - 1000, value: .state("idle")),
            ])
        #expect(try rebirthRequests(h).isEmpty)

        // A death from an earlier session (stale bdSeq) changes nothing; the current one takes all offline.
        let stale = try h.send(.ndeath, seq: nil, [Self.m("bdSeq", alias: nil, .int64, .number(2))])
        #expect(stale.deviceStates.isEmpty)
        let death = try h.send(.ndeath, seq: nil, [Self.m("bdSeq", alias: nil, .int64, .number(3))])
        #expect(Set(death.deviceStates.map(\.device)) == ["edge-1-node", "pump-1"] && death.deviceStates.allSatisfy { !$0.online })
        // The pump's state is unknown from the death on (not off, not still producing).
        #expect(death.readings == [Reading(series: h.series("pump-1", "running"), timestampMs: Self.now, value: .state("unknown"))])
        // Data after the death: quarantined, and the node asked to rebirth.
        let late = try h.send(.ddata, device: "pump", seq: 3, [Self.m(nil, alias: 10, .double, .number(1))])
        #expect(late.readings.isEmpty && late.quarantined.map(\.rejection.reason) == [.unknownDevice])
        #expect(try rebirthRequests(h) == ["spBv1.0/g1/NCMD/edge-1"])
    }

    @Test func aSequenceGapAsksForARebirthAfterTheReorderTimeout() throws {
        let h = try Host(reorderTimeoutMs: 1000)
        _ = try h.send(.nbirth, seq: 0, Self.nbirth)
        _ = try h.send(.dbirth, device: "pump", seq: 1, Self.dbirth)
        _ = try h.send(.ddata, device: "pump", seq: 3, [Self.m(nil, alias: 10, .double, .number(1))])  // 2 is missing
        h.housekeeping(nowMs: Self.now + 500)
        #expect(try rebirthRequests(h).isEmpty, "still within the reorder timeout")
        h.housekeeping(nowMs: Self.now + 1500)
        #expect(try rebirthRequests(h) == ["spBv1.0/g1/NCMD/edge-1"])
    }

    @Test func aLateMessageInsideTheTimeoutClosesTheGap() throws {
        let h = try Host(reorderTimeoutMs: 1000)
        _ = try h.send(.nbirth, seq: 255, Self.nbirth)
        _ = try h.send(.dbirth, device: "pump", seq: 0, Self.dbirth)  // wraps 255 → 0
        _ = try h.send(.ddata, device: "pump", seq: 2, [Self.m(nil, alias: 10, .double, .number(1))])
        let filled = try h.send(.ddata, device: "pump", seq: 1, [Self.m(nil, alias: 10, .double, .number(2))], at: Self.now + 200)
        #expect(filled.readings.count == 1)
        h.housekeeping(nowMs: Self.now + 5000)
        #expect(try rebirthRequests(h).isEmpty)
    }

    @Test func anUnknownAliasIsQuarantinedAndAsksForARebirth() throws {
        let h = try Host()
        _ = try h.send(.nbirth, seq: 0, Self.nbirth)
        _ = try h.send(.dbirth, device: "pump", seq: 1, Self.dbirth)
        let b = try h.send(
            .ddata, device: "pump", seq: 2, [Self.m(nil, alias: 99, .double, .number(1)), Self.m(nil, alias: 10, .double, .number(7))])
        #expect(b.readings.map(\.value) == [.number(7)])
        #expect(b.quarantined.map(\.rejection.reason) == [.unknownMetric])
        #expect(try rebirthRequests(h) == ["spBv1.0/g1/NCMD/edge-1"])
    }

    @Test func unsupportedTypesAreQuarantinedWithAClearReason() throws {
        let h = try Host()
        _ = try h.send(.nbirth, seq: 0, Self.nbirth)
        let b = try h.send(.dbirth, device: "pump", seq: 1, [Self.m("Flow", alias: 10, .doubleArray, .number(1))])
        #expect(b.quarantined.first?.rejection.reason == .invalidValue)
        #expect(b.quarantined.first?.rejection.detail.contains("array") == true)
    }

    @Test func ourOwnOfflineStateIsAnsweredOnline() throws {
        let h = try Host()
        var batch = IngestBatch()
        var topic = "spBv1.0/STATE/zz"
        let payload = Array(#"{"online":false,"timestamp":1}"#.utf8)
        topic.withUTF8 { t in
            payload.withUnsafeBytes { p in
                h.decoder.decode(topic: UnsafeRawBufferPointer(t), payload: p, receivedAtMs: Self.now, into: &batch)
            }
        }
        #expect(batch.messages == 0, "control traffic, not a gateway message")
        var ncmd = IngestBatch()
        var ncmdTopic = "spBv1.0/g1/NCMD/edge-1"
        let request = try SparkplugPayload.encode(
            timestamp: 1, seq: nil, metrics: [Self.m("Node Control/Rebirth", alias: nil, .boolean, .bool(true))])
        ncmdTopic.withUTF8 { t in
            request.withUnsafeBytes { p in
                h.decoder.decode(topic: UnsafeRawBufferPointer(t), payload: p, receivedAtMs: Self.now, into: &ncmd)
            }
        }
        #expect(ncmd.messages == 0 && ncmd.quarantined.isEmpty, "our own rebirth request echoed back is not counted")
        let out = batch.outbound + ncmd.outbound
        #expect(out.count == 1 && out[0].topic == "spBv1.0/STATE/zz" && out[0].retain && out[0].qos == 1)
        #expect(String(decoding: out[0].payload, as: UTF8.self).contains("\"online\":true"))
    }

    /// Found by the fuzzer: a sequence number past 255 looped forever, a timestamp past
    /// Int64 trapped. Both are now just bad input.
    @Test func outOfRangeSequenceAndTimestampAreBadInputNotAHangOrACrash() throws {
        let h = try Host()
        _ = try h.send(.nbirth, seq: 0, Self.nbirth)
        _ = try h.send(.dbirth, device: "pump", seq: 1, Self.dbirth)
        let wild = try h.send(.ddata, device: "pump", seq: 300, [Self.m(nil, alias: 10, .double, .number(1))])
        #expect(wild.readings.count == 1)
        let metric = SparkplugMetric(name: nil, alias: 10, timestamp: UInt64.max, datatype: .double, value: .number(2))
        let future = try h.send(.ddata, device: "pump", seq: 2, [metric])
        #expect(future.readings.isEmpty && future.quarantined.map(\.rejection.reason) == [.futureTimestamp])
    }
}
