public import Logging
import PlantRegistry
import ReadingStore
import Aggregation
import Dispatch
import Foundation
import MQTTClient
import ServiceLifecycle
import UnixSignals

/// Wires `zhizao run`: registry, store, ingest loop, services and signals.
public enum Daemon {
    /// Signal sources live as long as the process.
    nonisolated(unsafe) static var signalSources: [any DispatchSourceSignal] = []

    /// Loads what the config names and returns the service group to run; throws readable errors.
    /// `reloadConfig` re-reads the configuration on SIGHUP (the registry is re-read with it).
    public static func build(config: DaemonConfig, logger: Logger,
                             reloadConfig: (@Sendable () throws -> DaemonConfig)? = nil) throws -> ServiceGroup {
        let plant = try Plant.load(directory: config.devicesDirectory)
        let store = try SQLiteStore(path: config.databasePath, durability: config.durability)
        try store.prepareSeries(plant.series)
        store.enableAggregation(AggregationPlan(plant: plant))
        logger.info("starting", metadata: [
            "devices": "\(plant.devices.count)", "series": "\(plant.series.count)",
            "db": "\(config.databasePath)", "registry": "\(config.devicesDirectory)",
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
        if let listen = config.metricsListen {
            let m = IngestMetrics()
            let server = try MetricsServer(listen: listen, metrics: m, logger: logger)
            server.start()
            metrics = m
        }
        let loop = IngestLoop(config: config, plant: plant, store: store, logger: logger,
                              notifier: SystemdNotifier(environment: ProcessInfo.processInfo.environment),
                              metrics: metrics, reloadSource: reloadSource)
        // SIGHUP (systemctl reload): reload between two batches, on the ingest thread.
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler { loop.requestReload() }
        hangup.resume()
        signalSources.append(hangup)
        return ServiceGroup(configuration: .init(
            services: [.init(service: IngestService(loop: loop, logger: logger))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger))
    }
}
