import Aggregation
import Foundation
import PlantRegistry
import ReadingStore
import Reporting
import Telemetry
import Testing

@Suite("Scopes")
struct ScopeTests {
    @Test func theStoredFormRoundTrips() throws {
        for text in ["site:s1", "workshop:ws-machining", "line:line-shaft", "line:a:b"] {
            let scope = try Scope(parsing: text)
            #expect(scope.key == text)
            #expect("\(scope)" == text)
            #expect(Scope(scope.key) == scope)
        }
        #expect(try Scope(parsing: "line:line-shaft") == .line("line-shaft"))
        #expect(Scope("workshop:ws1")?.kind == .workshop)
        #expect(Scope("workshop:ws1")?.id == "ws1")
    }

    @Test func anythingElseIsAClearError() {
        for text in ["", "site", "line:", "lin:l1", "process:l1/turning", "Line:l1", "l1"] {
            #expect(throws: Scope.ParseError(text: text)) { try Scope(parsing: text) }
            #expect(Scope(text) == nil)
        }
        #expect("\(Scope.ParseError(text: "lin:l1"))" == "lin:l1 is not a scope: use site:ID, workshop:ID or line:ID")
    }

    @Test func orderAndPlaceInThePlant() throws {
        let plant = try Fixtures.plant()
        #expect(plant.sites[0].scopes == [.site("s1"), .workshop("ws1"), .line("l1")])
        let cnc = plant.devices[plant.deviceIndex(id: "cnc-1")!]
        #expect(Scope.containing(cnc) == [.line("l1"), .workshop("ws1"), .site("s1")])
        // Sorted as the keys sort, the order stored targets have always had.
        #expect([Scope.workshop("ws1"), .site("s1"), .line("l1")].sorted() == [.line("l1"), .site("s1"), .workshop("ws1")])
        #expect(plant.sites[0].scope(named: "site") == .site("s1"))
        #expect(plant.sites[0].scope(named: "line:l9") == .line("l9"))
        #expect(plant.sites[0].scope(named: "l1") == nil)
    }
}

@Suite("Time arguments")
struct TimeArgumentTests {
    let calendar = WindowCalendar(timeZone: TimeZone(identifier: "Asia/Shanghai")!)
    /// 2025-11-12T15:30:00+08:00
    let now = Timestamp.parseRFC3339("2025-11-12T15:30:00+08:00")!

    func ms(_ rfc3339: String) -> Int64 { Timestamp.parseRFC3339(rfc3339)! }

    @Test func everyFormReadsInSiteTime() {
        func parse(_ t: String) -> Int64? { TimeArgument.parse(t, calendar: calendar, now: now) }
        #expect(parse("now") == now)
        #expect(parse("today") == ms("2025-11-12T00:00:00+08:00"))
        #expect(parse("yesterday") == ms("2025-11-11T00:00:00+08:00"))
        #expect(parse("-24h") == now - 86_400_000)
        #expect(parse("-7d") == now - 7 * 86_400_000)
        #expect(parse("2025-11-28") == ms("2025-11-28T00:00:00+08:00"))
        #expect(parse("2025-11") == ms("2025-11-01T00:00:00+08:00"))
        #expect(parse("2025-11-28T08:00:00Z") == ms("2025-11-28T16:00:00+08:00"))
        // To the minute, with an offset or Z.
        #expect(parse("2025-11-28T08:00+08:00") == ms("2025-11-28T08:00:00+08:00"))
        #expect(parse("2025-11-28T08:00Z") == ms("2025-11-28T16:00:00+08:00"))
        for bad in ["", "tomorrow", "-", "-0h", "-xd", "2025-13", "2025-11-28T08:00", "2025-11-28T08:00+0800", "28.11.2025"] {
            #expect(parse(bad) == nil, "\(bad)")
        }
    }

    @Test func rangesAndDurations() {
        let r = TimeArgument.parseRange("2025-10..2025-11", calendar: calendar, now: now)
        #expect(r?.from == ms("2025-10-01T00:00:00+08:00") && r?.to == ms("2025-11-01T00:00:00+08:00"))
        #expect(TimeArgument.parseRange("2025-11..2025-10", calendar: calendar, now: now) == nil)
        #expect(TimeArgument.parseRange("2025-11..2025-11", calendar: calendar, now: now) == nil)
        #expect(TimeArgument.parseRange("2025-10", calendar: calendar, now: now) == nil)
        #expect(TimeArgument.parseRange("2025-10..2025-11..2025-12", calendar: calendar, now: now) == nil)
        #expect(TimeArgument.parseDuration("90s") == 90_000)
        #expect(TimeArgument.parseDuration("15m") == 900_000)
        #expect(TimeArgument.parseDuration("1.5h") == 5_400_000)
        #expect(TimeArgument.parseDuration("30") == 30_000)
        #expect(TimeArgument.parseDuration("0d") == nil)
        #expect(TimeArgument.parseDuration("-1h") == nil)
    }
}

