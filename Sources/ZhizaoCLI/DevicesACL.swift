import ArgumentParser
import Foundation
import PlantRegistry

extension Devices {
    /// `zhizao devices acl`: the broker's ACL (or a password-file template) generated from the
    /// registry, so the broker's rules and the daemon's gateway binding never drift apart.
    struct ACL: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "acl",
            abstract: "Generate the mosquitto ACL file, or a password-file template, from the registry.",
            discussion: """
                One broker user per gateway, named after it, may write only the topics the daemon
                accepts from that gateway (plain gateways: one topic per device at its place;
                Sparkplug: its edge nodes' topics); the daemon's user only reads. The daemon
                then accepts a device's readings only from the gateway that declares it.

                --format passwd-template prints one `user:CHANGE-ME` line per broker user: replace
                each CHANGE-ME with that user's password, then hash the file in place with
                `mosquitto_passwd -U FILE` and point mosquitto's password_file at it.

                Examples:
                  zhizao devices acl --out /etc/mosquitto/zhizao.acl
                  zhizao devices acl --devices ./Devices --out systemd/mosquitto-zhizao.acl
                  zhizao devices acl --format passwd-template --out zhizao.passwd && mosquitto_passwd -U zhizao.passwd
                """)

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case acl
            case passwdTemplate = "passwd-template"
        }

        @OptionGroup var registry: RegistryOptions
        @Option(help: "acl (mosquitto acl_file) or passwd-template (for mosquitto_passwd -U).") var format: Format = .acl
        @Option(help: ArgumentHelp("Write to this file instead of standard output.", valueName: "FILE")) var out: String?
        @Option(help: "The broker user `zhizao run` logs in as.") var daemonUser = "zhizao"
        @Option(help: "The Sparkplug host id (sparkplug.host_id) whose STATE topic the daemon writes.") var hostID = "zhizao"

        func run() throws {
            let plant: Plant
            do { plant = try registry.loadPlant() } catch {
                throw fail("\(error)\nrun `zhizao devices validate --devices \(registry.devices)` for details")
            }
            let acl = BrokerACL(plant: plant, daemonUser: daemonUser, hostID: hostID)
            let text = format == .acl ? acl.aclFile() : acl.passwordTemplate()
            guard let out else {
                print(text, terminator: "")
                return
            }
            do { try text.write(toFile: out, atomically: true, encoding: .utf8) } catch {
                throw fail("cannot write \(out): \(error.localizedDescription)")
            }
            if format == .passwdTemplate {
                print("wrote \(out): replace each CHANGE-ME with a password, then run `mosquitto_passwd -U \(out)`")
            } else {
                print("wrote \(out): \(plant.gateways.count) gateway users and \(daemonUser)")
            }
        }
    }
}
