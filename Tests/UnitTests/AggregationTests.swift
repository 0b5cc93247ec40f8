@testable import Aggregation
import Foundation
import GatewaySimulator
import PlantRegistry
import Telemetry
import Testing

/// Stored readings in memory, answering the aggregator's neighbour questions as SQLite does.
struct MemoryStore {
    var points: [SeriesIndex: [SeriesPoint]] = [:]

    mutating func insert(_ r: Reading) -> Bool {
        let p: SeriesPoint
        switch r.value {
        case .number(let v): p = SeriesPoint(ts: r.timestampMs, value: v, state: nil)
        case .state(let s): p = SeriesPoint(ts: r.timestampMs, value: 0, state: s)
        case .error: return true
        }
        var list = points[r.series, default: []]
        if list.contains(where: { $0.ts == p.ts }) { return false }
        list.append(p)
        list.sort { $0.ts < $1.ts }
        points[r.series] = list
        return true
    }

    func neighbours(_ s: SeriesIndex, _ ts: Int64) -> (before: SeriesPoint?, after: SeriesPoint?) {
        let list = points[s, default: []]
        return (list.last { $0.ts < ts }, list.first { $0.ts > ts })
    }
}

/// Sums a run of deltas the way the store's upserts do.
struct Totals: Equatable {
    var minutes: [RollupDelta.SeriesMinute: RollupDelta.MinuteStats] = [:]
    var states: [RollupDelta.StateMinute: Int64] = [:]
    var scopes: [RollupDelta.ScopeWindow: Double] = [:]

    mutating func add(_ d: RollupDelta) {
        for (k, m) in d.minutes {
            var t = minutes[k] ?? RollupDelta.MinuteStats()
            t.count += m.count
            t.sum += m.sum
            t.min = min(t.min, m.min)
            t.max = max(t.max, m.max)
            if m.lastTs > t.lastTs { t.lastTs = m.lastTs; t.last = m.last }
            t.consumption += m.consumption
            minutes[k] = t
        }
        for (k, v) in d.states { states[k, default: 0] += v }
        for (k, v) in d.scopes { scopes[k, default: 0] += v }
        states = states.filter { $0.value != 0 }
    }

