import Foundation
import PlantRegistry
import Reporting
import Testing

@testable import ZhizaoCLI

@Suite("Chinese and English output")
struct LocalizationTests {
    @Test func displayWidthCountsCJKAsTwoColumns() {
        #expect(displayWidth("line-shaft") == 10)
        #expect(displayWidth("电机轴生产线") == 12)
        #expect(displayWidth("m³/件") == 5)
        #expect(displayWidth("注：a") == 5, "fullwidth punctuation is wide")
        #expect(pad("件", to: 4) == "件  ")
    }

    /// Every column starts at the same terminal column on every line, with Chinese and ASCII
    /// cells of different widths mixed in one column.
    @Test func tableAlignsMixedChineseAndASCIIByDisplayWidth() {
        let header = ["范围", "用电量 kWh", "单位产品综合能耗 千克标准煤/件"]
        let rows = [
            ["line:line-shaft 电机轴生产线", "1234.5", "0.0123"],
            ["site", "9.0", "-"],
            ["workshop:ws-assembly 装配测试车间", "12.0", "0.1"],
        ]
        let lines = tableLines(header, rows, columns: nil)
        #expect(lines.count == 2 + rows.count)
        for column in 1...2 {
            var starts: Set<Int> = []
            for (n, line) in lines.enumerated() {
                let cell = n == 0 ? header[column] : n == 1 ? nil : rows[n - 2][column]
                guard let cell, let r = line.range(of: "  " + cell) else {
                    if n == 1 { continue }
                    Issue.record("\(cell ?? "") not in \(line)")
                    continue
                }
                starts.insert(displayWidth(String(line[..<r.lowerBound])) + 2)
            }
            #expect(starts.count == 1, "column \(column) starts at \(starts.sorted())\n\(lines.joined(separator: "\n"))")
        }
        // The rule under the header is as wide as each column in terminal columns.
        let rule = lines[1].split(separator: " ", omittingEmptySubsequences: true).map(\.count)
        #expect(rule[0] == displayWidth("workshop:ws-assembly 装配测试车间"))
        #expect(rule[1] == displayWidth("用电量 kWh"))
    }

    @Test func narrowTerminalBlocksPadLabelsByDisplayWidth() {
        let lines = tableLines(["范围", "kWh"], [["site 深圳", "1.0"]], columns: 5)
        #expect(lines == ["范围  site 深圳", "kWh   1.0"])
    }

    @Test func languageFollowsTheLocaleWithPOSIXPrecedence() {
        #expect(Language.from(environment: ["LANG": "zh_CN.UTF-8"]) == .zh)
        #expect(Language.from(environment: ["LANG": "en_US.UTF-8"]) == .en)
        #expect(Language.from(environment: [:]) == .en)
        #expect(Language.from(environment: ["LC_ALL": "C", "LANG": "zh_CN.UTF-8"]) == .en, "LC_ALL wins")
        #expect(Language.from(environment: ["LC_ALL": "", "LC_MESSAGES": "zh_CN.UTF-8", "LANG": "C"]) == .zh, "empty LC_ALL is unset")
        #expect(Language.from(environment: ["LC_MESSAGES": "en_GB.UTF-8", "LANG": "zh_CN.UTF-8"]) == .en)
    }

    @Test func officialTermsAndUnits() {
        let zh = Localization(.zh)
        let en = Localization(.en)
        #expect(zh("energy kgce") == "综合能耗 千克标准煤")
        #expect(zh("kgce/unit") == "单位产品综合能耗 千克标准煤/件")
        #expect(zh("tce/10k yuan") == "单位工业增加值能耗 吨标准煤/万元")
        #expect(zh("water m3/unit") == "单位产品取水量 m³/件")
        #expect(zh("kWh/unit") == "单位产品电耗 kWh/件")
        #expect(zh("static ctrl rate %").hasPrefix("关键工序数控化率"))
        #expect(zh("OEE %") == "设备综合效率 (OEE) %")
        #expect(zh.unit("kgce/unit") == "千克标准煤/件")
        #expect(en("energy kgce") == "energy kgce" && en.unit("kgce/unit") == "kgce/unit")
        // Every column of the report's table has its Chinese heading.
        for heading in ReportPage.tableHeader(baseline: true, html: true) {
            #expect(Localization.translates(heading), "\(heading)")
        }
        for figure in ReportPage.figures + [ReportPage.oee] {
            #expect(Localization.translates(figure.title), "\(figure.title)")
            #expect(zh.unit(figure.unit) == "%" || zh.unit(figure.unit).hasSuffix("/件"), "\(figure.unit)")
        }
    }