/// Indicator rows read back from a temporary SQLite file that the fixture plant's readings
/// were committed to, through the real rollups.
@Suite("Indicator table")
struct IndicatorTableTests {
    /// The fixture plant with two 12-hour shifts and a planned cycle on its line.
    static let plantWithShifts = Fixtures.plantYAML
        .replacingOccurrences(
            of: "    timezone: Asia/Shanghai\n",
            with: """
                    timezone: Asia/Shanghai
                    shifts:
                      - {name: A, start: "08:00", end: "20:00", planned_downtime_min: 60}
                      - {name: B, start: "20:00", end: "08:00"}

                """
        )
        .replacingOccurrences(of: "          - id: l1\n", with: "          - id: l1\n            planned_cycle_s: 60\n")

    let path = FileManager.default.temporaryDirectory.appendingPathComponent("zhizao-report-\(UUID().uuidString).sqlite").path

    func ms(_ rfc3339: String) -> Int64 { Timestamp.parseRFC3339(rfc3339)! }

    /// Day 1: 50 kWh for 25 good units (2 kWh/unit); day 2: 150 kWh for 50 (3 kWh/unit); all
    /// in shift A. The line sub-meter em-1 is the only electricity meter, so it measures the
    /// line, the workshop and the site.
    func table(shifts: Bool = false, valueAdded: [(Scope, String, Double)] = []) throws -> IndicatorTable {
        let plant = try Plant.load(directory: try Fixtures.registry(shifts ? ["plant.yaml": Self.plantWithShifts] : [:]))
        let store = try SQLiteStore(path: path)
        try store.prepareSeries(plant.series)
        let plan = AggregationPlan(plant: plant)
        store.enableAggregation(plan)
        func series(_ device: String, _ metric: String) -> SeriesIndex {
            SeriesIndex(plant.series.firstIndex(of: SeriesKey(device: device, metric: metric))!)
        }
        var batch = IngestBatch()
        batch.messages = 8
        for (time, kwh, good) in [
            ("2025-11-10T10:00:00+08:00", 100.0, 0.0), ("2025-11-10T12:00:00+08:00", 150, 25),
            ("2025-11-11T10:00:00+08:00", 150, 25), ("2025-11-11T12:00:00+08:00", 300, 75),
        ] {
            batch.readings.append(Reading(series: series("em-1", "energy"), timestampMs: ms(time), value: .number(kwh)))
            batch.readings.append(Reading(series: series("plc-1", "good"), timestampMs: ms(time), value: .number(good)))
        }
        _ = try store.commit(batch, committedAtMs: ms("2025-11-12T00:00:00+08:00"))
        for (scope, month, yuan) in valueAdded {
            let start = TimeArgument.parse(month, calendar: plan.calendar)!
            try store.setValueAdded(
                scope: scope, monthStart: start, monthEnd: plan.calendar.nextMonth(start), period: month, yuan: yuan,
                by: AuditActor(command: "test", user: "test"))
        }
        return try IndicatorTable(plant: plant, reader: StoreReader(path: path))
    }

