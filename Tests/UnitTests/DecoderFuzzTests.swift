import Foundation
import GatewaySimulator
import PayloadDecoders
import PlantRegistry
import Sparkplug
import Telemetry
import Testing

/// A seeded property-based fuzzer for every decoder: valid gateway payloads, mutated (bytes
/// flipped, cut, spliced, duplicated, nested deep, hostile strings inserted). Whatever comes in,
/// the decoder returns, counts the message, and either stores readings or quarantines it.
@Suite("Decoder fuzzing")
struct DecoderFuzzTests {
    static let seeds: [(topic: String, payload: String)] = [
        (
            "zz/native/cnc-1",
            #"{"device":"cnc-1","ts":1764399990000,"seq":4,"metrics":{"power":3.25,"state":"producing","mode":1,"energy":1000}}"#
        ),
        (
            "zz/native/x",
            #"[{"device":"cnc-1","ts":"2025-11-29T14:46:30+08:00","metrics":{"power":-1.5e1}},{"device":"cnc-1","ts":1764399000000,"metrics":{"power":true}}]"#
        ),
        (
            "/neuron/app/s7/g1",
            #"{"node":"s7","group":"g1","timestamp":1764399990000,"values":{"RUN":1,"P_KW":12.5},"errors":{"GOOD":3001}}"#
        ),
        (
            "/neuron/app/s7/g1",
            #"{"timestamp":1764399990000,"node":"s7","group":"g1","tags":[{"name":"RUN","value":3},{"name":"GOOD","error":2014}]}"#
        ),
        ("factory/ws1/l1/em-1/energy_kwh", "1234.5"),
        ("factory/ws1/l1/em-1/state", "idle"),
    ]
    static let hostile: [[UInt8]] = [
        Array("\"'; DROP TABLE readings; --".utf8), [0xff, 0xfe, 0xc3, 0x28], [0, 1, 2, 27, 127],
        Array(String(repeating: "[", count: 200).utf8), Array(String(repeating: "{\"a\":", count: 100).utf8),
        Array("\\u0000\\ud800\\uDFFF".utf8), Array("NaN".utf8), Array("1e99999".utf8), Array("-".utf8),
        Array(String(repeating: "x", count: 5000).utf8),
    ]

    func mutate(_ bytes: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
        var b = bytes
        for _ in 0..<(1 + Int(rng.next() % 4)) {
            switch rng.next() % 7 {
            case 0 where !b.isEmpty: b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next())
            case 1 where !b.isEmpty: b.removeSubrange(Int(rng.next() % UInt64(b.count))...)
            case 2:
                b.insert(contentsOf: Self.hostile[Int(rng.next() % UInt64(Self.hostile.count))], at: Int(rng.next() % UInt64(b.count + 1)))
            case 3 where b.count > 2:
                let i = Int(rng.next() % UInt64(b.count))
                let j = Int(rng.next() % UInt64(b.count))
                b.insert(contentsOf: b[min(i, j)..<max(i, j)], at: Int(rng.next() % UInt64(b.count + 1)))
            case 4 where !b.isEmpty: b.remove(at: Int(rng.next() % UInt64(b.count)))
            case 5:
                let tokens = Array("{}[]\",:0.-e\\ntf".utf8)
                b.insert(tokens[Int(rng.next() % UInt64(tokens.count))], at: Int(rng.next() % UInt64(b.count + 1)))
            default: b.append(contentsOf: b.prefix(Int(rng.next() % 32)))
            }
        }
        return b
    }

    @Test func anyInputIsCountedAndEitherStoredOrQuarantined() throws {
        let plant = try Fixtures.plant()
        let decoder = PayloadDecoder(plant: plant, maxPayloadBytes: 4096)
        var rng = SeededGenerator(seed: 20_261_129)
        // `make fuzz` runs longer: ZHIZAO_FUZZ_ITERATIONS=2000000.
        let iterations = ProcessInfo.processInfo.environment["ZHIZAO_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 100_000
        var stored = 0
        var quarantined = 0
        for i in 0..<iterations {
            let seed = Self.seeds[i % Self.seeds.count]
            let payload = i < Self.seeds.count ? Array(seed.payload.utf8) : mutate(Array(seed.payload.utf8), &rng)
            var batch = IngestBatch()
            var topic = seed.topic
            topic.withUTF8 { t in
                payload.withUnsafeBytes { p in
                    decoder.decode(
                        topic: UnsafeRawBufferPointer(t), payload: p, receivedAtMs: 1_764_400_000_000,
                        eventTime: rng.next() % 50 == 0 ? String(decoding: Self.hostile[Int(rng.next() % 10)], as: UTF8.self) : nil,
                        into: &batch)
                }
            }
            #expect(batch.messages == 1)
            #expect(!batch.readings.isEmpty || !batch.quarantined.isEmpty, "input \(i) vanished: \(payload.prefix(80))")
            #expect(
                batch.readings.allSatisfy { r in
                    if case .number(let v) = r.value { return v.isFinite } else { return true }
                }, "a non-finite value got through: \(payload.prefix(80))")
            #expect(batch.quarantined.allSatisfy { $0.payload.count <= 1024 })
            if !batch.readings.isEmpty { stored += 1 }
            if !batch.quarantined.isEmpty { quarantined += 1 }
        }
        #expect(
            stored > 1000 && quarantined > iterations / 2, "the mutations exercise both paths: \(stored) stored, \(quarantined) quarantined"
        )
    }
}

