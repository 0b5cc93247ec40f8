import Foundation
import PlantRegistry
import Telemetry
import Testing

@testable import Aggregation

@Suite("Indicators")
struct IndicatorTests {
    /// A plant with a site water meter, a workshop main electricity meter, two line sub-meters
    /// (one inside the other line's process) and a sub-meter at workshop level.
    static let meters = """
        gateway: gw-meters
        decoder: native
        topic: zz/meters/#
        devices:
          - {id: main-ws1, workshop: ws1, meter_role: main, metrics: [{name: e, kind: counter, unit: kWh, measures: energy, carrier: electricity}]}
          - {id: sub-l1, workshop: ws1, line: l1, meter_role: sub, metrics: [{name: e, kind: counter, unit: kWh, measures: energy, carrier: electricity}]}
          - {id: sub-ws1-compressor, workshop: ws1, meter_role: sub, metrics: [{name: e, kind: counter, unit: kWh, measures: energy, carrier: electricity}]}
          - {id: water-site, meter_role: main, metrics: [{name: w, kind: counter, unit: m3, measures: energy, carrier: water}]}
          - {id: water-wash, workshop: ws1, line: l1, process: wash, meter_role: sub, metrics: [{name: w, kind: counter, unit: m3, measures: energy, carrier: water}]}
        """

    @Test func subMetersAreNeverCountedTwice() throws {
        let plant = try Plant.load(directory: try Fixtures.registry(["gateways/meters.yaml": Self.meters]))
        let scopes = AggregationPlan.meterScopes(plant)
        func of(_ id: String, _ c: Carrier) -> [Scope] {
            scopes[.init(device: plant.deviceIndex(id: id)!, carrier: c)] ?? []
        }
        // The workshop and the site are measured by the workshop main meter alone.
        #expect(of("main-ws1", .electricity) == [.site("s1"), .workshop("ws1")])
        // The line sub-meter measures its line only; the compressor sub-meter is inside the main.
        #expect(of("sub-l1", .electricity) == [.line("l1")])
        #expect(of("sub-ws1-compressor", .electricity) == [])
        // The fixture's cnc-1 has its own energy register inside the line's meter: it adds nothing.
        #expect(of("cnc-1", .electricity) == [])
        #expect(of("water-site", .water) == [.site("s1")])
        #expect(of("water-wash", .water) == [.line("l1"), .workshop("ws1")])
    }

    @Test func estimatedAndUnknownPartsAreReported() throws {
        let site = try Fixtures.plant().sites[0]
        // 1,000 kWh of which 250 spread over a meter gap; 10 m3 water, none estimated; 2 h of a
        // 10 h key-process window unknown (one machine).
        let i = Indicators.compute(
            totals: [
                "consumption.electricity": 1000, "consumption.electricity.estimated": 250,
                "consumption.water": 10, "good": 100, "unknown_ms": 7_200_000,
            ],
            site: site, staticRate: nil, keyProcessMs: 36_000_000)
        #expect(i.estimatedPct["electricity_kwh"] == 25)
        #expect(i.estimatedPct["water_m3"] == nil)
        // kgce: electricity 1000 × k_e + water 10 × k_w; estimated 250 × k_e.
        let ke = site.energyCoefficients[.electricity]!
        let kw = site.energyCoefficients[.water] ?? 0
        #expect(abs(i.estimatedPct["energy_kgce"]! - 250 * ke / (1000 * ke + 10 * kw) * 100) < 1e-9)
        #expect(i.unknownHours == 2 && i.unknownShare == 0.2)
        #expect(i.notes.contains { $0.contains("25.0% of the electricity is estimated") })
        #expect(i.notes.contains { $0.contains("2.0 h of key-process time has an unknown state") })
    }

    @Test func handComputedFigures() throws {
        let plant = try Fixtures.plant()
        let site = plant.sites[0]
        // 1,000 kWh electricity, 50 m3 gas, 20 m3 water, 400 good units, producing 10 h of which 8 h under NC.
        let i = Indicators.compute(
            totals: [
                "consumption.electricity": 1000, "consumption.natural_gas": 50,
                "consumption.water": 20, "good": 400, "scrap": 8,
                "producing_ms": 36_000_000, "nc_producing_ms": 28_800_000,
            ],
            site: site, staticRate: 0.5)
        // kgce = 1000 × 0.1229 + 50 × 1.2143 + 20 × 0.2571 = 122.9 + 60.715 + 5.142 = 188.757
        #expect(abs(i.energyKgce! - 188.757) < 1e-9)
        #expect(abs(i.kgcePerGoodUnit! - 188.757 / 400) < 1e-12)
        #expect(i.kwhPerGoodUnit == 2.5)
        // CO2: scope 2 = 1000 × 0.5366 = 536.6; scope 1 = 50 × 2.162 = 108.1; per unit = 644.7 / 400
        #expect(abs(i.co2Scope2Kg! - 536.6) < 1e-9)
        #expect(abs(i.co2Scope1Kg! - 108.1) < 1e-9)
        #expect(abs(i.co2KgPerGoodUnit! - 644.7 / 400) < 1e-12)
        #expect(i.waterM3PerGoodUnit == 0.05)
        #expect(i.operationalControlRate == 0.8)
        #expect(i.staticControlRate == 0.5)
        #expect(i.notes.isEmpty)
    }

