import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore

/// `zhizao status`: what the daemon has stored and rejected, read while it runs.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show readings stored, messages received and quarantined, and per-device last seen.",
        discussion: """
            Opens the database read-only; safe while `zhizao run` writes to it. Times are in the \
            site time of each device's site (from the registry) with the offset, or UTC with --utc; \
            JSON keeps epoch milliseconds.

            Examples:
              zhizao status
              zhizao status --db /var/lib/zhizao/zhizao.sqlite --format json
              zhizao status --utc
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var time: TimeOptions
    @Option(help: "table, csv or json.") var format: OutputFormat = .table
    @OptionGroup var language: LanguageOptions

    func run() throws {
        var status: IngestStatus
        let plant = SiteClock.optionalPlant(registry)
        let reader = try store.reader(plant: plant)
        do {
            status = try reader.status(nowMs: Int64(Date().timeIntervalSince1970 * 1000))
            status.storage = try reader.storage(nowMs: Int64(Date().timeIntervalSince1970 * 1000))
        } catch {
            throw fail("\(error)")
        }
        switch format {
        case .json:
            try printJSON(status)
        case .csv:
            var rows = [
                ["readings_stored", String(status.readingsStored)], ["readings_duplicate", String(status.readingsDuplicate)],
                ["messages_received", String(status.messagesReceived)], ["messages_quarantined", String(status.messagesQuarantined)],
                ["ingest_rate_per_s", String(status.ingestRatePerSecond)],
            ]
            for (reason, n) in status.quarantinedByReason.sorted(by: { $0.key < $1.key }) {
                rows.append(["quarantined.\(reason)", String(n)])
            }
            for (kind, n) in status.qualityEvents.sorted(by: { $0.key < $1.key }) { rows.append(["quality.\(kind)", String(n)]) }
            rows += status.storage.map(storageRows) ?? []
            printTable(["name", "value"], format: .csv, rows)
        case .table:
            let l = language.localization
            func say(_ label: String, _ value: String) { print(pad(l(label), to: 21) + " " + value) }
            say("database", status.database)
            say("readings stored", "\(status.readingsStored)")
            say("duplicates ignored", "\(status.readingsDuplicate)")
            say("messages received", "\(status.messagesReceived)")
            say("messages quarantined", "\(status.messagesQuarantined)")
            for (reason, n) in status.quarantinedByReason.sorted(by: { $0.key < $1.key }) {
                print("  \(reason.padding(toLength: 20, withPad: " ", startingAt: 0))\(n)")
            }
            say("ingest rate", "\(String(format: "%.1f", status.ingestRatePerSecond)) readings/s (last 10 s)")
            let events = status.qualityEvents.values.reduce(0, +)
            say("data-quality events", "\(events)\(events > 0 ? " (zhizao quality lists them)" : "")")
            for (kind, n) in status.qualityEvents.sorted(by: { $0.key < $1.key }) {
                print("  \(kind.padding(toLength: 20, withPad: " ", startingAt: 0))\(n)")
            }
            let clock = SiteClock(plant: plant, utc: time.utc)
            if let storage = status.storage { printStorage(storage, clock: clock) }
            print("")
            if status.devices.isEmpty {
                print("no device has reported yet")
            } else {
                let anyState = status.devices.contains { $0.online != nil }
                printTable(
                    l.headings(
                        ["device", "last reading (\(clock.heading))", "last committed (\(clock.heading))"] + (anyState ? ["state"] : [])),
                    status.devices.map { d in
                        [
                            d.device, d.lastReadingTs.map { clock.time($0, device: d.device) } ?? "-",
                            d.lastReceivedAt.map { clock.time($0, device: d.device) } ?? "-",
                        ]
                            + (anyState ? [d.online.map { $0 ? "online" : "OFFLINE (stale, \(d.stateReason ?? ""))" } ?? "-"] : [])
                    })
            }
        }
    }
}
