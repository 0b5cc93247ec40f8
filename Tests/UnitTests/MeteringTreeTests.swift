import Foundation
import PlantRegistry
import Telemetry
import Testing

@testable import Aggregation

/// The metering tree, products and on-site media (DOMAIN.md, "Metering semantics"), on small
/// registries whose numbers are worked by hand.
@Suite("Metering tree")
struct MeteringTreeTests {
    /// The test plant (shared with the end-to-end tests): ws1 makes shafts (intermediate, l1)
    /// and motors (final, factor 1, l2); ws2 makes pumps (final, factor 0.5, l3).
    static let plantYAML = try! String(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/metering-tree/plant.yaml"), encoding: .utf8)

    /// A registry of the test plant with one gateway file of `devices` (a YAML list).
    static func registry(_ devices: String, plant: String = plantYAML) throws -> String {
        try Fixtures.registry([
            "plant.yaml": plant, "gateways/native.yaml": "", "gateways/neuron.yaml": "", "gateways/plain.yaml": "",
            "gateways/meters.yaml": "gateway: gw-m\ndecoder: native\ntopic: zz/m/#\ndevices:\n" + devices,
        ])
    }

    static func meter(_ id: String, _ place: String, _ extra: String = "", carrier: String = "electricity", unit: String = "kWh") -> String
    {
        "  - {id: \(id), \(place)\(extra), metrics: [{name: e, kind: counter, unit: \(unit), measures: energy, carrier: \(carrier)}]}\n"
    }

    /// Feeds each counter two reads in one hour (0, then `use`) and returns the day totals per scope.
    static func dayTotals(_ plant: Plant, _ uses: [String: Double], metric: String = "e") throws -> [Scope: [String: Double]] {
        let plan = AggregationPlan(plant: plant)
        let aggregator = Aggregator(plan: plan)
        let store = MemoryStore(plan: plan)
        let t0: Int64 = 1_764_000_000_000  // 2025-11-24T16:00Z, a whole hour
        for (device, use) in uses {
            let s = SeriesIndex(try #require(plant.series.firstIndex(of: SeriesKey(device: device, metric: metric))))
            for (ts, v) in [(t0, 0.0), (t0 + 1_800_000, use)] {
                let r = Reading(series: s, timestampMs: ts, value: .number(v))
                if store.insert(r) { try aggregator.add(r, history: store) }
            }
        }
        var out: [Scope: [String: Double]] = [:]
        for (k, v) in aggregator.takeDelta().scopes where k.period == .day { out[k.scope, default: [:]][k.quantity, default: 0] += v }
        return out
    }

    /// The issue's example: site main 1,000 kWh; the workshop's own feeder, marked `sub` (a
    /// sub-meter of the site main), 600 kWh; a line meter inside it 400 kWh.
    /// workshop = 600 (its feeder, not 600 + 400), site = 1,000 (its main);
    /// unmetered: workshop 600 − 400 = 200, site 1,000 − 600 = 400; the line has nothing below.
    @Test(arguments: [
        // The older roles, as the issue's registry wrote them.
        [
            Self.meter("site-main", "site: s1", ", meter_role: main"), Self.meter("ws1-feeder", "workshop: ws1", ", meter_role: sub"),
            Self.meter("l1-meter", "workshop: ws1, line: l1", ", meter_role: sub"),
        ],
        // The tree's own keys.
        [
            Self.meter("site-main", "site: s1"), Self.meter("ws1-feeder", "workshop: ws1", ", parent: site-main"),
            Self.meter("l1-meter", "workshop: ws1, line: l1", ", parent: ws1-feeder"),
        ],
    ])
    func theIssuesExampleCountsEachNodeOnce(_ devices: [String]) throws {
        let plant = try Plant.load(directory: try Self.registry(devices.joined()))
        let t = try Self.dayTotals(plant, ["site-main": 1000, "ws1-feeder": 600, "l1-meter": 400])
        let e = "consumption.electricity"
        let u = "unmetered.consumption.electricity"
        #expect(t[.workshop("ws1")]?[e] == 600)
        #expect(t[.site("s1")]?[e] == 1000)
        #expect(t[.line("l1")]?[e] == 400)
        #expect(t[.workshop("ws1")]?[u] == 200)
        #expect(t[.site("s1")]?[u] == 400)
        #expect(t[.line("l1")]?[u] == nil)
        // In indicators: the column the user sees.
        let site = plant.sites[0]
        let ws = Indicators.compute(totals: t[.workshop("ws1")]!, site: site, scope: .workshop("ws1"), products: [], staticRate: nil)
        #expect(ws.electricityKWh == 600 && ws.unmetered?["electricity"] == 200)
    }

    /// A part meter (the office, 50 kWh) beside a workshop measured by its feeder (600 kWh),
    /// under a site without a main meter: site = 600 + 50 = 650, nothing unmetered.
    /// A part meter inside another part meter (the canteen, 20 kWh, `parent: office`) adds nothing.
    @Test func partMetersAddBesideTheChildrenOnce() throws {
        let devices =
            Self.meter("office", "site: s1", ", meter_scope: part")
            + Self.meter("canteen", "site: s1", ", meter_scope: part, parent: office")
            + Self.meter("ws1-feeder", "workshop: ws1")
        let plant = try Plant.load(directory: try Self.registry(devices))
        let t = try Self.dayTotals(plant, ["office": 50, "canteen": 20, "ws1-feeder": 600])
        #expect(t[.site("s1")]?["consumption.electricity"] == 650)
        #expect(t[.site("s1")]?["unmetered.consumption.electricity"] == nil)
        #expect(t[.workshop("ws1")]?["consumption.electricity"] == 600)
    }

    /// Whole 100 kWh; below 101.5 passes a 2% tolerance (≤ 102), below 103 fails by 1.
    @Test func theBalanceCheckFlagsOnlyHoursBeyondTheTolerance() {
        let hourly: [(Int64, [String: Double])] = [
            (0, ["consumption.electricity": 100, "unmetered.consumption.electricity": 100 - 101.5]),
            (3_600_000, ["consumption.electricity": 100, "unmetered.consumption.electricity": 100 - 103]),
        ]
        let v = BalanceCheck.violations(scope: .workshop("ws1"), hourly: hourly, tolerance: 0.02)
        #expect(v.count == 1 && v[0].hour == 3_600_000)
        #expect(abs(v[0].excess - 1) < 1e-9)  // 103 − 100 × 1.02
    }

    func problems(_ devices: String) throws -> [RegistryProblem] {
        Plant.loadReporting(directory: try Self.registry(devices)).1
    }

    @Test func layoutsThatCannotBeResolvedAreExplainedWithTheirLineAndAFix() throws {
        // Two whole-node meters of the workshop, neither naming the other.
        let two = try problems(Self.meter("a", "workshop: ws1") + Self.meter("b", "workshop: ws1"))
        #expect(two.count == 1)
        #expect(two[0].line == 6 && two[0].message.contains("both measure workshop ws1 as a whole"))
        #expect(two[0].hint?.contains("parent: a") == true && two[0].hint?.contains("meter_scope: part") == true)
        // Naming one the other's parent makes it a check meter: resolved.
        #expect(try problems(Self.meter("a", "workshop: ws1") + Self.meter("b", "workshop: ws1", ", parent: a")).isEmpty)
        // A cycle of parents.
        let cycle = try problems(Self.meter("a", "workshop: ws1", ", parent: b") + Self.meter("b", "workshop: ws1", ", parent: a"))
        #expect(cycle.contains { $0.message.contains("form a cycle") && $0.message.contains("a → b → a") })
        // A parent that is not upstream: another workshop's meter.
        let sideways = try problems(Self.meter("a", "workshop: ws1") + Self.meter("b", "workshop: ws2", ", parent: a"))
        #expect(sideways.count == 1 && sideways[0].line == 6 && sideways[0].message.contains("not upstream"))
        // A parent downstream: the line's meter as the workshop's parent.
        let down = try problems(Self.meter("a", "workshop: ws1, line: l1") + Self.meter("b", "workshop: ws1", ", parent: a"))
        #expect(down.contains { $0.message.contains("not upstream") })
        // An unknown parent, with the nearest id.
        let unknown = try problems(
            Self.meter("feeder-1", "workshop: ws1") + Self.meter("b", "workshop: ws1, line: l1", ", parent: feeder-2"))
        #expect(unknown.contains { $0.message.contains("feeder-2") && $0.hint?.contains("feeder-1") == true })
    }

    static func counter(_ id: String, _ place: String, _ extra: String = "") -> String {
        "  - {id: \(id), \(place)\(extra), metrics: [{name: good, kind: counter, unit: pcs, measures: good_count}]}\n"
    }

    /// Shafts (l1, intermediate, 100) are not site output; motors (l2, 40, factor 1) and pumps
    /// (l3, 60, factor 0.5) are: site = 40 × 1 + 60 × 0.5 = 70 standard units; ws1 = 40 motors.
    /// A machine's part counter (cnc-1 in l1's turning, 500) is not line output.
    @Test func outputIsFinalProductsConvertedByTheirFactors() throws {
        let devices =
            Self.counter("cnt-l1", "workshop: ws1, line: l1") + Self.counter("cnt-l2", "workshop: ws1, line: l2")
            + Self.counter("cnt-l3", "workshop: ws2, line: l3") + Self.counter("cnc-1", "workshop: ws1, line: l1, process: turning")
            + Self.meter("site-main", "site: s1")
        let plant = try Plant.load(directory: try Self.registry(devices))
        let t = try Self.dayTotals(plant, ["cnt-l1": 100, "cnt-l2": 40, "cnt-l3": 60, "cnc-1": 500], metric: "good")
        #expect(t[.line("l1")]?["good"] == 100)
        #expect(t[.site("s1")]?["good.shaft"] == nil)
        let products = plant.sites[0].workshops.flatMap(\.lines).map { AggregationPlan.product(of: $0) }
        var siteTotals = t[.site("s1")]!
        siteTotals["consumption.electricity"] = 700
        let site = Indicators.compute(totals: siteTotals, site: plant.sites[0], scope: .site("s1"), products: products, staticRate: nil)
        #expect(site.goodUnits == 70)
        #expect(site.kwhPerGoodUnit == 10)  // 700 kWh / 70 standard units
        let ws1 = Indicators.compute(
            totals: t[.workshop("ws1")]!, site: plant.sites[0], scope: .workshop("ws1"), products: products, staticRate: nil)
        #expect(ws1.goodUnits == 40)
        // Without the pump's factor, motors and pumps are unlike units: no sum, no per-unit figure.
        let noFactor = products.map { p -> Product in
            var p = p
            if p.id == "pump" { p.factor = nil }
            return p
        }
        let unlike = Indicators.compute(totals: siteTotals, site: plant.sites[0], scope: .site("s1"), products: noFactor, staticRate: nil)
        #expect(unlike.kwhPerGoodUnit == nil && unlike.goodByProduct == ["motor": 40, "pump": 60])
        #expect(unlike.notes.contains { $0.contains("unlike units") && $0.contains("pump") })
        #expect(!unlike.notes.contains { $0.hasPrefix("no good output") })
    }

    @Test func asecondOutputCounterOnALineIsAnError() throws {
        let p = try problems(
            Self.counter("cnt-a", "workshop: ws1, line: l2")
                + Self.counter("cnt-b", "workshop: ws1, line: l2, process: x", ", line_output: true"))
        #expect(p.contains { $0.message.contains("line l2 has two output counters") && $0.message.contains("cnt-a") })
    }

    /// Compressed air made on site: 1,000 m³ used by line l1 (its own meter, on site) at
    /// 0.04 kgce/m³ = 40 kgce allocated to the line, in its comprehensive energy
    /// (100 kWh × 0.1229 = 12.29 kgce, total 52.29); the site counts only its electricity (12.29),
    /// the air shown apart.
    @Test func mediaMadeOnSiteAreAllocatedToLinesAndNeverAddedToTheSite() throws {
        let devices =
            Self.meter("air-l1", "workshop: ws1, line: l1", ", origin: on_site", carrier: "compressed_air", unit: "m3")
            + Self.meter("em-l1", "workshop: ws1, line: l1")
        let plant = try Plant.load(directory: try Self.registry(devices))
        let t = try Self.dayTotals(plant, ["air-l1": 1000, "em-l1": 100])
        #expect(t[.line("l1")]?["on_site.compressed_air"] == 1000)
        #expect(t[.site("s1")]?["consumption.compressed_air"] == nil)
        let site = plant.sites[0]
        let line = Indicators.compute(totals: t[.line("l1")]!, site: site, scope: .line("l1"), products: [], staticRate: nil)
        #expect(abs(line.energyKgce! - (100 * 0.1229 + 1000 * 0.04)) < 1e-9)
        #expect(line.onSiteMediaKgce == 40)
        let whole = Indicators.compute(totals: t[.site("s1")]!, site: site, scope: .site("s1"), products: [], staticRate: nil)
        #expect(abs(whole.energyKgce! - 100 * 0.1229) < 1e-9)
        #expect(whole.onSiteMedia?["compressed_air"] == 1000)
        // Purchased air counts with its coefficient everywhere.
        let bought = try Plant.load(
            directory: try Self.registry(
                Self.meter("air-l1", "workshop: ws1, line: l1", ", origin: purchased", carrier: "compressed_air", unit: "m3")))
        let b = try Self.dayTotals(bought, ["air-l1": 1000])
        #expect(b[.site("s1")]?["consumption.compressed_air"] == 1000)
        // `origin` on a meter of no medium is an error.
        #expect(try problems(Self.meter("em", "workshop: ws1", ", origin: on_site")).contains { $0.message.contains("`origin: on_site`") })
    }
}
