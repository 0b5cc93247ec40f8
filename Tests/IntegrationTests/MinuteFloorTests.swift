import Aggregation
import Foundation
import PlantRegistry
import ReadingStore
import Telemetry
import Testing

/// Minutes of one reading that are not stored (migration v10-footprint): the reading stands for
/// its minute until a second reading, a use or an estimate joins it, or retention prunes it.
@Suite("Minutes a reading stands for (v10-footprint)")
struct MinuteFloorTests {
    /// 2026-11-29T00:00:00Z, a minute start (08:00 in the example plant's Shanghai time).
    static let t: Int64 = 1_764_374_400_000

    func fields(_ m: StoreReader.MinuteRollup) -> String {
        func text(_ v: Double?) -> String { v.map { "\($0)" } ?? "-" }
        let stats = "min=\(text(m.min)) max=\(text(m.max)) last=\(text(m.last))"
        return "\(m.minute - Self.t) n=\(m.count) sum=\(m.sum) \(stats) use=\(m.consumption)"
    }

    /// A store of the example plant with aggregation on, and the series index of a metric.
    func plantStore(_ name: String) throws -> (store: SQLiteStore, path: String, series: (String, String) throws -> SeriesIndex) {
        let plant = try Plant.load(directory: ZhizaoBinary.shippedDevices)
        let path = try temporaryDirectory(name) + "/z.sqlite"
        let store = try SQLiteStore(path: path)
        try store.prepareSeries(plant.series)
        store.enableAggregation(AggregationPlan(plant: plant))
        return (
            store, path,
            { device, metric in
                SeriesIndex(try #require(plant.series.firstIndex(of: SeriesKey(device: device, metric: metric))))
            }
        )
    }

    func commit(_ store: SQLiteStore, _ series: SeriesIndex, _ readings: [(Int64, Double)]) throws {
        var batch = IngestBatch()
        batch.readings = readings.map { Reading(series: series, timestampMs: Self.t + $0.0, value: .number($0.1)) }
        batch.messages = readings.count
        _ = try store.commit(batch, committedAtMs: Self.t + 86_400_000)
    }

    @Test func aDatabaseOfSchemaV9LosesItsOneReadingMinutesAndReadsTheSame() throws {
        let dir = try temporaryDirectory("migrate-v10")
        let path = dir + "/old.sqlite"
        // The schema as migrations v1 to v9 left it (Schemas/database.sql up to v10), recorded
        // as applied the way GRDB records migrations.
        let documented = try String(contentsOfFile: SchemaTests.schema("database.sql"), encoding: .utf8)
        let before = try #require(documented.range(of: "-- Migration \"v10-footprint\""))
        let t = Self.t
        try StoreMigrationTests().sqliteWrite(
            path,
            String(documented[..<before.lowerBound]) + """
                CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                INSERT INTO grdb_migrations VALUES ('v1-readings'), ('v2-rollups'), ('v3-value-added'),
                    ('v4-device-state'), ('v5-metering'), ('v6-audit'), ('v7-retention'), ('v8-periods'), ('v9-footprint');
                INSERT INTO series(id, device, metric) VALUES (1, 'm1', 'temp'), (2, 'm1', 'state'), (3, 'm1', 'energy');
                INSERT INTO state_word(code, word) VALUES (1, 'idle'), (2, 'producing');
                INSERT INTO readings(series_id, ts, value, state_code, error_code, seq) VALUES
                    (1, \(t + 1_500), 20.5, NULL, NULL, 7), (1, \(t + 70_000), 21.0, NULL, NULL, NULL),
                    (1, \(t + 119_000), 20.0, NULL, NULL, NULL), (1, \(t + 121_000), NULL, NULL, 3001, NULL),
                    (2, \(t), NULL, 2, NULL, NULL), (2, \(t + 90_000), NULL, 1, NULL, 8),
                    (3, \(t + 30_000), 100.0, NULL, NULL, NULL), (3, \(t + 90_000), 102.0, NULL, NULL, NULL);
                INSERT INTO rollup_minute(series_id, minute, n, sum, min, max, last_ms, last, consumption, estimated) VALUES
                    (1, \(t), 1, 20.5, NULL, NULL, 1500, NULL, 0, 0),
                    (1, \(t + 60_000), 2, 41.0, 20.0, 21.0, 59000, 20.0, 0, 0),
                    (1, \(t + 180_000), 1, 23.0, NULL, NULL, 0, NULL, 0, 0),
                    (3, \(t), 1, 100.0, NULL, NULL, 30000, NULL, 2.5, 0.5),
                    (3, \(t + 60_000), 1, 102.0, NULL, NULL, 30000, NULL, 0, 0);
                INSERT INTO state_minute(series_id, minute, state_code, ms) VALUES
                    (2, \(t), 2, NULL), (2, \(t + 60_000), 2, 30000), (2, \(t + 60_000), 1, 30000);
                """)

        _ = try SQLiteStore(path: path)  // migrates
        // Gone: temp's one reading at +1.5 s and energy's 102.0 without use (each is its reading).
        // Kept: two readings (n = 2), a use (2.5 kWh, 0.5 estimated), and the minute at +180 s
        // whose reading is not stored (as after pruning): 3 rows of 5.
        #expect(
            try sqliteShell(path, "SELECT series_id || ':' || (minute - \(t)) FROM rollup_minute ORDER BY 1")
                == "1:180000\n1:60000\n3:0")
        #expect(try sqliteInteger(path, "SELECT count(*) FROM state_minute") == 3)

        let reader = try StoreReader(path: path)
        #expect(
            try reader.minuteRollups(device: "m1", metric: "temp", from: t, to: t + 240_000).map(fields) == [
                "0 n=1 sum=20.5 min=20.5 max=20.5 last=20.5 use=0.0",
                "60000 n=2 sum=41.0 min=20.0 max=21.0 last=20.0 use=0.0",
                "180000 n=1 sum=23.0 min=23.0 max=23.0 last=23.0 use=0.0",
            ])
        #expect(
            try reader.minuteRollups(device: "m1", metric: "energy", from: t, to: t + 120_000).map(fields) == [
                "0 n=1 sum=100.0 min=100.0 max=100.0 last=100.0 use=2.5",
                "60000 n=1 sum=102.0 min=102.0 max=102.0 last=102.0 use=0.0",
            ])
        // A range that starts or ends inside a minute takes the minutes that start within it.
        #expect(try reader.minuteRollups(device: "m1", metric: "temp", from: t + 1, to: t + 60_001).map(\.minute) == [t + 60_000])
        #expect(
            try sqliteShell(path, "SELECT estimated, last_ts - \(t) FROM minute_rollup WHERE series_id = 3 ORDER BY minute")
                == "0.5|30000\n0.0|90000")
        let states = try reader.stateMinutes(device: "m1", metric: "state", from: t, to: t + 120_000)
        #expect(states == [t: ["producing": 60_000], t + 60_000: ["idle": 30_000, "producing": 30_000]])

        // Exports: 5 numeric and 3 state minute rows; a minute its reading stands for exports as
        // one: min, mean, max and value 20.5.
        let filter = StoreReader.ExportFilter(from: t, to: t + 240_000)
        #expect(try reader.countRollups(filter) == 8)
        var rows: [StoreReader.ExportRow] = []
        try reader.exportRollups(filter) { rows.append($0) }
        #expect(
            rows.filter { $0.state == nil }.map { "\($0.metric)@\($0.ts - t)" } == [
                "energy@0", "temp@0", "energy@60000", "temp@60000", "temp@180000",
            ])
        let one = try #require(rows.first { $0.metric == "temp" && $0.ts == t })
        #expect([one.min, one.mean, one.max, one.value] == [20.5, 20.5, 20.5, 20.5] && one.count == 1)
        #expect(try StoreReader(path: path).storage(nowMs: t + 240_000).oldestMinute == t)
    }

    @Test func aSecondReadingWritesTheMinuteItJoins() throws {
        let (store, path, series) = try plantStore("late-join")
        let power = try series("pm-mach-main", "power")
        let reader = {
            try StoreReader(path: path).minuteRollups(device: "pm-mach-main", metric: "power", from: Self.t, to: Self.t + 240_000)
        }
        func rows() throws -> Int64 { try sqliteInteger(path, "SELECT count(*) FROM rollup_minute") }

        // One reading a minute: nothing stored in rollup_minute, read from the readings.
        try commit(store, power, [(10_000, 5.0)])
        try commit(store, power, [(110_000, 6.0)])
        try commit(store, power, [(121_000, 1.0)])
        #expect(try rows() == 0)
        #expect(
            try reader().map(fields) == [
                "0 n=1 sum=5.0 min=5.0 max=5.0 last=5.0 use=0.0",
                "60000 n=1 sum=6.0 min=6.0 max=6.0 last=6.0 use=0.0",
                "120000 n=1 sum=1.0 min=1.0 max=1.0 last=1.0 use=0.0",
            ])

        // A later reading joins minute 0 (n = 2, sum 5 + 3 = 8, last the one at +40 s); a late
        // one older than the stored one joins minute 1 (2.0 at +65 s: sum 8, last still 6.0 at
        // +110 s); two in one batch join minute 2 (1 + 2 + 4 = 7, last 4.0 at +123 s).
        try commit(store, power, [(40_000, 3.0)])
        try commit(store, power, [(65_000, 2.0)])
        try commit(store, power, [(123_000, 4.0), (122_000, 2.0)])
        #expect(try rows() == 3)
        let expected = [
            "0 n=2 sum=8.0 min=3.0 max=5.0 last=3.0 use=0.0",
            "60000 n=2 sum=8.0 min=2.0 max=6.0 last=6.0 use=0.0",
            "120000 n=3 sum=7.0 min=1.0 max=4.0 last=4.0 use=0.0",
        ]
        #expect(try reader().map(fields) == expected)
        #expect(
            try sqliteShell(path, "SELECT (minute - \(Self.t)) || ':' || last_ms FROM rollup_minute ORDER BY minute")
                == "0:40000\n60000:50000\n120000:3000")
        // A third reading merges with the stored row: n = 3, sum 8 + 7 = 15, max 7, last unchanged.
        try commit(store, power, [(20_000, 7.0)])
        #expect(try reader().first.map(fields) == "0 n=3 sum=15.0 min=3.0 max=7.0 last=3.0 use=0.0")

        // A rebuild from the readings gives the same minutes, and stores the same rows.
        let streamed = try reader().map(fields)
        try store.rebuildRollups(by: AuditActor(command: "rebuild", user: "test"), window: "all")
        #expect(try reader().map(fields) == streamed)
        #expect(try rows() == 3)
    }

    @Test func afterARestartAMinuteIsNotTakenForNewWithoutLooking() throws {
        let (store, path, series) = try plantStore("restart-join")
        let power = try series("pm-mach-main", "power")
        try commit(store, power, [(10_000, 5.0)])
        try commit(store, power, [(70_000, 6.0)])
        // A restarted daemon knows nothing in memory: a late reading in minute 0 first, then
        // one in minute 1, which holds 6.0 already (n = 2, sum 6 + 2 = 8, last 2.0 at +80 s).
        let plant = try Plant.load(directory: ZhizaoBinary.shippedDevices)
        let restarted = try SQLiteStore(path: path)
        try restarted.prepareSeries(plant.series)
        restarted.enableAggregation(AggregationPlan(plant: plant))
        try commit(restarted, power, [(5_000, 4.0)])
        try commit(restarted, power, [(80_000, 2.0)])
        let rows = try StoreReader(path: path).minuteRollups(
            device: "pm-mach-main", metric: "power", from: Self.t, to: Self.t + 120_000)
        #expect(
            rows.map(fields) == [
                "0 n=2 sum=9.0 min=4.0 max=5.0 last=5.0 use=0.0",
                "60000 n=2 sum=8.0 min=2.0 max=6.0 last=2.0 use=0.0",
            ])
    }

    @Test func pruningWritesTheMinutesOfTheReadingsItRemoves() throws {
        let (store, path, series) = try plantStore("prune-floor")
        let power = try series("pm-mach-main", "power")
        // Three hours of one reading a minute at +30 s, value (i mod 7) + 0.25, an hour per batch;
        // a second reading in minute 100 (its row is stored).
        for hour in 0..<3 {
            let readings: [(Int64, Double)] = (hour * 60..<(hour + 1) * 60).map { (i: Int) -> (Int64, Double) in
                (Int64(i) * 60_000 + 30_000, Double(i % 7) + 0.25)
            }
            try commit(store, power, readings)
        }
        try commit(store, power, [(100 * 60_000 + 45_000, 9.0)])
        #expect(try sqliteInteger(path, "SELECT count(*) FROM rollup_minute") == 1)
        let reader = try StoreReader(path: path)
        let calendar = WindowCalendar(timeZone: try #require(TimeZone(identifier: "Asia/Shanghai")))
        func minutes(_ from: Int64, _ to: Int64) throws -> [String] {
            try reader.minuteRollups(device: "pm-mach-main", metric: "power", from: Self.t + from, to: Self.t + to).map(fields)
        }
        func hours() throws -> [String] {
            try reader.rollups(
                device: "pm-mach-main", metric: "power", from: Self.t, to: Self.t + 3 * 3_600_000, every: .hour, calendar: calendar
            ).map(fields)
        }
        let minutesBefore = try minutes(0, 3 * 3_600_000)
        let hoursBefore = try hours()
        #expect(minutesBefore.count == 180 && hoursBefore.count == 3)

        // Raw readings before +2 h go (but the two newest, guards for late readings), minutes
        // before +1 h fold into hours; 25 rows a step, so many steps, each leaving a floor part way.
        var steps = 0
        while try !store.pruneStep(rawBefore: Self.t + 2 * 3_600_000, minuteBefore: Self.t + 3_600_000, maxRows: 25).done {
            steps += 1
            try #require(steps < 1_000)
        }
        #expect(steps > 4)
        // 180 + 1 readings, minus the 121 before +2 h but the 2 guards: 62 kept.
        #expect(try sqliteInteger(path, "SELECT count(*) FROM readings") == 62)
        // Minutes 60 to 117 are rows now (58, minute 100 among them); the guards' minutes (118,
        // 119) and those from +2 h on are still their readings.
        #expect(try sqliteInteger(path, "SELECT count(*) FROM rollup_minute") == 58)
        #expect(try minutes(3_600_000, 3 * 3_600_000) == Array(minutesBefore[60...]))
        #expect(try minutes(0, 3_600_000).isEmpty)
        #expect(try hours() == hoursBefore)

        // A second pass moving both horizons to +3 h leaves every minute in hours, the same.
        steps = 0
        while try !store.pruneStep(rawBefore: Self.t + 3 * 3_600_000, minuteBefore: Self.t + 3 * 3_600_000, maxRows: 25).done {
            steps += 1
            try #require(steps < 1_000)
        }
        #expect(try minutes(0, 3 * 3_600_000).isEmpty)
        #expect(try hours() == hoursBefore)
    }
}
