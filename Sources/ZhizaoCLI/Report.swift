import Aggregation
import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore
import Reporting

/// `zhizao report`: one self-contained HTML file with charts and the table of figures.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an HTML report: the site and its workshops first, then each line, with charts and the figures as CSV.",
        discussion: """
            The first page holds the site and each workshop: energy, CO2 and water per good unit, \
            both key-process control rates and the lines' OEE, each against the baseline with its \
            change in percent. Charts over the window follow for the site, each workshop and each \
            line (the baseline dashed), then the table of figures, which the page also offers as a \
            CSV download. The file is self-contained (inline CSS, SVG and a data: link; no \
            scripts, nothing fetched): it opens in any browser and can be mailed or archived as \
            evidence. Times are in site time with the offset, or UTC with --utc. The audit trail \
            (value added entered, rebuilds, registry reloads) closes the report. Resolution: the \
            report covers exactly [--from, --to) to the minute, as `zhizao indicators` does \
            (stored days and hours inside, per-series minute rollups at the ragged edges, the \
            nearest hour where retention pruned those minutes).

            Examples:
              zhizao report --from=-30d --to today --out report.html
              zhizao report --from 2026-11 --to 2026-12 --baseline 2026-10..2026-11 --out site-nov.html
              zhizao report --scope workshop:ws-machining --from=-7d --every 1h --out ws-week.html
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @Option(help: "site, workshop:ID or line:ID.") var scope: String = "site"
    @OptionGroup var window: TimeWindowOptions<Window>
    @Option(help: "Chart points: 1h, 1d or 1mo.") var every: IndicatorTable.Every = .day
    @Option(parsing: .unconditional, help: ArgumentHelp("Baseline window FROM..TO, e.g. 2025-11..2025-12.", valueName: "FROM..TO"))
    var baseline: String?
    @Option(help: ArgumentHelp("The HTML file to write.", valueName: "FILE")) var out: String
    @OptionGroup var time: TimeOptions
    @OptionGroup var language: LanguageOptions

    enum Window: TimeWindowDefaults {
        static let from: String? = "-7d"
        static let to: String? = "now"
        static let fromHelp = "Start: \(TimeArgument.help)."
        static let toHelp = "End (exclusive)."
    }

    func validate() throws {
        guard out.hasSuffix(".html") || out.hasSuffix(".htm") else {
            throw ValidationError("--out \(out) must end in .html, e.g. --out report.html")
        }
        guard every != .shift && every != .all else { throw ValidationError("--every must be 1h, 1d or 1mo for a report") }
    }

    func run() throws {
        let table = try IndicatorTable.open(registry: registry, store: store)
        let scope = try table.resolveOrFail(scope: self.scope)
        let calendar = table.calendar(of: scope)
        let (fromMs, toMs) = try window.window(calendar: calendar)
        let base = try baseline.map { try table.baselineOrFail($0, calendar: calendar) }
        // The first page: the scope and, for the site, its workshops; then every line within.
        let headline = [scope] + (scope.kind == .site ? table.scopes(.workshop) : [])
        let lines = table.lines(within: scope).filter { !headline.contains($0) }
        let charted = headline + lines
        let series = try table.rowsOrFail(scopes: charted, from: fromMs, to: toMs, every: every, baseline: base)
        let totals = try table.rowsOrFail(scopes: charted, from: fromMs, to: toMs, every: .all, baseline: base)
        let zone = table.zone(time, scope: scope)
        func at(_ ms: Int64) -> String { localTime(ms, zone) }
        let audit: [AuditEntry]
        do { audit = try table.reader.audit(from: nil, to: nil) } catch { throw fail("\(error)") }
        let page = ReportPage(
            site: table.site(of: scope), scope: scope, headline: headline, lines: lines,
            series: series, totals: totals,
            audit: audit.map { [at($0.atMs), $0.command, $0.user, $0.subject, $0.before ?? "–", $0.after ?? "–"] },
            label: { String(table.label($0, zone: zone).prefix(every == .hour ? 16 : 10)) },
            from: at(fromMs), to: at(toMs), timeHeading: SiteClock.heading(zone),
            baseline: base.map { "\(at($0.from)) .. \(at($0.to))" },
            generated: at(Int64(Date().timeIntervalSince1970 * 1000)), l: language.localization)
        let html = page.render()
        guard FileManager.default.createFile(atPath: out, contents: Data(html.utf8)) else {
            throw fail("cannot write \(out): check that its folder exists and is writable")
        }
        print(
            "wrote \(out) (\(headline.count) site/workshop scope(s), \(lines.count) line(s), \(page.chartCount) charts, "
                + "\(series.count) points, \(html.utf8.count / 1024) KiB)")
        if totals.isEmpty {
            note("no figures stored for \(scope.key) between \(window.from) and \(window.to): the report's charts are empty")
        }
    }
}
