import ArgumentParser
import Foundation
import Glibc
import IngestDaemon
import Logging
import ServiceLifecycle

/// `zhizao run`: the ingest daemon.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Subscribe to the broker and store every reading, acknowledging only after commit.",
        discussion: """
            Flags override the config file, which overrides built-in defaults; ZHIZAO_* environment \
            variables override the file too. The MQTT password comes from broker.password_file, \
            ZHIZAO_MQTT_PASSWORD_FILE or ZHIZAO_MQTT_PASSWORD, never from the command line. \
            SIGTERM or SIGINT stops reading, commits, acknowledges, disconnects and exits 0.

            Examples:
              zhizao run
              zhizao run --config /etc/zhizao/zhizao.yaml
              zhizao run --broker mqtt://10.0.0.5:1883 --db /var/lib/zhizao/zhizao.sqlite --devices /etc/zhizao/devices
              zhizao run --db postgresql://zhizao@db.plant.lan/zhizao --shared-group zhizao --client-id zhizao-a
            """)

    @Option(help: ArgumentHelp("YAML config file (env ZHIZAO_CONFIG).", valueName: "FILE"))
    var config: String?

    @Option(
        help: ArgumentHelp("Broker URL: mqtt://host:port or mqtts://host:port (default \(DaemonConfig.defaultBroker)).", valueName: "URL"))
    var broker: String?

    @Option(
        help: ArgumentHelp(
            "SQLite database file (default ./zhizao.sqlite), or a postgresql://user@host:port/dbname URL (password from "
                + "store.password_file, PGPASSFILE or PGPASSWORD, never the URL).", valueName: "PATH|URL"))
    var db: String?

    @Option(help: ArgumentHelp("Device registry directory (default ./Devices).", valueName: "DIR"))
    var devices: String?

    @Option(
        name: .customLong("client-id"),
        help: ArgumentHelp("MQTT client id; keep it stable so the broker keeps the session.", valueName: "ID"))
    var clientID: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    @Option(
        name: .customLong("shared-group"),
        help: ArgumentHelp(
            "Subscribe as $share/NAME/<filter>, so several daemons (on one PostgreSQL database) split one stream.",
            valueName: "NAME"))
    var sharedGroup: String?

    func run() async throws {
        // The database and its WAL hold plant data: readable by the daemon's user only.
        umask(0o077)
        let env = ProcessInfo.processInfo.environment
        let resolved: DaemonConfig
        do {
            resolved = try DaemonConfig.resolve(
                file: config ?? env["ZHIZAO_CONFIG"], environment: env,
                overrides: .init(
                    broker: broker, database: db, devices: devices, clientID: clientID, logLevel: logLevel,
                    sharedGroup: sharedGroup))
        } catch {
            throw fail("configuration: \(error)")
        }
        let level = Logger.Level(rawValue: resolved.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "zhizao")
        let group: ServiceGroup
        do {
            let file = config ?? env["ZHIZAO_CONFIG"]
            let overrides = DaemonConfig.Overrides(broker: broker, database: db, devices: devices, clientID: clientID, logLevel: logLevel)
            group = try await Daemon.build(config: resolved, logger: logger) {
                try DaemonConfig.resolve(file: file, environment: ProcessInfo.processInfo.environment, overrides: overrides)
            }
        } catch {
            throw fail("cannot start: \(error)")
        }
        try await group.run()
    }
}
