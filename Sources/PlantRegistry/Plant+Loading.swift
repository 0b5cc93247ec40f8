import Foundation
import Telemetry
internal import Yams

extension Plant {
    /// Loads and validates every `*.yaml` file under `directory`; throws with all problems found.
    ///
    /// `plant.yaml`-style files (top-level `sites:`) describe the tree; gateway files
    /// (top-level `gateway:`) declare payload formats and devices. Load order is by path, so
    /// the first gateway whose topic filter matches a topic is stable.
    public static func load(directory: String) throws(RegistryError) -> Plant {
        let (plant, problems) = loadReporting(directory: directory)
        if let plant, problems.isEmpty { return plant }
        throw RegistryError(problems: problems)
    }

    /// Loads as much as it can and returns every problem (for `zhizao devices validate`).
    public static func loadReporting(directory: String) -> (Plant?, [RegistryProblem]) {
        let log = ProblemLog()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            log.add(
                directory, nil, "the device registry directory does not exist",
                hint: "pass --devices DIR pointing at a folder with plant.yaml and gateways/*.yaml")
            return (nil, log.problems)
        }
        let files = yamlFiles(in: directory)
        if files.isEmpty {
            log.add(
                directory, nil, "no .yaml files found in the device registry directory",
                hint: "add plant.yaml (sites) and gateways/*.yaml (gateways and devices)")
            return (nil, log.problems)
        }
        var builder = PlantBuilder(log: log)
        var digest = SHA256()
        for path in files {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                log.add(path, nil, "cannot read file: \(error.localizedDescription)")
                continue
            }
            // Names relative to the registry, so the same files hash the same wherever they sit.
            digest.update(Array(path.dropFirst(directory.count).utf8) + [0] + Array(text.utf8) + [0])
            let root: Node?
            // No implicit tag resolution: fields are read as text and converted by YAMLFields
            // (`bool`, `double` parse the text of an unresolved scalar), and Yams' resolver
            // runs up to seven regular expressions per key while it checks for duplicates.
            do { root = try Yams.compose(yaml: text, .basic) } catch let error as YamlError {
                log.problems.append(yamlSyntaxProblem(error, file: path))
                continue
            } catch {
                log.add(path, nil, "not valid YAML: \(error)")
                continue
            }
            guard let root, let fields = YAMLFields(root, file: path, log: log, context: "the file") else {
                log.add(path, nil, "the file is empty", hint: "start it with `sites:` or `gateway:`")
                continue
            }
            if fields.has("sites") {
                builder.readPlantFile(fields)
            } else if fields.has("gateway") {
                builder.readGatewayFile(fields)
            } else {
                log.add(
                    path, root, "the file declares neither `sites:` (the plant tree) nor `gateway:` (a gateway and its devices)",
                    hint: "start a plant file with `sites:` or a gateway file with `gateway: <id>`")
            }
        }
        var plant = builder.finish()
        plant?.registryDigest = digest.finalizeHex()
        return (plant, log.problems)
    }

    static func yamlFiles(in directory: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: directory) else { return [] }
        var out: [String] = []
        while let rel = e.nextObject() as? String {
            if rel.hasSuffix(".yaml") || rel.hasSuffix(".yml") {
                out.append((directory as NSString).appendingPathComponent(rel))
            }
        }
        return out.sorted()
    }

    static func yamlSyntaxProblem(_ error: YamlError, file: String) -> RegistryProblem {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return RegistryProblem(
                file: file, line: mark.line, column: mark.column, message: "YAML syntax: \(problem)",
                hint: "check indentation (spaces, not tabs) and `key: value` form near this line")
        default:
            return RegistryProblem(file: file, line: 0, message: "not valid YAML: \(error)")
        }
    }
}

/// Assembles a `Plant` from files in any order, then cross-checks references.
struct PlantBuilder {
    let log: ProblemLog
    var sites: [Site] = []
    var siteFiles: [String: (String, Node?)] = [:]
    var gateways: [Gateway] = []
    struct PendingDevice {
        var device: Device
        var file: String
        var node: Node
        var fields: [String: Node]
    }
    var pending: [PendingDevice] = []
    /// Where each gateway's topic is declared (`topic:`, or `group_id:` for Sparkplug), for messages.
    var topicNodes: [Node?] = []

    init(log: ProblemLog) { self.log = log }

