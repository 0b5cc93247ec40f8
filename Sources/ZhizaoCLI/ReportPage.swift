import Aggregation
import Foundation
import PlantRegistry
import Reporting

/// The report's HTML: a first page with the site and its workshops against the baseline, then
/// small-multiple SVG charts per scope, then the table of figures with a CSV download.
///
/// Everything is inline (CSS, SVG, a `data:` link), so the file opens offline and archives as
/// evidence. Chart labels sit in the margins, never on the plotted data.
struct ReportPage {
    let site: Site
    let scope: Scope
    /// The scopes of the first page: the report's scope and, for the site, its workshops.
    let headline: [Scope]
    /// The lines within the scope, charted after the first page.
    let lines: [Scope]
    let series: [IndicatorTable.Row]
    let totals: [IndicatorTable.Row]
    /// The audit trail's rows (time, command, user, subject, before, after): every change on
    /// record that was not ingest, so a reader of the figures sees what was changed by hand.
    let audit: [[String]]
    /// A chart point's label: the day (or hour) its window starts.
    let label: (IndicatorTable.Row) -> String
    let from: String
    let to: String
    /// Which clock the times are in: `site time, Asia/Shanghai` or `UTC`.
    let timeHeading: String
    let baseline: String?
    let generated: String
    /// The page's language; the CSV download stays English.
    var l = Localization(.en)

    /// One figure of the report: its title, unit, digits, which way is better, and how to read it.
    struct Figure: Sendable {
        var title: String
        var unit: String
        var digits: Int
        var higherIsBetter: Bool
        var value: @Sendable (Indicators) -> Double?
    }

    /// The charted figures (per good unit and both control rates).
    static let figures: [Figure] = [
        Figure(title: "Energy per good unit", unit: "kWh/unit", digits: 3, higherIsBetter: false) { $0.kwhPerGoodUnit },
        Figure(title: "Comprehensive energy per good unit", unit: "kgce/unit", digits: 4, higherIsBetter: false) { $0.kgcePerGoodUnit },
        Figure(title: "CO2 per good unit", unit: "kgCO2/unit", digits: 3, higherIsBetter: false) { $0.co2KgPerGoodUnit },
        Figure(title: "New water per good unit", unit: "m³/unit", digits: 4, higherIsBetter: false) { $0.waterM3PerGoodUnit },
        Figure(title: "Static key-process control rate (registry)", unit: "%", digits: 1, higherIsBetter: true) {
            $0.staticControlRate.map { $0 * 100 }
        },
        Figure(title: "Operational key-process control rate (telemetry)", unit: "%", digits: 1, higherIsBetter: true) {
            $0.operationalControlRate.map { $0 * 100 }
        },
    ]

    static let oee = Figure(title: "OEE", unit: "%", digits: 1, higherIsBetter: true) { $0.oee?.oee.map { $0 * 100 } }

    /// How many charts the page draws: one per figure for each scope.
    var chartCount: Int { Self.figures.count * (headline.count + lines.count) }

