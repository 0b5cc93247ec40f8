import Aggregation
import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore

/// `zhizao indicators`: the figures a pilot workshop is judged on, per scope and window.
struct IndicatorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "indicators",
        abstract: "Energy, CO2 and water per good unit, and both key-process control rates, per scope and window.",
        discussion: """
            The static control rate comes from the registry (NC-capable share of key-process
            machines, or of key processes, as the site chooses); the operational rate from
            telemetry (key-process producing time under NC control over producing time).
            Figures come from stored rollups: reading them never rescans raw readings.

            Examples:
              zhizao indicators --scope site --from -7d --to now --every 1d
              zhizao indicators --by workshop --from 2026-11-01 --to 2026-12-01
              zhizao indicators --scope line:line-shaft --from yesterday --to today --every 1h --format json
              zhizao indicators --scope line:line-motor --from=-2d --every shift      # per shift, with OEE
            """)

    enum By: String, ExpressibleByArgument, CaseIterable {
        case workshop
        case line
    }

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @Option(help: "site, workshop:ID or line:ID (default: the site).") var scope: String?
    @Option(help: "One row per workshop or line over the whole window (instead of --scope).") var by: By?
    @Option(parsing: .unconditional, help: ArgumentHelp("Window start: \(TimeArgument.help).", valueName: "T")) var from: String = "-7d"
    @Option(parsing: .unconditional, help: ArgumentHelp("Window end (exclusive).", valueName: "T")) var to: String = "now"
    @Option(help: "1h, shift, 1d, 1mo or all (one row for the window).") var every: IndicatorTable.Every = .day
    @Option(parsing: .unconditional, help: ArgumentHelp("Compare with a baseline window FROM..TO (e.g. 2025-11..2025-12).", valueName: "FROM..TO"))
    var baseline: String?
    @Option(help: "table, csv or json.") var format: OutputFormat = .table

    func run() throws {
        let table = try IndicatorTable.open(registry: registry, store: store)
        let site = table.site
        let (fromMs, toMs) = try table.window(from: from, to: to)
        let scopes: [String]
        var every = self.every
        if let by {
            scopes = table.knownScopes.filter { $0.hasPrefix(by.rawValue + ":") }
            every = .all
        } else {
            scopes = [try table.resolve(scope: scope)]
        }
        let baseWindow = try baseline.map { try table.baseline($0) }
        let rows = try table.rows(scopes: scopes, from: fromMs, to: toMs, every: every, baseline: baseWindow)
        if format == .json { try printJSON(rows); return }
        if rows.isEmpty { print("no figures stored for \(scopes.joined(separator: ", ")) between \(from) and \(to)"); return }
        func f(_ v: Double?, _ digits: Int = 2) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "-" }
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f", $0 * 100) } ?? "-" }
        var header = ["scope", "from (local)", "electricity kWh", "energy kgce", "good units", "kWh/unit", "kgce/unit",
                      "kgCO2/unit", "water m3/unit", "static ctrl rate %", "operational ctrl rate %"]
        let anyValueAdded = rows.contains { $0.indicators.kgcePer10kYuan != nil }
        if anyValueAdded { header += ["kgce/10k yuan", "kgCO2/10k yuan"] }
        let anyOEE = rows.contains { $0.indicators.oee != nil }
        if anyOEE { header += ["availability %", "effectiveness %", "quality %", "OEE %"] }
        if baseWindow != nil { header += ["kWh/unit vs base %", "kgce/unit vs base %", "kgCO2/unit vs base %"] }
        let cells = rows.map { r in
            let i = r.indicators
            var cells = [r.scope, r.start, f(i.electricityKWh, 1), f(i.energyKgce, 1), f(i.goodUnits, 0), f(i.kwhPerGoodUnit, 3),
                         f(i.kgcePerGoodUnit, 4), f(i.co2KgPerGoodUnit, 3), f(i.waterM3PerGoodUnit, 4),
                         pct(i.staticControlRate), pct(i.operationalControlRate)]
            if anyValueAdded { cells += [f(i.kgcePer10kYuan, 2), f(i.co2KgPer10kYuan, 2)] }
            if anyOEE { cells += [pct(i.oee?.availability), pct(i.oee?.effectiveness), pct(i.oee?.quality), pct(i.oee?.oee)] }
            if let c = r.changePct {
                cells += [f(c["kwh_per_good_unit"], 1), f(c["kgce_per_good_unit"], 1), f(c["co2_kg_per_good_unit"], 1)]
            }
            return cells
        }
        printTable(header, format: format, cells)
        print("\ngrid factor \(site.gridFactor.kgCO2PerUnit) kgCO2/kWh (\(site.gridFactor.series), \(site.gridFactor.vintage)); "
              + "static = from the registry, operational = from telemetry (key processes only)")
        let notes = Set(rows.flatMap { $0.indicators.notes })
        for n in notes.sorted() { print("note: \(n)") }
    }
}