    mutating func readPlantFile(_ f: YAMLFields) {
        f.rejectUnknownKeys(allowed: ["sites"])
        for siteNode in f.sequence("sites", required: true) {
            guard let s = YAMLFields(siteNode, file: f.file, log: log, context: "a site") else { continue }
            s.rejectUnknownKeys(allowed: [
                "id", "name", "name_zh", "timezone", "control_rate_basis", "workshops", "energy_coefficients",
                "grid_emission_factor", "fuel_emission_factors", "scope2_emission_factors", "state_hold_s", "stale_after_s", "shifts",
                "balance_tolerance",
            ])
            let id = s.identifier("id", required: true) ?? "?"
            let ctx = "site \(id)"
            let tz = s.string("timezone") ?? "Asia/Shanghai"
            if TimeZone(identifier: tz) == nil {
                log.add(
                    f.file, s.value("timezone"), "unknown time zone \"\(tz)\" for \(ctx)",
                    hint: "use an IANA name such as Asia/Shanghai")
            }
            var site = Site(
                id: id, name: s.string("name") ?? id, timeZone: tz,
                controlRateBasis: s.choice("control_rate_basis", ControlRateBasis.self, default: .machineCount) ?? .machineCount,
                workshops: [])
            site.nameZH = s.string("name_zh")
            readSiteFactors(s, into: &site)
            var lineIDs: Set<String> = []
            for wNode in s.sequence("workshops", required: true) {
                guard let w = YAMLFields(wNode, file: f.file, log: log, context: "a workshop of \(ctx)") else { continue }
                w.rejectUnknownKeys(allowed: ["id", "name", "name_zh", "lines"])
                let wid = w.identifier("id", required: true) ?? "?"
                if site.workshops.contains(where: { $0.id == wid }) {
                    log.add(f.file, w.value("id"), "workshop \(wid) is declared twice in \(ctx)", hint: "give each workshop its own id")
                }
                var workshop = Workshop(id: wid, name: w.string("name") ?? wid, lines: [])
                workshop.nameZH = w.string("name_zh")
                for lNode in w.sequence("lines") {
                    guard let l = YAMLFields(lNode, file: f.file, log: log, context: "a line of workshop \(wid)") else { continue }
                    l.rejectUnknownKeys(allowed: ["id", "name", "name_zh", "processes", "planned_cycle_s", "product"])
                    let lid = l.identifier("id", required: true) ?? "?"
                    if !lineIDs.insert(lid).inserted {
                        log.add(
                            f.file, l.value("id"), "line \(lid) is declared twice in \(ctx)",
                            hint: "line ids must be unique within a site")
                    }
                    var line = Line(id: lid, name: l.string("name") ?? lid, processes: [])
                    line.nameZH = l.string("name_zh")
                    line.product = readProduct(l, line: lid)
                    if let pri = l.double("planned_cycle_s") {
                        if pri <= 0 { log.add(f.file, l.value("planned_cycle_s"), "`planned_cycle_s` of line \(lid) must be above 0") }
                        line.plannedCycleSeconds = pri
                    }
                    for pNode in l.sequence("processes") {
                        guard let p = YAMLFields(pNode, file: f.file, log: log, context: "a process of line \(lid)") else { continue }
                        p.rejectUnknownKeys(allowed: ["id", "name", "name_zh", "key_process"])
                        let pid = p.identifier("id", required: true) ?? "?"
                        if line.processes.contains(where: { $0.id == pid }) {
                            log.add(f.file, p.value("id"), "process \(pid) is declared twice in line \(lid)")
                        }
                        var process = Process(id: pid, name: p.string("name") ?? pid, keyProcess: p.bool("key_process", default: false))
                        process.nameZH = p.string("name_zh")
                        line.processes.append(process)
                    }
                    workshop.lines.append(line)
                }
                site.workshops.append(workshop)
            }
            if let prev = siteFiles[id] {
                log.add(f.file, s.value("id"), "site \(id) is declared twice (also in \(prev.0))", hint: "keep one declaration per site")
            }
            siteFiles[id] = (f.file, s.value("id"))
            sites.append(site)
        }
    }

