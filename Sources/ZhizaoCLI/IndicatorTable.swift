import Aggregation
import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore

/// Indicator rows for scopes and windows, as `zhizao indicators` prints them and
/// `zhizao report` draws them (see Schemas/indicators.schema.json).
struct IndicatorTable {
    enum Every: String, ExpressibleByArgument, CaseIterable {
        case hour = "1h"
        case shift
        case day = "1d"
        case month = "1mo"
        case all
    }

    struct Row: Encodable {
        var scope: String
        var start: String
        /// The window start in ms (for charts; not in the JSON).
        var startMs: Int64
        var indicators: Indicators
        var baseline: Indicators?
        var changePct: [String: Double]?

        enum CodingKeys: String, CodingKey {
            case scope, start, indicators, baseline
            case changePct = "change_pct"
        }
    }

    let plant: Plant
    let plan: AggregationPlan
    let site: Site
    let reader: StoreReader
    let shifts: ShiftCalendar
    let knownScopes: [String]

    /// Loads the registry and opens the database read-only, with readable failures.
    static func open(registry: RegistryOptions, store: StoreOptions) throws -> IndicatorTable {
        let plant: Plant
        do { plant = try Plant.load(directory: registry.devices) } catch { throw fail("\(error)") }
        let reader: StoreReader
        do { reader = try StoreReader(path: store.db) } catch { throw fail("\(error)") }
        return try IndicatorTable(plant: plant, reader: reader)
    }

    init(plant: Plant, reader: StoreReader) throws {
        guard let site = plant.sites.first else { throw fail("the registry has no site") }
        self.plant = plant
        self.plan = AggregationPlan(plant: plant)
        self.site = site
        self.reader = reader
        self.shifts = ShiftCalendar(site: site, calendar: plan.calendar)
        var known = ["site:\(site.id)"]
        for ws in site.workshops {
            known.append("workshop:\(ws.id)")
            known += ws.lines.map { "line:\($0.id)" }
        }
        knownScopes = known
    }

    /// `site`, `workshop:ID` or `line:ID`, checked; exit 2 naming the nearest otherwise.
    func resolve(scope: String?) throws -> String {
        var s = scope ?? "site:\(site.id)"
        if s == "site" { s = "site:\(site.id)" }
        guard knownScopes.contains(s) else {
            let near = nearest(s, in: knownScopes)
            throw fail("unknown scope \(s)" + (near.isEmpty ? "" : "; nearest: \(near.joined(separator: ", "))")
                       + "\nscopes: \(knownScopes.joined(separator: ", "))", code: 2)
        }
        return s
    }

    func window(from: String, to: String) throws -> (Int64, Int64) {
        guard let fromMs = TimeArgument.parse(from, calendar: plan.calendar) else {
            throw fail("--from \(from) is not a time: use \(TimeArgument.help)", code: 2)
        }
        guard let toMs = TimeArgument.parse(to, calendar: plan.calendar), toMs > fromMs else {
            throw fail("--to \(to) is not a time after --from: use \(TimeArgument.help)", code: 2)
        }
        return (fromMs, toMs)
    }

    func baseline(_ text: String) throws -> (Int64, Int64) {
        let parts = text.components(separatedBy: "..")
        guard parts.count == 2, let bf = TimeArgument.parse(parts[0], calendar: plan.calendar),
              let bt = TimeArgument.parse(parts[1], calendar: plan.calendar), bt > bf else {
            throw fail("--baseline \(text) is not FROM..TO with FROM before TO (each \(TimeArgument.help))", code: 2)
        }
        return (bf, bt)
    }

    /// OEE of a line with a planned run time per item; other scopes have none.
    func oee(scope: String, totals: [String: Double], from: Int64, to: Int64) -> OEE? {
        guard scope.hasPrefix("line:"), let line = site.workshops.flatMap(\.lines).first(where: { "line:\($0.id)" == scope }),
              let pri = line.plannedCycleSeconds else { return nil }
        let machines = plan.machines.filter { $0.scopes.contains(scope) }.count
        return OEE.compute(producingMs: totals[AggregationPlan.producingMs] ?? 0, machines: machines,
                           plannedBusyMs: shifts.plannedBusyMs(from: from, to: to), priSeconds: pri,
                           good: totals[AggregationPlan.good] ?? 0, scrap: totals[AggregationPlan.scrap] ?? 0)
    }

