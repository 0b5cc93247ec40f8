import Aggregation
import Foundation
import PlantRegistry
import ReadingStore
import Telemetry
import Testing

/// The compact storage of migration v9-footprint: a database made by the schema before it is
/// converted in place and reads back the same, and the compact minute rows merge correctly.
@Suite("Compact storage (v9-footprint)")
struct StoreMigrationTests {
    /// 2026-11-29T00:00:00Z, a minute start.
    static let t: Int64 = 1_764_374_400_000

    /// Runs SQL through the sqlite3 shell on a writable connection.
    func sqliteWrite(_ database: String, _ sql: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [database]
        let input = try temporaryDirectory("sql-in") + "/in.sql"
        try sql.write(toFile: input, atomically: true, encoding: .utf8)
        p.standardInput = FileHandle(forReadingAtPath: input)
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "sqlite3 failed on \(sql.prefix(200))")
    }

    @Test func aDatabaseOfTheEarlierSchemaIsConvertedAndReadsTheSame() throws {
        let dir = try temporaryDirectory("migrate-v9")
        let path = dir + "/old.sqlite"
        // The schema as migrations v1 to v8 left it (Schemas/database.sql up to v9), recorded
        // as applied the way GRDB records migrations.
        let documented = try String(contentsOfFile: SchemaTests.schema("database.sql"), encoding: .utf8)
        let before = try #require(documented.range(of: "-- Migration \"v9-footprint\""))
        let t = Self.t
        try sqliteWrite(
            path,
            String(documented[..<before.lowerBound]) + """
                CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                INSERT INTO grdb_migrations VALUES ('v1-readings'), ('v2-rollups'), ('v3-value-added'),
                    ('v4-device-state'), ('v5-metering'), ('v6-audit'), ('v7-retention'), ('v8-periods');
                INSERT INTO series(id, device, metric) VALUES (1, 'm1', 'temp'), (2, 'm1', 'state'), (3, 'm1', 'energy');
                INSERT INTO readings(ts, series_id, value, state, error_code, seq) VALUES
                    (\(t + 1_500), 1, 20.5, NULL, NULL, 7), (\(t + 61_000), 1, NULL, NULL, 3001, NULL),
                    (\(t), 2, NULL, 'producing', NULL, NULL), (\(t + 60_000), 2, NULL, 'idle', NULL, 8);
                INSERT INTO rollup_minute(series_id, minute, n, sum, min, max, last_ts, last, consumption, estimated) VALUES
                    (1, \(t), 1, 20.5, 20.5, 20.5, \(t + 1_500), 20.5, 0, 0),
                    (1, \(t + 60_000), 2, 41.0, 20.0, 21.0, \(t + 119_000), 20.0, 0, 0),
                    (3, \(t), 0, 0, NULL, NULL, NULL, NULL, 2.5, 0.5);
                INSERT INTO state_minute(series_id, minute, state, ms) VALUES
                    (2, \(t), 'producing', 60000), (2, \(t + 60_000), 'idle', 30000), (2, \(t + 60_000), 'producing', 30000);
                """)
        #expect(try sqliteInteger(path, "SELECT count(*) FROM sqlite_master WHERE name = 'readings_by_series'") == 1)

        _ = try SQLiteStore(path: path)  // migrates
        #expect(try sqliteInteger(path, "SELECT count(*) FROM sqlite_master WHERE name = 'readings_by_series'") == 0)
        // Stored compact: one reading's minute is not stored (v10: its reading stands for it,
        // `MinuteFloorTests`); two readings' keeps its last time as ms after the minute start;
        // a whole minute in one state keeps no ms.
        #expect(try sqliteInteger(path, "SELECT count(*) FROM rollup_minute WHERE series_id = 1 AND minute = \(t)") == 0)
        #expect(try sqliteInteger(path, "SELECT last_ms FROM rollup_minute WHERE series_id = 1 AND minute = \(t + 60_000)") == 59_000)
        #expect(try sqliteInteger(path, "SELECT count(*) FROM state_minute WHERE ms IS NULL") == 1)

        let reader = try StoreReader(path: path)
        let readings = try reader.readings(device: "m1")
        #expect(readings.map(\.timestampMs) == [t, t + 1_500, t + 60_000, t + 61_000])
        #expect(readings.map(\.value) == [.state("producing"), .number(20.5), .state("idle"), .error(3001)])
        #expect(readings.map(\.seq) == [nil, 7, 8, nil])
        // The newest two, in time order, as before (the limit counts across series).
        #expect(try reader.readings(device: "m1", limit: 2).map(\.timestampMs) == [t + 60_000, t + 61_000])

        func text(_ v: Double?) -> String { v.map { "\($0)" } ?? "-" }
        func fields(_ m: StoreReader.MinuteRollup) -> String {
            let stats = "min=\(text(m.min)) max=\(text(m.max)) last=\(text(m.last))"
            return "\(m.minute - t) n=\(m.count) sum=\(m.sum) \(stats) use=\(m.consumption)"
        }
        #expect(
            try reader.minuteRollups(device: "m1", metric: "temp", from: t, to: t + 120_000).map(fields) == [
                "0 n=1 sum=20.5 min=20.5 max=20.5 last=20.5 use=0.0",
                "60000 n=2 sum=41.0 min=20.0 max=21.0 last=20.0 use=0.0",
            ])
        #expect(
            try reader.minuteRollups(device: "m1", metric: "energy", from: t, to: t + 120_000).map(fields) == [
                "0 n=0 sum=0.0 min=- max=- last=- use=2.5"
            ])
        let states = try reader.stateMinutes(device: "m1", metric: "state", from: t, to: t + 120_000)
        #expect(states == [t: ["producing": 60_000], t + 60_000: ["idle": 30_000, "producing": 30_000]])

        // Exports decode the same way: 3 numeric and 3 state minute rows; the one-reading
        // minute's min, mean, max and value are all 20.5.
        let filter = StoreReader.ExportFilter(from: t, to: t + 120_000)
        #expect(try reader.countRollups(filter) == 6)
        var rows: [StoreReader.ExportRow] = []
        try reader.exportRollups(filter) { rows.append($0) }
        let one = try #require(rows.first { $0.metric == "temp" && $0.ts == t })
        #expect([one.min, one.mean, one.max, one.value] == [20.5, 20.5, 20.5, 20.5])
        #expect(rows.filter { $0.state != nil }.map(\.seconds) == [60, 30, 30])
        #expect(try reader.countReadings(filter) == 4)
        var exported: [Int64] = []
        try reader.exportReadings(filter) { exported.append($0.ts) }
        #expect(exported == [t, t + 1_500, t + 60_000, t + 61_000])
    }

    @Test func compactMinutesMergeLikeFullOnes() throws {
        let plant = try Plant.load(directory: ZhizaoBinary.shippedDevices)
        let path = try temporaryDirectory("compact-merge") + "/z.sqlite"
        let store = try SQLiteStore(path: path)
        try store.prepareSeries(plant.series)
        store.enableAggregation(AggregationPlan(plant: plant))
        let power = SeriesIndex(try #require(plant.series.firstIndex(of: SeriesKey(device: "cnc-101", metric: "power"))))
        let t = Self.t
        // Three readings of one minute, each its own commit, the last one arriving first-but-one:
        // 5.0 at +10 s, then 3.0 at +40 s, then 7.0 at +20 s; and one lone reading the next minute.
        for (offset, v) in [(10_000, 5.0), (40_000, 3.0), (20_000, 7.0), (65_000, 4.25)] {
            var batch = IngestBatch()
            batch.readings = [Reading(series: power, timestampMs: t + Int64(offset), value: .number(v))]
            batch.messages = 1
            _ = try store.commit(batch, committedAtMs: t + 120_000)
        }
        let rows = try StoreReader(path: path).minuteRollups(device: "cnc-101", metric: "power", from: t, to: t + 120_000)
        // n = 3, sum 5 + 3 + 7 = 15, min 3, max 7, last the value at +40 s (3.0).
        #expect(rows.count == 2)
        let first = try #require(rows.first)
        #expect(first.minute == t && first.count == 3 && first.sum == 15)
        #expect(first.min == 3 && first.max == 7 && first.last == 3)
        // One reading: min, max and last are the reading itself.
        let lone = try #require(rows.last)
        #expect(lone.minute == t + 60_000 && lone.count == 1 && lone.sum == 4.25)
        #expect(lone.min == 4.25 && lone.max == 4.25 && lone.last == 4.25)
        #expect(try sqliteShell(path, "SELECT last_ms FROM rollup_minute WHERE minute = \(t) AND n = 3") == "40000")
    }
}