    /// Coefficients and emission factors a site overrides (DOMAIN.md's defaults otherwise).
    func readSiteFactors(_ s: YAMLFields, into site: inout Site) {
        func carrierMap(_ key: String) -> [Carrier: Double] {
            guard let node = s.value(key) else { return [:] }
            guard let map = YAMLFields(node, file: s.file, log: log, context: "`\(key)` of site \(site.id)") else { return [:] }
            map.rejectUnknownKeys(allowed: Carrier.allCases.map(\.rawValue))
            var out: [Carrier: Double] = [:]
            for c in Carrier.allCases {
                if let v = map.double(c.rawValue) {
                    if v < 0 { log.add(s.file, map.value(c.rawValue), "`\(key).\(c.rawValue)` must not be negative") }
                    out[c] = v
                }
            }
            return out
        }
        site.energyCoefficients.merge(carrierMap("energy_coefficients")) { $1 }
        site.fuelFactors.merge(carrierMap("fuel_emission_factors")) { $1 }
        site.purchasedFactors = carrierMap("scope2_emission_factors")
        for c in site.purchasedFactors.keys where c != .heat && c != .steam {
            log.add(
                s.file, s.value("scope2_emission_factors"),
                "`scope2_emission_factors.\(c.rawValue)` of site \(site.id): scope 2 factors here are for purchased heat and steam",
                hint: "electricity's factor is `grid_emission_factor`; fuels burnt on site go in `fuel_emission_factors`")
        }
        if let node = s.value("grid_emission_factor"),
            let g = YAMLFields(node, file: s.file, log: log, context: "`grid_emission_factor` of site \(site.id)")
        {
            g.rejectUnknownKeys(allowed: ["kg_co2_per_kwh", "vintage", "series"])
            let value = g.double("kg_co2_per_kwh")
            let vintage = g.double("vintage")
            let series = g.string("series")
            if value == nil || vintage == nil || series == nil {
                log.add(
                    s.file, node, "`grid_emission_factor` needs kg_co2_per_kwh, vintage and series",
                    hint: "e.g. {kg_co2_per_kwh: 0.3869, vintage: 2022, series: \"MEE/NBS Southern grid\"}: series must not be mixed")
            } else {
                site.gridFactor = EmissionFactor(kgCO2PerUnit: value!, vintage: Int(vintage!), series: series!)
            }
        }
        for node in s.sequence("shifts") {
            guard let sh = YAMLFields(node, file: s.file, log: log, context: "a shift of site \(site.id)") else { continue }
            sh.rejectUnknownKeys(allowed: ["name", "start", "end", "planned_downtime_min"])
            let name = sh.string("name", required: true) ?? "?"
            func minute(_ key: String) -> Int? {
                guard let text = sh.string(key, required: true) else { return nil }
                let parts = text.split(separator: ":")
                guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0...24).contains(h), m == 0,
                    h * 60 + m <= 1440
                else {
                    log.add(
                        s.file, sh.value(key), "`\(key)` \"\(text)\" of shift \(name) is not a whole hour HH:00",
                        hint: "shifts start and end on the hour, e.g. \"08:00\" (\"24:00\" is midnight)")
                    return nil
                }
                return h * 60
            }
            guard let start = minute("start"), let end = minute("end") else { continue }
            if start == end { log.add(s.file, node, "shift \(name) starts and ends at the same time") }
            let downtime = sh.double("planned_downtime_min") ?? 0
            site.shifts.append(Shift(name: name, startMinute: start % 1440, endMinute: end, plannedDowntimeMinutes: downtime))
        }
        let covered = site.shifts.reduce(0) { $0 + $1.lengthMinutes }
        if covered > 1440 {
            log.add(
                s.file, s.value("shifts"), "the shifts of site \(site.id) overlap (\(covered) minutes a day)",
                hint: "give each hour of the day to one shift at most")
        }
        if let v = fraction(s, "balance_tolerance", "site \(site.id)") { site.balanceTolerance = v }
        // `state_hold_s` is the older name of the site's staleness window.
        for key in ["state_hold_s", "stale_after_s"] {
            guard let seconds = s.double(key) else { continue }
            if seconds <= 0 {
                log.add(s.file, s.value(key), "`\(key)` must be above 0", hint: "e.g. `stale_after_s: 28800` (8 hours)")
            }
            site.staleAfterMs = Int64(seconds * 1000)
        }
    }

    mutating func readGatewayFile(_ f: YAMLFields) {
        f.rejectUnknownKeys(allowed: [
            "gateway", "decoder", "topic", "topic_template", "group_id", "stale_after_s", "status_topic",
            "devices",
        ])
        let gid = f.identifier("gateway", required: true) ?? "?"
        let ctx = "gateway \(gid)"
        let decoder = f.choice("decoder", DecoderKind.self, required: true) ?? .native
        var sparkplugGroup: String?
        if decoder == .sparkplug {
            sparkplugGroup = f.string("group_id", required: true, hint: "add `group_id: <Sparkplug group id>`")
            if let g = sparkplugGroup, g.contains("/") || g.contains("+") || g.contains("#") {
                log.add(f.file, f.value("group_id"), "`group_id` \"\(g)\" of \(ctx) may not contain /, + or #")
            }
        } else if f.has("group_id") {
            log.add(f.file, f.keyNode("group_id"), "`group_id` only applies to `decoder: sparkplug`", hint: "remove it")
        }
        // A Sparkplug gateway's topic follows from its group; others name theirs.
        let topic =
            sparkplugGroup.map { "spBv1.0/\($0)/#" }
            ?? f.string("topic", required: true, hint: "add `topic: <MQTT filter>`, e.g. `factory/#`") ?? "#"
        let filter = TopicFilter(topic)
        if filter == nil {
            log.add(
                f.file, f.value("topic"), "`topic` \"\(topic)\" of \(ctx) is not a valid MQTT topic filter",
                hint: "`+` and `#` must fill a whole level, and `#` must come last")
        }
        var template: TopicTemplate?
        if decoder == .plain {
            if let t = f.string(
                "topic_template", required: true,
                hint: "add `topic_template: factory/{workshop}/{line}/{device}/{metric}`")
            {
                template = TopicTemplate(t)
                if template == nil {
                    log.add(
                        f.file, f.value("topic_template"), "`topic_template` of \(ctx) must contain {device} and {metric}",
                        hint: "e.g. factory/{workshop}/{line}/{device}/{metric}")
                }
            }
        } else if f.has("topic_template") {
            log.add(
                f.file, f.keyNode("topic_template"), "`topic_template` only applies to the plain decoder",
                hint: "remove it, or set `decoder: plain`")
        }
        if gateways.contains(where: { $0.id == gid }) {
            log.add(f.file, f.value("gateway"), "gateway \(gid) is declared twice", hint: "gateway ids must be unique")
        }
        var statusTopic = f.string("status_topic")
        if let t = statusTopic {
            if decoder == .sparkplug {
                log.add(
                    f.file, f.keyNode("status_topic"), "`status_topic` of \(ctx) does not apply to Sparkplug gateways",
                    hint: "remove it: Sparkplug edge nodes say so with NDEATH/DDEATH")
                statusTopic = nil
            } else if t.isEmpty || t.contains("+") || t.contains("#") {
                log.add(
                    f.file, f.value("status_topic"), "`status_topic` \"\(t)\" of \(ctx) must be one topic, without + or #",
                    hint: "the topic the gateway publishes online/offline to, e.g. its MQTT Will's topic")
                statusTopic = nil
            } else if let other = gateways.first(where: { $0.statusTopic == t }) {
                log.add(
                    f.file, f.value("status_topic"), "`status_topic` \"\(t)\" of \(ctx) is also gateway \(other.id)'s (\(other.file))",
                    hint: "each gateway says its own status on a topic of its own")
                statusTopic = nil
            }
        }
        let gIndex = gateways.count
        topicNodes.append(f.value("topic") ?? f.value("group_id") ?? f.value("gateway"))
        var gateway = Gateway(
            id: gid, decoder: decoder, topic: topic, filter: filter ?? TopicFilter("#")!,
            topicTemplate: template, neuronDevices: [:], sparkplugGroup: sparkplugGroup,
            deviceIndices: [], file: f.file)
        gateway.statusTopic = statusTopic
        gateways.append(gateway)
        for dNode in f.sequence("devices", required: true) {
            guard let d = YAMLFields(dNode, file: f.file, log: log, context: "a device of \(ctx)") else { continue }
            readDevice(d, gateway: gIndex, decoder: decoder, staleAfterMs: positiveSeconds(f, "stale_after_s", ctx))
        }
    }

    /// A `key` in seconds that must be above 0, as milliseconds.
    func positiveSeconds(_ f: YAMLFields, _ key: String, _ ctx: String) -> Int64? {
        guard let v = f.double(key) else { return nil }
        guard v > 0 else {
            f.log.add(f.file, f.value(key), "`\(key)` of \(ctx) must be above 0", hint: "give seconds, e.g. `\(key): 3600`")
            return nil
        }
        return Int64(v * 1000)
    }

    /// A fraction strictly between 0 and 1, or nil when absent (or wrong, which is logged).
    func fraction(_ f: YAMLFields, _ key: String, _ ctx: String) -> Double? {
        guard let v = f.double(key) else { return nil }
        guard v > 0 && v < 1 else {
            f.log.add(f.file, f.value(key), "`\(key)` of \(ctx) must be a fraction between 0 and 1", hint: "e.g. `\(key): 0.1`")
            return nil
        }
        return v
    }

    mutating func readDevice(_ d: YAMLFields, gateway gIndex: Int, decoder: DecoderKind, staleAfterMs gatewayStale: Int64?) {
        d.rejectUnknownKeys(allowed: [
            "id", "site", "workshop", "line", "process", "nc_capable", "meter_role", "meter_scope", "parent",
            "origin", "line_output", "neuron", "sparkplug", "stale_after_s", "metrics",
        ])
        let id = d.identifier("id", required: true) ?? "?"
        let ctx = "device \(id)"
        var neuron: NeuronGroup?
        if let nNode = d.value("neuron") {
            if decoder != .neuron {
                log.add(
                    d.file, d.keyNode("neuron"), "`neuron` on \(ctx) only applies to gateways with `decoder: neuron`",
                    hint: "remove it")
            }
            if let n = YAMLFields(nNode, file: d.file, log: log, context: "`neuron` of \(ctx)") {
                n.rejectUnknownKeys(allowed: ["node", "group"])
                if let node = n.string("node", required: true), let group = n.string("group", required: true) {
                    neuron = NeuronGroup(node: node, group: group)
                }
            }
        } else if decoder == .neuron {
            log.add(
                d.file, d.node, "\(ctx) is behind a Neuron gateway but has no `neuron:`",
                hint: "add `neuron: {node: <south node name>, group: <group name>}`")
        }
        var sparkplug: SparkplugAddress?
        if let sNode = d.value("sparkplug") {
            if decoder != .sparkplug {
                log.add(
                    d.file, d.keyNode("sparkplug"), "`sparkplug` on \(ctx) only applies to gateways with `decoder: sparkplug`",
                    hint: "remove it")
            }
            if let sp = YAMLFields(sNode, file: d.file, log: log, context: "`sparkplug` of \(ctx)") {
                sp.rejectUnknownKeys(allowed: ["edge_node_id", "device_id"])
                if let edge = sp.string("edge_node_id", required: true) {
                    sparkplug = SparkplugAddress(edgeNode: edge, device: sp.string("device_id"))
                }
            }
        } else if decoder == .sparkplug {
            log.add(
                d.file, d.node, "\(ctx) is behind a Sparkplug gateway but has no `sparkplug:`",
                hint: "add `sparkplug: {edge_node_id: <edge node>, device_id: <device>}` (no device_id for the node's own metrics)")
        }
        var metrics: [Metric] = []
        var bySource: [String: Int] = [:]
        for mNode in d.sequence("metrics", required: true) {
            guard let m = YAMLFields(mNode, file: d.file, log: log, context: "a metric of \(ctx)") else { continue }
            guard let metric = readMetric(m, device: id) else { continue }
            if metrics.contains(where: { $0.name == metric.name }) {
                log.add(d.file, m.value("name"), "metric \(metric.name) is declared twice on \(ctx)")
                continue
            }
            if bySource[metric.sourceName] != nil {
                log.add(
                    d.file, m.value("source") ?? m.value("name"),
                    "two metrics of \(ctx) read the same source `\(metric.sourceName)`", hint: "give each metric its own `source`")
                continue
            }
            Device.index(metric, at: metrics.count, in: &bySource)
            metrics.append(metric)
        }
        var device = Device(
            id: id, site: d.identifier("site") ?? "", workshop: d.identifier("workshop"),
            line: d.identifier("line"), process: d.identifier("process"), keyProcess: false,
            ncCapable: d.bool("nc_capable", default: false),
            meterRole: d.choice("meter_role", MeterRole.self), gateway: gIndex, neuron: neuron, sparkplug: sparkplug,
            metrics: metrics)
        device.staleAfterMs = positiveSeconds(d, "stale_after_s", ctx) ?? gatewayStale
        device.meterScope = d.choice("meter_scope", MeterScope.self)
        device.parentMeter = d.identifier("parent")
        device.origin = d.choice("origin", MediumOrigin.self)
        device.lineOutput = d.bool("line_output", default: false)
        var fields: [String: Node] = [:]
        for k in ["site", "workshop", "line", "process", "id", "meter_role", "meter_scope", "parent", "origin", "line_output"] {
            fields[k] = d.value(k)
        }
        pending.append(PendingDevice(device: device, file: d.file, node: d.node, fields: fields))
    }

    func readMetric(_ m: YAMLFields, device: String) -> Metric? {
        m.rejectUnknownKeys(allowed: [
            "name", "kind", "unit", "measures", "carrier", "source", "scale", "offset", "rollover",
            "reset_below", "rollover_margin", "expected_interval_s", "states",
        ])
        guard let name = m.identifier("name", required: true) else { return nil }
        let ctx = "metric \(name) of device \(device)"
        let kind = m.choice("kind", MetricKind.self, required: true) ?? .gauge
        let measures = m.choice("measures", Measure.self, required: true) ?? .other
        let unit = m.string("unit")
        if kind != .state && unit == nil {
            m.log.add(m.file, m.node, "\(ctx) is a \(kind.rawValue) without a `unit`", hint: "add e.g. `unit: kWh`")
        }
        var carrier: Carrier?
        if measures == .energy || measures == .energyTariff || measures == .energyExport {
            carrier = m.choice("carrier", Carrier.self, required: true)
        } else if m.has("carrier") {
            m.log.add(
                m.file, m.keyNode("carrier"), "`carrier` on \(ctx) only applies to `measures: energy`, `energy_tariff` or `energy_export`",
                hint: "remove it")
        }
        switch measures {
        case .machineState, .controlMode:
            if kind != .state {
                m.log.add(
                    m.file, m.value("kind"), "\(ctx) measures \(measures.rawValue), so its kind must be state", hint: "set `kind: state`")
            }
        case .goodCount, .scrapCount:
            if kind == .state {
                m.log.add(m.file, m.value("kind"), "\(ctx) measures \(measures.rawValue), which is a count", hint: "set `kind: counter`")
            }
        case .energy, .energyTariff, .energyExport, .other: break
        }
        let rollover = m.double("rollover")
        if rollover != nil && kind != .counter {
            m.log.add(
                m.file, m.keyNode("rollover"), "`rollover` on \(ctx) only applies to counters", hint: "remove it or set `kind: counter`")
        }
        if let r = rollover, r <= 0 {
            m.log.add(m.file, m.value("rollover"), "`rollover` of \(ctx) must be above 0")
        }
        var states: [String: String] = [:]
        if let sNode = m.value("states") {
            if kind != .state {
                m.log.add(
                    m.file, m.keyNode("states"), "`states` on \(ctx) only applies to state metrics", hint: "remove it or set `kind: state`")
            } else if let map = sNode.mapping {
                let allowed =
                    measures == .controlMode
                    ? Metric.controlModes
                    : measures == .machineState ? Metric.machineStates : nil
                for (k, v) in map {
                    guard let code = k.string, let word = v.string else {
                        m.log.add(m.file, k, "`states` entries of \(ctx) must be `code: word`")
                        continue
                    }
                    if let allowed, !allowed.contains(word) {
                        m.log.add(
                            m.file, v, "state word \"\(word)\" of \(ctx) is not canonical",
                            hint: "use one of \(allowed.sorted().joined(separator: ", "))")
                    }
                    states[code] = word
                }
            } else {
                m.log.add(
                    m.file, sNode, "`states` of \(ctx) must map gateway codes to words", hint: "e.g. `states: {1: producing, 3: idle}`")
            }
        }
        for key in ["reset_below", "rollover_margin"] where m.has(key) && kind != .counter {
            m.log.add(m.file, m.keyNode(key), "`\(key)` on \(ctx) only applies to counters", hint: "remove it or set `kind: counter`")
        }
        if m.has("rollover_margin") && rollover == nil {
            m.log.add(
                m.file, m.keyNode("rollover_margin"), "`rollover_margin` on \(ctx) needs the register's modulus",
                hint: "add `rollover: <modulus>` or remove it")
        }
        var metric = Metric(
            name: name, kind: kind, unit: unit, measures: measures, carrier: carrier,
            source: m.string("source"), scale: m.double("scale") ?? 1, offset: m.double("offset") ?? 0,
            rollover: rollover, states: states, series: 0)
        if let carrier, let unit, kind != .state {
            metric.toCanonical = checkedUnitFactor(m, unit: unit, carrier: carrier, kind: kind, ctx: ctx)
        }
        if let v = fraction(m, "reset_below", ctx) { metric.resetBelow = v }
        if let v = fraction(m, "rollover_margin", ctx) { metric.rolloverMargin = v }
        if let v = positiveSeconds(m, "expected_interval_s", ctx) { metric.expectedIntervalMs = v }
        return metric
    }

    /// Canonical units per unit of a carrier metric; an unknown unit is a problem naming the
    /// accepted ones (1 then, so the rest of the registry still loads for `devices validate`).
    func checkedUnitFactor(_ m: YAMLFields, unit: String, carrier: Carrier, kind: MetricKind, ctx: String) -> Double {
        if let f = CarrierUnit.factor(unit: unit, carrier: carrier, kind: kind) { return f }
        let accepted = CarrierUnit.accepted(carrier, kind).map(\.unit)
        m.log.add(
            m.file, m.value("unit"),
            "unit \"\(unit)\" of \(ctx) is not a \(carrier.rawValue) unit for a \(kind.rawValue)",
            hint: "use one of \(accepted.joined(separator: ", ")) (converted to \(CarrierUnit.canonical(carrier)))")
        return 1
    }

    /// Checks a device's line and process inside its workshop and copies the key-process flag.
    func checkPlace(d: inout Device, workshop ws: Workshop, problem: (String, String, String?) -> Void) {
        guard let lid = d.line else {
            if d.process != nil { problem("process", "device \(d.id) names a process but no line", "add `line: <id>`") }
            return
        }
        guard let line = ws.lines.first(where: { $0.id == lid }) else {
            let near = nearest(lid, in: ws.lines.map(\.id))
            problem(
                "line", "device \(d.id): workshop \(ws.id) has no line \(lid)",
                near.isEmpty ? "declare it under the workshop in plant.yaml" : "did you mean `\(near[0])`?")
            return
        }
        guard let pid = d.process else { return }
        if let proc = line.processes.first(where: { $0.id == pid }) {
            d.keyProcess = proc.keyProcess
        } else {
            let near = nearest(pid, in: line.processes.map(\.id))
            problem(
                "process", "device \(d.id): line \(lid) has no process \(pid)",
                near.isEmpty ? "declare it under the line in plant.yaml" : "did you mean `\(near[0])`?")
        }
    }

    /// Refuses two gateways whose topic filters can match the same topic: the daemon would not
    /// know which gateway (and so which devices) a message on it speaks for.
    func checkOverlappingTopics() {
        for i in gateways.indices {
            for j in gateways.indices where j > i {
                let a = gateways[i]
                let b = gateways[j]
                guard let example = a.filter.commonTopic(with: b.filter) else { continue }
                let at = { (k: Int) in "\(gateways[k].file):\(topicNodes[k]?.mark?.line ?? 0)" }
                let hint =
                    "give each gateway a filter of its own, e.g. a literal level naming the gateway or workshop (`\(a.topic)` and `\(b.topic)` overlap)"
                log.add(
                    a.file, topicNodes[i],
                    "the topic filter `\(a.topic)` of gateway \(a.id) and `\(b.topic)` of gateway \(b.id) (\(at(j))) both match topics such as `\(example)`: which gateway owns them would be ambiguous",
                    hint: hint)
                log.add(
                    b.file, topicNodes[j],
                    "the topic filter `\(b.topic)` of gateway \(b.id) and `\(a.topic)` of gateway \(a.id) (\(at(i))) both match topics such as `\(example)`: which gateway owns them would be ambiguous",
                    hint: hint)
            }
        }
    }

    /// Resolves each device's place in the tree, checks uniqueness, then links the plant
    /// (`Plant.init(linking:)`: series and lookup tables) and checks its metering tree.
    mutating func finish() -> Plant? {
        if sites.isEmpty {
            log.add("(registry)", nil, "no site is declared", hint: "add a plant.yaml with `sites:`")
        }
        var devices: [Device] = []
        var byID: [String: Int] = [:]
        // Per gateway, the Sparkplug and Neuron addresses claimed so far, for the checks only:
        // the plant's own tables are derived in `Plant.init(linking:)`.
        var sparkplugClaims = [[SparkplugAddress: Int]](repeating: [:], count: gateways.count)
        var neuronClaims = [[NeuronGroup: Int]](repeating: [:], count: gateways.count)
        var places: [(file: String, node: Node, fields: [String: Node])] = []
        for p in pending {
            var d = p.device
            let log = self.log
            func problem(_ key: String, _ message: String, hint: String?) {
                log.add(p.file, p.fields[key] ?? p.node, message, hint: hint)
            }
            if let prev = byID[d.id] {
                problem(
                    "id", "device \(d.id) is declared twice (also in gateway \(gateways[devices[prev].gateway].id))",
                    hint: "device ids must be unique across the plant")
                continue
            }
            if d.site.isEmpty {
                if sites.count == 1 {
                    d.site = sites[0].id
                } else if sites.count > 1 {
                    problem("id", "device \(d.id) does not say which site it belongs to", hint: "add `site: <id>`")
                }
            }
            if let site = sites.first(where: { $0.id == d.site }) {
                if let wid = d.workshop {
                    if let ws = site.workshops.first(where: { $0.id == wid }) {
                        checkPlace(d: &d, workshop: ws, problem: problem)
                    } else {
                        let near = nearest(wid, in: site.workshops.map(\.id))
                        problem(
                            "workshop", "device \(d.id): site \(site.id) has no workshop \(wid)",
                            hint: near.isEmpty ? "declare it in plant.yaml" : "did you mean `\(near[0])`?")
                    }
                } else if d.line != nil || d.process != nil {
                    problem("line", "device \(d.id) names a line or process but no workshop", hint: "add `workshop: <id>`")
                }
            } else if !d.site.isEmpty {
                problem("site", "device \(d.id): no site \(d.site)", hint: "sites: \(sites.map(\.id).joined(separator: ", "))")
            }
            if let template = gateways[d.gateway].topicTemplate {
                // The daemon checks a topic's {workshop} and {line} against the device's place:
                // a device without one could never be accepted through this template.
                for (named, has, key) in [
                    (template.namesWorkshop, d.workshop != nil, "workshop"), (template.namesLine, d.line != nil, "line"),
                ]
                where named && !has {
                    problem(
                        "id",
                        "device \(d.id) has no \(key), but the topic_template of gateway \(gateways[d.gateway].id) names {\(key)}: no topic could carry its readings",
                        hint: "add `\(key): <id>`, or declare the device in a gateway whose topic_template has no {\(key)}")
                }
            }
            // One consumption register per carrier: tariff and export registers are marked as such.
            var registers: [Carrier: [String]] = [:]
            for m in d.metrics where m.measures == .energy && m.kind == .counter {
                if let c = m.carrier { registers[c, default: []].append(m.name) }
            }
            for (c, names) in registers.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where names.count > 1 {
                problem(
                    "id",
                    "device \(d.id) has \(names.count) \(c.rawValue) consumption registers (\(names.joined(separator: ", "))): they would be added",
                    hint: "keep one `measures: energy`; mark the others `measures: energy_tariff` (peak, valley) or `energy_export`")
            }
            // A carrier metered without a kgce coefficient would leave comprehensive energy incomplete.
            if let site = sites.first(where: { $0.id == d.site }) {
                for c in Set(d.metrics.filter { $0.measures == .energy }.compactMap(\.carrier)) where site.energyCoefficients[c] == nil {
                    problem(
                        "id",
                        "device \(d.id) meters \(c.rawValue), but site \(site.id) has no kgce coefficient for it: its comprehensive energy could not be computed",
                        hint:
                            "set `energy_coefficients: {\(c.rawValue): <kgce per \(d.metrics.first { $0.carrier == c }?.unit ?? "unit")>}` for site \(site.id) in plant.yaml"
                    )
                }
            }
            if d.meterRole != nil, !d.metrics.contains(where: { $0.measures == .energy }) {
                problem("meter_role", "device \(d.id) has `meter_role` but no energy metric", hint: "remove `meter_role`")
            }
            let index = devices.count
            if let sp = d.sparkplug {
                if let other = sparkplugClaims[d.gateway][sp] {
                    problem(
                        "id",
                        "devices \(devices[other].id) and \(d.id) share Sparkplug edge node \(sp.edgeNode) device \(sp.device ?? "(node)")",
                        hint: "each Sparkplug edge node or device maps to one device")
                } else {
                    sparkplugClaims[d.gateway][sp] = index
                }
            }
            if let n = d.neuron {
                if let other = neuronClaims[d.gateway][n] {
                    problem(
                        "id", "devices \(devices[other].id) and \(d.id) share Neuron node \(n.node) group \(n.group)",
                        hint: "each Neuron group maps to one device")
                } else {
                    neuronClaims[d.gateway][n] = index
                }
            }
            byID[d.id] = index
            devices.append(d)
            places.append((p.file, p.node, p.fields))
        }
        checkOverlappingTopics()
        checkOutputCounters(devices, places: places)
        let plant = Plant(linking: sites, gateways: gateways, devices: devices)
        checkMeteringTree(plant, places: places)
        return plant
    }
}

