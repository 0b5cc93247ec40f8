import ArgumentParser

/// `zhizao devices`: the registry as the daemon sees it.
struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, validate and discover devices of the registry; generate the broker ACL from it.",
        subcommands: [List.self, Validate.self, Discover.self, ACL.self])
}
