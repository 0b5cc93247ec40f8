import Foundation
import Testing

/// `--lang zh|en` and the locale: Chinese tables and report, English and unchanged CSV and JSON.
@Suite("Chinese and English output end to end", .serialized)
struct LanguageTests {
    func run(_ args: [String], environment: [String: String] = [:]) throws -> (code: Int32, stdout: String, stderr: String) {
        try ZhizaoBinary.run(args + ["--devices", ZhizaoBinary.shippedDevices], environment: environment)
    }

    /// One database filled by the real daemon, shared by the tests of this suite.
    static let database = Result { try IndicatorCommandTests.filledDatabase() }

    @Test func chineseTablesAndReportWithEnglishDataFormats() throws {
        let db = try Self.database.get()
        // Fixed dates, so runs a moment apart read the same window ("now" moves).
        let day = DateFormatter()
        day.dateFormat = "yyyy-MM-dd"
        day.timeZone = TimeZone(identifier: "Asia/Shanghai")
        let window = ["--db", db, "--from", day.string(from: Date(timeIntervalSinceNow: -4 * 86_400)), "--to", day.string(from: Date())]
        let base =
            day.string(from: Date(timeIntervalSinceNow: -4 * 86_400)) + ".." + day.string(from: Date(timeIntervalSinceNow: -2 * 86_400))

        // CSV and JSON: the same bytes whatever the language, by flag or by locale.
        for args in [
            ["indicators", "--by", "line", "--format", "csv"],
            ["indicators", "--scope", "line:line-motor", "--every", "1d", "--format", "json"],
            ["indicators", "--by", "workshop", "--baseline", base, "--format", "csv"],
        ] {
            let english = try run(args + window + ["--lang", "en"])
            #expect(english.code == 0, "\(english.stderr)")
            #expect(english.stdout.count > 100)
            for (flags, env) in [(["--lang", "zh"], [String: String]()), ([], ["LANG": "zh_CN.UTF-8"]), ([], ["LC_ALL": "zh_CN.UTF-8"])] {
                let other = try run(args + window + flags, environment: env)
                #expect(other.code == 0)
                #expect(other.stdout == english.stdout, "\(args) \(flags) \(env) changed the data")
            }
        }

        // The table in Chinese: official terms with units and the registry's Chinese names.
        let zh = try run(["indicators", "--by", "line", "--lang", "zh"] + window)
        #expect(zh.code == 0, "\(zh.stderr)")
        for term in [
            "范围", "综合能耗 千克标准煤", "单位产品综合能耗 千克标准煤/件", "单位产品取水量 m³/件", "单位产品电耗 kWh/件",
            "关键工序数控化率", "设备综合效率 (OEE) %", "line:line-shaft 电机轴生产线", "站点时间 Asia/Shanghai", "电网排放因子",
        ] {
            #expect(zh.stdout.contains(term), "\(term) in\n\(zh.stdout)")
        }
        // The locale chooses Chinese; --lang en wins over it; the C locale is English.
        let byLocale = try run(["indicators", "--by", "line"] + window, environment: ["LANG": "zh_CN.UTF-8"])
        #expect(byLocale.stdout.contains("综合能耗 千克标准煤"))
        let forced = try run(["indicators", "--by", "line", "--lang", "en"] + window, environment: ["LANG": "zh_CN.UTF-8"])
        let plain = try run(["indicators", "--by", "line"] + window)
        #expect(forced.stdout.contains("energy kgce") && !forced.stdout.contains("综合能耗"))
        #expect(plain.stdout.contains("energy kgce") && !plain.stdout.contains("综合能耗"))
        // The other tables: Chinese headings; their CSV and JSON unchanged by the language.
        for (args, heading) in [
            (["status"], "已存储读数"), (["devices", "list"], "关键工序"), (["readings", "--limit", "5"], "时间 (站点时间"),
            (["quality"] + window, "事件"), (["audit"], "命令"),
            (["query", "--device", "cnc-101", "--metric", "power", "--every", "1d"] + window, "平均 kW"),
        ] {
            let out = try run(args + (args.contains("--db") || args.first == "devices" ? [] : ["--db", db]) + ["--lang", "zh"])
            #expect(out.code == 0, "\(args): \(out.stderr)")
            #expect(out.stdout.contains(heading) || out.stdout.hasPrefix("no "), "\(heading) in \(args):\n\(out.stdout)")
        }
        for args in [
            ["quality", "--format", "csv"] + window, ["audit", "--format", "csv"], ["status", "--format", "csv"],
            ["query", "--device", "cnc-101", "--metric", "power", "--every", "1d", "--format", "csv"] + window,
            ["devices", "list", "--format", "json"],
        ] {
            let withDB = args + (args.contains("--db") || args.first == "devices" ? [] : ["--db", db])
            let english = try run(withDB + ["--lang", "en"])
            let chinese = try run(withDB + ["--lang", "zh"])
            #expect(english.code == 0 && chinese.code == 0, "\(args): \(english.stderr)")
            // Status also reports the file system's free space and figures derived from it and
            // from the clock, which move between two runs whatever the language: those rows keep
            // their names, and every other row must be byte-identical.
            let moving = ["storage.file_system_free_bytes", "storage.days_until_full", "storage.growth_bytes_per_day", "ingest_rate_per_s"]
            func stable(_ csv: String) -> [String] {
                csv.split(separator: "\n").map { line in
                    moving.contains { line.hasPrefix($0 + ",") } ? String(line.prefix { $0 != "," }) : String(line)
                }
            }
            #expect(stable(chinese.stdout) == stable(english.stdout) && !english.stdout.isEmpty, "\(args) changed with the language")
        }

        // --help stays English.
        let help = try run(["indicators", "--help"], environment: ["LANG": "zh_CN.UTF-8"])
        #expect(help.stdout.contains("--lang") && !help.stdout.contains("综合能耗"))

        // The report in Chinese: lang attribute, the whole page in Chinese, the CSV download unchanged.
        let dir = try temporaryDirectory("lang")
        for lang in ["zh", "en"] {
            let r = try run(["report", "--baseline", base, "--out", "\(dir)/\(lang).html", "--lang", lang] + window)
            #expect(r.code == 0, "\(r.stderr)")
        }
        let zhPage = try String(contentsOfFile: dir + "/zh.html", encoding: .utf8)
        let enPage = try String(contentsOfFile: dir + "/en.html", encoding: .utf8)
        #expect(zhPage.contains("<html lang=\"zh-CN\">") && zhPage.contains("Noto Sans CJK SC"))
        #expect(!zhPage.contains("<script") && !zhPage.contains("src=") && !zhPage.contains("url("), "nothing fetched")
        for term in ["深圳宝安试点工厂", "绿色制造与智能化指标", "单位产品综合能耗", "千克标准煤/件", "设备综合效率 (OEE)", "节能率", "全期指标"] {
            #expect(zhPage.contains(term), "\(term)")
        }
        for english in ["Figures for the whole window", "Comprehensive energy per good unit", "this window", "over the window"] {
            #expect(enPage.contains(english) && !zhPage.contains(english), "\(english)")
        }
        func csvLink(_ page: String) -> Substring? {
            page.range(of: "href=\"data:text/csv;charset=utf-8,").map { page[$0.upperBound...].prefix { $0 != "\"" } }
        }
        #expect(csvLink(zhPage) != nil && csvLink(zhPage) == csvLink(enPage), "the CSV download is the same in both languages")
        try ReportChecks.expectLabelsOutsideThePlots(zhPage)
        try ReportChecks.expectCSVLinkHoldsTheTable(zhPage, rows: 7)

    }

    /// The Chinese report rendered in headless Chromium with the system's CJK fonts: every
    /// Chinese character of the page has a glyph in an installed font (no missing-glyph boxes).
    @Test(.enabled(if: ReportChecks.chromium != nil, "chromium is not installed: apt-get install -y chromium fonts-noto-cjk"))
    func chineseReportRendersInChromium() throws {
        let db = try Self.database.get()
        let dir = try temporaryDirectory("lang-render")
        let r = try run([
            "report", "--db", db, "--from", "-3d", "--to", "now", "--baseline", "-3d..-1d", "--out", dir + "/zh.html", "--lang", "zh",
        ])
        #expect(r.code == 0, "\(r.stderr)")
        let page = try String(contentsOfFile: dir + "/zh.html", encoding: .utf8)
        #expect(
            try !ReportChecks.fontsCoveringCJK(of: page).isEmpty,
            "no installed font covers the page's Chinese (apt-get install -y fonts-noto-cjk)")
        try ReportChecks.expectChromiumRenders(dir + "/zh.html", charts: 42, text: "下载这些指标")
    }
}
