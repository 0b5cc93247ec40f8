public import ArgumentParser
import ReadingStore

/// The `zhizao` command: the daemon and the tools around it.
public struct Zhizao: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "zhizao",
        abstract: "Industrial-IoT telemetry ingester for smart-factory pilots: MQTT gateways → SQLite → indicators.",
        discussion: """
            Examples:
              zhizao run --broker mqtt://127.0.0.1:1883 --db ./zhizao.sqlite --devices ./Devices
              zhizao status
              zhizao devices validate --devices ./Devices
              zhizao readings --device cnc-101 --limit 20
            """,
        version: "zhizao \(Zhizao.version) (database schema: SQLite \(SchemaVersions.sqlite), PostgreSQL \(SchemaVersions.postgres))",
        subcommands: [
            Run.self, Simulate.self, Status.self, Query.self, IndicatorsCommand.self, Export.self, Report.self, ValueAdded.self,
            Rebuild.self, Prune.self, Backup.self, Audit.self, Close.self, Reopen.self, Periods.self, Devices.self, Readings.self,
            Quarantine.self, QualityCommand.self,
        ]
    )

    /// The release, printed by `zhizao --version` with the schemas this build migrates to.
    public static let version = "0.9.0"

    public init() {}

    /// Parses the process arguments and runs the chosen command.
    public static func runFromCommandLine() async { await main() }
}