/// `zhizao value-added`: the industrial value added a programme divides energy and CO2 by.
struct ValueAdded: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "value-added",
        abstract: "Record a month's industrial value added (yuan) for a scope.",
        discussion: """
            Value added is not telemetry: the finance department supplies it per month. With it,
            `zhizao indicators` adds kgce and kgCO2 per 10,000 yuan for windows made of whole months.

            Examples:
              zhizao value-added --period 2026-11 --scope site --yuan 12500000
              zhizao value-added --period 2026-11 --scope workshop:ws-machining --yuan 5200000
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @Option(help: "The month, YYYY-MM (site time).") var period: String
    @Option(help: "site, workshop:ID or line:ID.") var scope: String = "site"
    @Option(help: "Value added in yuan.") var yuan: Double

    func run() throws {
        let plant: Plant
        do { plant = try Plant.load(directory: registry.devices) } catch { throw fail("\(error)") }
        let plan = AggregationPlan(plant: plant)
        guard let site = plant.sites.first else { throw fail("the registry has no site") }
        guard period.count == 7, let month = TimeArgument.parse(period, calendar: plan.calendar) else {
            throw fail("--period \(period) is not a month: use YYYY-MM, e.g. 2026-11", code: 2)
        }
        guard yuan >= 0, yuan.isFinite else { throw fail("--yuan must be a non-negative amount", code: 2) }
        var known = ["site:\(site.id)"]
        for ws in site.workshops { known.append("workshop:\(ws.id)"); known += ws.lines.map { "line:\($0.id)" } }
        let s = scope == "site" ? "site:\(site.id)" : scope
        guard known.contains(s) else {
            throw fail("unknown scope \(s); nearest: \(nearest(s, in: known).joined(separator: ", "))", code: 2)
        }
        guard FileManager.default.fileExists(atPath: store.db) else { throw fail("no database at \(store.db)") }
        try SQLiteStore(path: store.db).setValueAdded(scope: s, monthStart: month, yuan: yuan)
        print("value added of \(s) for \(period): \(yuan) yuan")
    }
}

/// `zhizao rebuild`: recompute every rollup from raw readings.
struct Rebuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recompute all rollups and indicator totals from the raw readings.",
        discussion: """
            Stop the daemon first: the rebuild takes the database's write lock. The result is
            identical to what streaming ingest stored, whatever order readings arrived in. With
            --from/--to only the local days they touch are recomputed.

            Examples:
              zhizao rebuild --db /var/lib/zhizao/zhizao.sqlite --devices /etc/zhizao/devices
              zhizao rebuild --from 2026-11-01 --to 2026-11-08
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @Option(parsing: .unconditional, help: ArgumentHelp("First local day to recompute: \(TimeArgument.help).", valueName: "T"))
    var from: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("End of the range (exclusive; its day is recomputed whole).", valueName: "T"))
    var to: String?

    func run() throws {
        let plant: Plant
        do { plant = try Plant.load(directory: registry.devices) } catch { throw fail("\(error)") }
        guard FileManager.default.fileExists(atPath: store.db) else { throw fail("no database at \(store.db)") }
        let plan = AggregationPlan(plant: plant)
        var range: (Int64?, Int64?) = (nil, nil)
        if let from {
            guard let t = TimeArgument.parse(from, calendar: plan.calendar) else { throw fail("--from \(from) is not a time: use \(TimeArgument.help)", code: 2) }
            range.0 = t
        }
        if let to {
            guard let t = TimeArgument.parse(to, calendar: plan.calendar), t > (range.0 ?? .min) else {
                throw fail("--to \(to) is not a time after --from: use \(TimeArgument.help)", code: 2)
            }
            range.1 = t
        }
        let s = try SQLiteStore(path: store.db)
        try s.prepareSeries(plant.series)
        s.enableAggregation(plan)
        let terminal = isatty(STDERR_FILENO) == 1
        try s.rebuildRollups(from: range.0, to: range.1) { done, total in
            if terminal { FileHandle.standardError.write(Data("\r\u{1B}[Krebuilding: series \(done) of \(total)".utf8)) }
        }
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        print("rebuilt the rollups of \(plant.series.count) series in \(store.db)")
    }
}

/// Epoch milliseconds in a given zone, with its offset (one formatter per zone and precision:
/// building a `DateFormatter` costs more than formatting a year of rows).
func localTime(_ ms: Int64, _ zone: TimeZone, precise: Bool = false) -> String {
    let key = "\(zone.identifier)|\(precise)"
    let f: DateFormatter
    if let cached = formatters[key] {
        f = cached
    } else {
        f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = zone
        f.dateFormat = precise ? "yyyy-MM-dd'T'HH:mm:ss.SSSxxx" : "yyyy-MM-dd'T'HH:mmxxx"
        formatters[key] = f
    }
    return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
}

nonisolated(unsafe) private var formatters: [String: DateFormatter] = [:]  // CLI commands run on one thread
