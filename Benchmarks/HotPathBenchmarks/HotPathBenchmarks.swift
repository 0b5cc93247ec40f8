import Aggregation
import Benchmark
import Foundation
import GRDB
import PayloadDecoders
import PlantRegistry
import ReadingStore
import Telemetry

/// Per-message decode cost of each decoder, against Foundation's JSON decoders on the same
/// payload in the same run (the baseline: ratios hold on a noisy machine, absolute times don't),
/// and the per-reading cost of a 1,000-reading commit.
let benchmarks: @Sendable () -> Void = {
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let plant = try! Plant.load(directory: repo.appendingPathComponent("Devices").path)
    let decoder = PayloadDecoder(plant: plant)
    let now = Int64(Date().timeIntervalSince1970 * 1000)

    let native = Array(#"{"device":"prs-401","ts":\#(now - 1000),"seq":123456,"metrics":{"power":31.25}}"#.utf8)
    let nativeTopic = Array("zhizao/v1/ws-assembly/prs-401".utf8)
    let neuron = Array(
        #"{"timestamp":\#(now - 1000),"node":"s7-shaft","group":"cnc101","values":{"RUN_STATE":1,"OP_MODE":1,"P_TOTAL":1520,"PART_CNT":4410}}"#
            .utf8)
    let neuronTopic = Array("/neuron/zhizao/s7-shaft/cnc101".utf8)
    let plain = Array("52310.25".utf8)
    let plainTopic = Array("factory/ws-machining/line-shaft/em-shaft/energy_kwh".utf8)

    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        maxDuration: .seconds(2), maxIterations: 1_000_000)

    func decodeBenchmark(_ name: String, topic: [UInt8], payload: [UInt8]) {
        Benchmark(name) { benchmark in
            var batch = IngestBatch()
            batch.readings.reserveCapacity(4096)
            topic.withUnsafeBytes { t in
                payload.withUnsafeBytes { p in
                    for _ in benchmark.scaledIterations {
                        decoder.decode(topic: t, payload: p, receivedAtMs: now, into: &batch)
                        if batch.readings.count > 4000 { batch.reset() }
                    }
                }
            }
            blackHole(batch.messages)
        }
    }
    Benchmark("baseline: harness only (empty iteration)") { benchmark in
        var n = 0
        for _ in benchmark.scaledIterations { n &+= 1 }
        blackHole(n)
    }
    decodeBenchmark("decode native JSON (1 metric)", topic: nativeTopic, payload: native)
    decodeBenchmark("decode Neuron values-format (4 tags)", topic: neuronTopic, payload: neuron)
    decodeBenchmark("decode plain value", topic: plainTopic, payload: plain)

    struct NativeMessage: Decodable {
        let device: String
        let ts: Int64
        let seq: Int64?
        let metrics: [String: Double]
    }
    let nativeData = Data(native)
    Benchmark("baseline: Foundation JSONDecoder, same native payload") { benchmark in
        let d = JSONDecoder()
        for _ in benchmark.scaledIterations {
            blackHole(try! d.decode(NativeMessage.self, from: nativeData))
        }
    }
    Benchmark("baseline: Foundation JSONSerialization, same native payload") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try! JSONSerialization.jsonObject(with: nativeData))
        }
    }

    // The aggregator's per-reading cost on the in-order path (the live case): a counter, a
    // state and a gauge of a key-process machine, one reading each per minute.
    Benchmark(
        "aggregate 3,000 in-order readings (counter, state, gauge; per batch)",
        configuration: .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal], maxDuration: .seconds(3))
    ) { benchmark in
        let plan = AggregationPlan(plant: plant)
        let energy = SeriesIndex(plant.series.firstIndex(of: SeriesKey(device: "pm-mach-main", metric: "energy"))!)
        let state = SeriesIndex(plant.series.firstIndex(of: SeriesKey(device: "cnc-101", metric: "state"))!)
        let power = SeriesIndex(plant.series.firstIndex(of: SeriesKey(device: "cnc-101", metric: "power"))!)
        let aggregator = Aggregator(plan: plan)
        var t = now - 100_000_000_000
        var register = 1000.0
        for _ in benchmark.scaledIterations {
            for _ in 0..<1000 {
                t += 60_000
                register += 1.5
                try! aggregator.add(Reading(series: energy, timestampMs: t, value: .number(register))) { _, _ in (nil, nil) }
                try! aggregator.add(Reading(series: state, timestampMs: t, value: .state(t % 7 == 0 ? "idle" : "producing"))) { _, _ in
                    (nil, nil)
                }
                try! aggregator.add(Reading(series: power, timestampMs: t, value: .number(12.5))) { _, _ in (nil, nil) }
            }
            blackHole(aggregator.takeDelta())
        }
    }

    // Reading a year of daily site indicators: the totals a plant of 1,000 devices leaves in
    // `scope_rollup` (1 site, 10 workshops, 100 lines, 8 quantities, a day row each per day;
    // the read does not depend on the device count because totals are kept per scope).
    let yearDB = NSTemporaryDirectory() + "zhizao-bench-year-\(UUID().uuidString).sqlite"
    do {
        let store = try! SQLiteStore(path: yearDB)
        _ = store
        let queue = try! DatabaseQueue(path: yearDB)
        let calendar = WindowCalendar(timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        let year = calendar.dayStart(Int64(Timestamp.parseRFC3339("2025-01-01T00:00:00+08:00")!))
        let quantities = [
            "consumption.electricity", "consumption.natural_gas", "consumption.water", "good", "scrap",
            "producing_ms", "nc_producing_ms", "consumption.steam",
        ]
        var scopes = ["site:s1"]
        for w in 0..<10 {
            scopes.append("workshop:w\(w)")
            for l in 0..<10 { scopes.append("line:w\(w)l\(l)") }
        }
        try! queue.write { db in
            let insert = try db.makeStatement(
                sql: "INSERT INTO scope_rollup(scope, quantity, period, start, value) VALUES (?, ?, 'day', ?, ?)")
            var day = year
            for d in 0..<365 {
                for scope in scopes {
                    for (k, q) in quantities.enumerated() {
                        try insert.execute(arguments: [scope, q, day, Double(1000 + d * 3 + k)])
                    }
                }
                day = calendar.dayStart(day + 25 * 3_600_000)
            }
        }
    }
    Benchmark("read a year of daily site indicators (365 rows of 8 totals)") { benchmark in
        let reader = try! StoreReader(path: yearDB)
        let site = plant.sites[0]
        let from = Int64(Timestamp.parseRFC3339("2025-01-01T00:00:00+08:00")!)
        let to = Int64(Timestamp.parseRFC3339("2026-01-01T00:00:00+08:00")!)
        for _ in benchmark.scaledIterations {
            let days = try! reader.scopeTotals(scope: .site("s1"), period: "day", from: from, to: to)
            let rows = days.map { Indicators.compute(totals: $0.totals, site: site, staticRate: 0.7) }
            blackHole(rows)
        }
    }

    Benchmark(
        "commit 1,000 readings to SQLite (per batch)",
        configuration: .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal], maxDuration: .seconds(3))
    ) { benchmark in
        let path = NSTemporaryDirectory() + "zhizao-bench-\(UUID().uuidString).sqlite"
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
        let store = try! SQLiteStore(path: path)
        try! store.prepareSeries(plant.series)
        var batch = IngestBatch()
        var ts = now - 10_000_000
        for _ in benchmark.scaledIterations {
            batch.reset()
            batch.messages = 1000
            for i in 0..<1000 {
                batch.readings.append(Reading(series: SeriesIndex(i % plant.series.count), timestampMs: ts, value: .number(Double(i))))
                if i % plant.series.count == plant.series.count - 1 { ts += 1 }
            }
            ts += 1
            blackHole(try! store.commit(batch, committedAtMs: now))
        }
    }
}