    /// Equal up to floating-point noise from adding and removing the same pair.
    func matches(_ o: Totals) -> Bool {
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-6 * max(1, abs(a), abs(b)) }
        guard states == o.states, Set(minutes.keys) == Set(o.minutes.keys) else { return false }
        for (k, a) in minutes {
            let b = o.minutes[k]!
            guard a.count == b.count, close(a.sum, b.sum), a.min == b.min, a.max == b.max, a.lastTs == b.lastTs,
                  a.last == b.last, close(a.consumption, b.consumption) else { return false }
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

    /// Feeds readings in the given order and returns the summed rollups.
    func aggregate(_ readings: [Reading]) throws -> Totals {
        let aggregator = Aggregator(plan: plan)
        var store = MemoryStore()
        var totals = Totals()
        for r in readings where store.insert(r) {
            try aggregator.add(r) { s, ts in
                // The reading itself is stored already, as in SQLite; neighbours exclude it.
                store.neighbours(s, ts)
            }
        }
        totals.add(aggregator.takeDelta())
        return totals
    }

    @Test(arguments: [
        (100.0, 130.0, nil as Double?, 30.0),      // normal use
        (130.0, 5.0, nil, 5.0),                    // reset without a maximum: counting again from zero
        (99_990.0, 10.0, 99_999.9, 19.9),          // rollover: 9.9 to the top, then 10
        (20.0, 5.0, 99_999.9, 5.0),                // a drop far from the top is a reset, not a wrap
        (7.0, 7.0, nil, 0.0),
    ])
    func counterConsumption(a: Double, b: Double, rollover: Double?, used: Double) {
        #expect(abs(Aggregator.consumption(from: a, to: b, rollover: rollover) - used) < 1e-9)
    }

    @Test func counterDeltasGoToTheLaterReadingsMinute() throws {
        let e = series("cnc-1", "energy")
        let t0: Int64 = 1_764_000_000_000  // a minute boundary
        // 100 → 110 (10 in minute 1), reset to 4 (4 in minute 2), silent 3 minutes, then 9 (5 in minute 6).
        let totals = try aggregate([
            Reading(series: e, timestampMs: t0, value: .number(100)),
            Reading(series: e, timestampMs: t0 + 60_000, value: .number(110)),
            Reading(series: e, timestampMs: t0 + 120_000, value: .number(4)),
            Reading(series: e, timestampMs: t0 + 360_000, value: .number(9)),
        ])
        let used = totals.minutes.filter { $0.key.series == e }.mapValues(\.consumption)
        #expect(used[.init(series: e, minute: t0)] == 0)
        #expect(used[.init(series: e, minute: t0 + 60_000)] == 10)
        #expect(used[.init(series: e, minute: t0 + 120_000)] == 4)
        #expect(used[.init(series: e, minute: t0 + 360_000)] == 5, "a gap is not spread over invented minutes")
        #expect(used.values.reduce(0, +) == 19)
    }

    @Test func stateHoldsUntilTheNextReadingAtMostTheHoldTime() throws {
        let s = series("cnc-1", "state")
        let t0: Int64 = 1_764_000_000_000
        // producing at 0:00 for 90 s, idle at 1:30 until 2:00, then down at 2:00 and silent for
        // two hours: down holds one hour (the site's state_hold), the rest is unknown.
        let totals = try aggregate([
            Reading(series: s, timestampMs: t0, value: .state("producing")),
            Reading(series: s, timestampMs: t0 + 90_000, value: .state("idle")),
            Reading(series: s, timestampMs: t0 + 120_000, value: .state("down")),
            Reading(series: s, timestampMs: t0 + 120_000 + 7_200_000, value: .state("producing")),
        ])
        var byState: [String: Int64] = [:]
        for (k, v) in totals.states where k.series == s { byState[k.state, default: 0] += v }
        #expect(byState == ["producing": 90_000, "idle": 30_000, "down": 3_600_000])
        #expect(totals.states[.init(series: s, minute: t0 + 60_000, state: "producing")] == 30_000)
        #expect(totals.states[.init(series: s, minute: t0 + 60_000, state: "idle")] == 30_000)
    }

    /// Random readings of a counter (with resets and a rollover), a state and a gauge.
    func randomReadings(seed: UInt64, count: Int) -> [Reading] {
        var rng = SeededGenerator(seed: seed)
        let e = series("cnc-1", "energy"), s = series("cnc-1", "state"), p = series("cnc-1", "power"),
            g = series("plc-1", "good"), m = series("cnc-1", "mode")
        let t0: Int64 = 1_764_000_000_000
        var out: [Reading] = []
        var register = 99_000.0
        var good = 10.0
        for i in 0..<count {
            let ts = t0 + Int64(i) * 17_000 + Int64(rng.next() % 5_000)
            register += Double(rng.next() % 400) / 10
            if register >= 99_999.9 { register -= 99_999.9 }
            if rng.next() % 200 == 0 { register = 0 }
            good += Double(rng.next() % 3)
            out.append(Reading(series: e, timestampMs: ts, value: .number(register)))
            out.append(Reading(series: series("em-1", "energy"), timestampMs: ts + 3, value: .number(register)))
            out.append(Reading(series: g, timestampMs: ts + 1, value: .number(good)))
            out.append(Reading(series: p, timestampMs: ts, value: .number(Double(rng.next() % 1000) / 10)))
            out.append(Reading(series: s, timestampMs: ts, value: .state(["producing", "idle", "setup", "down"][Int(rng.next() % 4)])))
            out.append(Reading(series: m, timestampMs: ts + 2, value: .state(rng.next() % 5 == 0 ? "manual" : "nc")))
        }
        return out
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func anyArrivalOrderGivesTheSortedRollups(seed: UInt64) throws {
        let readings = randomReadings(seed: seed, count: 300)
        let sorted = try aggregate(readings.sorted { $0.timestampMs < $1.timestampMs })
        var rng = SeededGenerator(seed: seed &+ 100)
        var shuffled = readings + readings.filter { _ in rng.next() % 10 == 0 }  // ~10% duplicated
        shuffled.shuffle(using: &rng)
        let arrived = try aggregate(shuffled)
        #expect(arrived.matches(sorted))
        #expect(!sorted.states.isEmpty && !sorted.scopes.isEmpty)
    }

    @Test func minutesComposeToTheHourComputedFromRaw() throws {
        let readings = randomReadings(seed: 9, count: 400)
        let totals = try aggregate(readings.shuffled())
        let e = series("em-1", "energy")  // the line's meter, without a configured rollover
        // Per hour: the minute rollups summed, against the consumption of the raw pairs whose
        // later reading falls in that hour.
        var fromMinutes: [Int64: Double] = [:]
        for (k, m) in totals.minutes where k.series == e { fromMinutes[plan.calendar.hourStart(k.minute), default: 0] += m.consumption }
        let raw = readings.filter { $0.series == e }.sorted { $0.timestampMs < $1.timestampMs }
        var direct: [Int64: Double] = [:]
        for (a, b) in zip(raw, raw.dropFirst()) {
            guard case .number(let x) = a.value, case .number(let y) = b.value else { continue }
            direct[plan.calendar.hourStart(b.timestampMs), default: 0] += Aggregator.consumption(from: x, to: y, rollover: nil)
        }
        #expect(Set(fromMinutes.keys) == Set(direct.keys))
        for (h, v) in direct { #expect(abs(fromMinutes[h]! - v) < 1e-6) }
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
    @Test func aPowerGaugeWithoutACounterIsIntegratedAndGapsAreNotInvented() throws {
        let office = """
            gateway: gw-office
            decoder: native
            topic: zz/office/#
            devices:
              - {id: pw-1, meter_role: sub, metrics: [{name: p, kind: gauge, unit: kW, measures: energy, carrier: electricity}]}
            """
        let plant = try Plant.load(directory: try Fixtures.registry(["gateways/office.yaml": office]))
        let plan = AggregationPlan(plant: plant)
        let p = SeriesIndex(plant.series.firstIndex(of: SeriesKey(device: "pw-1", metric: "p"))!)
        #expect(plan.series[Int(p)].kind == .integratedGauge)
        // The office feeder sits beside the workshop: the site is both, the workshop only its line meter.
        #expect(plan.series[Int(p)].targets.map(\.scope) == [.site("s1")])
        let aggregator = Aggregator(plan: plan)
        var store = MemoryStore()
        let t0: Int64 = 1_764_000_000_000
        // 10 kW → 20 kW over 30 min: 7.5 kWh; 20 → 20 kW over 60 min (the hold time): 20 kWh;
        // then silent for 110 min: not invented. Total 27.5 kWh, arriving out of order.
        let readings = [(0, 10.0), (90, 20.0), (30, 20.0), (200, 20.0)].map {
            Reading(series: p, timestampMs: t0 + Int64($0.0) * 60_000, value: .number($0.1))
        }
        for r in readings where store.insert(r) { try aggregator.add(r) { s, ts in store.neighbours(s, ts) } }
        let d = aggregator.takeDelta()
        let total = d.minutes.values.map(\.consumption).reduce(0, +)
        #expect(abs(total - 27.5) < 1e-9)
        let site = d.scopes.filter { $0.key.scope == .site("s1") && $0.key.period == .day }.values.reduce(0, +)
        #expect(abs(site - 27.5) < 1e-9)
        // The line meter (em-1) is a child of the site too.
        #expect(Set(AggregationPlan.meterScopes(plant)[.init(device: plant.deviceIndex(id: "em-1")!, carrier: .electricity)] ?? [])
                == [.line("l1"), .workshop("ws1"), .site("s1")])
    }
}
