public import Logging
import PlantRegistry
import ReadingStore
import Aggregation
import MQTTClient
import ServiceLifecycle
import UnixSignals

/// Wires `zhizao run`: registry, store, ingest loop, services and signals.
public enum Daemon {
    /// Loads what the config names and returns the service group to run; throws readable errors.
    public static func build(config: DaemonConfig, logger: Logger) throws -> ServiceGroup {
        let plant = try Plant.load(directory: config.devicesDirectory)
        let store = try SQLiteStore(path: config.databasePath, durability: config.durability)
        try store.prepareSeries(plant.series)
        store.enableAggregation(AggregationPlan(plant: plant))
        logger.info("starting", metadata: [
            "devices": "\(plant.devices.count)", "series": "\(plant.series.count)",
            "db": "\(config.databasePath)", "registry": "\(config.devicesDirectory)",
            "client_id": "\(config.mqtt.clientID)", "protocol": "\(config.mqtt.protocolVersion.rawValue)",
        ])
        let loop = IngestLoop(config: config, plant: plant, store: store, logger: logger)
        return ServiceGroup(configuration: .init(
            services: [.init(service: IngestService(loop: loop, logger: logger))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger))
    }
}
