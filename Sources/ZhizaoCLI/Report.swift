import Aggregation
import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore
import Reporting

/// `zhizao report`: one self-contained HTML file with charts and the table of figures.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an HTML report: per-line charts of energy, CO2 and water per unit and both control rates, with the figures.",
        discussion: """
            The file is self-contained (inline CSS and SVG, no scripts, no network): it opens in
            any browser and can be mailed or archived as evidence. With --baseline each chart shows
            the baseline period's value as a dashed line and the table gives the change in percent.

            Examples:
              zhizao report --scope site --from=-30d --to today --out report.html
              zhizao report --scope workshop:ws-machining --from 2026-11 --to 2026-12 --baseline 2026-10..2026-11 --out ws-nov.html
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @Option(help: "site, workshop:ID or line:ID.") var scope: String = "site"
    @OptionGroup var window: TimeWindowOptions<Window>
    @Option(help: "Chart points: 1h, 1d or 1mo.") var every: IndicatorTable.Every = .day
    @Option(parsing: .unconditional, help: ArgumentHelp("Baseline window FROM..TO.", valueName: "FROM..TO")) var baseline: String?
    @Option(help: ArgumentHelp("The HTML file to write.", valueName: "FILE")) var out: String

    enum Window: TimeWindowDefaults {
        static let from: String? = "-7d"
        static let to: String? = "now"
        static let fromHelp = "Start: \(TimeArgument.help)."
        static let toHelp = "End (exclusive)."
    }

    func validate() throws {
        guard out.hasSuffix(".html") || out.hasSuffix(".htm") else { throw ValidationError("--out \(out) must end in .html") }
        guard every != .shift && every != .all else { throw ValidationError("--every must be 1h, 1d or 1mo for a report") }
    }

    func run() throws {
        let table = try IndicatorTable.open(registry: registry, store: store)
        let scope = try table.resolveOrFail(scope: self.scope)
        let (fromMs, toMs) = try window.window(calendar: table.plan.calendar)
        let base = try baseline.map { try table.baselineOrFail($0) }
        let lines = table.lines(within: scope)
        let series = try table.rowsOrFail(scopes: lines, from: fromMs, to: toMs, every: every, baseline: base)
        let totals = try table.rowsOrFail(scopes: [scope] + lines, from: fromMs, to: toMs, every: .all, baseline: base)
        let html = ReportPage(site: table.site, scope: scope.key, lines: lines, series: series, totals: totals,
                              label: { String(table.label($0, zone: table.plan.calendar.timeZone).prefix(10)) },
                              from: localTime(fromMs, table.plan.calendar.timeZone), to: localTime(toMs, table.plan.calendar.timeZone),
                              baseline: base.map { "\(localTime($0.0, table.plan.calendar.timeZone)) .. \(localTime($0.1, table.plan.calendar.timeZone))" },
                              generated: localTime(Int64(Date().timeIntervalSince1970 * 1000), table.plan.calendar.timeZone)).render()
        guard FileManager.default.createFile(atPath: out, contents: Data(html.utf8)) else {
            throw fail("cannot write \(out): check that its folder exists and is writable")
        }
        print("wrote \(out) (\(lines.count) line(s), \(series.count) points, \(html.utf8.count / 1024) KiB)")
    }
}

/// The report's HTML: header, small-multiple SVG charts per line, table of figures.
struct ReportPage {
    let site: Site
    let scope: String
    let lines: [Scope]
    let series: [IndicatorTable.Row]
    let totals: [IndicatorTable.Row]
    /// A chart point's label: the day its window starts.
    let label: (IndicatorTable.Row) -> String
    let from: String
    let to: String
    let baseline: String?
    let generated: String

    /// The charted figures: title, unit, how to read it from indicators, and a scale factor.
    static let figures: [(title: String, unit: String, value: @Sendable (Indicators) -> Double?)] = [
        ("Energy per good unit", "kWh/unit", { $0.kwhPerGoodUnit }),
        ("Comprehensive energy per good unit", "kgce/unit", { $0.kgcePerGoodUnit }),
        ("CO2 per good unit", "kgCO2/unit", { $0.co2KgPerGoodUnit }),
        ("New water per good unit", "m³/unit", { $0.waterM3PerGoodUnit }),
        ("Static key-process control rate (registry)", "%", { $0.staticControlRate.map { $0 * 100 } }),
        ("Operational key-process control rate (telemetry)", "%", { $0.operationalControlRate.map { $0 * 100 } }),
    ]

    func render() -> String {
        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>\(esc(site.name)): \(esc(scope)) \(esc(from)) to \(esc(to))</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2733; }
            h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ccd; }
            .meta { color: #556; } .charts { display: flex; flex-wrap: wrap; gap: 12px; }
            figure { margin: 0; border: 1px solid #dde; border-radius: 4px; padding: 6px; background: #fbfcfe; }
            figcaption { font-size: 12px; color: #334; margin-bottom: 2px; }
            table { border-collapse: collapse; font-size: 12px; margin-top: 8px; }
            th, td { border: 1px solid #ccd; padding: 3px 6px; text-align: right; } th { background: #eef1f6; }
            td:first-child, th:first-child { text-align: left; } .note { color: #745; font-size: 12px; }
            </style></head><body>
            <h1>\(esc(site.name)): green-manufacturing and intelligentisation indicators</h1>
            <p class="meta">Scope <b>\(esc(scope))</b>, \(esc(from)) to \(esc(to)) (site time, \(esc(site.timeZone)))\(baseline.map { ", baseline \(esc($0)) (dashed)" } ?? "").
            Grid factor \(site.gridFactor.kgCO2PerUnit) kgCO2/kWh (\(esc(site.gridFactor.series)), \(site.gridFactor.vintage)).
            Static control rate: NC-capable share from the registry; operational: key-process producing time under NC control over producing time, from telemetry.
            Generated \(esc(generated)) by zhizao.</p>

            """
        for line in lines {
            let points = series.filter { $0.scope == line }
            h += "<h2>\(esc(line.key))</h2>\n<div class=\"charts\">\n"
            for f in Self.figures {
                let values = points.map { f.value($0.indicators) }
                let base = points.first?.baseline.flatMap(f.value)
                h += chart(title: f.title, unit: f.unit, labels: points.map(label), values: values, baseline: base)
            }
            h += "</div>\n"
        }
        h += "<h2>Figures for the whole window</h2>\n<table>\n<tr>"
        let header = ["scope", "electricity kWh", "energy kgce", "good units", "kWh/unit", "kgce/unit", "kgCO2/unit", "water m³/unit",
                      "static rate %", "operational rate %", "OEE %"] + (baseline != nil ? ["kgce/unit vs base %", "kgCO2/unit vs base %"] : [])
        h += header.map { "<th>\(esc($0))</th>" }.joined() + "</tr>\n"
        func f(_ v: Double?, _ d: Int) -> String { v.map { String(format: "%.\(d)f", $0) } ?? "–" }
        for r in totals {
            let i = r.indicators
            var cells = [r.scope.key, f(i.electricityKWh, 1), f(i.energyKgce, 1), f(i.goodUnits, 0), f(i.kwhPerGoodUnit, 3),
                         f(i.kgcePerGoodUnit, 4), f(i.co2KgPerGoodUnit, 3), f(i.waterM3PerGoodUnit, 4),
                         f(i.staticControlRate.map { $0 * 100 }, 1), f(i.operationalControlRate.map { $0 * 100 }, 1),
                         f(i.oee?.oee.map { $0 * 100 }, 1)]
            if baseline != nil { cells += [f(r.changePct?["kgce_per_good_unit"], 1), f(r.changePct?["co2_kg_per_good_unit"], 1)] }
            h += "<tr>" + cells.map { "<td>\(esc($0))</td>" }.joined() + "</tr>\n"
        }
        h += "</table>\n"
        for n in Set(totals.flatMap { $0.indicators.notes }).sorted() { h += "<p class=\"note\">Note: \(esc(n))</p>\n" }
        return h + "</body></html>\n"
    }

    /// A small line chart in inline SVG; gaps (absent figures) break the line.
    func chart(title: String, unit: String, labels: [String], values: [Double?], baseline: Double?) -> String {
        let w = 300.0, h = 150.0, left = 44.0, right = 8.0, top = 8.0, bottom = 22.0
        let present = values.compactMap { $0 }
        var top_ = max(present.max() ?? 0, baseline ?? 0)
        if top_ <= 0 { top_ = 1 }
        if unit == "%" { top_ = 100 }  // rates on their whole scale
        top_ *= 1.1
        let n = max(values.count - 1, 1)
        func x(_ i: Int) -> Double { left + (w - left - right) * Double(i) / Double(n) }
        func y(_ v: Double) -> Double { top + (h - top - bottom) * (1 - v / top_) }
        var svg = "<figure><figcaption>\(esc(title)) (\(esc(unit)))</figcaption>"
        svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" role=\"img\" aria-label=\"\(esc(title))\">"
        svg += "<line x1=\"\(left)\" y1=\"\(y(0))\" x2=\"\(w - right)\" y2=\"\(y(0))\" stroke=\"#99a\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(y(0))\" stroke=\"#99a\"/>"
        for frac in [0.5, 1.0] {
            let v = top_ / 1.1 * frac
            svg += "<text x=\"\(left - 4)\" y=\"\(y(v) + 4)\" font-size=\"10\" text-anchor=\"end\" fill=\"#556\">\(fmt(v))</text>"
            svg += "<line x1=\"\(left)\" y1=\"\(y(v))\" x2=\"\(w - right)\" y2=\"\(y(v))\" stroke=\"#e3e6ee\"/>"
        }
        if let b = baseline {
            svg += "<line x1=\"\(left)\" y1=\"\(y(b))\" x2=\"\(w - right)\" y2=\"\(y(b))\" stroke=\"#c2410c\" stroke-dasharray=\"5 4\"/>"
            svg += "<text x=\"\(w - right)\" y=\"\(y(b) - 3)\" font-size=\"10\" text-anchor=\"end\" fill=\"#c2410c\">base \(fmt(b))</text>"
        }
        var path = ""
        var pen = false
        for (i, v) in values.enumerated() {
            guard let v else { pen = false; continue }
            path += "\(pen ? "L" : "M")\(String(format: "%.1f", x(i))),\(String(format: "%.1f", y(v))) "
            pen = true
            svg += "<circle cx=\"\(String(format: "%.1f", x(i)))\" cy=\"\(String(format: "%.1f", y(v)))\" r=\"2.5\" fill=\"#1d4ed8\"/>"
        }
        if !path.isEmpty { svg += "<path d=\"\(path)\" fill=\"none\" stroke=\"#1d4ed8\" stroke-width=\"1.8\"/>" }
        if present.isEmpty {
            svg += "<text x=\"\(w / 2)\" y=\"\(h / 2)\" font-size=\"11\" text-anchor=\"middle\" fill=\"#889\">no figure in this window</text>"
        }
        if let first = labels.first {
            svg += "<text x=\"\(left)\" y=\"\(h - 6)\" font-size=\"10\" fill=\"#556\">\(esc(first))</text>"
        }
        if labels.count > 1, let last = labels.last {
            svg += "<text x=\"\(w - right)\" y=\"\(h - 6)\" font-size=\"10\" text-anchor=\"end\" fill=\"#556\">\(esc(last))</text>"
        }
        return svg + "</svg></figure>\n"
    }

    func fmt(_ v: Double) -> String { v >= 100 ? String(format: "%.0f", v) : v >= 1 ? String(format: "%.2f", v) : String(format: "%.3f", v) }

    func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
