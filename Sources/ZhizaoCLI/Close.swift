import Aggregation
import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore
import Reporting

/// `zhizao close`: freeze a reported period's figures; later readings wait beside them.
struct Close: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Close a reported period: its figures stay as reported, later readings are held beside them.",
        discussion: """
            A closed period is whole local days (site time) of a scope and every scope within it; \
            without --scope, the whole site. Readings that arrive later for it are stored as usual, \
            but what they would change in its figures is held as a late adjustment: `zhizao \
            indicators` and `zhizao report` show the closed figures with the pending adjustment \
            beside them, and `zhizao reopen` folds it in. `zhizao periods` lists closed periods with \
            what is pending; `value-added` and `rebuild` refuse to change a closed period unless \
            --reopen. Closing and reopening are in the audit trail (`zhizao audit`).

            Examples:
              zhizao close --period 2026-11
              zhizao close --period 2026-11 --scope workshop:ws-machining
              zhizao close --period 2026-11-05 --scope line:line-shaft
              zhizao close --from 2026-11-01 --to 2026-11-16
              zhizao periods
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var period: PeriodOptions

    func run() throws {
        let (plant, site, calendar) = try loadRegistry(registry)
        let range = try period.range(calendar: calendar)
        let scopes = try period.scopes(site: site, plant: plant)
        let s = try openAdminStore(store, plant: plant, aggregating: false)
        for scope in scopes {
            let frozen = plant.sites.first { $0.id == scope.id && scope.kind == .site }?.scopes ?? site.scopes(within: scope)
            let devices = plant.devices.filter { !Set(Scope.containing($0)).isDisjoint(with: frozen) }.map(\.id)
            do {
                let closed = try s.close(
                    scope: scope, frozen: frozen, devices: devices, start: range.from, end: range.to, label: range.label,
                    by: .current(command: "close"), nowMs: Int64(Date().timeIntervalSince1970 * 1000))
                print(
                    "closed \(closed.name): \(localTime(closed.start, calendar.timeZone)) to \(localTime(closed.end, calendar.timeZone)) "
                        + "(\(frozen.count) scope(s) frozen)")
            } catch {
                throw fail("cannot close \(range.label) \(scope): \(error)")
            }
        }
    }
}

/// `zhizao reopen`: fold a closed period's late adjustments into its figures.
struct Reopen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reopen closed periods: fold the late adjustments held beside their figures into them.",
        discussion: """
            Reopens every closed period sharing days with the period given, of the scope given \
            (or one holding it or within it; without --scope, of any scope). Its held adjustments \
            are added to its figures, which then equal a rebuild of the same readings. Each reopen \
            is in the audit trail with what it folded in.

            Examples:
              zhizao reopen --period 2026-11
              zhizao reopen --period 2026-11 --scope site
              zhizao reopen --from 2026-11-01 --to 2026-11-16
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var period: PeriodOptions

    func run() throws {
        let (plant, site, calendar) = try loadRegistry(registry)
        let range = try period.range(calendar: calendar)
        let scopes = period.scope == nil ? nil : Set(try period.scopes(site: site, plant: plant).flatMap { site.scopes(within: $0) })
        let reopened: [ReopenedPeriod]
        let s = try openAdminStore(store, plant: plant, aggregating: false)
        do {
            reopened = try s.reopen(from: range.from, to: range.to, scopes: scopes, by: .current(command: "reopen"))
        } catch { throw fail("cannot reopen \(range.label): \(error)") }
        if reopened.isEmpty {
            note("nothing closed overlaps \(range.label)\(period.scope.map { " for \($0)" } ?? ""): `zhizao periods` lists closed periods")
        }
        for r in reopened {
            print("reopened \(r.period.name): folded \(r.rows) late adjustment row(s) into its figures")
        }
    }
}

