import Aggregation
import Foundation
public import Logging
import MQTTClient
import PlantRegistry
import ReadingStore
public import ServiceLifecycle
public import UnixSignals

/// Wires `zhizao run`: registry, store, ingest loop, and the services that run them.
public enum Daemon {
    /// Loads what the config names and returns the service group to run; throws readable errors.
    /// `reloadConfig` re-reads the configuration on SIGHUP (the registry is re-read with it).
    public static func build(
        config: DaemonConfig, logger: Logger,
        reloadConfig: (@Sendable () throws -> DaemonConfig)? = nil
    ) async throws -> ServiceGroup {
        let plant = try Plant.load(directory: config.devicesDirectory)
        let store: any TelemetryStore =
            if StoreTarget.isPostgres(config.databasePath) {
                try PostgresStore(url: config.databasePath, passwordFile: config.databasePasswordFile)
            } else {
                try SQLiteStore(path: config.databasePath, durability: config.durability)
            }
        try store.prepareSeries(plant.series)
        store.enableAggregation(AggregationPlan(plant: plant))
        logger.info(
            "starting",
            metadata: [
                "devices": "\(plant.devices.count)", "series": "\(plant.series.count)",
                "db": "\(StoreTarget.redacted(config.databasePath))", "registry": "\(config.devicesDirectory)",
                "client_id": "\(config.mqtt.clientID)", "protocol": "\(config.mqtt.protocolVersion.rawValue)",
            ])
        var reloadSource: (@Sendable () throws -> (DaemonConfig, Plant))?
        if let reloadConfig {
            reloadSource = { @Sendable () throws -> (DaemonConfig, Plant) in
                let c = try reloadConfig()
                let p = try Plant.load(directory: c.devicesDirectory)
                return (c, p)
            }
        }
        var metrics: IngestMetrics?
        var server: MetricsServer?
        if let listen = config.metricsListen {
            let m = IngestMetrics()
            server = try MetricsServer(listen: listen, metrics: m, logger: logger)
            metrics = m
        }
        let loop = try IngestLoop(
            config: config, plant: plant, store: store, logger: logger,
            notifier: SystemdNotifier(environment: ProcessInfo.processInfo.environment),
            metrics: metrics, reloadSource: reloadSource)
        return await serviceGroup(loop: loop, metricsServer: server, logger: logger)
    }

    /// The services in start order: metrics first (scrapeable until the end), then the SIGHUP
    /// handler, then ingest, so that on SIGTERM ingest stops first (commits, acknowledges,
    /// disconnects) and metrics last. SIGHUP is trapped here, before any service starts, so a
    /// reload asked for right after READY is never lost.
    public static func serviceGroup(
        loop: IngestLoop, metricsServer: MetricsServer?, logger: Logger,
        gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint]
    ) async -> ServiceGroup {
        // Until the dispatch source below takes SIGHUP, its default action (terminate) must not apply.
        signal(SIGHUP, SIG_IGN)
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let metricsServer { services.append(.init(service: MetricsService(server: metricsServer))) }
        services.append(.init(service: ReloadService(loop: loop, signals: hangups)))
        services.append(.init(service: IngestService(loop: loop, logger: logger)))
        return ServiceGroup(
            configuration: .init(
                services: services, gracefulShutdownSignals: gracefulShutdownSignals, cancellationSignals: [], logger: logger))
    }
}

/// SIGHUP (`systemctl reload zhizao`) as a service: each signal asks the ingest loop to reload
/// the registry and settings between two batches; ends on graceful shutdown.
struct ReloadService: Service, CustomStringConvertible {
    let loop: IngestLoop
    let signals: UnixSignalsSequence
    var description: String { "ReloadService(SIGHUP)" }

    func run() async throws {
        for await _ in signals.cancelOnGracefulShutdown() { loop.requestReload() }
    }
}

/// The Prometheus endpoint as a service: serves from start until graceful shutdown, then
/// closes its socket.
public struct MetricsService: Service, CustomStringConvertible {
    let server: MetricsServer
    public var description: String { "MetricsService(\(server.address))" }

    public init(server: MetricsServer) { self.server = server }

    public func run() async throws {
        server.start()
        try? await gracefulShutdown()
        server.stop()
    }
}
