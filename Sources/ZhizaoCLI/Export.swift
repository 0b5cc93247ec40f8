import Aggregation
import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore
import Reporting

/// `zhizao export`: readings or one-minute rollups to a CSV or JSON file, streamed.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write readings or one-minute rollups to FILE.csv or FILE.json, in constant memory.",
        discussion: """
            A readings row is device, metric, time (site time with the offset, or UTC with --utc), \
            value or state (or a gateway error code) and the publisher's sequence number. A rollup \
            row is a device metric's minute: readings, min, mean, max, last and consumption, or \
            seconds in a state. Nothing stored in the window still writes the CSV header row or an \
            empty JSON array. A progress bar shows on a terminal.

            Examples:
              zhizao export readings --from=-24h --to now --device cnc-101 --out cnc-101.csv
              zhizao export readings --from 2026-11-01 --to 2026-12-01 --scope line:line-shaft --out shaft-nov.json
              zhizao export rollups --from yesterday --to today --scope site --metric energy --out energy.csv
              zhizao export readings --from=-1d --to now --device cnc-101 --utc --out cnc-101-utc.csv
            """)

    enum What: String, ExpressibleByArgument, CaseIterable {
        case readings
        case rollups
    }

    enum Window: TimeWindowDefaults {
        static let from: String? = nil
        static let to: String? = nil
        static let fromHelp = "Start: \(TimeArgument.help)."
        static let toHelp = "End (exclusive)."
    }

    @Argument(help: "readings or rollups.") var what: What
    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var window: TimeWindowOptions<Window>
    @Option(help: "Only devices in site, workshop:ID or line:ID.") var scope: String?
    @Option(help: "Only this device.") var device: String?
    @Option(help: "Only this metric.") var metric: String?
    @Option(help: ArgumentHelp("The file to write: its extension (.csv or .json) sets the format.", valueName: "FILE")) var out: String
    @OptionGroup var time: TimeOptions

    func validate() throws {
        if scope != nil && device != nil { throw ValidationError("--scope and --device exclude each other: pick one") }
        guard out.hasSuffix(".csv") || out.hasSuffix(".json") else {
            throw ValidationError("--out \(out) must end in .csv or .json (that sets the format)")
        }
    }

    func run() throws {
        let plant: Plant
        do { plant = try registry.loadPlant() } catch { throw fail("\(error)") }
        let plan = AggregationPlan(plant: plant)
        guard let site = plant.sites.first else { throw fail("the registry has no site") }
        let (fromMs, toMs) = try window.window(calendar: plan.calendar)
        var devices: [String]?
        if let device {
            guard plant.deviceIndex(id: device) != nil else {
                throw fail(
                    "unknown device \(device); nearest: \(nearest(device, in: plant.devices.map(\.id)).joined(separator: ", "))", code: 2)
            }
            devices = [device]
        } else if let scope {
            let s = site.scope(named: scope)
            devices = plant.devices.filter { d in s.map { AggregationPlan.scopes(of: d).contains($0) } ?? false }.map(\.id)
            if devices!.isEmpty {
                let typed = s?.key ?? scope
                throw fail(
                    "unknown scope \(typed); nearest: \(nearest(typed, in: site.scopes.map(\.key)).joined(separator: ", "))", code: 2)
            }
        }
        if let metric,
            !plant.devices.contains(where: { d in (devices.map { $0.contains(d.id) } ?? true) && d.metrics.contains { $0.name == metric } })
        {
            let names = Set(plant.devices.flatMap { $0.metrics.map(\.name) })
            throw fail("no device here has a metric \(metric); nearest: \(nearest(metric, in: names).joined(separator: ", "))", code: 2)
        }
        let reader = try store.reader(plant: plant)
        let filter = ExportFilter(from: fromMs, to: toMs, devices: devices, metric: metric)
        let total = what == .readings ? try reader.countReadings(filter) : try reader.countRollups(filter)

        guard FileManager.default.createFile(atPath: out, contents: nil), let handle = FileHandle(forWritingAtPath: out) else {
            throw fail("cannot write \(out): check that its folder exists and is writable")
        }
        var writer = ExportWriter(
            handle: handle, json: out.hasSuffix(".json"), zone: time.utc ? SiteClock.utcZone : plan.calendar.timeZone,
            rollups: what == .rollups)
        var progress = ProgressBar(total: total, label: "exporting \(what.rawValue)")
        let body: (ExportRow) throws -> Void = { row in
            try writer.write(row)
            progress.advance()
        }
        if what == .readings { try reader.exportReadings(filter, body) } else { try reader.exportRollups(filter, body) }
        try writer.finish()
        progress.finish()
        print("wrote \(writer.rows) \(what.rawValue) to \(out)")
    }
}

