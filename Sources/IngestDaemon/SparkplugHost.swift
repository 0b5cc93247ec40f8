import Logging
public import MQTTClient
public import PayloadDecoders
public import PlantRegistry
public import Telemetry

/// Zhizao as the Sparkplug B primary host: the host's bookkeeping (`SparkplugSession`: births,
/// aliases, sequence numbers) and its own MQTT session, in one place.
///
/// Sparkplug 3.0 wants the host to connect with a clean start, a Will that says its STATE is
/// offline, and a retained online STATE once subscribed; the ingest session needs the opposite
/// (a persistent session, so nothing acknowledged is lost). So Sparkplug traffic has its own
/// connection, driven by the same ingest thread as an `AcknowledgingSource`: its messages land in
/// the same batch and its PUBACKs also leave only after the commit. Data published while the
/// host is away is not kept by the broker (clean session): edge nodes rebirth on request.
public final class SparkplugHost: AcknowledgingSource {
    public let name = "Sparkplug host"
    /// The host's bookkeeping; the payload decoder shares it to decode Sparkplug messages.
    public let session: SparkplugSession
    private let connection: MQTTConnection
    private let logger: Logger
    private var up = false
    private var announced = false
    private var nextAttemptNs: UInt64 = 0
    private var backoffMs = 250
    private var reportedDown = false

    /// Creates the host for the registry's Sparkplug gateways; connects at the first `housekeeping()`.
    public init(config: DaemonConfig, plant: Plant, logger: Logger) throws {
        session = SparkplugSession(plant: plant, settings: config.ingest.sparkplug)
        var o = config.mqtt
        o.clientID += "-sparkplug"
        o.cleanStart = true
        o.sessionExpirySeconds = 0
        connection = try MQTTConnection(options: o)
        connection.subscribe(to: session.subscriptions, qos: 1)
        self.logger = logger
        connection.onEvent { [unowned self] event in
            switch event {
            case .subscribed:
                guard !announced else { return }
                announced = true
                send(IngestBatch.Outbound(topic: session.stateTopic, payload: session.statePayload(online: true), qos: 1, retain: true))
                logger.info(
                    "Sparkplug primary host online",
                    metadata: [
                        "host_id": "\(session.settings.hostID)", "filters": "\(session.subscriptions.joined(separator: " "))",
                    ])
            case .connectionRefused(_, let reason):
                logger.error("the broker refused the Sparkplug host connection: \(reason)")
            case .disconnected, .connected, .published:
                break
            }
        }
    }

    public var descriptor: Int32? { up ? connection.socketDescriptor : nil }
    public var wantsWrite: Bool { up && connection.wantsWrite }
    /// Always: the broker keeps nothing for a clean-start host, so there is nothing to wait for.
    public var isReady: Bool { true }

    public func read(shouldStop: () -> Bool, deliver: (MQTTMessage) -> Void) -> SourceRead {
        SessionIO.read(connection, up: up, shouldStop: shouldStop, deliver: deliver, failed: down)
    }

    public func release() { SessionIO.release(connection, up: up, failed: down) }

    public func publish(_ messages: [IngestBatch.Outbound]) {
        guard up, !messages.isEmpty else { return }
        for m in messages { send(m) }
        release()
    }

    /// Rebirth requests for sequence gaps past the reorder timeout, keep-alive, reconnecting.
    public func housekeeping() {
        publish(session.housekeeping(nowMs: Clock.wallMs()))
        if up {
            do { try connection.housekeeping() } catch { down(error) }
        }
        guard !up, Clock.monotonicNs() >= nextAttemptNs else { return }
        do {
            session.sessionTimestampMs = Clock.wallMs()
            try connection.setWill(topic: session.stateTopic, payload: session.statePayload(online: false), qos: 1, retain: true)
            try connection.connect()
            try connection.flushWrites()
            up = true
            announced = false
            backoffMs = 250
            reportedDown = false
        } catch {
            down(error)
        }
    }

    public func reload(config: DaemonConfig, plant: Plant) {
        session.plant = plant
        connection.updateSubscriptions(to: session.subscriptions)
        release()
    }

    /// Says offline before a clean disconnect, as the specification asks.
    public func stop() {
        guard up else { return }
        send(IngestBatch.Outbound(topic: session.stateTopic, payload: session.statePayload(online: false), qos: 1, retain: true))
        try? connection.flushWrites()
        connection.disconnect()
        up = false
    }

    private func send(_ m: IngestBatch.Outbound) {
        do {
            try m.payload.withUnsafeBytes { p in _ = try connection.publish(topic: m.topic, payload: p, qos: m.qos, retain: m.retain) }
        } catch {
            logger.warning("Sparkplug publish failed", metadata: ["topic": "\(m.topic)", "error": "\(error)"])
        }
    }

    private func down(_ error: any Error) {
        if up || !reportedDown {
            logger.warning("Sparkplug host link down; retrying with backoff", metadata: ["error": "\(error)"])
            reportedDown = true
        }
        up = false
        announced = false
        nextAttemptNs = Clock.monotonicNs() + UInt64(backoffMs) * 1_000_000
        backoffMs = min(backoffMs * 2, 30_000)
    }
}
