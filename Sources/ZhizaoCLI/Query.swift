import Aggregation
import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore
import Reporting

/// `zhizao query`: one series, per window: consumption, min/mean/max, or seconds per state.
struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One device metric per window: counters as consumption, gauges as min/mean/max, states as seconds per state.",
        discussion: """
            Windows are composed from the stored one-minute rollups, aligned to the time zone of \
            the device's site (days and months are local calendar days and months); their starts \
            print in site time with the offset, or in UTC with --utc. Units are in the column \
            headings. Resolution: the query covers exactly [--from, --to) to the minute; the \
            first and last windows are cut there and start at --from. Where retention has folded \
            minutes into hours, only whole hours remain: an edge inside such an hour counts the \
            hours starting in the window, and a note on stderr says so.

            Examples:
              zhizao query --device pm-mach-main --metric energy --from yesterday --to today --every 1h
              zhizao query --device cnc-101 --metric state --from=-24h --every 1h --format csv
              zhizao query --device cnc-101 --metric power --from 2026-11-28 --to 2026-11-29 --every 15m --format json
              zhizao query --device cnc-101 --metric power --from=-6h --utc     # window starts in UTC
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @Option(help: "Device id (see `zhizao devices list`).") var device: String
    @Option(help: "Metric name of the device.") var metric: String
    @OptionGroup var window: TimeWindowOptions<Window>
    @Option(help: "1m, 15m, 1h, 1d or 1mo.") var every: WindowCalendar.Every = .hour
    @Option(help: "table, csv or json.") var format: OutputFormat = .table
    @OptionGroup var time: TimeOptions
    @OptionGroup var language: LanguageOptions

    enum Window: TimeWindowDefaults {
        static let from: String? = "-24h"
        static let to: String? = "now"
        static let fromHelp = "Window start: \(TimeArgument.help)."
        static let toHelp = "Window end (exclusive)."
    }

    /// One window of a series (see Schemas/query.schema.json).
    struct Row: Encodable {
        var start: String
        var readings: Int?
        var consumption: Double?
        var min: Double?
        var mean: Double?
        var max: Double?
        var last: Double?
        var seconds: [String: Double]?
    }

    func run() throws {
        let plant: Plant
        do { plant = try registry.loadPlant() } catch { throw fail("\(error)") }
        let plan = AggregationPlan(plant: plant)
        guard let d = plant.deviceIndex(id: device) else {
            let near = nearest(device, in: plant.devices.map(\.id))
            throw fail("unknown device \(device)" + (near.isEmpty ? "" : "; nearest: \(near.joined(separator: ", "))"), code: 2)
        }
        let dev = plant.devices[d]
        guard let m = dev.metrics.first(where: { $0.name == metric }) else {
            throw fail("device \(device) has no metric \(metric); its metrics: \(dev.metrics.map(\.name).joined(separator: ", "))", code: 2)
        }
        let calendar = plan.calendars[plant.sites.firstIndex { $0.id == dev.site } ?? 0]
        let (fromMs, toMs) = try window.window(calendar: calendar)
        let reader = try store.reader(plant: plant)
        let zone = time.utc ? SiteClock.utcZone : calendar.timeZone
        // A window's start, cut at --from: the first window holds only what follows it.
        func label(_ ms: Int64) -> String { localTime(max(ms, fromMs), zone) }
        if let horizon = try? reader.minuteHorizon(), [fromMs, toMs].contains(where: { $0 < horizon && calendar.hourStart($0) != $0 }) {
            note(
                "zhizao: minute rollups before \(localTime(horizon, zone)) were pruned by retention: "
                    + "before then only whole hours remain, so the window's edges there count to the hour")
        }
        for n in closedPeriodNotes(device: dev, reader: reader, from: fromMs, to: toMs) { note(n) }
        let from = "from (\(SiteClock.heading(zone)))"
        let unit = m.unit.map { " \($0)" } ?? ""
        var rows: [Row] = []
        var header: [String]
        switch plan.series[Int(m.series)].kind {
        case .state:
            var windows = try reader.stateWindows(
                device: device, metric: metric, from: fromMs, to: toMs, every: every, calendar: calendar)
            // Time late readings added inside closed periods is taken out: those read as closed.
            for (minute, states) in try reader.heldStateMinutes(device: device, metric: metric, from: fromMs, to: toMs) {
                let start = calendar.windowStart(minute, every)
                for (state, ms) in states { windows[start, default: [:]][state, default: 0] -= ms }
            }
            let states = Array(Set(windows.values.flatMap(\.keys))).sorted()
            header = [from] + states.map { "\($0) s" }
            for start in windows.keys.sorted() {
                rows.append(Row(start: label(start), seconds: windows[start]!.mapValues { Double($0) / 1000 }))
            }
            if format != .json {
                try emit(header, rows.map { r in [r.start] + states.map { String(format: "%.0f", r.seconds?[$0] ?? 0) } })
                return
            }
        case .counter, .integratedGauge, .gauge:
            let counter = plan.series[Int(m.series)].kind != .gauge
            let live = try reader.rollups(device: device, metric: metric, from: fromMs, to: toMs, every: every, calendar: calendar)
            let held = try reader.heldMinutes(device: device, metric: metric, from: fromMs, to: toMs)
            for w in Self.asClosed(live, held: held, every: every, calendar: calendar) {
                rows.append(
                    Row(
                        start: label(w.minute), readings: w.count,
                        consumption: counter ? w.consumption : nil, min: w.min,
                        mean: w.count > 0 ? w.sum / Double(w.count) : nil, max: w.max, last: w.last))
            }
            // An integrated gauge's consumption is its unit times hours (kW → kWh, m3/h → m3).
            let consumedUnit: String =
                switch (m.kind, m.unit) {
                case (.gauge, let u?) where u.hasSuffix("/h"): " " + u.dropLast(2)
                case (.gauge, let u?): " \(u)h"
                default: unit
                }
            header =
                counter
                ? [from, "consumption\(consumedUnit)", "readings", "last\(unit)"]
                : [from, "min\(unit)", "mean\(unit)", "max\(unit)", "last\(unit)", "readings"]
            if format != .json {
                func f(_ v: Double?) -> String {
                    v.map { abs($0) >= 1000 ? String(format: "%.1f", $0) : String(format: "%.4g", $0) } ?? "-"
                }
                try emit(
                    header,
                    rows.map { r in
                        counter
                            ? [r.start, f(r.consumption), String(r.readings ?? 0), f(r.last)]
                            : [r.start, f(r.min), f(r.mean), f(r.max), f(r.last), String(r.readings ?? 0)]
                    })
                return
            }
        }
        if rows.isEmpty { return printEmpty(emptySentence, header: [], format: .json) }
        try printJSON(rows)
    }

    private var emptySentence: String { "no data for \(device)/\(metric) between \(window.from) and \(window.to)" }

    /// The rows as a table or CSV; an empty result keeps its format (see `printEmpty`).
    private func emit(_ header: [String], _ cells: [[String]]) throws {
        if cells.isEmpty { return printEmpty(emptySentence, header: header, format: format) }
        printTable(language.localization.headings(header, format: format), format: format, cells)
    }
}

extension WindowCalendar.Every: ExpressibleByArgument {}
