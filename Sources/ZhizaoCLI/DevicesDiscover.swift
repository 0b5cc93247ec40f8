import Aggregation
import ArgumentParser
import Foundation
import PlantRegistry
import ReadingStore
import Reporting
import Telemetry

extension Devices {
    /// `zhizao devices discover`: what a new gateway sends before the registry knows it.
    struct Discover: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List topics and devices seen on the broker but missing from the registry, with the YAML to add them.",
            discussion: """
                Reads the quarantine (reasons unknown_topic and unknown_device): per device, the \
                gateway or new topic filter, messages, first and last seen, and a sample payload's \
                keys or tags. --format yaml prints a gateway file for each new gateway and the \
                entries to append to existing ones, with TODO where the device's place in the \
                plant (workshop, line, process) goes. Fill those in, check the metrics' kind and \
                unit, run `zhizao devices validate`, then reload the daemon (systemctl reload zhizao).

                Examples:
                  zhizao devices discover
                  zhizao devices discover --since -7d
                  zhizao devices discover --format yaml > new-devices.yaml
                """)

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case table
            case yaml
        }

        @OptionGroup var store: StoreOptions
        @OptionGroup var registry: RegistryOptions
        @Option(parsing: .unconditional, help: ArgumentHelp("Only messages received since T: \(TimeArgument.help).", valueName: "T"))
        var since = "-24h"
        @Option(help: "table or yaml.") var format: Format = .table
        @OptionGroup var time: TimeOptions
        @OptionGroup var language: LanguageOptions

        func run() throws {
            let plant: Plant
            do { plant = try registry.loadPlant() } catch {
                throw fail("\(error)\nrun `zhizao devices validate --devices \(registry.devices)` for details")
            }
            let calendar = AggregationPlan(plant: plant).calendar
            guard let sinceMs = TimeArgument.parse(since, calendar: calendar) else {
                throw fail("--since \(since) is not a time: use \(TimeArgument.help)", code: 2)
            }
            let reader = try store.reader(plant: plant)
            let summaries: [QuarantineSummary]
            do {
                summaries = try reader.quarantineSummaries(
                    reasons: [QuarantineReason.unknownTopic.rawValue, QuarantineReason.unknownDevice.rawValue], sinceMs: sinceMs)
            } catch { throw fail("\(error)") }
            let found = DeviceDiscovery(plant: plant, summaries: summaries)
            if found.candidates.isEmpty {
                let sentence =
                    "no unknown topic or device since \(since): every quarantined message's gateway and device are in the registry"
                if format == .table { print(sentence) } else { note(sentence) }
                return
            }
            switch format {
            case .yaml:
                print(found.yaml(site: plant.sites.count == 1 ? plant.sites[0] : nil, sites: plant.sites), terminator: "")
            case .table:
                let clock = SiteClock(plant: plant, utc: time.utc)
                let zone = clock.zone()
                printTable(
                    language.localization.headings([
                        "gateway", "topic", "device", "messages", "first seen (\(SiteClock.heading(zone)))",
                        "last seen (\(SiteClock.heading(zone)))", "sample keys or tags",
                    ]),
                    found.candidates.map { c in
                        let gateway =
                            switch c.target {
                            case .existing(let g): plant.gateways[g].id
                            case .new(let id): "new: \(id)"
                            }
                        let topics = c.topics.sorted()
                        let keys =
                            c.keys.prefix(6).map { "\($0.0)=\($0.1.shown)" }.joined(separator: " ")
                            + (c.keys.count > 6 ? " +\(c.keys.count - 6) more" : "")
                        return [
                            gateway, topics[0] + (topics.count > 1 ? " +\(topics.count - 1) more" : ""),
                            c.id + (c.neuron.map { " (node \($0.node), group \($0.group))" } ?? ""),
                            String(c.messages), localTime(c.firstMs, zone), localTime(c.lastMs, zone),
                            keys.isEmpty ? (c.remark ?? "-") : keys,
                        ]
                    })
                print(
                    "\n\(found.candidates.count) device(s) not in the registry; `zhizao devices discover --format yaml` prints the YAML to add them"
                )
            }
        }
    }
}
