import Foundation
import GatewaySimulator
import PlantRegistry
import Telemetry
import Testing

@testable import Aggregation

/// Stored readings in memory, answering the aggregator's questions as SQLite does.
final class MemoryStore: ReadingHistory {
    var points: [SeriesIndex: [SeriesPoint]] = [:]
    /// Every reading's time per device (errors included), for staleness.
    var times: [Int: [Int64]] = [:]
    var machines: [String: [Int64: RollupDelta.MachineMinuteValue]] = [:]
    let plan: AggregationPlan

    init(plan: AggregationPlan) { self.plan = plan }

    func insert(_ r: Reading) -> Bool {
        let p: SeriesPoint?
        switch r.value {
        case .number(let v): p = SeriesPoint(ts: r.timestampMs, value: v, state: nil)
        case .state(let s): p = SeriesPoint(ts: r.timestampMs, value: 0, state: s)
        case .error: p = nil
        }
        var list = points[r.series, default: []]
        if list.contains(where: { $0.ts == r.timestampMs }) { return false }
        if let p {
            list.append(p)
            list.sort { $0.ts < $1.ts }
            points[r.series] = list
        }
        times[plan.series[Int(r.series)].device, default: []].append(r.timestampMs)
        return true
    }

    func neighbours(_ s: SeriesIndex, around ts: Int64, before: Int, after: Int) -> (before: [SeriesPoint], after: [SeriesPoint]) {
        let list = points[s, default: []]
        return (Array(list.filter { $0.ts < ts }.suffix(before)), Array(list.filter { $0.ts > ts }.prefix(after)))
    }

    func points(_ s: SeriesIndex, from: Int64, to: Int64) -> [SeriesPoint] {
        points[s, default: []].filter { $0.ts >= from && $0.ts < to }
    }

    func messageTimes(device: Int, from: Int64, to: Int64) -> [Int64] {
        times[device, default: []].filter { $0 >= from && $0 <= to }.sorted()
    }

    func machineMinutes(device: String, from: Int64, to: Int64) -> [Int64: RollupDelta.MachineMinuteValue] {
        machines[device, default: [:]].filter { $0.key >= from && $0.key <= to }
    }
}

/// Sums a run of deltas the way the store's upserts do.
struct Totals: Equatable {
    var minutes: [RollupDelta.SeriesMinute: RollupDelta.MinuteStats] = [:]
    var states: [RollupDelta.StateMinute: Int64] = [:]
    var scopes: [RollupDelta.ScopeWindow: Double] = [:]
    var quality: [RollupDelta.QualityKey: RollupDelta.QualityChange] = [:]

    mutating func add(_ d: RollupDelta, into store: MemoryStore) {
        for (k, m) in d.minutes {
            var t = minutes[k] ?? RollupDelta.MinuteStats()
            t.count += m.count
            t.sum += m.sum
            t.min = min(t.min, m.min)
            t.max = max(t.max, m.max)
            if m.lastTs > t.lastTs {
                t.lastTs = m.lastTs
                t.last = m.last
            }
            t.consumption += m.consumption
            t.estimated += m.estimated
            minutes[k] = t
        }
        for (k, v) in d.states { states[k, default: 0] += v }
        for (k, v) in d.scopes { scopes[k, default: 0] += v }
        for (k, v) in d.quality {
            var q = quality[k] ?? RollupDelta.QualityChange()
            q.count += v.count
            q.amount += v.amount
            quality[k] = q
        }
        for (k, v) in d.machineRows { store.machines[store.plan.machines[k.machine].device, default: [:]][k.minute] = v.isZero ? nil : v }
        states = states.filter { $0.value != 0 }
        quality = quality.filter { $0.value.count != 0 }
    }

    /// Equal up to floating-point noise from adding and removing the same pair.
    func matches(_ o: Totals) -> Bool {
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-6 * max(1, abs(a), abs(b)) }
        guard states == o.states, Set(quality.keys) == Set(o.quality.keys) else { return false }
        let used = Set(minutes.filter { $0.value.count > 0 || abs($0.value.consumption) > 1e-9 }.keys)
        guard used == Set(o.minutes.filter { $0.value.count > 0 || abs($0.value.consumption) > 1e-9 }.keys) else { return false }
        for k in used {
            let a = minutes[k]!
            let b = o.minutes[k]!
            guard a.count == b.count, close(a.sum, b.sum), a.min == b.min, a.max == b.max, a.lastTs == b.lastTs,
                a.last == b.last, close(a.consumption, b.consumption), close(a.estimated, b.estimated)
            else { return false }
        }
        let keys = Set(scopes.filter { abs($0.value) > 1e-9 }.keys).union(o.scopes.filter { abs($0.value) > 1e-9 }.keys)
        return keys.allSatisfy { close(scopes[$0] ?? 0, o.scopes[$0] ?? 0) }
    }
}

