import Aggregation
import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore
import Reporting

/// `zhizao quality`: the data-quality events behind the figures, as an auditor asks for them.
struct QualityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality",
        abstract: "List register drops, estimated gaps and unknown states (the data-quality events behind the figures).",
        discussion: """
            Each event concerns the interval (start, end] between two reads of a series:
              rollover   the register wrapped at its modulus (`rollover`): use = modulus - previous + new
              reset      the register restarted near zero (at most `reset_below` of the previous read): use = new read
              anomaly    a smaller drop (jitter): nothing booked, the high-water mark kept
              estimated  a gap longer than twice `expected_interval_s`: its use spread over it, marked estimated
              stale      the device was silent past `stale_after_s`: its state unknown
              offline    the device was declared dead (Sparkplug): its state unknown
              balance    in that hour the meters below a scope added up to more than its whole-node
                         meter plus the site's `balance_tolerance` (device: the scope, metric: the
                         carrier, amount: the excess)
            Amounts are the use booked in the metric's unit, or hours unknown.

            Examples:
              zhizao quality
              zhizao quality --scope line:line-shaft --from 2026-11-01 --to 2026-12-01
              zhizao quality --device em-shaft --format csv > em-shaft-quality.csv
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @Option(help: "site, workshop:ID or line:ID: only its devices.") var scope: String?
    @Option(help: "Only this device.") var device: String?
    @OptionGroup var window: TimeWindowOptions<Window>
    @Option(help: "table, csv or json.") var format: OutputFormat = .table
    @OptionGroup var language: LanguageOptions

    enum Window: TimeWindowDefaults {
        static let from: String? = "-7d"
        static let to: String? = "now"
        static let fromHelp = "Events ending at or after: \(TimeArgument.help)."
        static let toHelp = "Events ending before."
    }

    /// One event (see Schemas/quality.schema.json).
    struct Row: Encodable {
        var device: String
        var metric: String
        var kind: String
        var start: String
        var end: String
        var amount: Double
        var unit: String
    }

    func run() throws {
        let plant: Plant
        do { plant = try registry.loadPlant() } catch { throw fail("\(error)") }
        let plan = AggregationPlan(plant: plant)
        let (from, to) = try window.window(calendar: plan.calendar)
        var devices: Set<String>?
        if let device {
            guard plant.deviceIndex(id: device) != nil else {
                let near = nearest(device, in: plant.devices.map(\.id))
                throw fail("unknown device \(device)" + (near.isEmpty ? "" : "; nearest: \(near.joined(separator: ", "))"), code: 2)
            }
            devices = [device]
        }
        if let scope {
            let reader = try store.reader(plant: plant)
            let table: IndicatorTable
            let resolved: Scope
            do {
                table = try IndicatorTable(plant: plant, reader: reader)
                resolved = try table.resolve(scope: scope)
            } catch { throw fail("--scope: \(error)", code: 2) }
            let inScope = Set(plant.devices.filter { Scope.containing($0).contains(resolved) }.map(\.id))
            devices = devices.map { $0.intersection(inScope) } ?? inScope
        }
        let reader = try store.reader(plant: plant)
        let events: [QualityEvent]
        do { events = try reader.qualityEvents(from: from, to: to, devices: devices) } catch { throw fail("\(error)") }
        let zone = plan.calendar.timeZone
        let units = Dictionary(
            plant.devices.flatMap { d in d.metrics.map { ("\(d.id)/\($0.name)", $0.unit ?? "") } },
            uniquingKeysWith: { a, _ in a })
        var rows = events.map { e -> Row in
            let timed = e.kind == "stale" || e.kind == "offline"
            return Row(
                device: e.device, metric: e.metric, kind: e.kind, start: localTime(e.startMs, zone), end: localTime(e.endMs, zone),
                amount: timed ? e.amount / 3_600_000 : e.amount, unit: timed ? "h" : units["\(e.device)/\(e.metric)"] ?? "")
        }
        // The metering tree's hourly balance check, per scope that has one.
        if device == nil {
            do {
                let table = try IndicatorTable(plant: plant, reader: reader)
                let within = try scope.map { [try table.resolve(scope: $0)] } ?? table.knownScopes
                let limit = Set(within.flatMap { s in table.knownScopes.filter { table.contains(s, $0) } })
                for s in table.knownScopes where limit.contains(s) && table.hasBalance(s) {
                    for v in try table.balanceViolations(scope: s, from: from, to: to) {
                        let unit = plant.devices.flatMap(\.metrics).first { $0.carrier == v.carrier && $0.measures == .energy }?.unit ?? ""
                        rows.append(
                            Row(
                                device: s.key, metric: v.carrier.rawValue, kind: "balance", start: localTime(v.hour, zone),
                                end: localTime(v.hour + WindowCalendar.hourMs, zone), amount: v.excess, unit: unit))
                    }
                }
            } catch { throw fail("\(error)") }
        }
        switch format {
        case .json:
            try printJSON(rows)
        case .csv, .table:
            if rows.isEmpty && format == .table {
                print("no data-quality events in the window")
                return
            }
            printTable(
                language.localization.headings(
                    ["device", "metric", "event", "start (site time)", "end (site time)", "amount", "unit"], format: format),
                format: format,
                rows.map { [$0.device, $0.metric, $0.kind, $0.start, $0.end, String(format: "%.3f", $0.amount), $0.unit] })
        }
    }
}
