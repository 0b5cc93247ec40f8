import ArgumentParser
import Foundation
import ReadingStore

/// `zhizao quarantine`: rejected messages and why.
struct Quarantine: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the newest quarantined messages with their reason.",
        discussion: """
            Examples:
              zhizao quarantine --limit 10
            """)

    @OptionGroup var store: StoreOptions
    @Option(help: "How many entries.") var limit: Int = 20

    func run() throws {
        let rows: [StoreReader.QuarantineEntry]
        do { rows = try StoreReader(path: store.db).quarantine(limit: limit) } catch { throw fail("\(error)") }
        if rows.isEmpty { print("nothing quarantined"); return }
        printTable(["received (local)", "reason", "topic", "bytes", "detail"],
                   rows.map { [localTime($0.receivedAtMs), $0.reason, $0.topic, String($0.payloadBytes), $0.detail] })
    }
}
