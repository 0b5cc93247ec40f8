import ArgumentParser
import Foundation
import PlantRegistry
import Reporting

/// The language of what people read: table headings, notes and the HTML report.
///
/// CSV headers and JSON keys never follow it: machines read them.
enum Language: String, ExpressibleByArgument, CaseIterable, Sendable {
    case en
    case zh

    /// The language of the locale, POSIX precedence: the first set of `LC_ALL`, `LC_MESSAGES`,
    /// `LANG`; `zh…` (`zh_CN.UTF-8`, `zh_TW`) is Chinese, anything else English.
    static func from(environment: [String: String]) -> Language {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"].lazy.compactMap { environment[$0] }.first { !$0.isEmpty } ?? ""
        return locale.lowercased().hasPrefix("zh") ? .zh : .en
    }
}

/// `--lang zh|en`, shared by every command that prints for people.
///
/// Without it the language follows the locale (`LC_ALL`, `LC_MESSAGES`, `LANG`). The reporting
/// commands read no configuration file, so there is no `output.lang` setting.
struct LanguageOptions: ParsableArguments {
    @Option(
        help: "Language of headings, notes and reports: zh or en (default: from LC_ALL/LC_MESSAGES/LANG; CSV and JSON are always English).")
    var lang: Language?

    /// The language to print in.
    var localization: Localization {
        Localization(lang ?? Language.from(environment: ProcessInfo.processInfo.environment))
    }
}

/// The one translation table: English text as the code writes it, and its Chinese form with
/// the official indicator names (GB/T 2589, the *Made in China 2025* programme) and units.
struct Localization: Sendable {
    let language: Language

    init(_ language: Language) { self.language = language }

    /// `english` in this language; text without a Chinese entry stays English.
    func callAsFunction(_ english: String) -> String {
        language == .zh ? Self.chinese[english] ?? english : english
    }

    /// A unit in this language: `kgce/unit` is 千克标准煤/件 in Chinese.
    func unit(_ english: String) -> String {
        language == .zh ? Self.chineseUnits[english] ?? english : english
    }

