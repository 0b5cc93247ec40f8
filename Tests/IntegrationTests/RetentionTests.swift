import Foundation
import PlantRegistry
import ReadingStore
import Telemetry
import Testing

/// Retention tiers on a database the real daemon filled from the simulated plant: pruning keeps
/// every figure it fed, refuses what would be booked against pruned neighbours, and says so.
@Suite("Retention", .serialized)
struct RetentionTests {
    /// The figures of hour-and-longer windows that pruned rows fed, as the CLI prints them (JSON).
    func figures(_ db: String) throws -> [String: Any] {
        let devices = ZhizaoBinary.shippedDevices
        // Whole days, fixed: a relative `-4d` would move between the runs compared.
        let day = DateFormatter()
        day.dateFormat = "yyyy-MM-dd"
        let from = day.string(from: Date().addingTimeInterval(-5 * 86_400))
        let to = day.string(from: Date().addingTimeInterval(2 * 86_400))
        var out: [String: Any] = [:]
        let commands: [String: [String]] = [
            "site daily": ["indicators", "--scope", "site", "--every", "1d"],
            "lines daily": ["indicators", "--by", "line", "--every", "1d"],
            "meter daily": ["query", "--device", "pm-mach-main", "--metric", "energy", "--every", "1d"],
            "state daily": ["query", "--device", "cnc-101", "--metric", "state", "--every", "1d"],
            "power hourly": ["query", "--device", "cnc-101", "--metric", "power", "--every", "1h"],
        ]
        for (name, args) in commands {
            let r = try ZhizaoBinary.run(args + ["--db", db, "--devices", devices, "--from", from, "--to", to, "--format", "json"])
            #expect(r.code == 0, "\(name): \(r.stderr)")
            out[name] = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        }
        return out
    }

    /// Equal JSON, numbers within a relative 1e-9 (sums taken in another order).
    func same(_ a: Any, _ b: Any, _ path: String = "") -> [String] {
        switch (a, b) {
        case (let x as [String: Any], let y as [String: Any]):
            guard Set(x.keys) == Set(y.keys) else { return ["\(path): keys \(x.keys.sorted()) vs \(y.keys.sorted())"] }
            return x.keys.flatMap { same(x[$0]!, y[$0]!, path + "." + $0) }
        case (let x as [Any], let y as [Any]):
            guard x.count == y.count else { return ["\(path): \(x.count) vs \(y.count) rows"] }
            return zip(x, y).enumerated().flatMap { same($1.0, $1.1, path + "[\($0)]") }
        case (let x as NSNumber, let y as NSNumber):
            let u = x.doubleValue
            let v = y.doubleValue
            return abs(u - v) <= 1e-9 * max(1, abs(u), abs(v)) ? [] : ["\(path): \(u) vs \(v)"]
        default:
            return "\(a)" == "\(b)" ? [] : ["\(path): \(a) vs \(b)"]
        }
    }

    @Test func pruningKeepsQueryAndIndicatorFiguresAndRefusesWhatItCannotBook() throws {
        // Three days up to now: `--raw-days 1` prunes before yesterday's local midnight, so at
        // least a whole day lies beyond it whatever the time of day (with two days, late in the
        // site's evening only minutes did, and the test failed at 23:35 Shanghai time).
        let db = try IndicatorCommandTests.filledDatabase(duration: "3d")
        let before = try figures(db)
        let readingsBefore = try sqliteInteger(db, "SELECT count(*) FROM readings")
        let minutesBefore = try sqliteInteger(db, "SELECT count(*) FROM rollup_minute")

        let r = try ZhizaoBinary.run([
            "prune", "--db", db, "--devices", ZhizaoBinary.shippedDevices, "--raw-days", "1", "--minute-days", "1",
        ])
        #expect(r.code == 0, "\(r.stderr)")
        let horizon = try sqliteInteger(db, "SELECT before FROM retention_mark WHERE tier = 'raw'")
        let readingsAfter = try sqliteInteger(db, "SELECT count(*) FROM readings")
        #expect(readingsBefore - readingsAfter > 1_000, "\(readingsAfter) of \(readingsBefore) readings kept")
        #expect(try sqliteInteger(db, "SELECT count(*) FROM rollup_minute") < minutesBefore)
        #expect(try sqliteInteger(db, "SELECT count(*) FROM rollup_minute WHERE minute < \(horizon)") == 0)
        #expect(try sqliteInteger(db, "SELECT count(*) FROM rollup_hour") > 0)
        // Each series keeps at most two reads before the horizon, or the staleness window of a
        // device with states (8 h): never more.
        #expect(
            try sqliteInteger(db, "SELECT count(*) FROM readings WHERE ts < \(horizon - 8 * 3_600_000)")
                <= sqliteInteger(db, "SELECT count(*) FROM series") * 2)

        let after = try figures(db)
        let differences = same(before, after)
        #expect(differences.isEmpty, "\(differences.prefix(10))")

        // A rebuild cannot recompute what is gone: refused, naming the flag; one after the horizon works.
        let all = try ZhizaoBinary.run(["rebuild", "--db", db, "--devices", ZhizaoBinary.shippedDevices])
        #expect(all.code != 0)
        #expect(all.stderr.contains("pruned") && all.stderr.contains("--from"))
        let today = try ZhizaoBinary.run(["rebuild", "--db", db, "--devices", ZhizaoBinary.shippedDevices, "--from", "today"])
        #expect(today.code == 0, "\(today.stderr)")
        let rebuilt = same(before, try figures(db))
        #expect(rebuilt.isEmpty, "a rebuild after the horizon changes nothing: \(rebuilt.prefix(10))")

        // A late reading older than the horizon is quarantined, not booked against missing neighbours.
        let plant = try Plant.load(directory: ZhizaoBinary.shippedDevices)
        let store = try SQLiteStore(path: db)
        try store.prepareSeries(plant.series)
        let meter = SeriesIndex(plant.series.firstIndex(of: SeriesKey(device: "pm-mach-main", metric: "energy"))!)
        var batch = IngestBatch()
        batch.messages = 1
        batch.readings = [Reading(series: meter, timestampMs: horizon - 3 * 3_600_000, value: .number(1))]
        let outcome = try store.commit(batch, committedAtMs: horizon + 86_400_000)
        #expect(outcome.inserted == 0 && outcome.quarantined == 1)
        let status = try StoreReader(path: db).status(nowMs: 0)
        #expect(status.quarantinedByReason["beyond_retention"] == 1)
        #expect(try StoreReader(path: db).quarantine(limit: 1).first?.detail.contains("retention.raw_days") == true)
        #expect(same(before, try figures(db)).isEmpty)
    }

    @Test func mistakesNameTheFlag() throws {
        let dir = try temporaryDirectory("prune-flags")
        _ = try SQLiteStore(path: dir + "/z.sqlite")
        let args = ["prune", "--db", dir + "/z.sqlite", "--devices", ZhizaoBinary.shippedDevices]
        let nothing = try ZhizaoBinary.run(args)
        #expect(nothing.code != 0 && nothing.stderr.contains("--raw-days"))
        let zero = try ZhizaoBinary.run(args + ["--raw-days", "0"])
        #expect(zero.code != 0 && zero.stderr.contains("--raw-days 0"))
        let inverted = try ZhizaoBinary.run(args + ["--raw-days", "30", "--minute-days", "7"])
        #expect(inverted.code != 0 && inverted.stderr.contains("--minute-days 7"))
    }
}
