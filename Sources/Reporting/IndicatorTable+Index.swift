public import Aggregation
public import PlantRegistry

extension IndicatorTable {
    /// What the rows need to know of each scope, looked up once per table instead of scanning
    /// every device, machine or site per scope and per row: at 40 plants (1,240 devices, 160
    /// lines) those scans were a large part of `zhizao indicators --by line`. Each field gives
    /// what the linear way gives (`ScopeIndexTests` compares them on a scaled registry).
    public struct ScopeIndex: Sendable {
        /// Scope → index of its site in `plant.sites` (the site, its workshops and lines).
        public let site: [Scope: Int]
        /// Scope → its key-process machines that are not meters, in registry order (what
        /// `Indicators.staticControlRate(plant:scope:)` filters for).
        public let keyProcessDevices: [Scope: [Device]]
        /// Scope → how many key-process machines the aggregation plan books into it.
        public let machineCount: [Scope: Int]
        /// Line id → the line, for OEE's planned cycle time.
        public let lines: [String: Line]

        public init(plant: Plant, plan: AggregationPlan) {
            var site: [Scope: Int] = [:]
            var lines: [String: Line] = [:]
            for (i, s) in plant.sites.enumerated() {
                // The first site holding a scope wins, as `firstIndex` did.
                for scope in s.scopes where site[scope] == nil { site[scope] = i }
                for line in s.workshops.flatMap(\.lines) where lines[line.id] == nil { lines[line.id] = line }
            }
            var devices: [Scope: [Device]] = [:]
            for d in plant.devices where d.keyProcess && d.meterRole == nil {
                for scope in AggregationPlan.scopes(of: d) { devices[scope, default: []].append(d) }
            }
            var machines: [Scope: Int] = [:]
            for m in plan.machines { for scope in m.scopes { machines[scope, default: 0] += 1 } }
            self.site = site
            self.keyProcessDevices = devices
            self.machineCount = machines
            self.lines = lines
        }
    }
}
