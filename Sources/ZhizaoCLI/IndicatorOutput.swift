import Aggregation
import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore
import Reporting

extension IndicatorTable.Every: ExpressibleByArgument {}

extension IndicatorTable {
    /// Loads the registry and opens the database read-only, with readable failures.
    static func open(registry: RegistryOptions, store: StoreOptions) throws -> IndicatorTable {
        let plant: Plant
        do { plant = try registry.loadPlant() } catch { throw fail("\(error)") }
        let reader = try store.reader(plant: plant)
        return try failing { try IndicatorTable(plant: plant, reader: reader) }
    }

    /// `site`, `workshop:ID` or `line:ID` (default: the site); exit 2 naming the nearest otherwise.
    func resolveOrFail(scope: String?) throws -> Scope {
        try failing { try resolve(scope: scope) }
    }

    /// `--baseline FROM..TO` as a window; exit 2 unless FROM is before TO.
    func baselineOrFail(_ text: String, calendar: WindowCalendar? = nil) throws -> (from: Int64, to: Int64) {
        guard let window = TimeArgument.parseRange(text, calendar: calendar ?? plan.calendar) else {
            throw fail("--baseline \(text) is not FROM..TO with FROM before TO (each \(TimeArgument.help))", code: 2)
        }
        return window
    }

    /// The rows, with a failure message that names the command's flags.
    func rowsOrFail(scopes: [Scope], from: Int64, to: Int64, every: Every, baseline: (from: Int64, to: Int64)?) throws -> [Row] {
        try failing { try rows(scopes: scopes, from: from, to: to, every: every, baseline: baseline) }
    }

    /// Whether a scope has OEE figures: a line that declares `planned_cycle_s`.
    func hasOEE(_ scope: Scope) -> Bool {
        guard case .line(let id) = scope else { return false }
        return plant.sites.flatMap(\.workshops).flatMap(\.lines).contains { $0.id == id && $0.plannedCycleSeconds != nil }
    }

    /// The zone times print in: the site's, or UTC with `--utc`.
    func zone(_ time: TimeOptions) -> TimeZone { time.utc ? SiteClock.utcZone : plan.calendar.timeZone }

    /// The zone a scope's times print in: its site's, or UTC with `--utc`.
    func zone(_ time: TimeOptions, scope: Scope) -> TimeZone { time.utc ? SiteClock.utcZone : calendar(of: scope).timeZone }

    /// A row's window start in `zone` (site time unless `--utc`), with the shift's name for rows per shift.
    func label(_ row: Row, zone: TimeZone) -> String {
        localTime(row.start, zone) + (row.shift.map { " shift \($0)" } ?? "")
    }

    /// The rows as `indicators --format json` prints them, each start in its scope's site time.
    func json(_ rows: [Row], time: TimeOptions) -> [IndicatorRowJSON] {
        rows.map {
            IndicatorRowJSON(
                scope: $0.scope.key, start: label($0, zone: zone(time, scope: $0.scope)), product: $0.product, indicators: $0.indicators,
                baseline: $0.baseline, changePct: $0.changePct, pendingAdjustment: $0.pending)
        }
    }
}

/// Runs `body`, turning a `ReportingError` into its message on stderr and an exit code.
private func failing<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ReportingError {
        switch error {
        case .noSite: throw fail("\(error)")
        case .unknownScope: throw fail("\(error)", code: 2)
        case .noShiftCalendar(let site):
            throw fail("--every shift needs a shift calendar: add `shifts:` to site \(site) in plant.yaml", code: 2)
        }
    }
}

/// One indicator row (see Schemas/indicators.schema.json).
struct IndicatorRowJSON: Encodable {
    var scope: String
    var start: String
    /// The product, for rows of `--by product`.
    var product: String?
    var indicators: Indicators
    var baseline: Indicators?
    var changePct: [String: Double]?
    /// Present when the window touches a closed period: the late readings held beside its figures.
    var pendingAdjustment: PendingAdjustment?

    enum CodingKeys: String, CodingKey {
        case scope, start, product, indicators, baseline
        case changePct = "change_pct"
        case pendingAdjustment = "pending_adjustment"
    }
}