/// `zhizao periods`: the closed periods and what is pending beside their figures.
struct Periods: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List closed periods (zhizao close) with the late adjustments pending beside their figures.",
        discussion: """
            Pending figures are those of the closed scope itself over the whole period: what \
            `zhizao reopen` would add to its figures. Opens the database read-only.

            Examples:
              zhizao periods
              zhizao periods --format json
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @Option(help: "table, csv or json.") var format: OutputFormat = .table
    @OptionGroup var time: TimeOptions

    /// One closed period as `--format json` prints it.
    struct Listing: Encodable {
        var period: String
        var scope: String
        var start: String
        var end: String
        var closedAt: String
        var user: String
        var pending: PendingAdjustment

        enum CodingKeys: String, CodingKey {
            case period, scope, start, end, user, pending
            case closedAt = "closed_at"
        }
    }

    func run() throws {
        let table = try IndicatorTable.open(registry: registry, store: store)
        let zone = table.zone(time)
        let periods: [ClosedPeriod]
        do { periods = try table.reader.closedPeriods() } catch { throw fail("\(error)") }
        let listings = try periods.map { p in
            Listing(
                period: p.label, scope: p.scope.key, start: localTime(p.start, zone), end: localTime(p.end, zone),
                closedAt: localTime(p.closedAtMs, zone), user: p.user, pending: try table.pending(of: p))
        }
        if format == .json {
            if listings.isEmpty { return printEmpty("no closed periods", header: [], format: .json) }
            return try printJSON(listings)
        }
        let clock = SiteClock.heading(zone)
        let header = [
            "period", "scope", "from (\(clock))", "to (\(clock))", "closed at (\(clock))", "by",
            "pending adj. kWh", "pending adj. kgce", "pending adj. good units",
        ]
        if listings.isEmpty { return printEmpty("no closed periods", header: header, format: format) }
        func f(_ v: Double?, _ digits: Int) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "-" }
        printTable(
            header, format: format,
            listings.map {
                [
                    $0.period, $0.scope, $0.start, $0.end, $0.closedAt, $0.user, f($0.pending.electricityKWh, 1),
                    f($0.pending.energyKgce, 1), f($0.pending.goodUnits, 0),
                ]
            })
    }
}

/// `--period` (a month or a day) or `--from/--to` (whole local days), and `--scope`.
struct PeriodOptions: ParsableArguments {
    @Option(help: "A month (2026-11) or a day (2026-11-05), site time; or give --from and --to.") var period: String?
    @OptionGroup var window: TimeWindowOptions<Window>
    @Option(help: "site, site:ID, workshop:ID or line:ID (default: the whole site).") var scope: String?

    enum Window: TimeWindowDefaults {
        static let from: String? = ""
        static let to: String? = ""
        static let fromHelp = "First day of the period (a local day start: 2026-11-01), instead of --period."
        static let toHelp = "End of the period (exclusive, a local day start: 2026-12-01)."
    }

    /// [from, to) as whole local days, and the period's label as the user gave it.
    func range(calendar: WindowCalendar) throws -> (from: Int64, to: Int64, label: String) {
        if let period {
            guard window.from.isEmpty && window.to.isEmpty else {
                throw fail("give either --period or --from/--to, not both", code: 2)
            }
            guard let start = TimeArgument.parse(period, calendar: calendar), period.count == 7 || period.count == 10 else {
                throw fail("--period \(period) is not a month or a day: use YYYY-MM (2026-11) or YYYY-MM-DD (2026-11-05)", code: 2)
            }
            let end = period.count == 7 ? calendar.nextMonth(start) : calendar.dayStart(start + 25 * WindowCalendar.hourMs)
            return (start, end, period)
        }
        guard !window.from.isEmpty && !window.to.isEmpty else {
            throw fail("give the period: --period 2026-11 (a month or a day) or --from 2026-11-01 --to 2026-11-16", code: 2)
        }
        let (from, to) = try window.window(calendar: calendar)
        for (flag, text, ms) in [("--from", window.from, from), ("--to", window.to, to)] where calendar.dayStart(ms) != ms {
            throw fail("\(flag) \(text) is not the start of a local day: closed periods are whole days (e.g. 2026-11-01)", code: 2)
        }
        return (from, to, "\(window.from)..\(window.to)")
    }

    /// The scopes named (every site without --scope), checked against the registry.
    func scopes(site: Site, plant: Plant) throws -> [Scope] {
        guard let scope else { return plant.sites.map { .site($0.id) } }
        let known = plant.sites.flatMap(\.scopes)
        guard let s = site.scope(named: scope), known.contains(s) else {
            let typed = site.scope(named: scope)?.key ?? scope
            let near = nearest(typed, in: known.map(\.key))
            throw fail(
                "unknown scope \(typed) for --scope; " + (near.isEmpty ? "known: site, " : "nearest: ")
                    + (near.isEmpty ? known.map(\.key) : near).joined(separator: ", "), code: 2)
        }
        return [s]
    }
}

/// The registry, its first site and the site's calendar, or a readable failure.
private func loadRegistry(_ registry: RegistryOptions) throws -> (Plant, Site, WindowCalendar) {
    let plant: Plant
    do { plant = try registry.loadPlant() } catch { throw fail("\(error)") }
    guard let site = plant.sites.first else { throw fail("the registry has no site") }
    return (plant, site, AggregationPlan(plant: plant).calendar)
}

/// Runs a change that a closed period refuses, turning the refusal into a message that names
/// the period and the `--reopen` flag (`what` names the period as the user asked for it).
func refusingClosed(_ what: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as PeriodClosedError {
        throw fail(
            "\(what) touches closed period \(error.periods.map(\.name).joined(separator: ", ")) (zhizao periods lists them): "
                + "its reported figures would change; pass --reopen to reopen it (audited, late adjustments folded in) "
                + "and proceed, or leave it as reported")
    }
}

/// Notes for `zhizao query` when its window touches a closed period holding the device: its
/// figures there are as closed, except a gauge's min, max and last, which take late readings.
func closedPeriodNotes(device: Device, reader: any TelemetryReader, from: Int64, to: Int64) -> [String] {
    let periods = (try? reader.closedPeriods()) ?? []
    return ClosedPeriods(periods).overlapping(from: from, to: to).filter { $0.devices.contains(device.id) }.map {
        "note: the window touches closed period \($0.name): \(device.id)'s figures there are as closed "
            + "(readings that arrived later are left out, except from a gauge's min, max and last); "
            + "zhizao reopen takes them in"
    }
}

extension Query {
    /// A device metric's per-window figures with what late readings added inside closed periods
    /// taken out again, so a closed period reads as it was closed.
    static func asClosed(
        _ windows: [StoreReader.MinuteRollup], held: [StoreReader.MinuteRollup], every: WindowCalendar.Every,
        calendar: WindowCalendar
    ) -> [StoreReader.MinuteRollup] {
        guard !held.isEmpty else { return windows }
        var byWindow: [Int64: (count: Int, sum: Double, consumption: Double)] = [:]
        for h in held {
            let start = calendar.windowStart(h.minute, every)
            let w = byWindow[start] ?? (0, 0, 0)
            byWindow[start] = (w.count + h.count, w.sum + h.sum, w.consumption + h.consumption)
        }
        return windows.map { w in
            guard let h = byWindow[w.minute] else { return w }
            var out = w
            out.count -= h.count
            out.sum -= h.sum
            out.consumption -= h.consumption
            return out
        }
    }
}
