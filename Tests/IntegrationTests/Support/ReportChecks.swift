import Foundation
import Testing

/// What a report page must hold, read from its HTML or from Chromium's rendering of it.
enum ReportChecks {
    /// Debian's headless Chromium, when installed (`apt-get install chromium`).
    static var chromium: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Every chart's text sits in its margins: tick labels left of the y axis, dates below the
    /// x axis; only a chart with nothing plotted may write inside (its "no figure" message).
    static func expectLabelsOutsideThePlots(_ page: String) throws {
        let left = 48.0
        let bottom = 150.0 - 22.0
        let charts = page.components(separatedBy: "<svg ").dropFirst()
        #expect(!charts.isEmpty)
        for chart in charts {
            let svg = chart.components(separatedBy: "</svg>")[0]
            let plotted = svg.contains("<circle")
            for text in svg.components(separatedBy: "<text ").dropFirst() {
                let attributes = text.prefix { $0 != ">" }
                func number(_ name: String) -> Double? {
                    guard let r = attributes.range(of: " \(name)=\"") ?? attributes.range(of: "\(name)=\"") else { return nil }
                    return Double(attributes[r.upperBound...].prefix { $0 != "\"" })
                }
                let x = try #require(number("x"))
                let y = try #require(number("y"))
                let endAnchored = attributes.contains("text-anchor=\"end\"")
                let inLeftMargin = endAnchored && x <= left - 2
                let belowAxis = y - 10 >= bottom
                #expect(inLeftMargin || belowAxis || !plotted, "a label inside a chart with data: <text \(attributes)>")
            }
        }
    }

    /// The `data:` link's CSV: a header with units and one row per scope, the same figures as the table.
    static func expectCSVLinkHoldsTheTable(_ page: String, rows: Int) throws {
        let start = try #require(page.range(of: "href=\"data:text/csv;charset=utf-8,"))
        let encoded = String(page[start.upperBound...].prefix { $0 != "\"" })
        // Decoded by hand: Foundation's removingPercentEncoding drops the byte order mark.
        var bytes: [UInt8] = []
        var utf8 = encoded.utf8.makeIterator()
        while let b = utf8.next() {
            if b == UInt8(ascii: "%"), let hi = utf8.next(), let lo = utf8.next() {
                bytes.append(try #require(UInt8(String(decoding: [hi, lo], as: UTF8.self), radix: 16)))
            } else {
                bytes.append(b)
            }
        }
        let csv = String(decoding: bytes, as: UTF8.self)
        let lines = csv.split(separator: "\r\n").map(String.init)
        #expect(lines.count == 1 + rows, "\(lines)")
        #expect(lines.first?.hasPrefix("\u{FEFF}scope,electricity kWh,energy kgce,water m3,good units,kWh/unit,") == true)
        // Each CSV row's figures are the table's cells (an absent figure is an empty field).
        for line in lines.dropFirst() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.isEmpty ? "–" : String($0) }
            #expect(page.contains("<tr>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>"), "\(line) is a row of the table")
        }
    }

    /// The installed fonts (fontconfig) that hold a glyph for every CJK character of `page`:
    /// empty means the rendered page would show missing-glyph boxes.
    static func fontsCoveringCJK(of page: String) throws -> [String] {
        let cjk = Set(page.unicodeScalars.filter { (0x3000...0x9FFF).contains($0.value) || (0xFF00...0xFFEF).contains($0.value) })
        #expect(!cjk.isEmpty, "the page holds Chinese text")
        let charset = cjk.map { String($0.value, radix: 16) }.sorted().joined(separator: " ")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/fc-list")
        p.arguments = [":charset=\(charset)", "family"]
        let dir = try temporaryDirectory("fc")
        let out = try createFile(dir + "/out")
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        try p.run()
        p.waitUntilExit()
        return try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    /// Renders the page in headless Chromium: it loads (no network), draws `charts` SVG charts,
    /// and makes a PNG screenshot of some size.
    static func expectChromiumRenders(_ html: String, charts: Int, text: String = "Download these figures as CSV") throws {
        let browser = try #require(chromium)
        let dir = try temporaryDirectory("chromium")
        func render(_ args: [String]) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: browser)
            p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(dir)/profile"] + args
            let out = try createFile(dir + "/out-\(UUID().uuidString)")
            p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "chromium \(args)")
            return try String(contentsOfFile: out, encoding: .utf8)
        }
        let dom = try render(["--dump-dom", "file://\(html)"])
        #expect(dom.components(separatedBy: "<svg ").count - 1 == charts, "rendered charts")
        #expect(dom.contains(text))
        let png = dir + "/report.png"
        _ = try render(["--window-size=1280,2400", "--screenshot=\(png)", "file://\(html)"])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(bytes.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "a PNG")
        #expect(bytes.count > 50_000, "a page with content, not a blank one (\(bytes.count) bytes)")
    }
}
