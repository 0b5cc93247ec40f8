import Foundation
import PayloadDecoders
import PlantRegistry
import Telemetry
import Testing

/// Decodes one message through the fixture plant.
struct Harness {
    let plant: Plant
    var decoder: PayloadDecoder
    static let now: Int64 = 1_764_400_000_000

    init() throws {
        plant = try Fixtures.plant()
        decoder = PayloadDecoder(plant: plant, maxPayloadBytes: 4096, maxFutureSkewMs: 300_000)
    }

    func decode(_ topic: String, _ payload: String) -> IngestBatch {
        var batch = IngestBatch()
        var t = topic
        var p = payload
        t.withUTF8 { tb in
            p.withUTF8 { pb in
                decoder.decode(
                    topic: UnsafeRawBufferPointer(tb), payload: UnsafeRawBufferPointer(pb),
                    receivedAtMs: Self.now, into: &batch)
            }
        }
        return batch
    }

    func series(_ device: String, _ metric: String) -> SeriesIndex {
        SeriesIndex(plant.series.firstIndex(of: SeriesKey(device: device, metric: metric))!)
    }

    func reasons(_ b: IngestBatch) -> [QuarantineReason] { b.quarantined.map(\.rejection.reason) }
}

@Suite("Native JSON decoder")
struct NativeJSONDecoderTests {
    @Test func decodesOneReadingObject() throws {
        let h = try Harness()
        let b = h.decode(
            "zz/native/cnc-1",
            #"{"device":"cnc-1","ts":1764399990000,"seq":42,"metrics":{"power":3.25,"state":"producing","mode":1,"energy":1000}}"#)
        #expect(b.quarantined.isEmpty)
        #expect(b.messages == 1)
        #expect(
            b.readings == [
                Reading(series: h.series("cnc-1", "power"), timestampMs: 1_764_399_990_000, value: .number(3.25), seq: 42),
                Reading(series: h.series("cnc-1", "state"), timestampMs: 1_764_399_990_000, value: .state("producing"), seq: 42),
                Reading(series: h.series("cnc-1", "mode"), timestampMs: 1_764_399_990_000, value: .state("nc"), seq: 42),
                Reading(series: h.series("cnc-1", "energy"), timestampMs: 1_764_399_990_000, value: .number(100), seq: 42),
            ])
    }

    @Test func decodesArraysAndRFC3339InAnyKeyOrder() throws {
        let h = try Harness()
        let b = h.decode(
            "zz/native/x",
            """
            [ {"metrics": {"power": -1.5e1}, "ts": "2025-11-29T14:46:30.5+08:00", "device": "cnc-1"},
              {"device":"cnc-1","extra":{"nested":[1,{"a":null}]},"ts":1764399000000,"metrics":{"power":true}} ]
            """)
        #expect(b.quarantined.isEmpty)
        #expect(b.readings.map(\.value) == [.number(-15), .number(1)])
        #expect(b.readings.map(\.timestampMs) == [1_764_398_790_500, 1_764_399_000_000])
    }

