import Aggregation
import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore
import Reporting

/// `zhizao value-added`: the industrial value added a programme divides energy and CO2 by.
struct ValueAdded: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "value-added",
        abstract: "Record a month's industrial value added (yuan) for a scope.",
        discussion: """
            Value added is not telemetry: the finance department supplies it per month (the \
            month of the scope's site, in its time zone). With it, `zhizao indicators` adds tce \
            and kgCO2 per 10,000 yuan over the whole months of a row that have a figure, divided \
            into the energy of exactly those months; a month a row holds only part of gives no \
            figure, and a note says so.
            Each entry, with the figure it replaced and who entered it, is kept in the audit trail
            (`zhizao audit`). A month closed for the scope (`zhizao close`) is refused unless \
            --reopen, which reopens it (audited) first.

            Examples:
              zhizao value-added --period 2026-11 --scope site --yuan 12500000
              zhizao value-added --period 2026-11 --scope workshop:ws-machining --yuan 5200000
              zhizao value-added --period 2026-10 --scope site --yuan 11900000 --reopen   # a closed month
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @Option(help: "The month, YYYY-MM (site time).") var period: String
    @Option(help: "site (the first site), site:ID, workshop:ID or line:ID.") var scope: String = "site"
    @Option(help: "Value added in yuan.") var yuan: Double
    @Flag(help: "Reopen the month first if it is closed for the scope (audited).") var reopen = false

    func run() throws {
        let plant: Plant
        do { plant = try registry.loadPlant() } catch { throw fail("\(error)") }
        let plan = AggregationPlan(plant: plant)
        guard let site = plant.sites.first else { throw fail("the registry has no site") }
        let known = plant.sites.flatMap(\.scopes)
        guard let s = site.scope(named: scope), known.contains(s) else {
            let s = site.scope(named: scope)?.key ?? scope
            throw fail("unknown scope \(s); nearest: \(nearest(s, in: known.map(\.key)).joined(separator: ", "))", code: 2)
        }
        // The month is the scope's site's local month.
        let calendar = plan.calendars[plant.sites.firstIndex { $0.scopes.contains(s) } ?? 0]
        guard period.count == 7, let month = TimeArgument.parse(period, calendar: calendar) else {
            throw fail("--period \(period) is not a month: use YYYY-MM, e.g. 2026-11", code: 2)
        }
        guard yuan >= 0, yuan.isFinite else { throw fail("--yuan must be a non-negative amount", code: 2) }
        let writer = try openAdminStore(store, plant: plant, aggregating: false)
        try refusingClosed("--period \(period)") {
            try writer.setValueAdded(
                scope: s, monthStart: month, monthEnd: calendar.nextMonth(month), period: period, yuan: yuan,
                by: .current(command: "value-added"), reopen: reopen)
        }
        print("value added of \(s) for \(period): \(yuan) yuan")
    }
}