@Suite("Aggregation")
struct AggregationTests {
    let plant: Plant
    let plan: AggregationPlan
    init() throws {
        plant = try Fixtures.plant()
        plan = AggregationPlan(plant: plant)
    }

    func series(_ device: String, _ metric: String) -> SeriesIndex {
        SeriesIndex(plant.series.firstIndex(of: SeriesKey(device: device, metric: metric))!)
    }

    /// Feeds readings in the given order, a batch of `batch` at a time, and returns the summed
    /// rollups, as the store would hold them.
    func aggregate(_ readings: [Reading], batch: Int = 7, plan: AggregationPlan? = nil) throws -> Totals {
        let plan = plan ?? self.plan
        let aggregator = Aggregator(plan: plan)
        let store = MemoryStore(plan: plan)
        var totals = Totals()
        for chunk in stride(from: 0, to: readings.count, by: batch) {
            for r in readings[chunk..<min(readings.count, chunk + batch)] where store.insert(r) {
                // The reading itself is stored already, as in SQLite; neighbours exclude it.
                try aggregator.add(r, history: store)
            }
            try aggregator.finishMachines(history: store)
            totals.add(aggregator.takeDelta(), into: store)
        }
        return totals
    }

    static let t0: Int64 = 1_764_000_000_000  // 2025-11-24T16:00Z, a minute and hour boundary

    func use(_ totals: Totals, _ s: SeriesIndex) -> Double {
        totals.minutes.filter { $0.key.series == s }.values.map(\.consumption).reduce(0, +)
    }

    @Test(
        arguments: [
            (nil, 100.0, 130.0, nil as Double?, 30.0),  // normal use
            (nil, 130.0, 5.0, nil, 5.0),  // reset: 5 is under a tenth of 130, counted from zero
            (nil, 99_990.0, 10.0, 99_999.9, 19.9),  // rollover: 9.9 to the modulus, then 10
            (nil, 20.0, 1.5, 99_999.9, 1.5),  // a drop to near zero far from the top: a reset, not a wrap
            (nil, 1000.0, 999.9, nil, 0.0),  // jitter: an anomaly books nothing
            (nil, 60_000.0, 59_999.9, 99_999.9, 0.0),  // jitter in the register's upper half is no rollover
            (1000.0, 999.9, 1000.5, nil, 0.5),  // the climb back books only the increase past 1000.0
            (1000.0, 999.9, 999.95, nil, 0.0),  // still under the high-water mark
            (nil, 7.0, 7.0, nil, 0.0),
        ] as [(Double?, Double, Double, Double?, Double)])
    func registerUse(prev: Double?, a: Double, b: Double, modulus: Double?, used: Double) {
        #expect(abs(Aggregator.registerUse(prev: prev, a, b, modulus: modulus).0 - used) < 1e-9)
    }

    @Test func jitterBooksExactlyLastMinusFirst() throws {
        let e = series("em-1", "energy")
        let t0 = Self.t0
        // 1000.0, 999.9, 1000.5 kWh: the line used 0.5 kWh, and the dip is one anomaly.
        let totals = try aggregate(
            [1000.0, 999.9, 1000.5].enumerated().map {
                Reading(series: e, timestampMs: t0 + Int64($0.offset) * 60_000, value: .number($0.element))
            }.reversed())
        #expect(abs(use(totals, e) - 0.5) < 1e-9)
        #expect(totals.quality.keys.map(\.kind) == [.anomaly])
        let line = totals.scopes.filter {
            $0.key.scope == .line("l1") && $0.key.period == .day && $0.key.quantity == "consumption.electricity"
        }.values.reduce(0, +)
        #expect(abs(line - 0.5) < 1e-9)
    }

