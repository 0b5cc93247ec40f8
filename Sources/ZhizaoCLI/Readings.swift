import ArgumentParser
import Foundation
import ReadingStore
import Telemetry

/// `zhizao readings`: the newest raw readings, to check what a gateway sends.
struct Readings: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the newest stored readings (oldest first).",
        discussion: """
            Examples:
              zhizao readings --limit 20
              zhizao readings --device cnc-101
            """)

    @OptionGroup var store: StoreOptions
    @Option(help: "Only this device.") var device: String?
    @Option(help: "How many readings.") var limit: Int = 50

    func run() throws {
        let rows: [StoreReader.StoredReading]
        do { rows = try StoreReader(path: store.db).readings(device: device, limit: limit) } catch { throw fail("\(error)") }
        if rows.isEmpty { print("no readings stored\(device.map { " for device \($0)" } ?? "")"); return }
        printTable(["time (local)", "device", "metric", "value", "seq"], rows.map { r in
            let v: String
            switch r.value {
            case .number(let d): v = String(format: "%.6g", d)
            case .state(let s): v = s
            case .error(let c): v = "error \(c)"
            }
            return [localTime(r.timestampMs), r.device, r.metric, v, r.seq.map(String.init) ?? ""]
        })
    }
}