    /// A note of the indicators (`Indicators.notes`, `IndicatorTable`) in this language; a
    /// sentence this table does not know stays English.
    func note(_ english: String) -> String {
        guard language == .zh else { return english }
        if let fixed = Self.chineseNotes[english] { return fixed }
        func between(_ text: String, _ start: String, _ end: String) -> String? {
            guard let a = text.range(of: start), let b = text.range(of: end, range: a.upperBound..<text.endIndex) else { return nil }
            return String(text[a.upperBound..<b.lowerBound])
        }
        let estimated = "% of the electricity is estimated across meter gaps (zhizao quality lists them)"
        let unknown = " h of key-process time has an unknown state (devices silent or offline)"
        let unobserved = " report no machine state: the operational rate covers the others"
        if english.hasSuffix(estimated) { return "用电量的 \(english.dropLast(estimated.count))% 为缺测估算(zhizao quality 可列出)" }
        if english.hasSuffix(unknown) { return "关键工序有 \(english.dropLast(unknown.count)) 小时状态未知(设备静默或离线)" }
        if english.hasSuffix(unobserved), let count = english.split(separator: " ").first,
            let scope = between(english, "key-process machine(s) in ", unobserved)
        {
            return "\(scope) 中有 \(count) 台关键工序设备未上报设备状态：运行数控化率只计其余设备"
        }
        if english.hasPrefix("closed period "), let periods = between(english, "closed period ", ": figures as reported"),
            let kwh = between(english, "beside them: ", " kWh, "), let good = between(english, " kWh, ", " good units")
        {
            return "已关闭期间 \(periods)：指标为上报时的数值；其后到达的读数作为待计入调整列在旁：\(kwh) kWh，\(good) 件合格品(zhizao reopen 计入)"
        }
        // The metering tree and products (Indicators+Tree.swift, IndicatorTable+Tree.swift).
        if english.hasPrefix("no final product output in "), let scope = between(english, "output in ", " in this window") {
            return "\(scope) 本期无最终产品产出(中间产品只计入其生产线)：单位产品指标缺失"
        }
        if english.hasSuffix("(see --by product)"), let scope = english.split(separator: " ").first,
            let list = between(english, "final products (", ")")
        {
            return "\(scope) 生产多种最终产品(\(list))，计量单位不同且缺少折标系数 `factor`：不对其合计计算单位产品指标(见 --by product)"
        }
        if english.contains(" fail the balance check "), let colon = english.range(of: ": "),
            let hours = between(english, ": ", " hour(s)")
        {
            let scope = english[..<colon.lowerBound]
            return "\(scope)：\(hours) 小时平衡校验不通过(下级表之和超过整体表加容差)：zhizao quality --scope \(scope) 可列出"
        }
        if english.hasPrefix("comprehensive energy is absent: "), let carrier = between(english, ": ", " has no kgce coefficient"),
            let site = between(english, "for site ", ")")
        {
            return "综合能耗缺失：\(carrier) 没有折标准煤系数(请为工厂 \(site) 设置 energy_coefficients.\(carrier))"
        }
        if english.hasPrefix("value added is recorded per month: "), let month = between(english, "month: ", " is only partly") {
            return "工业增加值按月录入：\(month) 只有部分在此窗口内，不计算单位工业增加值指标(请按整月查询，如从 1 日起 --every 1mo)"
        }
        if english.hasPrefix("minute rollups before "), let horizon = between(english, "before ", " were pruned"),
            let edge = between(english, "edge at ", " is counted")
        {
            return "\(horizon) 之前的分钟汇总已按保留期删除：窗口在 \(edge) 的边界按最近的整点计"
        }
        if english.hasPrefix("CO2 leaves out "), let carrier = between(english, "leaves out ", ":"),
            let site = between(english, "for site ", " if")
        {
            return "二氧化碳排放未计 \(carrier)：没有范围二排放因子(如为外购，请为工厂 \(site) 设置 scope2_emission_factors.\(carrier))"
        }
        return english
    }

    static let chineseNotes: [String: String] = [
        "media made on site are allocated to the lines that use them (on-site media kgce, in their comprehensive energy)":
            "现场自产耗能工质分摊到使用它的生产线(自产耗能工质 千克标准煤，计入其综合能耗)",
        "media made on site are shown apart (on-site media kgce), not in comprehensive energy: the electricity and fuel that made them are already counted":
            "现场自产耗能工质单列(自产耗能工质 千克标准煤)，不计入综合能耗：生产它的电力与燃料已经计入",
        "no good output in this window: per-unit figures are absent": "本期无合格品产出：单位产品指标缺失",
        "no electricity meter covers this scope": "该范围没有电表计量",
        "no key-process producing time: the operational control rate is absent": "关键工序无生产时间：运行数控化率缺失",
    ]

    /// Whether the table holds a Chinese form of `english` (tests check every heading has one).
    static func translates(_ english: String) -> Bool { chinese[english] != nil }

    /// The `lang` attribute of an HTML page.
    var htmlLang: String { language == .zh ? "zh-CN" : "en" }

    /// A scope for people: its key, and in Chinese its registry `name_zh` when it has one.
    func scope(_ scope: Scope, in site: Site) -> String {
        guard language == .zh, let name = nameZH(scope, in: site) else { return scope.key }
        return "\(scope.key) \(name)"
    }

    /// The registry's Chinese name of a scope, if any.
    func nameZH(_ scope: Scope, in site: Site) -> String? {
        switch scope {
        case .site: site.nameZH
        case .workshop(let id): site.workshops.first { $0.id == id }?.nameZH
        case .line(let id): site.workshops.flatMap(\.lines).first { $0.id == id }?.nameZH
        }
    }

