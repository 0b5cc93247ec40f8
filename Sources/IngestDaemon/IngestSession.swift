import Logging
public import MQTTClient
public import PlantRegistry
public import Telemetry

/// The gateways' data: a persistent MQTT session (clean start off, session expiry), so what the
/// broker holds for us survives a restart, and nothing acknowledged is ever lost.
public final class IngestSession: AcknowledgingSource {
    public let name = "ingest session"
    private let connection: MQTTConnection
    private let logger: Logger
    private let metrics: IngestMetrics?
    private var link: LinkLog
    private var filters: [String]
    private var up = false
    private var subscribed = false
    private var nextAttemptNs: UInt64 = 0
    private var backoffMs = 250

    /// Creates the session for every non-Sparkplug gateway's topic filter; nothing touches the
    /// network until the first `housekeeping()`.
    public init(config: DaemonConfig, plant: Plant, logger: Logger, metrics: IngestMetrics? = nil) throws {
        connection = try MQTTConnection(options: config.mqtt)
        filters = Self.filters(config, plant)
        connection.subscribe(to: filters, qos: 1)
        link = LinkLog(logger: logger, broker: "\(config.mqtt.host):\(config.mqtt.port)", filters: filters)
        self.logger = logger
        self.metrics = metrics
        connection.onEvent { [unowned self] event in
            link.record(event)
            switch event {
            case .connected: metrics?.setConnected(true)
            case .disconnected: metrics?.setConnected(false)
            case .subscribed: subscribed = true
            case .connectionRefused, .published: break
            }
        }
    }

    /// The gateways' topic filters and status topics (their Wills), shared-group prefixed if asked.
    static func filters(_ config: DaemonConfig, _ plant: Plant) -> [String] {
        let gateways = plant.gateways.filter { $0.decoder != .sparkplug }
        return config.subscriptions(for: gateways.map(\.topic) + gateways.compactMap(\.statusTopic))
    }

    public var descriptor: Int32? { up ? connection.socketDescriptor : nil }
    public var wantsWrite: Bool { up && connection.wantsWrite }
    /// Ready once the broker granted the first subscription: from then on it keeps our messages.
    public var isReady: Bool { subscribed }

    public func read(shouldStop: () -> Bool, deliver: (MQTTMessage) -> Void) -> SourceRead {
        SessionIO.read(connection, up: up, shouldStop: shouldStop, deliver: deliver, failed: down)
    }

    public func release() { SessionIO.release(connection, up: up, failed: down) }

    /// The ingest session publishes nothing.
    public func publish(_ messages: [IngestBatch.Outbound]) {}

    public func housekeeping() {
        if up {
            do { try connection.housekeeping() } catch { down(error) }
        }
        guard !up, Clock.monotonicNs() >= nextAttemptNs else { return }
        do {
            try connection.connect()
            try connection.flushWrites()
            up = true
        } catch {
            link.connectFailed(error)
            retryLater(afterMs: backoffMs)
            backoffMs = min(backoffMs * 2, 30_000)
        }
    }

    public func reload(config: DaemonConfig, plant: Plant) {
        filters = Self.filters(config, plant)
        connection.updateSubscriptions(to: filters)
        link.filters = filters
        release()
    }

    public func stop() {
        guard up else { return }
        // Our own DISCONNECT makes libmosquitto report a disconnect: not a lost link.
        link.closing()
        connection.disconnect()
        up = false
    }

    /// A link that worked reconnects at once; one refused or dropped at login backs off.
    private func down(_ error: any Error) {
        let wasConnected = link.connected
        if wasConnected { link.lost(error) } else { link.droppedBeforeConnack(error) }
        backoffMs = wasConnected ? 250 : min(backoffMs * 2, 30_000)
        retryLater(afterMs: backoffMs)
        up = false
    }

    private func retryLater(afterMs ms: Int) {
        nextAttemptNs = Clock.monotonicNs() + UInt64(ms) * 1_000_000
    }
}