    func removeDatabase() {
        for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) }
    }

    @Test func scopesResolveOrNameTheNearest() throws {
        defer { removeDatabase() }
        let t = try table()
        #expect(try t.resolve(scope: nil) == .site("s1"))
        #expect(try t.resolve(scope: "site") == .site("s1"))
        #expect(try t.resolve(scope: "line:l1") == .line("l1"))
        #expect(throws: ReportingError.unknownScope("line:l2", nearest: ["line:l1"], known: t.knownScopes)) {
            try t.resolve(scope: "line:l2")
        }
        #expect(throws: ReportingError.unknownScope("lin:l1", nearest: ["line:l1"], known: t.knownScopes)) {
            try t.resolve(scope: "lin:l1")
        }
        #expect(t.scopes(.workshop) == [.workshop("ws1")])
        #expect(t.lines(within: .site("s1")) == [.line("l1")])
        #expect(t.lines(within: .workshop("ws9")) == [])
    }

    @Test func rowsPerDayAndForTheWholeWindow() throws {
        defer { removeDatabase() }
        let t = try table()
        let from = ms("2025-11-10T00:00:00+08:00")
        let to = ms("2025-11-12T00:00:00+08:00")
        let days = try t.rows(scopes: [.line("l1"), .site("s1")], from: from, to: to, every: .day, baseline: nil)
        #expect(days.map(\.scope) == [.line("l1"), .line("l1"), .site("s1"), .site("s1")])
        #expect(days.map(\.start) == [from, ms("2025-11-11T00:00:00+08:00"), from, ms("2025-11-11T00:00:00+08:00")])
        #expect(days.map(\.indicators.electricityKWh) == [50, 150, 50, 150])
        #expect(days.map(\.indicators.goodUnits) == [25, 50, 25, 50])
        #expect(days.map(\.indicators.kwhPerGoodUnit) == [2, 3, 2, 3])
        #expect(days.allSatisfy { $0.shift == nil && $0.baseline == nil && $0.changePct == nil })
        let all = try t.rows(scopes: [.workshop("ws1")], from: from, to: to, every: .all, baseline: nil)
        #expect(all.count == 1)
        #expect(all[0].start == from)
        #expect(all[0].indicators.electricityKWh == 200)
        #expect(all[0].indicators.goodUnits == 75)
        // Nothing stored outside the readings' days: no rows, not empty ones.
        #expect(try t.rows(scopes: [.site("s1")], from: to, to: to + 86_400_000, every: .day, baseline: nil).isEmpty)
    }

    @Test func baselineComparison() throws {
        defer { removeDatabase() }
        let t = try table()
        let day1 = ms("2025-11-10T00:00:00+08:00")
        let day2 = ms("2025-11-11T00:00:00+08:00")
        let rows = try t.rows(scopes: [.line("l1")], from: day2, to: day2 + 86_400_000, every: .all, baseline: (day1, day2))
        #expect(rows.count == 1)
        #expect(rows[0].baseline?.kwhPerGoodUnit == 2)
        // 3 kWh per unit against 2: 50 % more.
        #expect(rows[0].changePct?["kwh_per_good_unit"] == 50)
    }

    @Test func valueAddedCountsOnlyForWholeMonths() throws {
        defer { removeDatabase() }
        let t = try table(valueAdded: [(.site("s1"), "2025-11", 1_000_000)])
        let month = try t.rows(
            scopes: [.site("s1"), .line("l1")], from: ms("2025-11-01T00:00:00+08:00"),
            to: ms("2025-12-01T00:00:00+08:00"), every: .month, baseline: nil)
        #expect(month.count == 2)
        #expect(month[0].indicators.valueAddedYuan == 1_000_000)
        let kgce = try #require(month[0].indicators.energyKgce)
        #expect(abs(try #require(month[0].indicators.kgcePer10kYuan) - kgce / 100) < 1e-9)
        // Recorded for the site only; the line has none.
        #expect(month[1].indicators.valueAddedYuan == nil)
        // Half a month holds the month's start but not the whole month: no per-10,000-yuan figure.
        let half = try t.rows(
            scopes: [.site("s1")], from: ms("2025-11-01T00:00:00+08:00"),
            to: ms("2025-11-15T00:00:00+08:00"), every: .all, baseline: nil)
        #expect(half.count == 1)
        #expect(half[0].indicators.valueAddedYuan == nil && half[0].indicators.kgcePer10kYuan == nil)
        let days = try t.rows(
            scopes: [.site("s1")], from: ms("2025-11-01T00:00:00+08:00"),
            to: ms("2025-12-01T00:00:00+08:00"), every: .day, baseline: nil)
        #expect(days.count == 2 && days.allSatisfy { $0.indicators.kgcePer10kYuan == nil })
    }

    @Test func rowsPerShiftWithOEEOnLines() throws {
        defer { removeDatabase() }
        let plain = try table()
        #expect(throws: ReportingError.noShiftCalendar(site: "s1")) {
            try plain.rows(scopes: [.line("l1")], from: 0, to: 1, every: .shift, baseline: nil)
        }
        removeDatabase()
        let t = try table(shifts: true)
        let from = ms("2025-11-10T00:00:00+08:00")
        let to = ms("2025-11-12T00:00:00+08:00")
        let shifts = try t.rows(scopes: [.line("l1"), .workshop("ws1")], from: from, to: to, every: .shift, baseline: nil)
        #expect(shifts.map(\.shift) == ["A", "A", "A", "A"])
        #expect(
            shifts.map(\.start) == [
                ms("2025-11-10T08:00:00+08:00"), ms("2025-11-11T08:00:00+08:00"),
                ms("2025-11-10T08:00:00+08:00"), ms("2025-11-11T08:00:00+08:00"),
            ])
        #expect(shifts.map(\.indicators.goodUnits) == [25, 50, 25, 50])
        // The line has a planned cycle, so OEE; its planned busy time is the 12-hour shift less 1 hour.
        let oee = try #require(shifts[0].indicators.oee)
        #expect(abs(oee.pbtH - 11) < 1e-9)
        #expect(shifts[2].indicators.oee == nil)
        #expect(t.oee(scope: .workshop("ws1"), totals: [:], from: from, to: to) == nil)
    }
}
