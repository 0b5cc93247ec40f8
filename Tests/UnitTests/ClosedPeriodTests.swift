import PlantRegistry
import Telemetry
import Testing

@testable import Aggregation
@testable import Reporting

/// The pure part of closed periods: which scope rows a closure freezes, and how a batch's
/// delta is split into what the open figures take and what is held as a late adjustment.
@Suite("Closed periods")
struct ClosedPeriodTests {
    let plant: Plant
    let plan: AggregationPlan
    init() throws {
        plant = try Fixtures.plant()
        plan = AggregationPlan(plant: plant)
    }

    static let day: Int64 = 86_400_000
    /// Shanghai midnight starting 2025-11-25 (16:00Z on the 24th).
    static let midnight: Int64 = 1_764_000_000_000

    func delta(_ readings: [Reading]) throws -> RollupDelta {
        let aggregator = Aggregator(plan: plan)
        let store = MemoryStore(plan: plan)
        for r in readings where store.insert(r) { try aggregator.add(r, history: store) }
        try aggregator.finishMachines(history: store)
        return aggregator.takeDelta()
    }

    func energy(_ time: Int64, _ kwh: Double) -> Reading {
        let s = SeriesIndex(plant.series.firstIndex(of: SeriesKey(device: "em-1", metric: "energy"))!)
        return Reading(series: s, timestampMs: time, value: .number(kwh))
    }

    func window(_ scope: Scope, _ period: RollupDelta.Period, _ start: Int64) -> RollupDelta.ScopeWindow {
        .init(scope: scope, quantity: "consumption.electricity", period: period, start: start)
    }

    @Test func aSiteHoldsItsWorkshopsAndLines() throws {
        let site = try #require(plant.sites.first)
        #expect(site.scopes(within: .site("s1")) == [.site("s1"), .workshop("ws1"), .line("l1")])
        #expect(site.scopes(within: .workshop("ws1")) == [.workshop("ws1"), .line("l1")])
        #expect(site.scopes(within: .line("l1")) == [.line("l1")])
        #expect(site.scopes(within: .line("elsewhere")).isEmpty)
    }

    @Test func aStraddlingIntervalHoldsOnlyItsClosedPart() throws {
        let m = Self.midnight
        // em-1 reads 100 kWh at 23:50 on the 24th and 120 kWh at 00:10 on the 25th: 20 kWh over
        // 20 minutes, 10 kWh before midnight and 10 after. The line's 24th is closed.
        var d = try delta([energy(m - 10 * 60_000, 100), energy(m + 10 * 60_000, 120)])
        let closed = ClosedPeriods([
            ClosedPeriod(id: 1, label: "2025-11-24", scope: .line("l1"), frozen: [.line("l1")], start: m - Self.day, end: m)
        ])
        let held = d.takeHeld(by: closed)
        // Held: the line's day of the 24th and its hour 23:00 (10 kWh each), nothing else. (The
        // metering tree's unmetered totals of the line are scope totals too, and held alike.)
        let consumption = held.filter { $0.key.quantity == "consumption.electricity" }
        #expect(Set(consumption.keys) == [window(.line("l1"), .day, m - Self.day), window(.line("l1"), .hour, m - 3_600_000)])
        #expect(held.keys.allSatisfy { $0.scope == .line("l1") && $0.start < m })
        #expect(abs(held[window(.line("l1"), .day, m - Self.day)]! - 10) < 1e-9)
        #expect(abs(held[window(.line("l1"), .hour, m - 3_600_000)]! - 10) < 1e-9)
        // The open figures take the 25th at once: 10 kWh on the line's day and hour 00:00.
        #expect(abs(d.scopes[window(.line("l1"), .day, m)]! - 10) < 1e-9)
        #expect(abs(d.scopes[window(.line("l1"), .hour, m)]! - 10) < 1e-9)
        #expect(d.scopes[window(.line("l1"), .day, m - Self.day)] == nil)
        // The workshop is not closed: its 24th keeps its 10 kWh (the line's sub-meter is all it has).
        #expect(abs(d.scopes[window(.workshop("ws1"), .day, m - Self.day)]! - 10) < 1e-9)
        // Per-series minutes are never held: 20 kWh / 20 min = 1 kWh per minute on both sides of midnight.
        let s = energy(0, 0).series
        #expect(abs(d.minutes[.init(series: s, minute: m - 60_000)]!.consumption - 1) < 1e-9)
        #expect(abs(d.minutes[.init(series: s, minute: m)]!.consumption - 1) < 1e-9)
    }