/// Writes export rows as CSV (header row first) or a JSON array, through a 64 KiB buffer.
struct ExportWriter {
    let handle: FileHandle
    let json: Bool
    let zone: TimeZone
    let rollups: Bool
    private var buffer = ""
    private(set) var rows = 0

    init(handle: FileHandle, json: Bool, zone: TimeZone, rollups: Bool) {
        self.handle = handle
        self.json = json
        self.zone = zone
        self.rollups = rollups
        buffer =
            json
            ? "[\n"
            : (rollups
                ? "device,metric,minute,readings,min,mean,max,last,consumption,state,seconds\n"
                : "device,metric,time,value,state,error_code,seq\n")
    }

    mutating func write(_ r: ExportRow) throws {
        let time = localTime(r.ts, zone, precise: true)
        func n(_ v: Double?) -> String { v.map { "\($0)" } ?? "" }
        func i<T: BinaryInteger>(_ v: T?) -> String { v.map { "\($0)" } ?? "" }
        if json {
            var fields = [
                "\"device\":\(jsonString(r.device))", "\"metric\":\(jsonString(r.metric))",
                "\"\(rollups ? "minute" : "time")\":\(jsonString(time))",
            ]
            if let v = r.value { fields.append("\"\(rollups ? "last" : "value")\":\(v)") }
            if let s = r.state { fields.append("\"state\":\(jsonString(s))") }
            if let e = r.errorCode { fields.append("\"error_code\":\(e)") }
            if let q = r.seq { fields.append("\"seq\":\(q)") }
            if let c = r.count { fields.append("\"readings\":\(c)") }
            if let v = r.min { fields.append("\"min\":\(v)") }
            if let v = r.mean { fields.append("\"mean\":\(v)") }
            if let v = r.max { fields.append("\"max\":\(v)") }
            if let v = r.consumption { fields.append("\"consumption\":\(v)") }
            if let v = r.seconds { fields.append("\"seconds\":\(v)") }
            buffer += (rows == 0 ? "  {" : ",\n  {") + fields.joined(separator: ",") + "}"
        } else if rollups {
            buffer +=
                [
                    csvField(r.device), csvField(r.metric), time, i(r.count), n(r.min), n(r.mean), n(r.max), n(r.value),
                    n(r.consumption), csvField(r.state ?? ""), n(r.seconds),
                ].joined(separator: ",") + "\n"
        } else {
            buffer +=
                [csvField(r.device), csvField(r.metric), time, n(r.value), csvField(r.state ?? ""), i(r.errorCode), i(r.seq)]
                .joined(separator: ",") + "\n"
        }
        rows += 1
        if buffer.utf8.count >= 65_536 { try flush() }
    }

    mutating func finish() throws {
        if json { buffer += rows == 0 ? "]\n" : "\n]\n" }
        try flush()
        try handle.close()
    }

    private mutating func flush() throws {
        try handle.write(contentsOf: Data(buffer.utf8))
        buffer = ""
    }

    private func jsonString(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }
}

/// A one-line progress bar on standard error, drawn only on a terminal.
struct ProgressBar {
    let total: Int
    let label: String
    let enabled = isatty(STDERR_FILENO) == 1
    private var done = 0
    private var lastDrawn = Date.distantPast

    init(total: Int, label: String) {
        self.total = total
        self.label = label
    }

    mutating func advance() {
        done += 1
        guard enabled, Date().timeIntervalSince(lastDrawn) > 0.1 else { return }
        lastDrawn = Date()
        let share = total > 0 ? Double(done) / Double(total) : 1
        let width = 30
        let filled = Int(share * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(Int(share * 100))% \(done)/\(total)".utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