    @Test func keepsGoodMetricsBesideAnUnknownOne() throws {
        let h = try Harness()
        let b = h.decode("zz/native/x", #"{"device":"cnc-1","ts":1764399990000,"metrics":{"power":1,"bogus":2}}"#)
        #expect(b.readings.count == 1)
        #expect(h.reasons(b) == [.unknownMetric])
        #expect(b.quarantined[0].rejection.detail.contains("bogus"))
    }

    @Test(arguments: [
        (#"{"device":"cnc-1","ts":1764399990000,"metrics":{"power":NaN}}"#, QuarantineReason.nonFinite),
        (#"{"device":"cnc-1","ts":1764399990000,"metrics":{"power":1e999}}"#, .nonFinite),
        (#"{"device":"cnc-1","ts":1764399990000,"metrics":{"power":"Infinity"}}"#, .nonFinite),
        (#"{"device":"cnc-1","ts":1764399990000,"metrics":{"power":"high"}}"#, .invalidValue),
        (#"{"device":"cnc-1","ts":1764399990000,"metrics":{"state":"dancing"}}"#, .invalidValue),
        (#"{"device":"cnc-1","ts":1764399990000,"metrics":{"mode":7}}"#, .invalidValue),
        (#"{"device":"nobody","ts":1764399990000,"metrics":{"power":1}}"#, .unknownDevice),
        (#"{"device":"cnc-1","ts":1864399990000,"metrics":{"power":1}}"#, .futureTimestamp),
        (#"{"device":"cnc-1","ts":1764399990000,"metrics":{"power":1}"#, .malformed),
        (#"{"device":"cnc-1","metrics":{"power":1}}"#, .malformed),
        (#"{"device":"cnc-1","ts":"yesterday","metrics":{"power":1}}"#, .malformed),
        (#"{"device":"cnc-1","ts":1764399990000,"metrics":{"power":1}} trailing"#, .malformed),
        ("", .malformed),
        ("[]", .malformed),
        ("\u{00}\u{01}binary", .malformed),
    ])
    func rejectsWithTheRightReason(payload: String, reason: QuarantineReason) throws {
        let h = try Harness()
        let b = h.decode("zz/native/x", payload)
        #expect(b.readings.isEmpty)
        #expect(h.reasons(b) == [reason])
        #expect(b.messages == 1)
    }

    @Test func malformedArrayKeepsNothingHalfRead() throws {
        let h = try Harness()
        let b = h.decode("zz/native/x", #"[{"device":"cnc-1","ts":1764399990000,"metrics":{"power":1}}, {"device":"#)
        #expect(b.readings.isEmpty)
        #expect(h.reasons(b) == [.malformed])
    }

    @Test func unescapesDeviceIDs() throws {
        let h = try Harness()
        let b = h.decode("zz/native/x", #"{"device":"cnc\u002d1","ts":1764399990000,"metrics":{"power":2}}"#)
        #expect(b.readings.count == 1)
    }

    @Test func rejectsOversizeUnread() throws {
        let h = try Harness()
        let big = #"{"device":"cnc-1","ts":1764399990000,"metrics":{"power":1},"pad":""# + String(repeating: "x", count: 5000) + #""}"#
        let b = h.decode("zz/native/x", big)
        #expect(h.reasons(b) == [.oversize])
        #expect(b.quarantined[0].payloadBytes == big.utf8.count)
        #expect(b.quarantined[0].payload.count == 1024)
    }

    @Test func rejectsTopicsNoGatewayClaims() throws {
        let h = try Harness()
        let b = h.decode("elsewhere/x", "1")
        #expect(h.reasons(b) == [.unknownTopic])
    }
}

@Suite("Neuron decoder")
struct NeuronDecoderTests {
    @Test func valuesFormatStoresErrorsAsErrors() throws {
        let h = try Harness()
        let b = h.decode(
            "/neuron/app/s7/g1",
            #"{"node":"s7","group":"g1","timestamp":1764399990000,"values":{"RUN":1,"P_KW":12.5},"errors":{"GOOD":3001}}"#)
        #expect(b.quarantined.isEmpty)
        #expect(
            b.readings == [
                Reading(series: h.series("plc-1", "state"), timestampMs: 1_764_399_990_000, value: .state("producing")),
                Reading(series: h.series("plc-1", "power"), timestampMs: 1_764_399_990_000, value: .number(12.5)),
                Reading(series: h.series("plc-1", "good"), timestampMs: 1_764_399_990_000, value: .error(3001)),
            ])
    }

    @Test func tagsFormat() throws {
        let h = try Harness()
        let b = h.decode(
            "/neuron/app/s7/g1",
            #"{"timestamp":1764399990000,"node":"s7","group":"g1","tags":[{"name":"RUN","value":3},{"name":"GOOD","error":2014},{"name":"P_KW","value":0.5},{"name":"NOPE","value":1}]}"#
        )
        #expect(b.readings.map(\.value) == [.state("idle"), .error(2014), .number(0.5)])
        #expect(h.reasons(b) == [.unknownMetric])
    }

    @Test func unknownGroupIsAnUnknownDevice() throws {
        let h = try Harness()
        let b = h.decode("/neuron/app/s7/g9", #"{"timestamp":1764399990000,"node":"s7","group":"g9","values":{"RUN":1}}"#)
        #expect(b.readings.isEmpty)
        #expect(h.reasons(b) == [.unknownDevice])
    }

    @Test func unmappedStateCodeIsInvalid() throws {
        let h = try Harness()
        let b = h.decode("/neuron/app/s7/g1", #"{"timestamp":1764399990000,"node":"s7","group":"g1","values":{"RUN":9,"P_KW":1}}"#)
        #expect(b.readings.count == 1)
        #expect(h.reasons(b) == [.invalidValue])
    }

    @Test func missingTimestampIsMalformed() throws {
        let h = try Harness()
        let b = h.decode("/neuron/app/s7/g1", #"{"node":"s7","group":"g1","values":{"RUN":1}}"#)
        #expect(b.readings.isEmpty)
        #expect(h.reasons(b) == [.malformed])
    }
}

@Suite("Plain value decoder")
struct PlainValueDecoderTests {
    @Test func numberFromTopicTemplate() throws {
        let h = try Harness()
        let b = h.decode("factory/ws1/l1/em-1/energy_kwh", " 1234.5\n")
        #expect(b.readings == [Reading(series: h.series("em-1", "energy"), timestampMs: Harness.now, value: .number(1234.5))])
    }

    @Test func stateWord() throws {
        let h = try Harness()
        let b = h.decode("factory/ws1/l1/em-1/state", "idle")
        #expect(b.readings.map(\.value) == [.state("idle")])
    }

    @Test(arguments: [
        ("factory/ws1/l1/em-1/energy_kwh", "NaN", QuarantineReason.nonFinite),
        ("factory/ws1/l1/em-1/energy_kwh", "lots", .invalidValue),
        ("factory/ws1/l1/em-1/energy_kwh", "", .malformed),
        ("factory/ws1/l1/em-9/energy_kwh", "1", .unknownDevice),
        ("factory/ws1/l1/em-1/volts", "1", .unknownMetric),
    ])
    func rejects(topic: String, payload: String, reason: QuarantineReason) throws {
        let h = try Harness()
        let b = h.decode(topic, payload)
        #expect(b.readings.isEmpty)
        #expect(h.reasons(b) == [reason])
    }
}

@Suite("Plain value event time")
struct PlainEventTimeTests {
    func decode(_ eventTime: String?) throws -> (Harness, IngestBatch) {
        let h = try Harness()
        var batch = IngestBatch()
        var t = "factory/ws1/l1/em-1/energy_kwh"
        var p = "7"
        t.withUTF8 { tb in
            p.withUTF8 { pb in
                h.decoder.decode(
                    topic: UnsafeRawBufferPointer(tb), payload: UnsafeRawBufferPointer(pb),
                    receivedAtMs: Harness.now, eventTime: eventTime, into: &batch)
            }
        }
        return (h, batch)
    }

    @Test func userPropertyTimestampWins() throws {
        #expect(try decode("1764399000000").1.readings.map(\.timestampMs) == [1_764_399_000_000])
        #expect(try decode("2025-11-29T14:50:00+08:00").1.readings.map(\.timestampMs) == [1_764_399_000_000])
        #expect(try decode(nil).1.readings.map(\.timestampMs) == [Harness.now])
    }

    @Test func badOrFutureUserPropertyIsRejected() throws {
        let (h, bad) = try decode("soon")
        #expect(h.reasons(bad) == [.malformed])
        let (h2, future) = try decode(String(Harness.now + 86_400_000))
        #expect(h2.reasons(future) == [.futureTimestamp])
    }
}

/// A gateway's status topic (its MQTT Will): offline makes its devices' states unknown.
@Suite("Gateway status topic")
struct GatewayStatusTests {
    let plant: Plant
    let decoder: PayloadDecoder

    init() throws {
        let native = Fixtures.nativeGateway.replacingOccurrences(
            of: "topic: zz/native/#", with: "topic: zz/native/#\nstatus_topic: zz/status/gw-native")
        plant = try Plant.load(directory: try Fixtures.registry(["gateways/native.yaml": native]))
        decoder = PayloadDecoder(plant: plant)
    }

    func send(_ topic: String, _ payload: String) -> IngestBatch {
        var batch = IngestBatch()
        var t = topic
        var p = payload
        t.withUTF8 { tb in
            p.withUTF8 { pb in
                decoder.decode(
                    topic: UnsafeRawBufferPointer(tb), payload: UnsafeRawBufferPointer(pb), receivedAtMs: Harness.now, into: &batch)
            }
        }
        return batch
    }

    @Test(arguments: ["offline", "0", #"{"online": false}"#, #"{"status":"offline","ts":1}"#])
    func offlineMakesEveryStateOfTheGatewayUnknown(payload: String) throws {
        let b = send("zz/status/gw-native", payload)
        let state = SeriesIndex(plant.series.firstIndex(of: SeriesKey(device: "cnc-1", metric: "state"))!)
        let mode = SeriesIndex(plant.series.firstIndex(of: SeriesKey(device: "cnc-1", metric: "mode"))!)
        #expect(Set(b.readings.map(\.series)) == [state, mode])
        #expect(b.readings.allSatisfy { $0.value == .state("unknown") && $0.timestampMs == Harness.now })
        #expect(b.deviceStates == [.init(device: "cnc-1", online: false, atMs: Harness.now, reason: "gateway status")])
        #expect(b.quarantined.isEmpty && b.messages == 1)
    }

    @Test func onlineSaysSoAndAnUnknownPayloadIsQuarantined() throws {
        let on = send("zz/status/gw-native", "online")
        #expect(on.readings.isEmpty && on.deviceStates.map(\.online) == [true])
        let odd = send("zz/status/gw-native", "maybe")
        #expect(odd.readings.isEmpty && odd.quarantined.map(\.rejection.reason) == [.malformed])
        #expect(odd.quarantined.first?.rejection.detail.contains("gw-native") == true)
    }

    @Test func aStatusTopicIsOneTopicOfOneGateway() throws {
        let wild = Fixtures.nativeGateway.replacingOccurrences(
            of: "topic: zz/native/#", with: "topic: zz/native/#\nstatus_topic: zz/status/+")
        let (_, problems) = Plant.loadReporting(directory: try Fixtures.registry(["gateways/native.yaml": wild]))
        #expect(problems.contains { $0.message.contains("must be one topic, without + or #") && $0.line == 4 })
    }
}
