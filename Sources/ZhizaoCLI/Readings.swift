import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore
import Telemetry

/// `zhizao readings`: the newest raw readings, to check what a gateway sends.
struct Readings: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the newest stored readings (oldest first), in each device's site time.",
        discussion: """
            Times are the event times the gateways sent, in the site time of the device's site \
            (from the registry) with the offset, or in UTC with --utc.

            Examples:
              zhizao readings --limit 20
              zhizao readings --device cnc-101
              zhizao readings --device cnc-101 --utc
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var time: TimeOptions
    @OptionGroup var language: LanguageOptions
    @Option(help: "Only this device.") var device: String?
    @Option(help: "How many readings.") var limit: Int = 50

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit \(limit) must be at least 1, e.g. --limit 20") }
    }

    func run() throws {
        let plant = SiteClock.optionalPlant(registry)
        let reader = try store.reader(plant: plant)
        let rows: [StoredReading]
        do { rows = try reader.readings(device: device, limit: limit) } catch { throw fail("\(error)") }
        let clock = SiteClock(plant: plant, utc: time.utc)
        if rows.isEmpty {
            print("no readings stored\(device.map { " for device \($0)" } ?? "")")
            return
        }
        let units = Dictionary((plant?.devices ?? []).flatMap { d in d.metrics.map { ("\(d.id)/\($0.name)", $0.unit ?? "") } }) { a, _ in a
        }
        printTable(
            language.localization.headings(["time (\(clock.heading))", "device", "metric", "value", "unit", "seq"]),
            rows.map { r in
                let v: String
                switch r.value {
                case .number(let d): v = String(format: "%.6g", d)
                case .state(let s): v = s
                case .error(let c): v = "error \(c)"
                }
                return [
                    clock.time(r.timestampMs, device: r.device), r.device, r.metric, v, units["\(r.device)/\(r.metric)"] ?? "",
                    r.seq.map(String.init) ?? "",
                ]
            })
    }
}
