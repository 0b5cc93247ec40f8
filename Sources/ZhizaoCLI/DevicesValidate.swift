import ArgumentParser
import Foundation
import PlantRegistry

extension Devices {
    /// `zhizao devices validate`: every registry problem with file, line and a fix.
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the registry; print every problem with file, line and a fix; exit 1 if any.",
            discussion: """
                Examples:
                  zhizao devices validate
                  zhizao devices validate --devices /etc/zhizao/devices
                """)

        @OptionGroup var registry: RegistryOptions

        func run() throws {
            let (plant, problems) = Plant.loadReporting(directory: registry.devices)
            if problems.isEmpty, let plant {
                print(
                    "\(registry.devices): OK: \(plant.sites.count) site(s), \(plant.gateways.count) gateways, \(plant.devices.count) devices, \(plant.series.count) series"
                )
                return
            }
            for p in problems { FileHandle.standardError.write(Data("\(p)\n".utf8)) }
            throw fail("\(problems.count) problem\(problems.count == 1 ? "" : "s") in \(registry.devices)")
        }
    }
}