extension Plant {
    /// Links what the registry declares into a plant: numbers the series, and builds every
    /// lookup table (device by id, metric by source, each gateway's devices and addresses,
    /// status topics, the gateway binding).
    ///
    /// The one derivation of those tables: `PlantBuilder.finish` calls it after its checks, and
    /// decoding the registry cache calls it on what the cache stored, so a cached plant cannot
    /// differ from a parsed one in anything derived. Device ids are unique and each Neuron or
    /// Sparkplug address names one device when the registry validated; were they not, the
    /// first declaration would win here as in the checks.
    init(linking sites: [Site], gateways: [Gateway], devices: [Device]) {
        var gateways = gateways
        for g in gateways.indices {
            gateways[g].neuronDevices = [:]
            gateways[g].sparkplugDevices = [:]
            gateways[g].deviceIndices = []
        }
        var devices = devices
        var byID: [String: Int] = [:]
        var series: [SeriesKey] = []
        for index in devices.indices {
            let g = devices[index].gateway
            var bySource: [String: Int] = [:]
            for mi in devices[index].metrics.indices {
                devices[index].metrics[mi].series = SeriesIndex(series.count)
                series.append(SeriesKey(device: devices[index].id, metric: devices[index].metrics[mi].name, site: devices[index].site))
                Device.index(devices[index].metrics[mi], at: mi, in: &bySource)
            }
            devices[index].metricBySource = bySource
            if let sp = devices[index].sparkplug, gateways[g].sparkplugDevices[sp] == nil {
                gateways[g].sparkplugDevices[sp] = index
            }
            if let n = devices[index].neuron, gateways[g].neuronDevices[n] == nil { gateways[g].neuronDevices[n] = index }
            gateways[g].deviceIndices.append(index)
            if byID[devices[index].id] == nil { byID[devices[index].id] = index }
        }
        self.sites = sites
        self.gateways = gateways
        self.devices = devices
        self.series = series
        deviceByID = byID
        statusTopics = gateways.enumerated().compactMap { i, g in g.statusTopic.map { StatusTopic(gateway: i, topic: Array($0.utf8)) } }
        binding = GatewayBinding(devices: devices)
    }
}

extension Device {
    /// Adds a metric (at `index` among the device's metrics) to a source -> metric table: its
    /// source tag, and its name too when the gateway sends another tag and no earlier metric's
    /// tag is that name.
    static func index(_ metric: Metric, at index: Int, in table: inout [String: Int]) {
        table[metric.sourceName] = index
        if metric.source != nil, table[metric.name] == nil { table[metric.name] = index }
    }
}
