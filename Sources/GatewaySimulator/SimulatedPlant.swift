import Foundation
import PlantRegistry
import Telemetry

/// A value as the simulated plant produces it, in the metric's own unit (before scale/offset).
enum SimulatedValue: Equatable {
    case number(Double)
    case state(String)
    /// The gateway failed to read the tag (Neuron error code).
    case error(Int64)
}

/// The plant in `Devices/` behaving like a plant, one tick of plant time at a time.
///
/// Machines cycle through producing/setup/idle/down/off with shift-dependent odds (three
/// shifts, a quieter night), CNC machines drop into manual mode now and then, meters integrate
/// the load of the machines below them (a workshop main meter sees its sub-meters plus its own
/// base load), lines produce at the pace of their slowest key process with some scrap, water
/// and gas follow production. Registers roll over at their configured maximum, and one
/// production counter resets once (a PLC restart). Everything is drawn from one seeded
/// generator, so a seed replays exactly.
struct SimulatedPlant {
    let plant: Plant
    private(set) var rng: SeededGenerator
    /// Draws for the gateways' own quirks (tag read errors), separate from the plant's.
    var rngForEncoding: SeededGenerator
    private let timeZone: TimeZone

    struct Machine {
        var state = "idle"
        var mode = "nc"
        var ratedKW: Double
        var partsCarry = 0.0
    }

    private(set) var machines: [Int: Machine] = [:]
    /// Counter registers in scaled units, before rollover.
    private var registers: [SeriesIndex: Double] = [:]
    private var outputCarry: [String: Double] = [:]
    private var resetSeries: SeriesIndex?
    private var resetDone = false
    private var startMs: Int64?

    init(plant: Plant, seed: UInt64) {
        self.plant = plant
        self.rng = SeededGenerator(seed: seed)
        self.rngForEncoding = SeededGenerator(seed: seed ^ 0x5DEE_CE66_D1CE_5EED)
        self.timeZone = TimeZone(identifier: plant.sites.first?.timeZone ?? "Asia/Shanghai") ?? .current
        // Every device in a process is a machine, whether or not it reports its state.
        for (i, d) in plant.devices.enumerated()
        where d.process != nil || d.metrics.contains(where: { $0.measures == .machineState }) {
            machines[i] = Machine(
                state: rng.chance(0.6) ? "producing" : "idle",
                mode: d.ncCapable ? "nc" : "manual", ratedKW: rng.uniform(6...28))
        }
        for d in plant.devices {
            for m in d.metrics where m.kind == .counter {
                if let r = m.rollover {
                    // Close enough to the top that the register wraps during a simulated week.
                    registers[m.series] = (r - rng.uniform(500...3000) * (r > 70_000 ? 1 : 0.5)).rounded(.down)
                } else {
                    registers[m.series] = (rng.uniform(1_000...50_000)).rounded()
                }
            }
        }
        // One production counter is reset once mid-run (a PLC restart).
        resetSeries = plant.devices.flatMap(\.metrics).last { $0.measures == .goodCount }?.series
    }