    @Test func noGoodOutputMeansNoPerUnitFigureAndSaysWhy() throws {
        let site = try Fixtures.plant().sites[0]
        let i = Indicators.compute(totals: ["consumption.electricity": 12], site: site, staticRate: nil)
        #expect(i.electricityKWh == 12)
        #expect(i.kwhPerGoodUnit == nil && i.kgcePerGoodUnit == nil && i.co2KgPerGoodUnit == nil)
        #expect(i.operationalControlRate == nil)
        #expect(i.notes.contains { $0.contains("no good output") })
        #expect(i.notes.contains { $0.contains("no key-process producing time") })
    }

    @Test func steamWithoutACoefficientIsNamed() throws {
        let site = try Fixtures.plant().sites[0]
        // Electricity alone would give a kgce figure: with unpriced steam beside it, none (never a partial sum).
        let i = Indicators.compute(
            totals: ["consumption.steam": 3, "consumption.electricity": 100, "good": 1], site: site, staticRate: nil)
        #expect(i.energyKgce == nil && i.kgcePerGoodUnit == nil)
        #expect(i.electricityKWh == 100)
        #expect(i.notes.contains { $0.contains("comprehensive energy is absent: steam has no kgce coefficient") })
        let base = Indicators.compute(totals: ["consumption.electricity": 100, "good": 1], site: site, staticRate: nil)
        #expect(i.changePercent(against: base)["kgce_per_good_unit"] == nil, "no change against the baseline either")
    }

    @Test func staticRateOnBothBases() throws {
        let plant = try Plant.load(directory: Fixtures.shippedDevices)
        // Machining: 6 NC-capable of 8 key-process machines; assembly 4 of 7; site 10 of 15.
        #expect(Indicators.staticControlRate(plant: plant, scope: .workshop("ws-machining")) == 6.0 / 8)
        #expect(Indicators.staticControlRate(plant: plant, scope: .workshop("ws-assembly")) == 4.0 / 7)
        #expect(Indicators.staticControlRate(plant: plant, scope: .site("sz-baoan")) == 10.0 / 15)
        var byProcess = plant
        byProcess.sites[0].controlRateBasis = .processCount
        // Every key process of the example plant has an NC-capable machine except none: 9 of 9.
        let rate = Indicators.staticControlRate(plant: byProcess, scope: .site("sz-baoan"))
        #expect(rate != nil && rate! <= 1 && rate! > 0)
    }
}

@Suite("Shifts and OEE")
struct ShiftAndOEETests {
    @Test func plannedBusyTimeFollowsTheShiftCalendar() throws {
        let plant = try Plant.load(directory: Fixtures.shippedDevices)
        let site = plant.sites[0]
        let shifts = ShiftCalendar(site: site, calendar: WindowCalendar(timeZone: TimeZone(identifier: site.timeZone)!))
        #expect(site.shifts.map(\.name) == ["A", "B", "C"])
        let day = Timestamp.parseRFC3339("2025-11-28T00:00:00+08:00")!
        // A whole local day: 24 h minus three 30-minute breaks = 22.5 h.
        #expect(shifts.plannedBusyMs(from: day, to: day + 86_400_000) == 22.5 * 3_600_000)
        // 10:00–12:00 inside shift A (8 h with a 30-minute break): 2 h × 7.5/8.
        #expect(shifts.plannedBusyMs(from: day + 10 * 3_600_000, to: day + 12 * 3_600_000) == 2 * 3_600_000 * 7.5 / 8)
        #expect(shifts.occurrenceStart(containing: day + 17 * 3_600_000)?.shift.name == "B")
        #expect(shifts.occurrenceStart(containing: day + 17 * 3_600_000)?.start == day + 16 * 3_600_000)
    }

    @Test func oeeByTheISOFormulas() {
        // Two machines producing 6 h and 8 h: APT = 7 h. PBT = 7.5 h. PRI 50 s, 450 good + 10 scrap.
        let o = OEE.compute(
            producingMs: 14 * 3_600_000, machines: 2, plannedBusyMs: 7.5 * 3_600_000, priSeconds: 50,
            good: 450, scrap: 10)
        // availability = 7 / 7.5; effectiveness = 50 s × 460 / 7 h = 23,000 / 25,200; quality = 450 / 460
        #expect(abs(o.availability! - 7 / 7.5) < 1e-12)
        #expect(abs(o.effectiveness! - 23_000.0 / 25_200) < 1e-12)
        #expect(abs(o.quality! - 450.0 / 460) < 1e-12)
        #expect(abs(o.oee! - (7 / 7.5) * (23_000.0 / 25_200) * (450.0 / 460)) < 1e-12)
        #expect(abs(o.scrapRatio! - 10.0 / 460) < 1e-12)
        let idle = OEE.compute(producingMs: 0, machines: 2, plannedBusyMs: 3_600_000, priSeconds: 50, good: 0, scrap: 0)
        #expect(idle.availability == 0 && idle.effectiveness == nil && idle.oee == nil)
    }

    @Test func shiftsMustBeWholeHoursAndNotOverlap() throws {
        let bad = Fixtures.plantYAML.replacingOccurrences(
            of: "    timezone: Asia/Shanghai\n",
            with: """
                    timezone: Asia/Shanghai
                    shifts:
                      - {name: A, start: "08:30", end: "16:00"}
                      - {name: B, start: "00:00", end: "24:00"}
                      - {name: C, start: "08:00", end: "12:00"}

                """)
        let (_, problems) = Plant.loadReporting(directory: try Fixtures.registry(["plant.yaml": bad]))
        #expect(problems.contains { $0.message.contains("not a whole hour") })
        #expect(problems.contains { $0.message.contains("overlap") })
    }
}