@Suite("Sparkplug fuzzing")
struct SparkplugFuzzTests {
    @Test func mutatedSparkplugPayloadsNeverCrashOrStoreNonFinite() throws {
        let plant = try Plant.load(directory: try Fixtures.registry(["gateways/sp.yaml": SparkplugSessionTests.gateway]))
        let decoder = PayloadDecoder(plant: plant, sparkplug: .init(hostID: "zz", reorderTimeoutMs: 1000, rebirthIntervalMs: 0))
        func send(_ topic: String, _ payload: [UInt8]) -> IngestBatch {
            var batch = IngestBatch()
            var t = topic
            t.withUTF8 { tb in
                payload.withUnsafeBytes { pb in
                    decoder.decode(topic: UnsafeRawBufferPointer(tb), payload: pb, receivedAtMs: 1_764_400_000_000, into: &batch)
                }
            }
            return batch
        }
        _ = send("spBv1.0/g1/NBIRTH/edge-1", try SparkplugPayload.encode(timestamp: 1, seq: 0, metrics: SparkplugSessionTests.nbirth))
        _ = send("spBv1.0/g1/DBIRTH/edge-1/pump", try SparkplugPayload.encode(timestamp: 1, seq: 1, metrics: SparkplugSessionTests.dbirth))
        let seeds = [
            try SparkplugPayload.encode(
                timestamp: 1_764_399_000_000, seq: 2,
                metrics: [
                    SparkplugSessionTests.m(nil, alias: 10, .double, .number(3.5)),
                    SparkplugSessionTests.m(nil, alias: 11, .boolean, .bool(true)),
                ]),
            SparkplugPayloadTests.bytes,
        ]
        let iterations = ProcessInfo.processInfo.environment["ZHIZAO_FUZZ_ITERATIONS"].flatMap(Int.init).map { $0 / 4 } ?? 25_000
        var rng = SeededGenerator(seed: 7)
        let fuzzer = DecoderFuzzTests()
        var stored = 0
        var quarantined = 0
        for i in 0..<iterations {
            let topic = ["spBv1.0/g1/DDATA/edge-1/pump", "spBv1.0/g1/NDATA/edge-1", "spBv1.0/g1/DBIRTH/edge-1/pump"][i % 3]
            let batch = send(topic, fuzzer.mutate(seeds[i % seeds.count], &rng))
            #expect(batch.messages == 1)
            #expect(batch.readings.allSatisfy { r in if case .number(let v) = r.value { v.isFinite } else { true } })
            if !batch.readings.isEmpty { stored += 1 }
            if !batch.quarantined.isEmpty { quarantined += 1 }
        }
        #expect(stored > 100 && quarantined > 100, "both paths exercised: \(stored) stored, \(quarantined) quarantined")
    }
}