    @Test func aReadAtMidnightClosesThePreviousDay() throws {
        let e = series("em-1", "energy")
        // Shanghai midnight 2025-11-25 is 16:00Z on the 24th (t0). Reads at 23:45 (100) and
        // 00:00 (110): the 10 kWh that ended at midnight belong to the 24th. Then 00:10 (130):
        // 20 kWh on the 25th. A 23:50 → 00:10 interval would split 10/10; here 00:00 → 00:10 is all the 25th.
        let t0 = Self.t0
        let totals = try aggregate([
            Reading(series: e, timestampMs: t0 - 15 * 60_000, value: .number(100)),
            Reading(series: e, timestampMs: t0, value: .number(110)),
            Reading(series: e, timestampMs: t0 + 10 * 60_000, value: .number(130)),
        ])
        let days = totals.scopes.filter {
            $0.key.scope == .line("l1") && $0.key.period == .day && $0.key.quantity == "consumption.electricity"
        }
        #expect(days[.init(scope: .line("l1"), quantity: "consumption.electricity", period: .day, start: t0 - 86_400_000)] == 10)
        #expect(days[.init(scope: .line("l1"), quantity: "consumption.electricity", period: .day, start: t0)] == 20)
        // Spread in proportion to time: 1 kWh per minute from 23:45 to 00:00, 2 kWh per minute after.
        #expect(abs((totals.minutes[.init(series: e, minute: t0 - 60_000)]?.consumption ?? 0) - 10.0 / 15) < 1e-9)
        #expect(abs((totals.minutes[.init(series: e, minute: t0 + 60_000)]?.consumption ?? 0) - 2) < 1e-9)
    }

    @Test func anIntervalAcrossMidnightSplitsByTime() throws {
        let e = series("em-1", "energy")
        let t0 = Self.t0
        // 23:50 → 00:10, 20 kWh: 10 to each day.
        let totals = try aggregate([
            Reading(series: e, timestampMs: t0 - 10 * 60_000, value: .number(500)),
            Reading(series: e, timestampMs: t0 + 10 * 60_000, value: .number(520)),
        ])
        for day in [t0 - 86_400_000, t0] {
            let v = totals.scopes[.init(scope: .line("l1"), quantity: "consumption.electricity", period: .day, start: day)] ?? 0
            #expect(abs(v - 10) < 1e-9)
        }
    }

