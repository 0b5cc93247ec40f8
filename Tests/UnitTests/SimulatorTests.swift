import PayloadDecoders
import PlantRegistry
import Telemetry
import Testing

@testable import GatewaySimulator

@Suite("Gateway simulator")
struct SimulatorTests {
    let plant: Plant
    init() throws { plant = try Plant.load(directory: Fixtures.shippedDevices) }

    /// Encodes `ticks` minutes of plant from a fixed start.
    func messages(seed: UInt64, ticks: Int, from: Int64 = 1_764_000_000_000) -> [OutgoingMessage] {
        var world = SimulatedPlant(plant: plant, seed: seed)
        var encoder = GatewayEncoder(plant: plant)
        var out: [OutgoingMessage] = []
        for k in 0..<ticks {
            let t = from + Int64(k) * 60_000
            for (d, values) in world.step(atMs: t, dtMs: 60_000) {
                out += encoder.encode(device: d, values: values, atMs: t, rng: &world.rngForEncoding)
            }
        }
        return out
    }

    @Test func aSeedReplaysExactly() {
        let a = messages(seed: 42, ticks: 120)
        let b = messages(seed: 42, ticks: 120)
        let c = messages(seed: 43, ticks: 120)
        #expect(a.count > 1000)
        #expect(a == b)
        #expect(a != c)
    }

    @Test func everyMessageDecodesToTheReadingsItClaims() {
        let decoder = PayloadDecoder(plant: plant)
        var formats: Set<DecoderKind> = []
        for m in messages(seed: 5, ticks: 60) {
            var batch = IngestBatch()
            var topic = m.topic
            topic.withUTF8 { t in
                m.payload.withUnsafeBytes { p in
                    decoder.decode(
                        topic: UnsafeRawBufferPointer(t), payload: p, receivedAtMs: 1_764_000_000_000 + 86_400_000,
                        eventTime: m.eventTime, into: &batch)
                }
            }
            #expect(batch.quarantined.isEmpty, "\(m.topic): \(batch.quarantined.map(\.rejection))")
            #expect(batch.readings.count == m.readings, "\(m.topic)")
            formats.insert(plant.gateways[plant.devices[m.device].gateway].decoder)
        }
        #expect(formats == Set(DecoderKind.allCases))
    }

    @Test func foreignMessagesAreRefusedByTheBindingAndCarryNoReading() {
        let decoder = PayloadDecoder(plant: plant)
        var world = SimulatedPlant(plant: plant, seed: 3)
        let encoder = GatewayEncoder(plant: plant)
        let t: Int64 = 1_764_000_000_000
        var formats: Set<DecoderKind> = []
        for (d, values) in world.step(atMs: t, dtMs: 60_000) {
            guard let m = encoder.foreign(device: d, values: values, atMs: t) else { continue }
            var batch = IngestBatch()
            var topic = m.topic
            topic.withUTF8 { tp in
                m.payload.withUnsafeBytes { p in
                    decoder.decode(
                        topic: UnsafeRawBufferPointer(tp), payload: p, receivedAtMs: t + 1000, eventTime: m.eventTime, into: &batch)
                }
            }
            #expect(m.readings == 0 && batch.readings.isEmpty, "\(m.topic)")
            #expect(batch.quarantined.map(\.rejection.reason) == [.foreignDevice], "\(m.topic): \(batch.quarantined.map(\.rejection))")
            formats.insert(plant.gateways[plant.devices[d].gateway].decoder)
        }
        #expect(formats == Set(DecoderKind.allCases), "every kind of device can be spoofed")
    }

    @Test func aWeekBehavesLikeAPlant() {
        var world = SimulatedPlant(plant: plant, seed: 9)
        let from: Int64 = 1_763_913_600_000  // 2025-11-24T00:00:00+08:00, a Monday
        var producing = [0, 0, 0]
        var observed = [0, 0, 0]
        var last: [String: Double] = [:]
        var drops: Set<String> = []
        for k in 0..<(7 * 24 * 60) {
            let t = from + Int64(k) * 60_000
            let shift = world.shift(atMs: t)
            for (d, values) in world.step(atMs: t, dtMs: 60_000) {
                for (m, v) in zip(plant.devices[d].metrics, values) {
                    let key = "\(plant.devices[d].id)/\(m.name)"
                    switch v {
                    case .state(let s)? where m.measures == .machineState:
                        observed[shift] += 1
                        if s == "producing" { producing[shift] += 1 }
                    case .number(let x)? where m.kind == .counter:
                        if let r = m.rollover { #expect(x < r, "\(key) stays below its rollover") }
                        if let previous = last[key], x < previous { drops.insert(key) }
                        last[key] = x
                    default: break
                    }
                }
            }
        }
        let night = Double(producing[0]) / Double(observed[0])
        let day = Double(producing[1]) / Double(observed[1])
        #expect(night < day * 0.8, "the night shift is quieter: \(night) against \(day)")
        #expect(day > 0.5)
        #expect(drops.contains("pm-mach-main/energy"), "the main meter rolls over: \(drops)")
        #expect(drops.contains { $0.hasSuffix("/good_count") }, "a production counter resets: \(drops)")
    }
}
