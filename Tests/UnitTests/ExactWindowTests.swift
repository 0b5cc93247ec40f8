import Aggregation
import Foundation
import PlantRegistry
import ReadingStore
import Reporting
import Telemetry
import Testing

/// The two-site registry and readings in `Tests/Fixtures/two-sites`, committed through the real
/// aggregator to a temporary SQLite file, read back as indicator rows.
///
/// The readings (see readings.jsonl) are steady, so every figure is a rate times a length:
/// - em-a (ws-a, a register in **Wh**): 60 kWh/h from 2026-10-31T20:00+08:00 to 2026-11-03T14:00+08:00;
/// - em-b (ws-b, a register in **MWh**): 30 kWh/h from 2026-11-02T10:00+08:00 to 2026-11-03T14:00+08:00;
/// - gas-1 (site): 2 m³/h, steam-1 (site, in **kg**): 100 kg/h, ctr-a (line-a): 10 good/h, over the same 28 h;
/// - em-de (Berlin): 10 kWh/h from 2026-10-24T12:00+02:00 to 2026-10-26T12:00+01:00, across the
///   change from summer to winter time (2026-10-25 03:00 CEST → 02:00 CET: a 25-hour day).
@Suite("Exact windows, units, CO2 scopes, value added, per-site calendars", .serialized)
struct ExactWindowTests {
    static let registry = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/two-sites").path

    let path = FileManager.default.temporaryDirectory.appendingPathComponent("zhizao-windows-\(UUID().uuidString).sqlite").path

    func ms(_ rfc3339: String) -> Int64 { Timestamp.parseRFC3339(rfc3339)! }

    /// The fixture's readings committed in one batch; value added recorded per (scope, month, yuan).
    func table(valueAdded: [(Scope, String, Double)] = [], pruneBefore: Int64? = nil) throws -> IndicatorTable {
        let plant = try Plant.load(directory: Self.registry)
        let store = try SQLiteStore(path: path)
        try store.prepareSeries(plant.series)
        let plan = AggregationPlan(plant: plant)
        store.enableAggregation(plan)
        var batch = IngestBatch()
        let lines = try String(contentsOfFile: Self.registry + "/readings.jsonl", encoding: .utf8).split(separator: "\n")
        for line in lines {
            let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let device = try #require(o["device"] as? String)
            let metrics = try #require(o["metrics"] as? [String: Double])
            for (metric, value) in metrics {
                let series = try #require(plant.series.firstIndex(of: SeriesKey(device: device, metric: metric)))
                batch.readings.append(
                    Reading(series: SeriesIndex(series), timestampMs: try #require(o["ts"] as? Int64), value: .number(value)))
            }
        }
        batch.messages = lines.count
        _ = try store.commit(batch, committedAtMs: ms("2026-11-04T00:00:00+08:00"))
        for (scope, month, yuan) in valueAdded {
            let start = TimeArgument.parse(month, calendar: plan.calendar)!
            try store.setValueAdded(
                scope: scope, monthStart: start, monthEnd: plan.calendar.nextMonth(start), period: month, yuan: yuan,
                by: AuditActor(command: "test", user: "test"))
        }
        if let pruneBefore {
            while try !store.pruneStep(rawBefore: pruneBefore, minuteBefore: pruneBefore).done {}
        }
        return try IndicatorTable(plant: plant, reader: StoreReader(path: path))
    }

    /// The fixture's database filled (as `table()` does) and opened again for writing.
    func filledStore() throws -> (Plant, SQLiteStore) {
        _ = try table()
        let plant = try Plant.load(directory: Self.registry)
        let store = try SQLiteStore(path: path)
        try store.prepareSeries(plant.series)
        store.enableAggregation(AggregationPlan(plant: plant))
        return (plant, store)
    }

    func removeDatabase() {
        for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) }
    }

    func close(_ a: Double?, _ b: Double, _ what: Comment? = nil) {
        #expect(a.map { abs($0 - b) < 1e-6 * max(1, abs(b)) } == true, "\(String(describing: a)) ≠ \(b) \(what ?? "")")
    }

