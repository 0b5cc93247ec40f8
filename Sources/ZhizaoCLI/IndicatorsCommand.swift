import Aggregation
import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore
import Reporting

/// `zhizao indicators`: the figures a pilot workshop is judged on, per scope and window.
struct IndicatorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "indicators",
        abstract: "Energy, CO2 and water per good unit, and both key-process control rates, per scope and window.",
        discussion: """
            The static control rate comes from the registry (NC-capable share of key-process \
            machines, or of key processes, as the site chooses); the operational rate from \
            telemetry (key-process producing time under NC control over producing time). \
            Figures come from stored rollups: reading them never rescans raw readings. \
            Resolution: a window covers exactly [--from, --to) to the minute: whole days and \
            hours from the stored day and hour totals, the ragged edges from per-series minute \
            rollups (where retention has pruned those minutes, an edge counts to the nearest \
            hour and a note says so); the first and last rows are cut at --from and --to, and \
            OEE's planned busy time is that of the same window. Times are read and printed in \
            the time zone of the scope's site (with the offset, or in UTC with --utc); each \
            site's shifts, coefficients and emission factors apply to its own scopes. Energy per \
            value added is in tce per 10,000 yuan, over the whole months in a row that have a \
            recorded value added, with the energy of exactly those months. The CO2 scopes \
            column says what CO2 includes: 1 = fuels burnt (scope 1), 2 = purchased \
            electricity, heat and steam (scope 2). An empty window prints the header row (CSV) \
            or [] (JSON) with the reason on stderr, and exits 0.

            Examples:
              zhizao indicators --scope site --from -7d --to now --every 1d
              zhizao indicators --by workshop --from 2026-11-01 --to 2026-12-01
              zhizao indicators --scope line:line-shaft --from yesterday --to today --every 1h --format json
              zhizao indicators --scope line:line-motor --from=-2d --every shift      # per shift, with OEE
              zhizao indicators --by line --from=-7d --format csv > lines.csv         # header row even when empty
              zhizao indicators --scope site --by product --from=-7d                  # per product, each in its unit
              zhizao indicators --every all --from 2026-11-02T12:00+08:00 --to 2026-11-03T12:00+08:00   # exactly 24 h
              zhizao indicators --scope site:de-berlin --from 2026-10 --to 2026-11 --every 1mo   # another site, its own zone
              zhizao indicators --by site --db postgresql://zhizao@db.lan/zhizao --site-devices /etc/zhizao/sz-baoan \
                  --site-devices /etc/zhizao/dg-songshan --from 2026-11 --to 2026-12   # one row per site, each its own registry

            --by site compares the sites stored in one database (several sites' daemons writing \
            one PostgreSQL database): each site's coefficients, products, calendar and factors come \
            from its own registry, so pass --site-devices once per site; a site stored in the \
            database without a registry given is refused, naming it. Each site's window is read in \
            its own time zone. On a SQLite file (one site) --by site gives the one row.

            A window touching a closed period (`zhizao close`, listed by `zhizao periods`) shows \
            the figures as they were closed, with the late readings held since then beside them \
            (pending adj. columns, `pending_adjustment` in JSON, and a note); `zhizao reopen` folds them in.

            A workshop's or site's output is its lines' final products (intermediate ones, \
            components of another line's product, stay with their line), converted by each \
            product's `factor`; over unlike products without factors there is no per-unit figure \
            (use --by product). "unmetered kWh" is what a scope's whole-node meter sees and the \
            meters below it do not; "balance fails h" counts the hours in which the meters below \
            exceed it by more than the site's balance_tolerance (zhizao quality lists them).
            """)

    enum By: String, ExpressibleByArgument, CaseIterable {
        case workshop
        case line
        /// One row per product the scope's lines make, each in its own unit.
        case product
        /// One row per site stored in the database, each with its own registry (`--site-devices`).
        case site
    }

    enum Window: TimeWindowDefaults {
        static let from: String? = "-7d"
        static let to: String? = "now"
        static let fromHelp = "Window start: \(TimeArgument.help)."
        static let toHelp = "Window end (exclusive)."
    }

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @Option(help: "site (the first site), site:ID, workshop:ID or line:ID (default: the first site).") var scope: String?
    @Option(
        help: """
            One row per workshop, line, product (within --scope) or site over the whole window; site: one row per site \
            stored in the database, each reckoned with its own registry (see --site-devices).
            """)
    var by: By?
    @Option(
        name: .customLong("site-devices"),
        help: ArgumentHelp(
            "With --by site: one site's registry directory; repeat it once per site in the database (default: --devices alone).",
            valueName: "DIR"))
    var siteDevices: [String] = []
    @OptionGroup var window: TimeWindowOptions<Window>
    @Option(help: "1h, shift, 1d, 1mo or all (one row for the window).") var every: IndicatorTable.Every = .day
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Compare with a baseline window FROM..TO (e.g. 2025-11..2025-12).", valueName: "FROM..TO"))
    var baseline: String?
    @Option(help: "table, csv or json.") var format: OutputFormat = .table
    @OptionGroup var time: TimeOptions
    @OptionGroup var language: LanguageOptions

    func validate() throws {
        if !siteDevices.isEmpty && by != .site {
            throw ValidationError("--site-devices is for --by site; to read one registry use --devices DIR")
        }
        if by == .site && scope != nil {
            throw ValidationError("--by site compares whole sites: leave out --scope \(scope ?? ""), or use --scope without --by")
        }
    }

    func run() throws {
        if by == .site { return try printRows(try siteRows()) }
        let table = try IndicatorTable.open(registry: registry, store: store)
        let scopes: [Scope]
        var every = self.every
        let rows: [IndicatorTable.Row]
        if by == .product {
            scopes = [try table.resolveOrFail(scope: scope)]
            every = .all
        } else if let by {
            scopes = table.scopes(by == .workshop ? .workshop : .line)
            every = .all
        } else {
            scopes = [try table.resolveOrFail(scope: scope)]
        }
        // Times are typed and printed in the time zone of the (first) scope's site.
        let site = table.site(of: scopes.first ?? .site(table.site.id))
        let calendar = table.calendar(of: scopes.first ?? .site(site.id))
        let (fromMs, toMs) = try window.window(calendar: calendar)
        let baseWindow = try baseline.map { try table.baselineOrFail($0, calendar: calendar) }
        if by == .product {
            rows = try table.productRows(scope: scopes[0], from: fromMs, to: toMs)
        } else {
            rows = try table.rowsOrFail(scopes: scopes, from: fromMs, to: toMs, every: every, baseline: baseWindow)
        }
        try printRows(
            Listing(
                asked: scopes.map { (table, $0) }, rows: rows.map { (table, $0) }, every: every, baseline: baseWindow != nil,
                zone: time.utc ? SiteClock.utcZone : calendar.timeZone))
    }

    /// Rows to print, each with the table (registry and reader) it was computed with.
    struct Listing {
        var asked: [(table: IndicatorTable, scope: Scope)]
        var rows: [(table: IndicatorTable, row: IndicatorTable.Row)]
        var every: IndicatorTable.Every
        var baseline: Bool
        /// The zone of the heading (the first scope's site, or UTC).
        var zone: TimeZone
    }

    /// `--by site`: one row per site of the database over the window in its own site time, each
    /// computed with its own registry; refused when a stored site has no registry given.
    func siteRows() throws -> Listing {
        let directories = siteDevices.isEmpty ? [registry.devices] : siteDevices
        var tables: [IndicatorTable] = []
        var covered: [String: String] = [:]
        for dir in directories {
            var options = registry
            options.devices = dir
            let table = try IndicatorTable.open(registry: options, store: store)
            for s in table.plant.sites {
                if let other = covered[s.id] {
                    throw fail("--site-devices: site \(s.id) is in both \(other) and \(dir): give each site's registry once", code: 2)
                }
                covered[s.id] = dir
            }
            tables.append(table)
        }
        let stored: [String]
        do { stored = try tables[0].reader.storedSites() } catch { throw fail("\(error)") }
        let missing = stored.filter { covered[$0] == nil }
        if !missing.isEmpty {
            throw fail(
                "--by site: \(store.db.isEmpty ? "the database" : StoreTarget.redacted(store.db)) holds site(s) "
                    + "\(missing.joined(separator: ", ")) with no registry given (given: \(covered.keys.sorted().joined(separator: ", "))); "
                    + "pass each site's registry, e.g. --site-devices /etc/zhizao/\(missing[0])", code: 2)
        }
        var listing = Listing(asked: [], rows: [], every: .all, baseline: baseline != nil, zone: SiteClock.utcZone)
        for table in tables {
            for site in table.plant.sites {
                let scope = Scope.site(site.id)
                let calendar = table.calendar(of: scope)
                let (fromMs, toMs) = try window.window(calendar: calendar)
                let baseWindow = try baseline.map { try table.baselineOrFail($0, calendar: calendar) }
                if listing.asked.isEmpty { listing.zone = time.utc ? SiteClock.utcZone : calendar.timeZone }
                listing.asked.append((table, scope))
                listing.rows += try table.rowsOrFail(scopes: [scope], from: fromMs, to: toMs, every: .all, baseline: baseWindow).map {
                    (table, $0)
                }
            }
        }
        return listing
    }

    /// Prints the rows as a table, CSV or JSON, with the notes.
    func printRows(_ listing: Listing) throws {
        let scopes = listing.asked.map(\.scope)
        let rows = listing.rows.map(\.row)
        let every = listing.every
        let zone = listing.zone
        let empty = "no figures stored for \(scopes.map(\.key).joined(separator: ", ")) between \(window.from) and \(window.to)"
        if format == .json {
            if rows.isEmpty { return printEmpty(empty, header: [], format: .json) }
            return try printJSON(listing.rows.flatMap { $0.table.json([$0.row], time: time) })
        }
        // Tables speak the reader's language; CSV stays English, whatever the language.
        let l = format == .table ? language.localization : Localization(.en)
        func f(_ v: Double?, _ digits: Int = 2) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "-" }
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f", $0 * 100) } ?? "-" }
        var header = [
            "scope", "from", "electricity kWh", "energy kgce", "good units", "kWh/unit", "kgce/unit",
            "kgCO2/unit", "CO2 scopes", "water m3/unit", "static ctrl rate %", "operational ctrl rate %",
        ].map { l($0) }
        let zones = Set(listing.asked.map { $0.table.zone(time, scope: $0.scope).identifier })
        header[1] += " (\(l.clock(zones.count > 1 ? "site time of each scope's site" : SiteClock.heading(zone))))"
        // CSV columns follow from the arguments alone, so files of different windows append;
        // a table shows only the columns that hold figures.
        let anyValueAdded = format == .csv ? every == .month || every == .all : rows.contains { $0.indicators.tcePer10kYuan != nil }
        // The programme's unit: tce per 10,000 yuan.
        if anyValueAdded { header += [l("tce/10k yuan"), l("kgCO2/10k yuan")] }
        let anyOEE = format == .csv ? listing.asked.contains { $0.table.hasOEE($0.scope) } : rows.contains { $0.indicators.oee != nil }
        if anyOEE { header += ["availability %", "effectiveness %", "quality %", "OEE %"].map { l($0) } }
        if listing.baseline { header += ["kWh/unit vs base %", "kgce/unit vs base %", "kgCO2/unit vs base %"].map { l($0) } }
        // The estimated share of the figures and unknown key-process time: always in CSV.
        let anyEstimated = format == .csv || rows.contains { !$0.indicators.estimatedPct.isEmpty }
        if anyEstimated { header += ["kWh estimated %", "kgce estimated %"].map { l($0) } }
        let anyUnknown = format == .csv || rows.contains { $0.indicators.unknownHours > 0 }
        if anyUnknown { header += [l("key-process unknown %")] }
        // Closed figures stay as reported; late readings held beside them (always in CSV).
        let anyPending = format == .csv || rows.contains { $0.pending != nil }
        if anyPending { header += ["pending adj. kWh", "pending adj. kgce", "pending adj. good units"].map { l($0) } }
        // The metering tree: in CSV whenever a scope asked for has an unmetered figure.
        let anyUnmetered =
            format == .csv ? listing.asked.contains { $0.table.hasBalance($0.scope) } : rows.contains { $0.indicators.unmetered != nil }
        if anyUnmetered { header += ["unmetered kWh", "balance fails h"].map { l($0) } }
        let anyMedia = rows.contains { $0.indicators.onSiteMediaKgce != nil }
        if anyMedia { header += [l("on-site media kgce")] }
        if by == .product { header.insert(l("product"), at: 1) }
        if rows.isEmpty { return printEmpty(empty, header: header, format: format) }
        let cells = listing.rows.map { table, r in
            let i = r.indicators
            let start = localTime(r.start, table.zone(time, scope: r.scope)) + (r.shift.map { " \(l("shift")) \($0)" } ?? "")
            var cells = [
                l.scope(r.scope, in: table.site(of: r.scope)), start, f(i.electricityKWh, 1), f(i.energyKgce, 1),
                i.goodByProduct != nil && i.kwhPerGoodUnit == nil && i.goodUnits == 0 ? "-" : f(i.goodUnits, 0), f(i.kwhPerGoodUnit, 3),
                f(i.kgcePerGoodUnit, 4), f(i.co2KgPerGoodUnit, 3), Self.scopesCell(i), f(i.waterM3PerGoodUnit, 4),
                pct(i.staticControlRate), pct(i.operationalControlRate),
            ]
            if anyValueAdded { cells += [f(i.tcePer10kYuan, 4), f(i.co2KgPer10kYuan, 2)] }
            if anyOEE { cells += [pct(i.oee?.availability), pct(i.oee?.effectiveness), pct(i.oee?.quality), pct(i.oee?.oee)] }
            if let c = r.changePct {
                cells += [f(c["kwh_per_good_unit"], 1), f(c["kgce_per_good_unit"], 1), f(c["co2_kg_per_good_unit"], 1)]
            }
            if anyEstimated { cells += [f(i.estimatedPct["electricity_kwh"] ?? 0, 1), f(i.estimatedPct["energy_kgce"] ?? 0, 1)] }
            if anyUnknown { cells += [pct(i.unknownShare)] }
            if anyPending, let p = r.pending {
                cells += [f(p.electricityKWh, 1), f(p.energyKgce, 1), f(p.goodUnits, 0)]
            } else if anyPending {
                cells += ["", "", ""]
            }
            if anyUnmetered { cells += [f(i.unmetered?["electricity"], 1), i.balanceViolationHours.map(String.init) ?? "-"] }
            if anyMedia { cells += [f(i.onSiteMediaKgce, 1)] }
            if by == .product { cells.insert(r.product ?? "-", at: 1) }
            return cells
        }
        printTable(header, format: format, cells)
        // Notes are for people: on stdout under a table, on stderr beside CSV so the file stays data.
        func say(_ text: String) { if format == .table { print(text) } else { note(text) } }
        let sites = Set(listing.asked.map { $0.table.site(of: $0.scope).id })
        var seen = Set<String>()
        for s in listing.asked.flatMap(\.table.plant.sites) where sites.contains(s.id) && seen.insert(s.id).inserted {
            let named = sites.count > 1 ? " (\(s.id))" : ""
            say(
                "\n\(l("grid factor"))\(named) \(s.gridFactor.kgCO2PerUnit) kgCO2/kWh (\(s.gridFactor.series), \(s.gridFactor.vintage)); "
                    + l("static = from the registry, operational = from telemetry (key processes only)"))
        }
        let notes = Set(rows.flatMap { $0.indicators.notes })
        for n in notes.sorted() { say("\(l("note: "))\(l.note(n))") }
    }

    /// The CO2 scopes a row includes: `1+2`, `2`, or `-` when it has no CO2 figure.
    static func scopesCell(_ i: Indicators) -> String {
        let scopes = i.co2Scopes.keys.sorted().map { $0.replacingOccurrences(of: "scope", with: "") }
        return scopes.isEmpty ? "-" : scopes.joined(separator: "+")
    }
}
