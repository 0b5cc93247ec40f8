import Aggregation
import Foundation
import PlantRegistry
import Reporting
import Testing

/// `IndicatorTable.ScopeIndex` looks each scope's facts up once; on a registry of three copies of
/// the example plant it must give, for every scope, what the linear scans over every site,
/// device and machine give.
@Suite("Scope index of the indicator table")
struct ScopeIndexTests {
    @Test func theIndexGivesWhatTheLinearScansGiveOnAScaledRegistry() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zhizao-x3-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ScaledRegistry(directory: Fixtures.shippedDevices, copies: 3).write(to: dir)
        let plant = try Plant.load(directory: dir)
        let plan = AggregationPlan(plant: plant)
        let index = IndicatorTable.ScopeIndex(plant: plant, plan: plan)
        let scopes = plant.sites.flatMap(\.scopes)
        // Three copies of each workshop and line, plus the site: nothing is missed.
        #expect(scopes.count == index.site.count)
        let lines = { (p: Plant) in p.sites.flatMap(\.workshops).flatMap(\.lines).count }
        #expect(lines(plant) == 3 * lines(try Plant.load(directory: Fixtures.shippedDevices)))
        var withMachines = 0
        for scope in scopes {
            #expect(index.site[scope] == plant.sites.firstIndex { $0.scopes.contains(scope) }, "\(scope)")
            let linear = plant.devices.filter { $0.keyProcess && $0.meterRole == nil && AggregationPlan.scopes(of: $0).contains(scope) }
            #expect((index.keyProcessDevices[scope] ?? []).map(\.id) == linear.map(\.id), "\(scope)")
            #expect(
                Indicators.staticControlRate(plant: plant, keyProcessDevices: index.keyProcessDevices[scope] ?? [])
                    == Indicators.staticControlRate(plant: plant, scope: scope), "\(scope)")
            #expect((index.machineCount[scope] ?? 0) == plan.machines(in: scope).count, "\(scope)")
            if (index.machineCount[scope] ?? 0) > 0 { withMachines += 1 }
        }
        #expect(withMachines > 3, "the comparison covers scopes with key-process machines")
        for line in plant.sites.flatMap(\.workshops).flatMap(\.lines) {
            #expect(index.lines[line.id]?.plannedCycleSeconds == line.plannedCycleSeconds)
        }
    }
}