    /// A node's name in this language: `name_zh` in Chinese when set, otherwise `name`.
    func name(english: String, chinese: String?) -> String {
        language == .zh ? chinese ?? english : english
    }

    /// Which clock times are in: `site time Asia/Shanghai` or `UTC`.
    func clock(_ heading: String) -> String {
        guard language == .zh else { return heading }
        if heading == "site" || heading == "site time" { return "站点时间" }
        if heading == "site time of each device's site" { return "各设备所在站点的时间" }
        return heading.hasPrefix("site time ") ? "站点时间 " + heading.dropFirst("site time ".count) : heading
    }

    /// A table's headings: translated for a table, unchanged for CSV (machines read CSV headers).
    func headings(_ header: [String], format: OutputFormat = .table) -> [String] {
        guard format == .table, language == .zh else { return header }
        return header.map(heading)
    }

    /// One heading, with a clock or unit in parentheses kept: `time (site time Asia/Shanghai)`
    /// is `时间 (站点时间 Asia/Shanghai)`, `mean kW` is `平均 kW`.
    func heading(_ english: String) -> String {
        if let known = Self.chinese[english] { return known }
        if english.hasSuffix(")"), let open = english.firstIndex(of: "(") {
            let name = english[..<open].trimmingCharacters(in: .whitespaces)
            return "\(self(name)) (\(clock(String(english[english.index(after: open)..<english.index(before: english.endIndex)]))))"
        }
        if let space = english.firstIndex(of: " "), let known = Self.chinese[String(english[..<space])] {
            return known + english[space...]
        }
        return english
    }

    static let chineseUnits: [String: String] = [
        "kWh/unit": "kWh/件", "kgce/unit": "千克标准煤/件", "kgCO2/unit": "kgCO2/件", "m³/unit": "m³/件",
        "kgce": "千克标准煤", "tce/10k yuan": "吨标准煤/万元",
    ]

