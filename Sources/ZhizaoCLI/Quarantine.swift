import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore

/// `zhizao quarantine`: rejected messages and why.
struct Quarantine: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the newest quarantined messages with their reason, in site time.",
        discussion: """
            Receive times are in site time (the registry's site) with the offset, or UTC with \
            --utc. Messages from gateways or devices missing from the registry are summed up, with \
            the YAML to add them, by `zhizao devices discover`.

            Examples:
              zhizao quarantine --limit 10
              zhizao quarantine --utc
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var time: TimeOptions
    @OptionGroup var language: LanguageOptions
    @Option(help: "How many entries.") var limit: Int = 20

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit \(limit) must be at least 1, e.g. --limit 20") }
    }

    func run() throws {
        let plant = SiteClock.optionalPlant(registry)
        let reader = try store.reader(plant: plant)
        let rows: [QuarantineEntry]
        do { rows = try reader.quarantine(limit: limit) } catch { throw fail("\(error)") }
        let clock = SiteClock(plant: plant, utc: time.utc)
        if rows.isEmpty {
            print("nothing quarantined")
            return
        }
        printTable(
            language.localization.headings(["received (\(SiteClock.heading(clock.zone())))", "reason", "topic", "bytes", "detail"]),
            rows.map { [clock.time($0.receivedAtMs), $0.reason, $0.topic, String($0.payloadBytes), $0.detail] })
    }
}