    @Test func aFrozenDevicesClosedMinutesAreRecordedAndStayInTheDelta() throws {
        let m = Self.midnight
        let d = try delta([energy(m - 10 * 60_000, 100), energy(m + 10 * 60_000, 120)])
        let closed = ClosedPeriods([
            ClosedPeriod(
                id: 7, label: "2025-11-24", scope: .line("l1"), frozen: [.line("l1")], devices: ["em-1"], start: m - Self.day,
                end: m)
        ])
        let s = energy(0, 0).series
        let device = { (i: SeriesIndex) in self.plant.series[Int(i)].device }
        let held = d.heldSeries(by: closed, device: device)
        // 1 kWh in each of the ten minutes 23:50..23:59, under closure 7; the reading at 23:50
        // itself counts in its minute (n 1, sum 100); nothing after midnight.
        let minutes = (1...10).map { m - Int64($0) * 60_000 }
        #expect(Set(held.minutes.keys) == Set(minutes.map { HeldSeries.MinuteKey(periodID: 7, series: s, minute: $0) }))
        #expect(held.minutes.values.allSatisfy { abs($0.consumption - 1) < 1e-9 })
        #expect(held.minutes[.init(periodID: 7, series: s, minute: m - 10 * 60_000)]?.count == 1)
        #expect(held.minutes[.init(periodID: 7, series: s, minute: m - 10 * 60_000)]?.sum == 100)
        // The minutes stay in the delta (they are live); another device is not held.
        #expect(d.minutes[.init(series: s, minute: m - 60_000)] != nil)
        let other = ClosedPeriods([
            ClosedPeriod(id: 8, label: "x", scope: .line("l1"), frozen: [.line("l1")], devices: ["cnc-1"], start: m - Self.day, end: m)
        ])
        #expect(d.heldSeries(by: other, device: device).isEmpty)
    }

    @Test func aClosedSiteHoldsEveryScopeWithinIt() throws {
        let m = Self.midnight
        let site = try #require(plant.sites.first)
        var d = try delta([energy(m - 10 * 60_000, 100), energy(m + 10 * 60_000, 120)])
        let closed = ClosedPeriods([
            ClosedPeriod(
                id: 1, label: "2025-11", scope: .site("s1"), frozen: Set(site.scopes), start: m - 24 * Self.day, end: m)
        ])
        let held = d.takeHeld(by: closed).filter { $0.key.quantity == "consumption.electricity" }
        // 10 kWh of the 24th for each of site, workshop and line, by day and by hour: six rows.
        #expect(held.count == 6)
        #expect(held.values.allSatisfy { abs($0 - 10) < 1e-9 })
        #expect(d.scopes.keys.allSatisfy { $0.start >= m })
    }

    @Test func withNothingClosedNothingIsHeld() throws {
        let m = Self.midnight
        var d = try delta([energy(m - 10 * 60_000, 100), energy(m + 10 * 60_000, 120)])
        let before = d.scopes
        #expect(d.takeHeld(by: ClosedPeriods()).isEmpty)
        // A closure of the day after: nothing of this pair falls in it.
        let later = ClosedPeriods([
            ClosedPeriod(id: 2, label: "2025-11-26", scope: .line("l1"), frozen: [.line("l1")], start: m + Self.day, end: m + 2 * Self.day)
        ])
        #expect(d.takeHeld(by: later).isEmpty)
        #expect(d.scopes == before)
    }

    @Test func relatedScopesOverlapUnrelatedOnesDoNot() {
        let m = Self.midnight
        let p = ClosedPeriod(
            id: 1, label: "2025-11-24", scope: .workshop("ws1"), frozen: [.workshop("ws1"), .line("l1")],
            start: m - Self.day, end: m)
        let all = ClosedPeriods([p])
        #expect(all.overlapping(from: m - 3_600_000, to: m + 3_600_000).count == 1)
        #expect(all.overlapping(from: m, to: m + Self.day).isEmpty, "end is exclusive")
        #expect(all.overlapping(from: m - Self.day, to: m, scopes: [.line("l1")]).count == 1)
        #expect(all.overlapping(from: m - Self.day, to: m, scopes: [.site("s1")]).isEmpty, "the site's own totals are not frozen")
        #expect(all.closure(freezing: .line("l1"), at: m - 3_600_000) == p)
        #expect(all.closure(freezing: .line("l1"), at: m) == nil)
    }
}

@Suite("Pending adjustment")
struct PendingAdjustmentTests {
    @Test func signedAmountsKeepAtMostThreeDecimals() {
        #expect(PendingAdjustment.signed(15) == "+15")
        #expect(PendingAdjustment.signed(7.5) == "+7.5")
        #expect(PendingAdjustment.signed(-2.25) == "-2.25")
        #expect(PendingAdjustment.signed(0.1234) == "+0.123")
        // -0.0001 rounds to -0.000: no sign of nothing.
        #expect(PendingAdjustment.signed(-0.0001) == "+0")
    }
}

extension PendingAdjustmentTests {
    @Test func theNoteNamesThePeriodAndTheAmounts() {
        let p = PendingAdjustment(
            closedPeriods: ["2026-11 site:sz-baoan"], quantities: ["consumption.electricity": 15], electricityKWh: 15,
            energyKgce: 1.8435, goodUnits: 0, waterM3: 0)
        // The sentence the Chinese table translates (LocalizationTests) and the end-to-end test looks for.
        #expect(
            p.note
                == "closed period 2026-11 site:sz-baoan: figures as reported; late readings pending beside them: +15 kWh, +0 good units (zhizao reopen folds them in)"
        )
    }
}