    static let chinese: [String: String] = [
        // Indicator table headings (zhizao indicators).
        "scope": "范围",
        "from": "起始",
        "electricity kWh": "用电量 kWh",
        "energy kgce": "综合能耗 千克标准煤",
        "water m³": "取水量 m³",
        "good units": "合格品产量 件",
        "kWh/unit": "单位产品电耗 kWh/件",
        "kgce/unit": "单位产品综合能耗 千克标准煤/件",
        "kgCO2/unit": "单位产品二氧化碳排放 kgCO2/件",
        "CO2 scopes": "二氧化碳排放范围",
        "water m3/unit": "单位产品取水量 m³/件",
        "water m³/unit": "单位产品取水量 m³/件",
        "static ctrl rate %": "关键工序数控化率(静态) %",
        "operational ctrl rate %": "关键工序数控化率(运行) %",
        "static control rate %": "关键工序数控化率(静态) %",
        "operational control rate %": "关键工序数控化率(运行) %",
        "tce/10k yuan": "单位工业增加值能耗 吨标准煤/万元",
        "kgCO2/10k yuan": "单位工业增加值二氧化碳排放 kgCO2/万元",
        "availability %": "时间开动率 %",
        "effectiveness %": "性能开动率 %",
        "quality %": "合格品率 %",
        "OEE %": "设备综合效率 (OEE) %",
        "kWh/unit vs base %": "单位产品电耗较基期 %",
        "kgce/unit vs base %": "单位产品综合能耗较基期 %",
        "kgCO2/unit vs base %": "单位产品二氧化碳排放较基期 %",
        "water m³/unit vs base %": "单位产品取水量较基期 %",
        "static rate vs base %": "数控化率(静态)较基期 %",
        "operational rate vs base %": "数控化率(运行)较基期 %",
        "OEE vs base %": "设备综合效率较基期 %",
        "kWh estimated %": "用电量估算占比 %",
        "unmetered kWh": "未计量用电量 kWh",
        "balance fails h": "平衡校验不通过 h",
        "on-site media kgce": "自产耗能工质 千克标准煤",
        "product": "产品",
        "kgce estimated %": "综合能耗估算占比 %",
        "key-process unknown %": "关键工序状态未知 %",
        "pending adj. kWh": "待计入调整 电量 kWh",
        "pending adj. kgce": "待计入调整 综合能耗 千克标准煤",
        "pending adj. good units": "待计入调整 合格品 件",
        "shift": "班次",
        // Headings of the other tables (status, devices, readings, quarantine, quality, audit, query).
        "device": "设备", "workshop": "车间", "line": "生产线", "process": "工序", "key": "关键工序", "nc": "数控",
        "decoder": "解码器", "topic": "主题", "metrics": "测点", "gateway": "网关", "messages": "消息数",
        "first seen": "首次出现", "last seen": "最后出现", "sample keys or tags": "示例键或标签",
        "metric": "测点", "value": "数值", "unit": "单位", "seq": "序号", "received": "接收时间", "reason": "原因",
        "bytes": "字节", "detail": "详情", "event": "事件", "start": "开始", "end": "结束", "amount": "数量",
        "last reading": "最后读数", "last committed": "最后提交", "state": "状态",
        "consumption": "用量", "readings": "读数", "last": "最后值", "min": "最小", "mean": "平均", "max": "最大",
        "database": "数据库", "readings stored": "已存储读数", "duplicates ignored": "已忽略重复", "messages received": "已收消息",
        "messages quarantined": "已隔离消息", "ingest rate": "采集速率", "data-quality events": "数据质量事件",
        "note: ": "注：",
        "grid factor": "电网排放因子",
        "static = from the registry, operational = from telemetry (key processes only)":
            "静态 = 按设备登记计算，运行 = 按遥测计算(仅关键工序)；较基期为负即节能率",
        // The report's figures and units.
        "Energy per good unit": "单位产品电耗",
        "Comprehensive energy per good unit": "单位产品综合能耗",
        "CO2 per good unit": "单位产品二氧化碳排放",
        "New water per good unit": "单位产品取水量",
        "Static key-process control rate (registry)": "关键工序数控化率(静态，按设备登记)",
        "Operational key-process control rate (telemetry)": "关键工序数控化率(运行，按遥测)",
        "OEE": "设备综合效率 (OEE)",
        // The report's page.
        "green-manufacturing and intelligentisation indicators": "绿色制造与智能化指标",
        "Scope": "范围",
        "to": "至",
        "against the baseline": "对比基期",
        "no baseline (pass --baseline FROM..TO to compare)": "无基期(用 --baseline FROM..TO 对比)",
        "Grid factor": "电网排放因子",
        "report.rates": "关键工序数控化率(静态)：按设备登记的数控设备占比；(运行)：关键工序在数控控制下的生产时间占生产时间之比，按遥测计算。",
        "report.oee": "设备综合效率 (OEE，ISO 22400-2) 按生产线计算。节能率 = 单位产品综合能耗较基期的下降百分比。",
        "Generated": "生成于",
        "by zhizao": "由 zhizao 生成",
        "The site and its workshops": "工厂及其车间",
        "over the window": "期间走势",
        "Figures for the whole window": "全期指标",
        "Download these figures as CSV": "下载这些指标 (CSV，英文列名)",
        "Note: ": "注：",
        "Changes on record (audit trail)": "变更记录(审计追踪)",
        "No change other than ingest is on record.": "除数据采集外无变更记录。",
        "time": "时间",
        "command": "命令",
        "user": "用户",
        "subject": "对象",
        "before": "变更前",
        "after": "变更后",
        "figure": "指标",
        "this window": "本期",
        "baseline": "基期",
        "change %": "变化 %",
        "no figures stored for this scope in the window": "本期内该范围无已存储的指标",
        "no figure in this window": "本期无数据",
        "Site": "工厂",
        "Workshop": "车间",
        "Line": "生产线",
    ]
}