    /// Which of the three shifts (0 night 00–08, 1 day 08–16, 2 evening 16–24) a time falls in.
    func shift(atMs t: Int64) -> Int {
        let local = Double(t) / 1000 + Double(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t) / 1000)))
        let hour = Int(local.truncatingRemainder(dividingBy: 86_400) / 3600)
        return hour < 8 ? 0 : hour < 16 ? 1 : 2
    }

    /// Advances the plant by `dtMs` to time `t` and returns each device's current values.
    mutating func step(atMs t: Int64, dtMs: Int64) -> [(device: Int, values: [SimulatedValue?])] {
        if startMs == nil { startMs = t }
        let night = shift(atMs: t) == 0
        let hours = Double(dtMs) / 3_600_000
        let minutes = Double(dtMs) / 60_000

        // Machines change state and mode.
        for key in machines.keys.sorted() {
            var m = machines[key]!
            let p = minutes
            switch m.state {
            case "producing":
                if rng.chance(0.003 * p) {
                    m.state = "down"
                } else if rng.chance(0.01 * p) {
                    m.state = "setup"
                } else if rng.chance((night ? 0.03 : 0.008) * p) {
                    m.state = "idle"
                }
            case "setup": if rng.chance(0.15 * p) { m.state = "producing" }
            case "idle":
                if rng.chance((night ? 0.04 : 0.25) * p) { m.state = "producing" } else if night && rng.chance(0.01 * p) { m.state = "off" }
            case "down": if rng.chance(0.04 * p) { m.state = "producing" }
            default: if rng.chance((night ? 0.005 : 0.3) * p) { m.state = "idle" }
            }
            if plant.devices[key].ncCapable {
                if m.mode == "nc" && m.state == "producing" && rng.chance(0.004 * p) {
                    m.mode = "manual"
                } else if m.mode == "manual" && rng.chance(0.08 * p) {
                    m.mode = "nc"
                }
            }
            if m.state == "producing" { m.partsCarry += 1.2 * minutes }
            machines[key] = m
        }

        // Line output: the slowest key process sets the pace.
        var lineOutput: [String: Double] = [:]
        var producingShare: [String: Double] = [:]
        for site in plant.sites {
            for ws in site.workshops {
                for line in ws.lines {
                    var pace = Double.infinity
                    var any = false
                    var producing = 0.0
                    var total = 0.0
                    for process in line.processes where process.keyProcess {
                        let ms = machines.filter { plant.devices[$0.key].line == line.id && plant.devices[$0.key].process == process.id }
                        guard !ms.isEmpty else { continue }
                        any = true
                        let n = Double(ms.values.filter { $0.state == "producing" }.count)
                        pace = min(pace, n * 1.2)
                        producing += n
                        total += Double(ms.count)
                    }
                    lineOutput[line.id] = any ? pace * minutes : 0
                    producingShare[line.id] = total > 0 ? producing / total : 0
                }
            }
        }
        let plantShare = producingShare.isEmpty ? 0 : producingShare.values.reduce(0, +) / Double(producingShare.count)

        var out: [(device: Int, values: [SimulatedValue?])] = []
        out.reserveCapacity(plant.devices.count)
        for (di, d) in plant.devices.enumerated() {
            let load = electricLoad(of: di, d, now: t)
            var values: [SimulatedValue?] = []
            for m in d.metrics {
                values.append(
                    value(
                        of: m, device: di, d, load: load, lineOutput: lineOutput,
                        plantShare: plantShare, night: night, hours: hours, t: t))
            }
            out.append((di, values))
        }
        return out
    }

    /// kW drawn below a meter: its line's machines, or its workshop's, plus a base load.
    private func electricLoad(of di: Int, _ d: Device, now: Int64) -> Double {
        if let m = machines[di] { return power(of: m) }
        var sum = 0.0
        for (k, m) in machines {
            let md = plant.devices[k]
            if let line = d.line {
                if md.line == line { sum += power(of: m) }
            } else if let ws = d.workshop {
                if md.workshop == ws { sum += power(of: m) }
            } else {
                sum += power(of: m)
            }
        }
        if d.workshop == nil { return 18 * (shift(atMs: now) == 0 ? 0.4 : 1) }  // a site feeder (office)
        return sum + (d.line != nil ? 3 : 15)
    }

    private func power(of m: Machine) -> Double {
        switch m.state {
        case "producing": m.ratedKW * 0.85
        case "setup": m.ratedKW * 0.3
        case "idle": m.ratedKW * 0.15
        case "down": m.ratedKW * 0.05
        default: 0
        }
    }

    private mutating func value(
        of m: Metric, device di: Int, _ d: Device, load: Double, lineOutput: [String: Double],
        plantShare: Double, night: Bool, hours: Double, t: Int64
    ) -> SimulatedValue? {
        switch (m.kind, m.measures) {
        case (.state, .machineState):
            return .state(machines[di]?.state ?? "idle")
        case (.state, .controlMode):
            return .state(machines[di]?.mode ?? "manual")
        case (.state, _):
            let words = Array(Set(m.states.values)).sorted()
            return words.isEmpty ? nil : .state(words[Int(rng.next() % UInt64(words.count))])
        case (.counter, .goodCount), (.counter, .scrapCount):
            let produced = lineOutput[d.line ?? ""] ?? 0
            let scrapShare = night ? 0.04 : 0.02
            let add = m.measures == .goodCount ? produced * (1 - scrapShare) : produced * scrapShare
            let key = "\(m.series)"
            let carried = (outputCarry[key] ?? 0) + add
            let whole = carried.rounded(.down)
            outputCarry[key] = carried - whole
            if m.series == resetSeries, !resetDone, let s = startMs, t - s >= 60 * 3_600_000 {
                resetDone = true
                registers[m.series] = 0
            }
            return counter(m, adding: whole)
        case (.counter, .energy):
            let perHour: Double
            switch m.carrier {
            case .electricity?: perHour = load
            case .water?: perHour = d.line != nil ? (lineOutput[d.line!] ?? 0 > 0 ? 0.6 : 0.05) : 0.8 + 2.0 * plantShare
            case .naturalGas?: perHour = 6 + 20 * plantShare
            // A line's air inlet takes part of what its workshop's compressor delivers.
            case .compressedAir? where d.line != nil: perHour = 0.4 + 1.6 * plantShare
            default: perHour = 1 + 4 * plantShare
            }
            return counter(m, adding: perHour * hours)
        case (.counter, .energyTariff):
            // A day-tariff register counts the same electricity as the total register, by day only.
            return counter(m, adding: night ? 0 : load * hours)
        case (.counter, _):
            if var machine = machines[di] {
                let whole = machine.partsCarry.rounded(.down)
                machine.partsCarry -= whole
                machines[di] = machine
                return counter(m, adding: whole)
            }
            return counter(m, adding: rng.uniform(0...2).rounded())
        case (.gauge, _):
            let unit = m.unit ?? ""
            if unit == "kW" { return .number((load * rng.uniform(0.97...1.03) * 100).rounded() / 100) }
            if unit.hasSuffix("/h") {
                let carrier = d.metrics.first { $0.kind == .counter && $0.carrier != nil }?.carrier
                let rate = carrier == .naturalGas ? 6 + 20 * plantShare : 0.8 + 2.0 * plantShare
                return .number((rate * rng.uniform(0.95...1.05) * 1000).rounded() / 1000)
            }
            return .number((rng.uniform(20...80) * 10).rounded() / 10)
        }
    }

    private mutating func counter(_ m: Metric, adding amount: Double) -> SimulatedValue {
        var v = (registers[m.series] ?? 0) + amount
        if let r = m.rollover, v >= r { v -= r }
        registers[m.series] = v
        return .number(v)
    }
}
