import Foundation
import ReadingStore
import Testing

/// The query, export, report and indicators commands on a database filled by the real daemon.
@Suite("Query, export and report end to end", .serialized)
struct QueryExportReportTests {
    static let schemas = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Schemas").path

    func run(_ args: [String]) throws -> (code: Int32, stdout: String, stderr: String) {
        try ZhizaoBinary.run(args + ["--devices", ZhizaoBinary.shippedDevices])
    }

    /// Validates a document against a schema with python3-jsonschema; returns the errors.
    func schemaErrors(_ schema: String, _ document: String) throws -> String {
        let dir = try temporaryDirectory("doc")
        try document.write(toFile: dir + "/doc.json", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [
            "-c",
            """
            import json, sys, jsonschema
            v = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))
            print("\\n".join(e.message for e in v.iter_errors(json.load(open(sys.argv[2])))))
            """, "\(Self.schemas)/\(schema)", dir + "/doc.json",
        ]
        let out = dir + "/out"
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(out)))
        p.standardError = p.standardOutput
        try p.run()
        p.waitUntilExit()
        return try String(contentsOfFile: out, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(arguments: Backend.allCases)
    func everyFormatAndErrorPath(backend: Backend) throws {
        let db = try IndicatorCommandTests.filledDatabase(backend: backend)
        let dir = try temporaryDirectory("outputs")

        // query: a counter per day, a state per day, a gauge per hour, in each format.
        let energy = try run([
            "query", "--db", db, "--device", "pm-mach-main", "--metric", "energy", "--from", "-3d", "--every", "1d", "--format", "json",
        ])
        #expect(energy.code == 0, "\(energy.stderr)")
        #expect(try schemaErrors("query.schema.json", energy.stdout) == "")
        let days = try #require(try JSONSerialization.jsonObject(with: Data(energy.stdout.utf8)) as? [[String: Any]])
        #expect(days.count >= 2 && days.allSatisfy { ($0["start"] as? String)?.hasSuffix("T00:00+08:00") == true })
        let state = try run([
            "query", "--db", db, "--device", "cnc-101", "--metric", "state", "--from", "-3d", "--every", "1d", "--format", "csv",
        ])
        #expect(state.code == 0)
        let stateLines = state.stdout.split(separator: "\n")
        #expect(stateLines.first?.hasPrefix("from (site time Asia/Shanghai),") == true && stateLines.first?.contains("producing s") == true)
        let perDay = stateLines.dropFirst().map { $0.split(separator: ",").dropFirst().compactMap { Double($0) }.reduce(0, +) }
        #expect(perDay.allSatisfy { $0 <= 86_400 }, "no day holds more than 24 h of state time")
        let power = try run(["query", "--db", db, "--device", "cnc-101", "--metric", "power", "--from", "-6h", "--every", "1h"])
        #expect(power.code == 0 && power.stdout.contains("mean kW"))

        // export: CSV with a header row and as many rows as stored; JSON parses.
        let csv = dir + "/readings.csv"
        let exported = try run([
            "export", "readings", "--db", db, "--from", "-3d", "--to", "now", "--scope", "line:line-shaft", "--out", csv,
        ])
        #expect(exported.code == 0, "\(exported.stderr)")
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "device,metric,time,value,state,error_code,seq")
        let shaftDevices: Set<String> = ["cnc-101", "cnc-102", "grd-111", "grd-112", "em-shaft", "cnt-shaft"]
        #expect(lines.dropFirst().allSatisfy { shaftDevices.contains(String($0.split(separator: ",")[0])) })
        let stored = try openTelemetryReader(db).readings(device: nil, limit: 10_000_000).filter { shaftDevices.contains($0.device) }.count
        #expect(lines.count - 1 == stored)
        let json = dir + "/rollups.json"
        #expect(
            try run(["export", "rollups", "--db", db, "--from", "-3d", "--to", "now", "--device", "em-office", "--out", json]).code == 0)
        let rollups = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [[String: Any]])
        #expect(!rollups.isEmpty && rollups.allSatisfy { $0["device"] as? String == "em-office" })
        #expect(try schemaErrors("export.schema.json", String(contentsOfFile: json, encoding: .utf8)) == "")
        let readingsJSON = dir + "/readings.json"
        #expect(
            try run(["export", "readings", "--db", db, "--from", "-1d", "--to", "now", "--device", "cnc-101", "--out", readingsJSON]).code
                == 0)
        #expect(try schemaErrors("export.schema.json", String(contentsOfFile: readingsJSON, encoding: .utf8)) == "")

        // indicators: CSV header with units, JSON to its schema.
        let indicatorsCSV = try run(["indicators", "--db", db, "--by", "line", "--from", "-3d", "--format", "csv"])
        #expect(indicatorsCSV.stdout.hasPrefix("scope,from (site time Asia/Shanghai),electricity kWh,energy kgce,good units,kWh/unit"))
        #expect(!indicatorsCSV.stdout.contains("grid factor"), "notes go to stderr, the CSV stays data")
        #expect(indicatorsCSV.stderr.contains("grid factor"))
        let indicatorsJSON = try run([
            "indicators", "--db", db, "--scope", "line:line-motor", "--from", "-3d", "--every", "shift",
            "--baseline", "-3d..-1d", "--format", "json",
        ])
        #expect(indicatorsJSON.code == 0)
        #expect(try schemaErrors("indicators.schema.json", indicatorsJSON.stdout) == "")

        // quality: the simulated plant's main-meter rollover is listed (its counter reset comes
        // after 60 h, past these two days); JSON follows its schema.
        let quality = try run(["quality", "--db", db, "--from", "-30d", "--format", "json"])
        #expect(quality.code == 0, "\(quality.stderr)")
        #expect(try schemaErrors("quality.schema.json", quality.stdout) == "")
        let events = try #require(try JSONSerialization.jsonObject(with: Data(quality.stdout.utf8)) as? [[String: Any]])
        let kinds = Set(events.compactMap { $0["kind"] as? String })
        #expect(kinds.contains("rollover"), "\(kinds)")
        #expect(events.contains { $0["kind"] as? String == "rollover" && $0["device"] as? String == "pm-mach-main" })
        let shaftOnly = try run(["quality", "--db", db, "--from", "-30d", "--scope", "line:line-shaft", "--format", "csv"])
        #expect(shaftOnly.code == 0 && shaftOnly.stdout.hasPrefix("device,metric,event,start (site time),end (site time),amount,unit"))
        #expect(
            shaftOnly.stdout.split(separator: "\n").dropFirst().allSatisfy { shaftDevices.contains(String($0.split(separator: ",")[0])) })
        #expect(try run(["quality", "--db", db, "--scope", "line:nope"]).code == 2)

        // report: one self-contained HTML file with a chart per figure and line.
        let html = dir + "/report.html"
        let report = try run([
            "report", "--db", db, "--scope", "workshop:ws-assembly", "--from", "-3d", "--to", "now",
            "--baseline", "-3d..-1d", "--out", html,
        ])
        #expect(report.code == 0, "\(report.stderr)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.components(separatedBy: "<svg ").count - 1 == 3 * 6, "six charts for the workshop and for each of its two lines")
        #expect(!page.contains("<script") && !page.contains("src="), "nothing loaded from elsewhere")
        #expect(page.components(separatedBy: "href=").count - 1 == 1 && page.contains("href=\"data:text/csv;"), "one link: the CSV, inline")
        #expect(
            page.contains("Operational key-process control rate (telemetry)") && page.contains("Static key-process control rate (registry)")
        )
        #expect(page.contains("stroke-dasharray"), "the baseline is drawn")
        try ReportChecks.expectLabelsOutsideThePlots(page)
        try ReportChecks.expectCSVLinkHoldsTheTable(page, rows: 3)
        // The first page: the workshop against its baseline, each figure with its change in percent.
        #expect(page.contains("Workshop ws-assembly: Assembly and test workshop") && page.contains("<th>change %</th>"))
        #expect(page.contains("OEE line-motor (%)") && page.contains("OEE line-pump (%)"))

        // The whole site: the site and its two workshops first, then the four lines.
        let siteHTML = dir + "/site.html"
        let site = try run(["report", "--db", db, "--from", "-3d", "--to", "now", "--baseline", "-3d..-1d", "--out", siteHTML])
        #expect(site.code == 0, "\(site.stderr)")
        let sitePage = try String(contentsOfFile: siteHTML, encoding: .utf8)
        #expect(sitePage.components(separatedBy: "<svg ").count - 1 == (1 + 2 + 4) * 6)
        #expect(sitePage.components(separatedBy: "<div class=\"card\">").count - 1 == 3, "site and two workshop cards")
        try ReportChecks.expectCSVLinkHoldsTheTable(sitePage, rows: 7)
        try ReportChecks.expectLabelsOutsideThePlots(sitePage)
        if ReportChecks.chromium != nil { try ReportChecks.expectChromiumRenders(siteHTML, charts: 42) }

        // Errors: unknown device, metric and scope name the nearest and exit 2; empty says so.
        let badDevice = try run(["query", "--db", db, "--device", "cnc-1O1", "--metric", "power"])
        #expect(badDevice.code == 2 && badDevice.stderr.contains("cnc-101"))
        let badMetric = try run(["query", "--db", db, "--device", "cnc-101", "--metric", "powr"])
        #expect(badMetric.code == 2 && badMetric.stderr.contains("power"))
        let badScope = try run([
            "export", "readings", "--db", db, "--from", "-1d", "--to", "now", "--scope", "line:line-shfat", "--out", dir + "/x.csv",
        ])
        #expect(badScope.code == 2 && badScope.stderr.contains("line:line-shaft"))
        let badTime = try run(["query", "--db", db, "--device", "cnc-101", "--metric", "power", "--from", "last tuesday"])
        #expect(badTime.code == 2 && badTime.stderr.contains("--from"))
        let empty = try run(["query", "--db", db, "--device", "cnc-101", "--metric", "power", "--from", "2020-01-01", "--to", "2020-01-02"])
        #expect(empty.code == 0 && empty.stdout.contains("no data"))
        let badOut = try run(["export", "readings", "--db", db, "--from", "-1d", "--to", "now", "--out", dir + "/x.xlsx"])
        #expect(badOut.code != 0 && badOut.stderr.contains(".csv or .json"))
    }
}