    @Test func aLongGapIsSpreadEstimatedAndBookedPerHour() throws {
        let e = series("em-1", "energy")
        let t0 = Self.t0
        // Silent for 4 days (96 h) after a read, then +960 kWh: 10 kWh an hour, 240 a day, all
        // estimated; booked per hour (96 minute rows, not 5,760).
        let totals = try aggregate([
            Reading(series: e, timestampMs: t0, value: .number(1000)),
            Reading(series: e, timestampMs: t0 + 96 * 3_600_000, value: .number(1960)),
        ])
        let rows = totals.minutes.filter { $0.key.series == e && $0.value.consumption != 0 }
        #expect(rows.count == 96)
        #expect(rows.values.allSatisfy { abs($0.consumption - 10) < 1e-9 && abs($0.estimated - 10) < 1e-9 })
        for d in 0..<4 {
            let day = t0 + Int64(d) * 86_400_000
            #expect(
                abs((totals.scopes[.init(scope: .line("l1"), quantity: "consumption.electricity", period: .day, start: day)] ?? 0) - 240)
                    < 1e-9)
            #expect(
                abs(
                    (totals.scopes[.init(scope: .line("l1"), quantity: "consumption.electricity.estimated", period: .day, start: day)] ?? 0)
                        - 240) < 1e-9)
        }
        #expect(totals.quality.keys.map(\.kind) == [.estimated])
    }

    @Test func statesReportedByExceptionHoldUntilTheNextValue() throws {
        let s = series("cnc-1", "state")
        let m = series("cnc-1", "mode")
        let t0 = Self.t0
        // nc at 08:00; producing at 08:00 until off at 10:00; off until producing at 12:00;
        // producing until off at 16:00 while the mode turns manual at 14:00. Nothing else is sent.
        let h: Int64 = 3_600_000
        let totals = try aggregate([
            Reading(series: m, timestampMs: t0 + 8 * h, value: .state("nc")),
            Reading(series: s, timestampMs: t0 + 8 * h, value: .state("producing")),
            Reading(series: s, timestampMs: t0 + 10 * h, value: .state("off")),
            Reading(series: s, timestampMs: t0 + 12 * h, value: .state("producing")),
            Reading(series: m, timestampMs: t0 + 14 * h, value: .state("manual")),
            Reading(series: s, timestampMs: t0 + 16 * h, value: .state("off")),
            Reading(series: m, timestampMs: t0 + 16 * h, value: .state("manual")),
        ])
        var byState: [String: Int64] = [:]
        for (k, v) in totals.states where k.series == s { byState[k.state, default: 0] += v }
        #expect(byState == ["producing": 6 * h, "off": 2 * h], "4 h from 12:00 to 16:00, not an hour")
        // NC time is the exact overlap of producing and nc: 08:00–10:00 and 12:00–14:00.
        let line = totals.scopes.filter { $0.key.scope == .line("l1") && $0.key.period == .day }
        #expect(line.filter { $0.key.quantity == AggregationPlan.producingMs }.values.reduce(0, +) == Double(6 * h))
        #expect(line.filter { $0.key.quantity == AggregationPlan.ncProducingMs }.values.reduce(0, +) == Double(4 * h))
    }

    @Test func aSilentDeviceStateBecomesUnknownAfterItsStalenessWindow() throws {
        let s = series("em-1", "state")
        let e = series("em-1", "energy")
        let t0 = Self.t0
        let h: Int64 = 3_600_000
        // em-1 says producing at 00:00 and idle at 10:00, nothing in between: known for the
        // default 8 hours, unknown for 2.
        let silent = try aggregate([
            Reading(series: s, timestampMs: t0, value: .state("producing")),
            Reading(series: s, timestampMs: t0 + 10 * h, value: .state("idle")),
        ])
        var byState: [String: Int64] = [:]
        for (k, v) in silent.states where k.series == s { byState[k.state, default: 0] += v }
        #expect(byState == ["producing": 8 * h, "unknown": 2 * h])
        #expect(silent.quality.keys.map(\.kind) == [.stale])
        // Its energy register read at 05:00 (even arriving last) keeps it alive to 13:00: all known.
        let alive = try aggregate(
            [
                Reading(series: s, timestampMs: t0, value: .state("producing")),
                Reading(series: s, timestampMs: t0 + 10 * h, value: .state("idle")),
                Reading(series: e, timestampMs: t0 + 5 * h, value: .number(10)),
            ], batch: 1)
        byState = [:]
        for (k, v) in alive.states where k.series == s { byState[k.state, default: 0] += v }
        #expect(byState == ["producing": 10 * h])
        #expect(alive.quality.isEmpty)
    }

    @Test func aDeathCertificateMakesTheStateUnknownNotOff() throws {
        let s = series("cnc-1", "state")
        let t0 = Self.t0
        let h: Int64 = 3_600_000
        // producing from 00:00; the device dies at 01:00 (the host writes `unknown`); reborn at 03:00.
        let totals = try aggregate([
            Reading(series: s, timestampMs: t0, value: .state("producing")),
            Reading(series: s, timestampMs: t0 + h, value: .state("unknown")),
            Reading(series: s, timestampMs: t0 + 3 * h, value: .state("producing")),
        ])
        var byState: [String: Int64] = [:]
        for (k, v) in totals.states where k.series == s { byState[k.state, default: 0] += v }
        #expect(byState == ["producing": h, "unknown": 2 * h])
        let unknown = totals.scopes.filter {
            $0.key.scope == .line("l1") && $0.key.period == .day && $0.key.quantity == AggregationPlan.unknownMs
        }
        #expect(unknown.values.reduce(0, +) == Double(2 * h), "key-process time unknown")
        #expect(totals.quality.keys.map(\.kind) == [.offline])
    }

    /// Random readings of a counter (with resets, jitter and a rollover), sparse states reported
    /// by exception, a gauge and gaps.
    func randomReadings(seed: UInt64, count: Int) -> [Reading] {
        var rng = SeededGenerator(seed: seed)
        let e = series("cnc-1", "energy")
        let s = series("cnc-1", "state")
        let p = series("cnc-1", "power")
        let g = series("plc-1", "good")
        let m = series("cnc-1", "mode")
        let es = series("em-1", "state")
        var out: [Reading] = []
        var register = 99_000.0
        var good = 10.0
        var t = Self.t0
        for i in 0..<count {
            // Mostly 17 s apart, sometimes an hours-long silence.
            t += rng.next() % 40 == 0 ? Int64(rng.next() % 40) * 1_800_000 : 17_000 + Int64(rng.next() % 5_000)
            register += Double(rng.next() % 400) / 10
            if register >= 99_999.9 { register -= 99_999.9 }
            if rng.next() % 200 == 0 || i == count / 2 { register = 0 }
            good += Double(rng.next() % 3)
            out.append(Reading(series: e, timestampMs: t, value: .number(register)))
            // A gateway's jitter: a read just after, a tenth lower (an anomaly, not a reset).
            if rng.next() % 15 == 0 && register > 10 { out.append(Reading(series: e, timestampMs: t + 7, value: .number(register - 0.1))) }
            if rng.next() % 3 == 0 { out.append(Reading(series: series("em-1", "energy"), timestampMs: t + 3, value: .number(register))) }
            out.append(Reading(series: g, timestampMs: t + 1, value: .number(good)))
            if rng.next() % 2 == 0 { out.append(Reading(series: p, timestampMs: t, value: .number(Double(rng.next() % 1000) / 10))) }
            if rng.next() % 4 == 0 {
                out.append(
                    Reading(
                        series: s, timestampMs: t, value: .state(["producing", "idle", "setup", "down", "unknown"][Int(rng.next() % 5)])))
            }
            if rng.next() % 6 == 0 {
                out.append(Reading(series: m, timestampMs: t + 2, value: .state(rng.next() % 3 == 0 ? "manual" : "nc")))
            }
            if rng.next() % 9 == 0 {
                out.append(Reading(series: es, timestampMs: t + 4, value: .state(rng.next() % 2 == 0 ? "producing" : "idle")))
            }
            if rng.next() % 25 == 0 { out.append(Reading(series: p, timestampMs: t + 5, value: .error(7))) }
        }
        return out
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func anyArrivalOrderGivesTheSortedRollups(seed: UInt64) throws {
        // Short staleness windows, so silences make unknown time that late readings must rebook.
        let registry = try Fixtures.registry([
            "gateways/plain.yaml": Fixtures.plainGateway.replacingOccurrences(
                of: "        devices:", with: "        stale_after_s: 3600\n        devices:")
        ])
        let plant = try Plant.load(directory: registry)
        let plan = AggregationPlan(plant: plant)
        let readings = randomReadings(seed: seed, count: 300)
        let sorted = try aggregate(readings.sorted { $0.timestampMs < $1.timestampMs }, plan: plan)
        var rng = SeededGenerator(seed: seed &+ 100)
        var shuffled = readings + readings.filter { _ in rng.next() % 10 == 0 }  // ~10% duplicated
        shuffled.shuffle(using: &rng)
        let arrived = try aggregate(shuffled, plan: plan)
        #expect(arrived.matches(sorted))
        let kinds = Set(sorted.quality.keys.map(\.kind))
        #expect(kinds.isSuperset(of: [.anomaly, .reset, .rollover, .estimated, .stale, .offline]), "\(kinds)")
        #expect(!sorted.states.isEmpty && !sorted.scopes.isEmpty)
    }

    /// An independent oracle: a pair's use spread over its interval minute by minute.
    static func spreadPerHour(_ raw: [(Int64, Double)], calendar: WindowCalendar, modulus: Double? = nil) -> [Int64: Double] {
        var out: [Int64: Double] = [:]
        for (k, (b, y)) in raw.enumerated() where k > 0 {
            let (a, x) = raw[k - 1]
            let prev = k > 1 ? raw[k - 2].1 : nil
            let used = Aggregator.registerUse(prev: prev, x, y, modulus: modulus).0
            var t = a
            while t < b {
                let stop = min(b, t - ((t % 60_000) + 60_000) % 60_000 + 60_000)
                out[calendar.hourStart(t), default: 0] += used * Double(stop - t) / Double(b - a)
                t = stop
            }
        }
        return out
    }

    @Test func minutesComposeToTheHourComputedFromRaw() throws {
        let readings = randomReadings(seed: 9, count: 400)
        let totals = try aggregate(readings.shuffled())
        let e = series("em-1", "energy")  // the line's meter, without a configured rollover
        var fromMinutes: [Int64: Double] = [:]
        for (k, m) in totals.minutes where k.series == e { fromMinutes[plan.calendar.hourStart(k.minute), default: 0] += m.consumption }
        let raw = readings.filter { $0.series == e }.sorted { $0.timestampMs < $1.timestampMs }.compactMap { r -> (Int64, Double)? in
            if case .number(let v) = r.value { (r.timestampMs, v) } else { nil }
        }
        let direct = Self.spreadPerHour(raw, calendar: plan.calendar)
        for (h, v) in direct where abs(v) > 1e-9 { #expect(abs((fromMinutes[h] ?? 0) - v) < 1e-6) }
        // And the scope's stored hour equals the same figure (em-1 is the line's only meter).
        for (h, v) in direct {
            let scope = totals.scopes[.init(scope: .line("l1"), quantity: "consumption.electricity", period: .hour, start: h)] ?? 0
            #expect(abs(scope - v) < 1e-6)
        }
    }

    @Test func localDaysFollowTheSiteTimeZone() {
        // 2025-11-28T23:59+08:00 and 2025-11-29T00:01+08:00 share a UTC day but not a Shanghai day.
        let late = Timestamp.parseRFC3339("2025-11-28T23:59:00+08:00")!
        let early = Timestamp.parseRFC3339("2025-11-29T00:01:00+08:00")!
        #expect(plan.calendar.dayStart(late) == Timestamp.parseRFC3339("2025-11-28T00:00:00+08:00")!)
        #expect(plan.calendar.dayStart(early) == Timestamp.parseRFC3339("2025-11-29T00:00:00+08:00")!)
        #expect(plan.calendar.monthStart(early) == Timestamp.parseRFC3339("2025-11-01T00:00:00+08:00")!)
        let ny = WindowCalendar(timeZone: TimeZone(identifier: "America/New_York")!)
        // The DST change day (2026-03-08) is 23 hours long there.
        let d = ny.dayStart(Timestamp.parseRFC3339("2026-03-08T12:00:00-04:00")!)
        #expect(ny.dayStart(d + 86_400_000 - 3_600_000) - d == 23 * 3_600_000)
    }
}

@Suite("Integrated gauges")
struct IntegratedGaugeTests {
    @Test func aPowerGaugeWithoutACounterIsIntegratedAndGapsAreEstimated() throws {
        let office = """
            gateway: gw-office
            decoder: native
            topic: zz/office/#
            devices:
              - {id: pw-1, meter_role: sub, metrics: [{name: p, kind: gauge, unit: kW, measures: energy, carrier: electricity, expected_interval_s: 1800}]}
            """
        let plant = try Plant.load(directory: try Fixtures.registry(["gateways/office.yaml": office]))
        let plan = AggregationPlan(plant: plant)
        let p = SeriesIndex(plant.series.firstIndex(of: SeriesKey(device: "pw-1", metric: "p"))!)
        #expect(plan.series[Int(p)].kind == .integratedGauge)
        // The office feeder sits beside the workshop: the site is both, the workshop only its line meter.
        #expect(plan.series[Int(p)].targets.map(\.scope) == [.site("s1")])
        let aggregator = Aggregator(plan: plan)
        let store = MemoryStore(plan: plan)
        let t0: Int64 = 1_764_000_000_000
        // 10 kW → 20 kW over 30 min: 7.5 kWh; 20 → 20 kW over 60 min: 20 kWh; then 110 min
        // silent (more than twice the 30-minute read interval): 20 kW × 110/60 h = 36.67 kWh,
        // estimated. Total 64.17 kWh, arriving out of order.
        let readings = [(0, 10.0), (90, 20.0), (30, 20.0), (200, 20.0)].map {
            Reading(series: p, timestampMs: t0 + Int64($0.0) * 60_000, value: .number($0.1))
        }
        for r in readings where store.insert(r) { try aggregator.add(r, history: store) }
        let d = aggregator.takeDelta()
        let total = d.minutes.values.map(\.consumption).reduce(0, +)
        let estimated = d.minutes.values.map(\.estimated).reduce(0, +)
        #expect(abs(total - (7.5 + 20 + 20.0 * 110 / 60)) < 1e-9)
        #expect(abs(estimated - 20.0 * 110 / 60) < 1e-9)
        let site = d.scopes.filter { $0.key.scope == .site("s1") && $0.key.period == .day && $0.key.quantity == "consumption.electricity" }
        #expect(abs(site.values.reduce(0, +) - total) < 1e-9)
        // The line meter (em-1) is a child of the site too.
        #expect(
            Set(AggregationPlan.meterScopes(plant)[.init(device: plant.deviceIndex(id: "em-1")!, carrier: .electricity)] ?? [])
                == [.line("l1"), .workshop("ws1"), .site("s1")])
    }
}