    /// Rows for each scope and window of [fromMs, toMs), with a baseline comparison if asked.
    func rows(scopes: [String], from fromMs: Int64, to toMs: Int64, every: Every, baseline baseWindow: (Int64, Int64)?) throws -> [Row] {
        if every == .shift && site.shifts.isEmpty {
            throw fail("--every shift needs a shift calendar: add `shifts:` to site \(site.id) in plant.yaml", code: 2)
        }
        var valueAddedByScope: [String: [Int64: Double]] = [:]
        /// Indicators of one scope over [start, end), with the value added of the whole months it covers.
        func indicators(_ scope: String, _ totals: [String: Double], _ start: Int64, _ end: Int64, rate: Double?) throws -> Indicators {
            if valueAddedByScope[scope] == nil {
                // One read per scope: the months that may fall in any window asked for.
                valueAddedByScope[scope] = try reader.valueAdded(scope: scope, from: min(fromMs, baseWindow?.0 ?? fromMs) - 32 * WindowCalendar.dayMs,
                                                                 to: max(toMs, baseWindow?.1 ?? toMs))
            }
            let months = valueAddedByScope[scope]!.filter { $0.key >= start && $0.key < end }
            let covered = months.filter { plan.calendar.nextMonth($0.key) <= end }
            return Indicators.compute(totals: totals, site: site, staticRate: rate,
                                      valueAddedYuan: covered.isEmpty ? nil : covered.values.reduce(0, +))
        }
        var rows: [Row] = []
        for s in scopes {
            let period = every == .hour || every == .shift ? "hour" : "day"
            var buckets: [(Int64, [String: Double])] = []
            var shiftEnds: [Int64: (String, Int64)] = [:]
            for (start, totals) in try reader.scopeTotals(scope: s, period: period, from: fromMs, to: toMs) {
                let key: Int64
                switch every {
                case .hour, .day: key = start
                case .month: key = plan.calendar.monthStart(start)
                case .all: key = fromMs
                case .shift:
                    guard let occurrence = shifts.occurrenceStart(containing: start) else { continue }
                    key = occurrence.start
                    shiftEnds[key] = (occurrence.shift.name, key + Int64(occurrence.shift.lengthMinutes) * 60_000)
                }
                if buckets.last?.0 == key {
                    buckets[buckets.count - 1].1.merge(totals, uniquingKeysWith: +)
                } else {
                    buckets.append((key, totals))
                }
            }
            let rate = Indicators.staticControlRate(plant: plant, scope: s)
            let keyMachines = plant.devices.filter { $0.keyProcess && $0.meterRole == nil && AggregationPlan.scopes(of: $0).contains(s) }.count
            let unobserved = keyMachines - plan.machines.filter { $0.scopes.contains(s) }.count
            var base: Indicators?
            if let (bf, bt) = baseWindow {
                var totals: [String: Double] = [:]
                for (_, t) in try reader.scopeTotals(scope: s, period: "day", from: bf, to: bt) { totals.merge(t, uniquingKeysWith: +) }
                base = try indicators(s, totals, bf, bt, rate: rate)
                base?.oee = oee(scope: s, totals: totals, from: bf, to: bt)
            }
            for (start, totals) in buckets {
                let end: Int64 = switch every {
                case .hour: start + WindowCalendar.hourMs
                case .shift: shiftEnds[start]?.1 ?? start
                case .day: plan.calendar.dayStart(start + 25 * WindowCalendar.hourMs)
                case .month: plan.calendar.nextMonth(start)
                case .all: toMs
                }
                var i = try indicators(s, totals, start, end, rate: rate)
                i.oee = oee(scope: s, totals: totals, from: max(start, fromMs), to: min(end, toMs))
                if unobserved > 0 {
                    i.notes.append("\(unobserved) key-process machine(s) in \(s) report no machine state: the operational rate covers the others")
                }
                var label = localTime(start, plan.calendar.timeZone)
                if let name = shiftEnds[start]?.0 { label += " shift \(name)" }
                rows.append(Row(scope: s, start: label, startMs: start, indicators: i,
                                baseline: base, changePct: base.map { i.changePercent(against: $0) }))
            }
        }
        return rows
    }
}