    @Test func headingsKeepTheirClockAndUnitAndCSVStaysEnglish() {
        let zh = Localization(.zh)
        let header = ["time (site time Asia/Shanghai)", "device", "mean kW", "received (UTC)", "start (site time)", "unheard-of"]
        #expect(zh.headings(header) == ["时间 (站点时间 Asia/Shanghai)", "设备", "平均 kW", "接收时间 (UTC)", "开始 (站点时间)", "unheard-of"])
        #expect(zh.headings(header, format: .csv) == header)
        #expect(Localization(.en).headings(header) == header)
    }

    @Test func indicatorNotesInChinese() {
        let zh = Localization(.zh)
        #expect(zh.note("no good output in this window: per-unit figures are absent") == "本期无合格品产出：单位产品指标缺失")
        #expect(
            zh.note("12.5% of the electricity is estimated across meter gaps (zhizao quality lists them)")
                == "用电量的 12.5% 为缺测估算(zhizao quality 可列出)")
        #expect(zh.note("3.0 h of key-process time has an unknown state (devices silent or offline)") == "关键工序有 3.0 小时状态未知(设备静默或离线)")
        #expect(
            zh.note("2 key-process machine(s) in line:line-motor report no machine state: the operational rate covers the others")
                == "line:line-motor 中有 2 台关键工序设备未上报设备状态：运行数控化率只计其余设备")
        #expect(
            zh.note("comprehensive energy is absent: steam has no kgce coefficient (set energy_coefficients.steam for site sz-baoan)")
                == "综合能耗缺失：steam 没有折标准煤系数(请为工厂 sz-baoan 设置 energy_coefficients.steam)")
        #expect(
            zh.note(
                "value added is recorded per month: 2026-11 is only partly in this window, so it gives no per-10,000-yuan figure "
                    + "(ask for whole months, e.g. --every 1mo from the 1st)")
                == "工业增加值按月录入：2026-11 只有部分在此窗口内，不计算单位工业增加值指标(请按整月查询，如从 1 日起 --every 1mo)")
        #expect(
            zh.note(
                "minute rollups before 2026-11-03T00:00+08:00 were pruned by retention: "
                    + "this window's edge at 2026-11-02T12:30+08:00 is counted to the nearest hour")
                == "2026-11-03T00:00+08:00 之前的分钟汇总已按保留期删除：窗口在 2026-11-02T12:30+08:00 的边界按最近的整点计")
        #expect(
            zh.note(
                "CO2 leaves out steam: it has no scope 2 factor (set scope2_emission_factors.steam for site sz-baoan if it is purchased)")
                == "二氧化碳排放未计 steam：没有范围二排放因子(如为外购，请为工厂 sz-baoan 设置 scope2_emission_factors.steam)")
        #expect(
            zh.note(
                "closed period 2026-11 site:sz-baoan: figures as reported; late readings pending beside them: +15 kWh, +0 good units (zhizao reopen folds them in)"
            ) == "已关闭期间 2026-11 site:sz-baoan：指标为上报时的数值；其后到达的读数作为待计入调整列在旁：+15 kWh，+0 件合格品(zhizao reopen 计入)")
        #expect(zh.note("a sentence nobody translated") == "a sentence nobody translated")
        #expect(Localization(.en).note("no electricity meter covers this scope") == "no electricity meter covers this scope")
    }

    @Test func registryNamesInChinese() throws {
        let plant = try Plant.load(directory: Fixtures.shippedDevices)
        let site = try #require(plant.sites.first)
        #expect(site.nameZH == "深圳宝安试点工厂")
        #expect(site.workshops.allSatisfy { $0.nameZH != nil })
        #expect(site.workshops.flatMap(\.lines).allSatisfy { $0.nameZH != nil })
        #expect(site.workshops.flatMap(\.lines).flatMap(\.processes).allSatisfy { $0.nameZH != nil })
        let zh = Localization(.zh)
        #expect(zh.scope(.line("line-shaft"), in: site) == "line:line-shaft 电机轴生产线")
        #expect(Localization(.en).scope(.line("line-shaft"), in: site) == "line:line-shaft")
        // Without `name_zh`, the English name stands in.
        var bare = site
        bare.nameZH = nil
        #expect(zh.scope(.site(bare.id), in: bare) == Scope.site(bare.id).key)
        #expect(zh.name(english: bare.name, chinese: bare.nameZH) == bare.name)
    }

    /// The Chinese page: `lang`, a CJK font stack, the official terms and the registry's Chinese
    /// names, none of the English page's sentences; the CSV download keeps English headers.
    @Test func reportPageInChinese() throws {
        let plant = try Plant.load(directory: Fixtures.shippedDevices)
        let site = try #require(plant.sites.first)
        func page(_ language: Language) -> String {
            ReportPage(
                site: site, scope: .site(site.id), headline: [.site(site.id), .workshop("ws-machining")], lines: [.line("line-shaft")],
                series: [], totals: [], audit: [["2026-12-01T08:00+08:00", "value-added", "ops", "sz-baoan 2026-11", "–", "12.5"]],
                label: { _ in "" }, from: "2026-11-01T00:00+08:00", to: "2026-12-01T00:00+08:00",
                timeHeading: "site time Asia/Shanghai", baseline: "2026-10-01 .. 2026-11-01", generated: "2026-12-02T10:00+08:00",
                l: Localization(language)
            ).render()
        }
        let zh = page(.zh)
        let en = page(.en)
        #expect(zh.contains("<html lang=\"zh-CN\">") && en.contains("<html lang=\"en\">"))
        #expect(zh.contains("\"Noto Sans CJK SC\"") && !zh.contains("@import") && !zh.contains("url("))
        for term in [
            "深圳宝安试点工厂", "机加工车间", "电机轴生产线", "单位产品综合能耗", "千克标准煤/件", "单位产品取水量", "m³/件",
            "关键工序数控化率", "设备综合效率 (OEE)", "节能率", "全期指标", "变更记录", "站点时间 Asia/Shanghai",
        ] {
            #expect(zh.contains(term), "\(term)")
        }
        for english in [
            "Figures for the whole window", "this window", "Changes on record", "over the window",
            "Comprehensive energy per good unit", "green-manufacturing", "Download these figures", "no figure in this window",
        ] {
            #expect(en.contains(english), "\(english) in the English page")
            #expect(!zh.contains(english), "\(english) left in the Chinese page")
        }
        // The CSV download is the same bytes in both languages.
        func csvLink(_ page: String) -> Substring? {
            page.range(of: "href=\"data:text/csv;charset=utf-8,").map { page[$0.upperBound...].prefix { $0 != "\"" } }
        }
        #expect(csvLink(zh) != nil && csvLink(zh) == csvLink(en))
    }

    /// The metering tree's notes name their scope and numbers in Chinese too.
    @Test func meteringTreeNotesInChinese() {
        let zh = Localization(.zh)
        let balance = zh.note(
            "workshop:ws1: 3 hour(s) fail the balance check (meters below > whole-node meters + 2.0%): zhizao quality --scope workshop:ws1 lists them"
        )
        #expect(balance.hasPrefix("workshop:ws1：3 小时平衡校验不通过") && balance.hasSuffix("--scope workshop:ws1 可列出"), "\(balance)")
        let unlike = zh.note(
            "site:s1 makes 2 final products (motor, pump) in unlike units and pump has no `factor` to the site's standard product: no per-unit figure over their sum (see --by product)"
        )
        #expect(unlike.hasPrefix("site:s1 生产多种最终产品(motor, pump)"), "\(unlike)")
        let none = zh.note(
            "no final product output in workshop:ws1 in this window (intermediate products count with their lines only): per-unit figures are absent"
        )
        #expect(none.hasPrefix("workshop:ws1 本期无最终产品产出"), "\(none)")
    }
}
