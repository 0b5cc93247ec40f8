import ArgumentParser

/// `zhizao devices`: the registry as the daemon sees it.
struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and validate the device registry; generate the broker ACL from it.",
        subcommands: [List.self, Validate.self, ACL.self])
}