    func render() -> String {
        var h = """
            <!DOCTYPE html>
            <html lang="\(l.htmlLang)"><head><meta charset="utf-8">
            <title>\(esc(siteName)): \(esc(scope.key)) \(esc(from)) \(esc(l("to"))) \(esc(to))</title>
            <style>
            body { font: 14px/1.4 system-ui, "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "PingFang SC", "Microsoft YaHei", sans-serif; margin: 24px; color: #1d2733; max-width: 1200px; }
            h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ccd; }
            h3 { font-size: 15px; margin: 18px 0 6px; } .page { break-before: page; }
            .meta { color: #556; } .charts, .cards { display: flex; flex-wrap: wrap; gap: 12px; }
            .card { border: 1px solid #ccd; border-radius: 6px; padding: 8px 10px; background: #fbfcfe; min-width: 340px; }
            .card h3 { margin: 0 0 6px; } .card table { margin: 0; }
            .better { color: #15803d; } .worse { color: #b91c1c; }
            figure { margin: 0; border: 1px solid #dde; border-radius: 4px; padding: 6px; background: #fbfcfe; }
            figcaption { font-size: 12px; color: #334; margin-bottom: 2px; } .legend { font-size: 11px; color: #556; }
            .legend .base { color: #c2410c; } .legend .now { color: #1d4ed8; }
            table { border-collapse: collapse; font-size: 12px; margin-top: 8px; }
            th, td { border: 1px solid #ccd; padding: 3px 6px; text-align: right; } th { background: #eef1f6; }
            td:first-child, th:first-child { text-align: left; } .note { color: #745; font-size: 12px; }
            a.download { display: inline-block; margin: 8px 0; }
            </style></head><body>
            <h1>\(esc(siteName)): \(esc(l("green-manufacturing and intelligentisation indicators")))</h1>
            <p class="meta">\(esc(l("Scope"))) <b>\(esc(l.scope(scope, in: site)))</b>, \(esc(from)) \(esc(l("to"))) \(esc(to)) (\(esc(l.clock(timeHeading))))\(baseline.map { ", \(esc(l("against the baseline"))) \(esc($0))" } ?? ", \(esc(l("no baseline (pass --baseline FROM..TO to compare)")))").
            \(esc(l("Grid factor"))) \(site.gridFactor.kgCO2PerUnit) kgCO2/kWh (\(esc(site.gridFactor.series)), \(site.gridFactor.vintage)).
            \(esc(l("report.rates")))
            \(esc(l("report.oee"))) \(esc(l("Generated"))) \(esc(generated)) \(esc(l("by zhizao"))).</p>

            """
        h += "<h2>\(esc(headline.count > 1 ? l("The site and its workshops") : l.scope(scope, in: site)))</h2>\n<div class=\"cards\">\n"
        for s in headline { h += card(s) }
        h += "</div>\n"
        for (i, s) in headline.enumerated() {
            h += "<h2\(i == 0 ? "" : " class=\"page\"")>\(esc(name(s))) \(esc(l("over the window")))</h2>\n" + charts(s)
            for line in lines where workshop(of: line) == s || (i == 0 && headline.count == 1) {
                h += "<h3>\(esc(name(line)))</h3>\n" + charts(line)
            }
        }
        h += "<h2 class=\"page\">\(esc(l("Figures for the whole window")))</h2>\n"
        h +=
            "<a class=\"download\" download=\"\(esc(csvFileName))\" href=\"data:text/csv;charset=utf-8,\(csvDataURL)\">\(esc(l("Download these figures as CSV")))</a>\n"
        h += "<table>\n<tr>" + Self.tableHeader(baseline: baseline != nil, html: true).map { "<th>\(esc(l($0)))</th>" }.joined() + "</tr>\n"
        for cells in tableRows() { h += "<tr>" + cells.map { "<td>\(esc($0))</td>" }.joined() + "</tr>\n" }
        h += "</table>\n"
        for n in Set(totals.flatMap { $0.indicators.notes }).sorted() {
            h += "<p class=\"note\">\(esc(l("Note: ")))\(esc(l.note(n)))</p>\n"
        }
        h += "<h2>\(esc(l("Changes on record (audit trail)")))</h2>\n"
        if audit.isEmpty {
            h += "<p class=\"note\">\(esc(l("No change other than ingest is on record.")))</p>\n"
        } else {
            h +=
                "<table>\n<tr>" + ["time", "command", "user", "subject", "before", "after"].map { "<th>\(esc(l($0)))</th>" }.joined()
                + "</tr>\n"
            for row in audit { h += "<tr>" + row.map { "<td>\(esc($0))</td>" }.joined() + "</tr>\n" }
            h += "</table>\n"
        }
        return h + "</body></html>\n"
    }

    /// A scope's heading: `Workshop ws-machining: Machining workshop`.
    func name(_ s: Scope) -> String {
        switch s {
        case .site: "\(l("Site")) \(site.id): \(siteName)"
        case .workshop(let id):
            "\(l("Workshop")) \(id)"
                + (site.workshops.first { $0.id == id }.map { ": \(l.name(english: $0.name, chinese: $0.nameZH))" } ?? "")
        case .line(let id):
            "\(l("Line")) \(id)"
                + (site.workshops.flatMap(\.lines).first { $0.id == id }.map { ": \(l.name(english: $0.name, chinese: $0.nameZH))" } ?? "")
        }
    }

    /// The site's name in the page's language.
    var siteName: String { l.name(english: site.name, chinese: site.nameZH) }

    /// The workshop a line belongs to.
    func workshop(of line: Scope) -> Scope? {
        site.workshops.first { $0.lines.contains { Scope.line($0.id) == line } }.map { .workshop($0.id) }
    }

    /// A first-page card: each figure over the window, the baseline's and the change in percent;
    /// OEE of the lines within (OEE is a line figure).
    func card(_ s: Scope) -> String {
        let row = totals.first { $0.scope == s }
        var h = "<div class=\"card\"><h3>\(esc(name(s)))</h3><table>\n"
        h +=
            "<tr><th>\(esc(l("figure")))</th><th>\(esc(l("this window")))</th>"
            + (baseline != nil ? "<th>\(esc(l("baseline")))</th><th>\(esc(l("change %")))</th>" : "") + "</tr>\n"
        func line(_ title: String, _ f: Figure, _ r: IndicatorTable.Row?) {
            let v = r.flatMap { f.value($0.indicators) }
            h += "<tr><td>\(esc(title)) (\(esc(l.unit(f.unit))))</td><td>\(num(v, f.digits))</td>"
            if baseline != nil {
                let b = r?.baseline.flatMap(f.value)
                let c = Self.change(v, b)
                let cls = c.map { $0 == 0 ? "" : ($0 > 0) == f.higherIsBetter ? " class=\"better\"" : " class=\"worse\"" } ?? ""
                h += "<td>\(num(b, f.digits))</td><td\(cls)>\(c.map { String(format: "%+.1f", $0) } ?? "–")</td>"
            }
            h += "</tr>\n"
        }
        for f in Self.figures { line(l(f.title), f, row) }
        for ln in (s.kind == .line ? [s] : lines.filter { s.kind == .site || workshop(of: $0) == s }) {
            line("\(l("OEE")) \(ln.key.replacingOccurrences(of: "line:", with: ""))", Self.oee, totals.first { $0.scope == ln })
        }
        if row == nil {
            h += "<tr><td colspan=\"4\" class=\"note\">\(esc(l("no figures stored for this scope in the window")))</td></tr>\n"
        }
        return h + "</table></div>\n"
    }

    /// The six charts of one scope.
    func charts(_ s: Scope) -> String {
        let points = series.filter { $0.scope == s }
        var h = "<div class=\"charts\">\n"
        for f in Self.figures {
            h += chart(
                title: l(f.title), unit: l.unit(f.unit), labels: points.map(label), values: points.map { f.value($0.indicators) },
                baseline: points.first?.baseline.flatMap(f.value))
        }
        return h + "</div>\n"
    }

    /// Change against the baseline in percent; nil without a baseline or with a zero one.
    static func change(_ value: Double?, _ base: Double?) -> Double? {
        guard let value, let base, base != 0 else { return nil }
        return (value - base) / base * 100
    }

    /// The figures table's columns, units in each; `html` spells m³, CSV keeps to ASCII.
    static func tableHeader(baseline: Bool, html: Bool) -> [String] {
        let m3 = html ? "m³" : "m3"
        var header = [
            "scope", "electricity kWh", "energy kgce", "water \(m3)", "good units", "kWh/unit", "kgce/unit", "kgCO2/unit",
            "water \(m3)/unit", "static control rate %", "operational control rate %", "OEE %",
        ]
        if baseline {
            header += [
                "kWh/unit vs base %", "kgce/unit vs base %", "kgCO2/unit vs base %", "water \(m3)/unit vs base %",
                "static rate vs base %", "operational rate vs base %", "OEE vs base %",
            ]
        }
        return header
    }

    /// The figures table's rows, the same cells in the page and in the CSV.
    func tableRows() -> [[String]] {
        totals.map { r in
            let i = r.indicators
            var cells = [r.scope.key, num(i.electricityKWh, 1), num(i.energyKgce, 1), num(i.waterM3, 2), num(i.goodUnits, 0)]
            cells += (Self.figures + [Self.oee]).map { num($0.value(i), $0.digits) }
            if baseline != nil {
                cells += (Self.figures + [Self.oee]).map { f in
                    num(Self.change(f.value(i), r.baseline.flatMap(f.value)), 1)
                }
            }
            return cells
        }
    }

    /// The figures as RFC 4180 CSV, percent-encoded for a `data:` link (with a UTF-8 byte order
    /// mark so spreadsheet programs pick the right encoding); absent figures are empty fields.
    var csvDataURL: String {
        var csv = "\u{FEFF}" + Self.tableHeader(baseline: baseline != nil, html: false).map(csvField).joined(separator: ",") + "\r\n"
        for cells in tableRows() { csv += cells.map { csvField($0 == "–" ? "" : $0) }.joined(separator: ",") + "\r\n" }
        return csv.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? ""
    }

    /// RFC 3986's unreserved characters: everything else in the CSV is percent-encoded.
    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")

    /// The downloaded file's name: scope and window.
    var csvFileName: String {
        "zhizao-\(scope.key.replacingOccurrences(of: ":", with: "-"))-\(from.prefix(10))-to-\(to.prefix(10)).csv"
    }

    /// A small line chart in inline SVG; gaps (absent figures) break the line. Tick and axis
    /// labels sit in the margins and the legend (with the baseline's value) below the chart, so
    /// no text is drawn over the plotted area.
    func chart(title: String, unit: String, labels: [String], values: [Double?], baseline: Double?) -> String {
        let w = 300.0
        let h = 150.0
        let left = 48.0
        let right = 8.0
        let top = 8.0
        let bottom = 22.0
        let present = values.compactMap { $0 }
        var scaleTop = max(present.max() ?? 0, baseline ?? 0)
        if scaleTop <= 0 { scaleTop = 1 }
        if unit == "%" { scaleTop = max(100, scaleTop) }  // rates on their whole scale
        scaleTop *= 1.1
        let n = max(values.count - 1, 1)
        func x(_ i: Int) -> Double { values.count == 1 ? (left + w - right) / 2 : left + (w - left - right) * Double(i) / Double(n) }
        func y(_ v: Double) -> Double { top + (h - top - bottom) * (1 - v / scaleTop) }
        func p(_ v: Double) -> String { String(format: "%.1f", v) }
        var svg = "<figure><figcaption>\(esc(title)) (\(esc(unit)))</figcaption>"
        svg +=
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" role=\"img\" aria-label=\"\(esc(title))\">"
        svg += "<line x1=\"\(left)\" y1=\"\(p(y(0)))\" x2=\"\(w - right)\" y2=\"\(p(y(0)))\" stroke=\"#99a\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(p(y(0)))\" stroke=\"#99a\"/>"
        for frac in [0.5, 1.0] {
            let v = scaleTop / 1.1 * frac
            svg += "<text x=\"\(left - 4)\" y=\"\(p(y(v) + 4))\" font-size=\"10\" text-anchor=\"end\" fill=\"#556\">\(fmt(v))</text>"
            svg += "<line x1=\"\(left)\" y1=\"\(p(y(v)))\" x2=\"\(w - right)\" y2=\"\(p(y(v)))\" stroke=\"#e3e6ee\"/>"
        }
        if let b = baseline {
            svg +=
                "<line x1=\"\(left)\" y1=\"\(p(y(b)))\" x2=\"\(w - right)\" y2=\"\(p(y(b)))\" stroke=\"#c2410c\" stroke-dasharray=\"5 4\"/>"
        }
        var path = ""
        var pen = false
        for (i, v) in values.enumerated() {
            guard let v else {
                pen = false
                continue
            }
            path += "\(pen ? "L" : "M")\(p(x(i))),\(p(y(v))) "
            pen = true
            svg += "<circle cx=\"\(p(x(i)))\" cy=\"\(p(y(v)))\" r=\"2.5\" fill=\"#1d4ed8\"/>"
        }
        if !path.isEmpty { svg += "<path d=\"\(path)\" fill=\"none\" stroke=\"#1d4ed8\" stroke-width=\"1.8\"/>" }
        if present.isEmpty {
            // Only when nothing is plotted: the message cannot cover data.
            svg +=
                "<text x=\"\((left + w - right) / 2)\" y=\"\(p(h / 2))\" font-size=\"11\" text-anchor=\"middle\" fill=\"#889\">\(esc(l("no figure in this window")))</text>"
        }
        if let first = labels.first {
            svg += "<text x=\"\(left)\" y=\"\(h - 6)\" font-size=\"10\" fill=\"#556\">\(esc(first))</text>"
        }
        if labels.count > 1, let last = labels.last {
            svg += "<text x=\"\(w - right)\" y=\"\(h - 6)\" font-size=\"10\" text-anchor=\"end\" fill=\"#556\">\(esc(last))</text>"
        }
        svg += "</svg>"
        svg += "<div class=\"legend\"><span class=\"now\">━ \(esc(l("this window")))</span>"
        if let b = baseline { svg += " &nbsp; <span class=\"base\">┅ \(esc(l("baseline"))) \(esc(fmt(b))) \(esc(unit))</span>" }
        return svg + "</div></figure>\n"
    }

    func num(_ v: Double?, _ digits: Int) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "–" }

    func fmt(_ v: Double) -> String {
        v >= 100 ? String(format: "%.0f", v) : v >= 1 ? String(format: "%.2f", v) : String(format: "%.3f", v)
    }

    func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
