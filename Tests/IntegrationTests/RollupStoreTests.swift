import Aggregation
import Foundation
import GatewaySimulator
import PlantRegistry
import ReadingStore
import Telemetry
import Testing

/// Rollups kept by the real store (SQLite, and PostgreSQL for what its reader shows) while
/// readings stream in, in any order and with redeliveries, equal a rebuild from the raw readings.
@Suite("Rollups in the store")
struct RollupStoreTests {
    static let tester = AuditActor(command: "test", user: "test")
    /// The rollup tables as text, rounded past floating-point noise.
    func dump(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [
            path,
            """
            SELECT 'm', series_id, minute, n, round(sum, 6), min, max, last_ts, last, round(consumption, 6) FROM minute_rollup
              WHERE n != 0 OR abs(consumption) > 1e-9 ORDER BY 2, 3;
            SELECT 's', m.series_id, m.minute, w.word, ifnull(m.ms, 60000) FROM state_minute m JOIN state_word w ON w.code = m.state_code
              WHERE ifnull(m.ms, 60000) != 0 ORDER BY 2, 3, 4;
            SELECT 'k', device, minute, producing_ms, round(nc_producing_ms, 3) FROM machine_minute
              WHERE producing_ms != 0 OR nc_producing_ms != 0 ORDER BY 2, 3;
            SELECT 'q', scope, quantity, period, start, round(value, 4) FROM scope_rollup WHERE abs(value) > 1e-6 ORDER BY 2, 3, 4, 5;
            """,
        ]
        let dir = try temporaryDirectory("dump")
        let out = dir + "/out"
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(out)))
        try p.run()
        p.waitUntilExit()
        return try String(contentsOfFile: out, encoding: .utf8).replacingOccurrences(of: "-0.0|", with: "0.0|")
    }

    /// On PostgreSQL the same batches go through `PostgresStore`, and what its reader shows
    /// (day totals, composed windows) must equal the same independent oracles; the rebuild
    /// comparison is SQLite's (`rebuild` is not on PostgreSQL yet).
    @Test(arguments: Backend.allCases)
    func streamedInAnyOrderEqualsRebuiltFromRaw(backend: Backend) throws {
        let plant = try Plant.load(directory: ZhizaoBinary.shippedDevices)
        let dir = try temporaryDirectory("rollups")
        let path = try backend.newStore(in: dir)
        let sqlite = backend == .sqlite ? try SQLiteStore(path: path) : nil
        let store: any TelemetryStore = try sqlite ?? PostgresStore(url: path)
        try store.prepareSeries(plant.series)
        store.enableAggregation(AggregationPlan(plant: plant))

        // Two hours of the shipped plant's key metrics, shuffled, 10% redelivered, in batches.
        var readings: [Reading] = []
        let t0: Int64 = 1_764_342_000_000  // 23:00 in Shanghai: the data crosses local midnight
        func index(_ d: String, _ m: String) -> SeriesIndex { SeriesIndex(plant.series.firstIndex(of: SeriesKey(device: d, metric: m))!) }
        var rng = SeededGenerator(seed: 3)
        var energy = 999_990.0
        var good = 100.0
        let states = ["producing", "idle", "setup", "down"]
        for i in 0..<120 {
            let ts = t0 + Int64(i) * 60_000 + Int64(rng.next() % 20_000)
            energy += Double(rng.next() % 30) / 10
            if energy >= 999_999.9 { energy -= 999_999.9 }
            good += Double(rng.next() % 4)
            readings.append(Reading(series: index("pm-mach-main", "energy"), timestampMs: ts, value: .number(energy)))
            readings.append(Reading(series: index("em-shaft", "energy"), timestampMs: ts + 5, value: .number(Double(i) * 1.5)))
            readings.append(Reading(series: index("cnt-shaft", "good_count"), timestampMs: ts + 7, value: .number(good)))
            readings.append(Reading(series: index("cnc-101", "state"), timestampMs: ts, value: .state(states[Int(rng.next() % 4)])))
            readings.append(
                Reading(series: index("cnc-101", "mode"), timestampMs: ts, value: .state(rng.next() % 4 == 0 ? "manual" : "nc")))
            readings.append(Reading(series: index("cnc-101", "power"), timestampMs: ts, value: .number(Double(rng.next() % 300) / 10)))
            if i % 17 == 0 { readings.append(Reading(series: index("cnc-101", "power"), timestampMs: ts + 3, value: .error(3001))) }
        }
        // A meter silent for longer than the state hold, across local midnight.
        readings.append(Reading(series: index("em-housing", "energy"), timestampMs: t0 - 3_600_000, value: .number(500)))
        readings.append(Reading(series: index("em-housing", "energy"), timestampMs: t0 + 4_200_000, value: .number(512.5)))
        var arrival = readings + readings.filter { _ in rng.next() % 10 == 0 }
        arrival.shuffle(using: &rng)
        var start = 0
        while start < arrival.count {
            let end = min(arrival.count, start + 1 + Int(rng.next() % 150))
            var batch = IngestBatch()
            batch.readings = Array(arrival[start..<end])
            batch.messages = batch.readings.count
            _ = try store.commit(batch, committedAtMs: t0 + 10_000_000)
            start = end
        }
        if let sqlite {
            let streamed = try dump(path)
            #expect(streamed.contains("consumption.electricity"))
            #expect(streamed.contains("nc_producing_ms"))
            // A partial rebuild of the second local day (pairs and states cross midnight into it)
            // changes nothing, and neither does one of the first.
            try sqlite.rebuildRollups(from: t0 + 3_600_000, to: t0 + 3_600_000 + 1, by: Self.tester, window: "one hour")
            #expect(try dump(path) == streamed)
            try sqlite.rebuildRollups(from: t0, to: t0 + 1, by: Self.tester, window: "one day")
            #expect(try dump(path) == streamed)
            try sqlite.rebuildRollups(by: Self.tester, window: "all")
            let rebuilt = try dump(path)
            #expect(streamed == rebuilt)
        }

        // Day totals in Shanghai time: the site's electricity is its workshop main meter's, not
        // plus the line sub-meter under it.
        let reader = try openTelemetryReader(path, plant: plant)
        let site = try reader.scopeTotals(scope: .site("sz-baoan"), period: "day", from: t0 - 86_400_000, to: t0 + 86_400_000)
        let shaft = try reader.scopeTotals(scope: .line("line-shaft"), period: "day", from: t0 - 86_400_000, to: t0 + 86_400_000)
        let siteKWh = site.map { $0.totals["consumption.electricity"] ?? 0 }.reduce(0, +)
        let lineKWh = shaft.map { $0.totals["consumption.electricity"] ?? 0 }.reduce(0, +)
        let sorted = readings.filter { $0.series == index("pm-mach-main", "energy") }.sorted { $0.timestampMs < $1.timestampMs }
        let values = sorted.compactMap { r -> (Int64, Double)? in if case .number(let v) = r.value { (r.timestampMs, v) } else { nil } }
        // An independent oracle: each pair's use spread minute by minute over its interval.
        var perMinute: [Int64: Double] = [:]
        for k in values.indices.dropFirst() {
            let (a, x) = values[k - 1]
            let (b, y) = values[k]
            let used = Aggregator.registerUse(prev: k > 1 ? values[k - 2].1 : nil, x, y, modulus: 999_999.9).0
            var t = a
            while t < b {
                let minute = t - t % 60_000
                let stop = min(b, minute + 60_000)
                perMinute[minute, default: 0] += used * Double(stop - t) / Double(b - a)
                t = stop
            }
        }
        let expected = perMinute.values.reduce(0, +)
        #expect(abs(siteKWh - expected) < 1e-6, "the site total is the main meter's (it rolled over once)")

        // Minutes compose into 15-minute, hour and day windows in site time exactly as the same
        // windows computed directly from the raw readings.
        let calendar = AggregationPlan(plant: plant).calendar
        for every in [WindowCalendar.Every.quarterHour, .hour, .day] {
            var direct: [Int64: Double] = [:]
            for (minute, used) in perMinute { direct[calendar.windowStart(minute, every), default: 0] += used }
            let composed = try reader.rollups(
                device: "pm-mach-main", metric: "energy", from: t0 - 86_400_000, to: t0 + 86_400_000,
                every: every, calendar: calendar)
            for w in composed { #expect(abs(w.consumption - (direct[w.minute] ?? 0)) < 1e-6, "\(every) \(w.minute)") }
            let composedUse = Dictionary(composed.map { ($0.minute, $0.consumption) }, uniquingKeysWith: +)
            for (w, v) in direct where abs(v) > 1e-9 { #expect(abs((composedUse[w] ?? 0) - v) < 1e-6, "\(every) \(w) composed") }
            let power = readings.filter { $0.series == index("cnc-101", "power") }.compactMap { r -> (Int64, Double)? in
                if case .number(let v) = r.value { return (calendar.windowStart(r.timestampMs, every), v) } else { return nil }
            }
            for w in try reader.rollups(
                device: "cnc-101", metric: "power", from: t0 - 86_400_000, to: t0 + 86_400_000,
                every: every, calendar: calendar)
            {
                let values = power.filter { $0.0 == w.minute }.map(\.1)
                #expect(w.count == values.count && w.min == values.min() && w.max == values.max())
                #expect(abs(w.sum - values.reduce(0, +)) < 1e-9)
            }
        }
        #expect(abs(lineKWh - 119 * 1.5) < 1e-6, "the line total is its sub-meter's")
    }
}
