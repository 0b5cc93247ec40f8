import Glibc
import Logging
import MQTTClient
import PayloadDecoders

/// The Sparkplug B primary host's own MQTT session, beside the ingest session.
///
/// Sparkplug 3.0 wants the host to connect with a clean start, a Will that says its STATE is
/// offline, and a retained online STATE once subscribed; the ingest session needs the opposite
/// (a persistent session, so nothing acknowledged is lost). So Sparkplug traffic has its own
/// connection, driven by the same ingest thread: its messages land in the same batch and its
/// PUBACKs also leave only after the commit.
final class SparkplugHostLink {
    let connection: MQTTConnection
    let session: SparkplugSession
    let logger: Logger
    private(set) var up = false
    private var announced = false
    private var nextAttemptNs: UInt64 = 0
    private var backoffMs = 250
    private var reportedDown = false

    init(options: MQTTOptions, session: SparkplugSession, logger: Logger) throws {
        var o = options
        o.clientID += "-sparkplug"
        o.cleanStart = true
        o.sessionExpirySeconds = 0
        connection = try MQTTConnection(options: o)
        connection.subscribe(to: session.subscriptions, qos: 1)
        self.session = session
        self.logger = logger
    }

    /// Routes messages to `handler` and watches the link's events.
    func start(onMessage handler: @escaping (MQTTMessage) -> Void) {
        connection.onMessage(handler)
        connection.onEvent { [unowned self] event in
            switch event {
            case .subscribed:
                guard !announced else { return }
                announced = true
                publish(topic: session.stateTopic, payload: session.statePayload(online: true), qos: 1, retain: true)
                logger.info("Sparkplug primary host online", metadata: ["host_id": "\(session.settings.hostID)",
                                                                         "filters": "\(session.subscriptions.joined(separator: " "))"])
            case .connectionRefused(_, let reason):
                logger.error("the broker refused the Sparkplug host connection: \(reason)")
            case .disconnected, .connected, .published:
                break
            }
        }
    }

    var fd: Int32? { up ? connection.socketDescriptor : nil }
    var wantsWrite: Bool { up && connection.wantsWrite }

    /// Connects (again) when it is down and its backoff has passed.
    func ensureConnected() {
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

    func read(shouldStop: () -> Bool) {
        guard up else { return }
        do { _ = try connection.readAvailable(shouldStop: shouldStop) } catch { down(error) }
    }

    /// Publishes what the session asks for (rebirth requests, STATE) and sends queued packets;
    /// call only with nothing uncommitted.
    func flush() {
        guard up else { return }
        for o in session.takeOutbound() { publish(topic: o.topic, payload: o.payload, qos: o.qos, retain: o.retain) }
        do { if connection.wantsWrite { try connection.flushWrites() } } catch { down(error) }
    }

    func housekeeping() {
        session.housekeeping(nowMs: Clock.wallMs())
        if up { do { try connection.housekeeping() } catch { down(error) } }
        ensureConnected()
    }

    /// Says offline before a clean disconnect, as the specification asks.
    func stop() {
        guard up else { return }
        publish(topic: session.stateTopic, payload: session.statePayload(online: false), qos: 1, retain: true)
        try? connection.flushWrites()
        connection.disconnect()
        up = false
    }

    private func publish(topic: String, payload: [UInt8], qos: Int, retain: Bool) {
        do {
            try payload.withUnsafeBytes { p in _ = try connection.publish(topic: topic, payload: p, qos: qos, retain: retain) }
        } catch {
            logger.warning("Sparkplug publish failed", metadata: ["topic": "\(topic)", "error": "\(error)"])
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