    @Test func theIssueWindowCountsExactlyItsTwentyFourHoursInCanonicalUnits() throws {
        defer { removeDatabase() }
        let t = try table()
        let rows = try t.rows(
            scopes: [.site("cn-sz"), .workshop("ws-a"), .workshop("ws-b")], from: ms("2026-11-02T12:00:00+08:00"),
            to: ms("2026-11-03T12:00:00+08:00"), every: .all, baseline: nil)
        try #require(rows.count == 3)
        let site = rows[0].indicators
        // em-a's Wh register: 60,000 Wh/h × 24 h = 1,440 kWh; em-b's MWh register: 0.03 MWh/h × 24 h
        // = 720 kWh; the site has no meter of its own, so it is the two: 2,160 kWh. (Whole stored
        // days would give 2026-11-03 00:00–14:00 only: 14 h × 90 = 1,260 kWh.)
        close(rows[1].indicators.electricityKWh, 1440)
        close(rows[2].indicators.electricityKWh, 720)
        close(site.electricityKWh, 2160)
        // 10 good/h × 24 h.
        close(site.goodUnits, 240)
        // 2,160 kWh × 0.1229 + 48 m³ gas × 1.2143 + 2,400 kg = 2.4 t steam × 128.6 kgce/t
        // = 265.464 + 58.2864 + 308.64 = 632.3904 kgce.
        close(site.energyKgce, 632.3904)
        // Scope 1: 48 m³ × 2.162 = 103.776 kg; scope 2: 2,160 kWh × 0.5366 + 2.4 t × 250 = 1,759.056 kg.
        close(site.co2Scope1Kg, 103.776)
        close(site.co2Scope2Kg, 1759.056)
        #expect(site.co2Scopes == ["scope1": ["natural_gas"], "scope2": ["electricity", "steam"]])
        close(site.co2KgPerGoodUnit, (103.776 + 1759.056) / 240)
        // ws-b has electricity only: scope 2 alone.
        #expect(rows[2].indicators.co2Scopes == ["scope2": ["electricity"]])
    }

    @Test func raggedEdgesComeFromMinuteRollupsAndRowsAreCutAtTheWindow() throws {
        defer { removeDatabase() }
        let t = try table()
        let from = ms("2026-11-02T12:30:00+08:00")
        let to = ms("2026-11-03T11:15:00+08:00")
        let all = try t.rows(scopes: [.site("cn-sz"), .line("line-a")], from: from, to: to, every: .all, baseline: nil)
        try #require(all.count == 2)
        // 22 h 45 min = 22.75 h: 22.75 × 90 kWh = 2,047.5 kWh; 22.75 × 10 = 227.5 good.
        close(all[0].indicators.electricityKWh, 2047.5)
        close(all[1].indicators.goodUnits, 227.5)
        // Per day, the first row starts at the window's start and the last stops at its end:
        // 12:30–24:00 is 11.5 h (1,035 kWh), 00:00–11:15 is 11.25 h (1,012.5 kWh).
        let days = try t.rows(scopes: [.site("cn-sz")], from: from, to: to, every: .day, baseline: nil)
        try #require(days.map(\.start) == [from, ms("2026-11-03T00:00:00+08:00")])
        close(days[0].indicators.electricityKWh, 1035)
        close(days[1].indicators.electricityKWh, 1012.5)
        // Per hour, a cut hour holds only its part: 12:30–13:00 is 45 kWh.
        let hours = try t.rows(scopes: [.site("cn-sz")], from: from, to: ms("2026-11-02T14:00:00+08:00"), every: .hour, baseline: nil)
        try #require(hours.map(\.start) == [from, ms("2026-11-02T13:00:00+08:00")])
        close(hours[0].indicators.electricityKWh, 45)
        close(hours[1].indicators.electricityKWh, 90)
    }

    /// A table reads each scope's stored days once for all its windows: the totals are those
    /// each window reads alone, whole days or cut at hours or minutes.
    @Test func dayTotalsReadOnceForAllWindowsGiveWhatEachWindowReadsAlone() throws {
        defer { removeDatabase() }
        let t = try table()
        let site = Scope.site("cn-sz")
        let calendar = t.calendar(of: site)
        let days = try #require(
            try t.windows.storedDays([site], from: ms("2026-11-01T00:00:00+08:00"), to: ms("2026-11-04T00:00:00+08:00"))[site])
        // The readings run 2026-10-31 20:00 → 2026-11-03 14:00: days 11-01, 11-02 and 11-03 are stored.
        #expect(days.rows.map(\.start) == ["2026-11-01", "2026-11-02", "2026-11-03"].map { ms("\($0)T00:00:00+08:00") })
        let windows = [
            ("2026-11-01T00:00:00+08:00", "2026-11-04T00:00:00+08:00"), ("2026-11-02T00:00:00+08:00", "2026-11-03T00:00:00+08:00"),
            ("2026-11-01T05:00:00+08:00", "2026-11-03T07:00:00+08:00"), ("2026-11-02T12:30:00+08:00", "2026-11-03T11:15:00+08:00"),
        ].map { (ms($0.0), ms($0.1)) }
        for (from, to) in windows {
            let once = try t.windows.totals(site, from: from, to: to, calendar: calendar, days: days)
            let alone = try t.windows.totals(site, from: from, to: to, calendar: calendar)
            #expect(once.values == alone.values)
        }
        let electricity = AggregationPlan.consumption(.electricity)
        // 11-02 whole: em-a 60 kWh/h × 24 h + em-b 30 kWh/h × 14 h (from 10:00) = 1,440 + 420 = 1,860 kWh.
        close(try t.windows.totals(site, from: windows[1].0, to: windows[1].1, calendar: calendar, days: days).values[electricity], 1860)
        // 11-01 05:00 → 11-03 07:00, one stored day and hours on both sides: em-a 60 × (19 + 24 + 7 = 50 h)
        // + em-b 30 × (14 + 7 = 21 h) = 3,000 + 630 = 3,630 kWh.
        close(try t.windows.totals(site, from: windows[2].0, to: windows[2].1, calendar: calendar, days: days).values[electricity], 3630)
    }

    @Test func oeePlannedBusyTimeIsThatOfTheSameWindow() throws {
        defer { removeDatabase() }
        let t = try table()
        let rows = try t.rows(
            scopes: [.line("line-a")], from: ms("2026-11-02T12:00:00+08:00"), to: ms("2026-11-03T12:00:00+08:00"),
            every: .all, baseline: nil)
        // Shift A 08–20 (60 min planned downtime), B 20–08: A's 12:00–20:00 is 8 of 12 h, less 8/12 h
        // of downtime (7.333 h); B 20:00–08:00 12 h; A's 08:00–12:00 4 h less 4/12 h (3.667 h): 23 h.
        close(try #require(rows.first?.indicators.oee).pbtH, 23)
    }

    @Test func valueAddedUsesTheEnergyOfExactlyTheWholeMonthsItCovers() throws {
        defer { removeDatabase() }
        let t = try table(valueAdded: [(.site("cn-sz"), "2026-11", 2_000_000)])
        // November: em-a 11-01 00:00 → 11-03 14:00 is 62 h × 60 = 3,720 kWh, em-b 28 h × 30 = 840 kWh:
        // 4,560 kWh × 0.1229 = 560.424; gas 56 m³ × 1.2143 = 68.0008; steam 2.8 t × 128.6 = 360.08;
        // 988.5048 kgce = 0.9885048 tce over 200 × 10,000 yuan = 0.004942524 tce per 10,000 yuan.
        // CO2: 56 × 2.162 + 4,560 × 0.5366 + 2.8 × 250 = 121.072 + 2,446.896 + 700 = 3,267.968 kg → 16.33984.
        let month = try t.rows(
            scopes: [.site("cn-sz")], from: ms("2026-11-01T00:00:00+08:00"), to: ms("2026-12-01T00:00:00+08:00"),
            every: .month, baseline: nil)
        try #require(month.count == 1)
        close(month[0].indicators.tcePer10kYuan, 0.004942524)
        close(month[0].indicators.kgcePer10kYuan, 4.942524)
        close(month[0].indicators.co2KgPer10kYuan, 16.33984)
        #expect(month[0].indicators.valueAddedYuan == 2_000_000)
        // Half of November, per month: no figure, and a note says why.
        let half = try t.rows(
            scopes: [.site("cn-sz")], from: ms("2026-11-01T00:00:00+08:00"), to: ms("2026-11-16T00:00:00+08:00"),
            every: .month, baseline: nil)
        try #require(half.count == 1)
        #expect(half[0].indicators.tcePer10kYuan == nil && half[0].indicators.valueAddedYuan == nil)
        #expect(half[0].indicators.notes.contains { $0.contains("2026-11 is only partly in this window") })
        // From mid-October (no value added recorded) to December: November's figure with November's
        // energy only, although the row's energy also holds October 31's 4 h × 60 kWh × 0.1229 = 29.496 kgce.
        let wider = try t.rows(
            scopes: [.site("cn-sz")], from: ms("2026-10-15T00:00:00+08:00"), to: ms("2026-12-01T00:00:00+08:00"),
            every: .all, baseline: nil)
        try #require(wider.count == 1)
        close(wider[0].indicators.energyKgce, 988.5048 + 29.496)
        close(wider[0].indicators.tcePer10kYuan, 0.004942524)
    }

    @Test func eachSiteKeepsItsOwnZoneShiftsAndFactorsAcrossADaylightSavingChange() throws {
        defer { removeDatabase() }
        let t = try table()
        #expect(try t.resolve(scope: "site:de-be") == .site("de-be"))
        #expect(t.site(of: .line("line-de")).id == "de-be" && t.calendar(of: .workshop("ws-de")).timeZone.identifier == "Europe/Berlin")
        // Stored day totals start at Berlin's midnights, the second after a 25-hour day.
        let stored = try t.reader.scopeTotals(
            scope: .site("de-be"), period: "day", from: ms("2026-10-20T00:00:00Z"), to: ms("2026-10-30T00:00:00Z"))
        #expect(
            stored.map(\.start) == [
                ms("2026-10-24T00:00:00+02:00"), ms("2026-10-25T00:00:00+02:00"), ms("2026-10-26T00:00:00+01:00"),
            ])
        let days = try t.rows(
            scopes: [.site("de-be")], from: ms("2026-10-24T00:00:00+02:00"), to: ms("2026-10-27T00:00:00+01:00"),
            every: .day, baseline: nil)
        // 10 kWh/h: 12:00–24:00 on the 24th (120), the whole 25-hour 25th (250), 00:00–12:00 on the
        // 26th (120). Shanghai's day would have cut the 25th at 24 h (240).
        try #require(days.map(\.start) == stored.map(\.start))
        #expect(days.map(\.indicators.electricityKWh) == [120, 250, 120])
        // Berlin's factors: 250 kWh × 0.2 kgce/kWh = 50 kgce; 250 × 0.38 kgCO2/kWh = 95 kg.
        close(days[1].indicators.energyKgce, 50)
        close(days[1].indicators.co2Scope2Kg, 95)
        // Berlin's shift 06:00–22:00 on the day clocks go back starts at 06:00 CET (05:00 UTC): 16 h,
        // 160 kWh (6 h before the 11:00 UTC read, 10 after).
        let shifts = try t.rows(
            scopes: [.site("de-be")], from: ms("2026-10-25T00:00:00+02:00"), to: ms("2026-10-26T00:00:00+01:00"),
            every: .shift, baseline: nil)
        try #require(shifts.map(\.start) == [ms("2026-10-25T06:00:00+01:00")] && shifts.map(\.shift) == ["day"])
        close(shifts[0].indicators.electricityKWh, 160)
    }

    @Test func aRebuildFromAShanghaiDayLeavesBerlinDaysWhole() throws {
        defer { removeDatabase() }
        let (_, store) = try filledStore()
        // Shanghai's 2026-10-25 starts at 2026-10-24T16:00Z, inside Berlin's 24th
        // (2026-10-23T22:00Z–2026-10-24T22:00Z): that day's total must stay 120 kWh, not gain
        // the 6 hours after 16:00Z a second time. The rebuild ends at Shanghai's 26th,
        // 2026-10-25T16:00Z, inside Berlin's 25th, which must keep its 250 kWh, not lose the
        // 7 hours after the cut.
        try store.rebuildRollups(
            from: ms("2026-10-25T00:00:00+08:00"), to: ms("2026-10-25T12:00:00+08:00"),
            by: AuditActor(command: "test", user: "test"), window: "test")
        let days = try StoreReader(path: path).scopeTotals(
            scope: .site("de-be"), period: "day", from: ms("2026-10-20T00:00:00Z"), to: ms("2026-10-30T00:00:00Z"))
        #expect(days.map { $0.totals[AggregationPlan.consumption(.electricity)] } == [120, 250, 120])
    }

    @Test func minuteEdgesInsideAClosedPeriodShowItsClosedFigures() throws {
        defer { removeDatabase() }
        let (plant, store) = try filledStore()
        try store.close(
            scope: .workshop("ws-b"), frozen: [.workshop("ws-b")], devices: ["em-b"], start: ms("2026-11-02T00:00:00+08:00"),
            end: ms("2026-11-03T00:00:00+08:00"), label: "2026-11-02 workshop:ws-b", by: AuditActor(command: "test", user: "test"))
        // A late read of em-b at 12:00 (0.1 MWh) books 100 kWh to 10:00–12:00 and 20 kWh to
        // 12:00–14:00, so 12:30–13:30 is live 10 kWh; as closed it stays 30 kWh/h × 1 h = 30 kWh.
        var batch = IngestBatch()
        let em = try #require(plant.series.firstIndex(of: SeriesKey(device: "em-b", metric: "energy")))
        batch.readings = [Reading(series: SeriesIndex(em), timestampMs: ms("2026-11-02T12:00:00+08:00"), value: .number(0.1))]
        batch.messages = 1
        _ = try store.commit(batch, committedAtMs: ms("2026-11-04T01:00:00+08:00"))
        let t = try IndicatorTable(plant: plant, reader: StoreReader(path: path))
        let rows = try t.rows(
            scopes: [.workshop("ws-b")], from: ms("2026-11-02T12:30:00+08:00"), to: ms("2026-11-02T13:30:00+08:00"),
            every: .all, baseline: nil)
        try #require(rows.count == 1)
        close(rows[0].indicators.electricityKWh, 30)
        #expect(rows[0].pending != nil)
    }

    @Test func anEdgeWhoseMinutesWerePrunedCountsToTheNearestHourWithANote() throws {
        defer { removeDatabase() }
        let t = try table(pruneBefore: ms("2026-11-03T00:00:00+08:00"))
        let rows = try t.rows(
            scopes: [.site("cn-sz")], from: ms("2026-11-02T12:30:00+08:00"), to: ms("2026-11-03T11:15:00+08:00"),
            every: .all, baseline: nil)
        try #require(rows.count == 1)
        // The 12:30 edge lies before the minute horizon: its hour is half covered, so it counts
        // whole (12:00–13:00, 90 kWh instead of 45); the 11:15 edge still has its minutes.
        // 2,047.5 + 45 = 2,092.5 kWh.
        close(rows[0].indicators.electricityKWh, 2092.5)
        #expect(
            rows[0].indicators.notes.contains {
                $0.contains("before 2026-11-03T00:00+08:00 were pruned by retention") && $0.contains("edge at 2026-11-02T12:30+08:00")
            })
    }

    /// The batched reads a table of many scopes makes (one read for all scopes' hours or days,
    /// and for their value added) give each scope exactly what its own read gives, on the
    /// fixture's SQLite file: two sites, their workshops and lines, and a scope with nothing stored.
    @Test func scopeTotalsAndValueAddedReadForManyScopesAtOnceEqualEachScopesOwnRead() throws {
        defer { removeDatabase() }
        let t = try table(valueAdded: [(.site("cn-sz"), "2026-11", 2_000_000), (.workshop("ws-a"), "2026-10", 5_000)])
        let scopes = t.knownScopes + [.line("no-such-line")]
        let (from, to) = (ms("2026-10-20T00:00:00+08:00"), ms("2026-11-04T00:00:00+08:00"))
        func text(_ rows: [(start: Int64, totals: [String: Double])]) -> [String] {
            rows.map { row in "\(row.start) " + row.totals.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            }
        }
        for period in ["hour", "day"] {
            let batch = try t.reader.scopeTotals(scopes: scopes, period: period, from: from, to: to)
            // Both sites' scopes have rows (the readings reach Berlin and Shenzhen); the unknown line none.
            #expect(batch.keys.contains(.site("cn-sz")) && batch.keys.contains(.site("de-be")), "\(period): \(batch.keys)")
            #expect(batch[.line("no-such-line")] == nil)
            for scope in scopes {
                let alone = try t.reader.scopeTotals(scope: scope, period: period, from: from, to: to)
                #expect(text(batch[scope] ?? []) == text(alone), "\(period) \(scope)")
            }
            // Only what starts in [from, to): a narrower window cuts the batch as it cuts each read.
            let narrow = try t.reader.scopeTotals(scopes: scopes, period: period, from: from, to: ms("2026-11-02T00:00:00+08:00"))
            #expect(
                text(narrow[.site("cn-sz")] ?? [])
                    == text(
                        try t.reader.scopeTotals(scope: .site("cn-sz"), period: period, from: from, to: ms("2026-11-02T00:00:00+08:00"))))
        }
        // And the figures themselves (the fixture's header): 2026-11-02 in Shenzhen is em-a's 24 h ×
        // 60 kWh and em-b's 14 h from 10:00 × 30 kWh, 1,860 kWh.
        let days = try t.reader.scopeTotals(scopes: scopes, period: "day", from: from, to: to)
        let second = days[.site("cn-sz")]?.first { $0.start == ms("2026-11-02T00:00:00+08:00") }
        close(second?.totals["consumption.electricity"], 1_860)
        #expect(try t.reader.scopeTotals(scopes: [], period: "day", from: from, to: to).isEmpty)
        let (months, monthsEnd) = (ms("2026-09-01T00:00:00+08:00"), ms("2026-12-01T00:00:00+08:00"))
        let added = try t.reader.valueAdded(scopes: scopes, from: months, to: monthsEnd)
        #expect(added.count == 2)
        for scope in scopes {
            #expect(added[scope] ?? [:] == (try t.reader.valueAdded(scope: scope, from: months, to: monthsEnd)), "\(scope)")
        }
        #expect(try t.reader.valueAdded(scopes: scopes, from: ms("2026-10-20T00:00:00+08:00"), to: monthsEnd).count == 1)
        #expect(added[.site("cn-sz")] == [ms("2026-11-01T00:00:00+08:00"): 2_000_000])
    }

    @Test func anUnknownUnitOfAnEnergyMetricIsARegistryErrorListingTheAcceptedOnes() throws {
        let meters = try String(contentsOfFile: Self.registry + "/gateways/meters.yaml", encoding: .utf8)
        let dir = try Fixtures.registry([
            "plant.yaml": try String(contentsOfFile: Self.registry + "/plant.yaml", encoding: .utf8),
            "gateways/native.yaml": "", "gateways/neuron.yaml": "", "gateways/plain.yaml": "",
            "gateways/meters.yaml": meters.replacingOccurrences(of: "unit: MWh", with: "unit: kVAh")
                .replacingOccurrences(of: "unit: kg, measures: energy", with: "unit: kg/h, measures: energy"),
        ])
        let (_, problems) = Plant.loadReporting(directory: dir)
        let texts = problems.map(\.description)
        #expect(problems.count == 2, "\(texts)")
        // em-b's unit sits on line 15 of meters.yaml, steam-1's on line 23.
        #expect(texts.contains { $0.contains("meters.yaml:15") && $0.contains("\"kVAh\"") && $0.contains("kWh, Wh, MWh") })
        #expect(texts.contains { $0.contains("meters.yaml:23") && $0.contains("\"kg/h\"") && $0.contains("t, kg") })
        // A power gauge in W integrates into kWh at a thousandth; heat power in kW is 3.6 MJ per hour.
        #expect(CarrierUnit.factor(unit: "W", carrier: .electricity, kind: .gauge) == 0.001)
        #expect(CarrierUnit.factor(unit: "kW", carrier: .heat, kind: .gauge) == 3.6)
        #expect(CarrierUnit.factor(unit: "GJ", carrier: .heat, kind: .counter) == 1000)
        #expect(CarrierUnit.factor(unit: "kWh", carrier: .electricity, kind: .gauge) == nil)
    }
}
