public import MQTTClient
public import PlantRegistry
public import Telemetry

/// An MQTT session whose acknowledgements the ingest loop holds back until the commit.
///
/// The ingest session (persistent, the gateways' data) and the Sparkplug B host session (clean
/// start, with its Will and STATE) look the same to the loop: wait on a socket, read what is
/// there into the batch, and let the acknowledgements go only when told, which the loop does
/// only once everything delivered so far is committed. Every call comes from the ingest thread.
public protocol AcknowledgingSource: AnyObject {
    /// Names the source in log lines ("ingest session", "Sparkplug host").
    var name: String { get }
    /// The socket to wait on, or nil while the source is down (it reconnects in `housekeeping`).
    var descriptor: Int32? { get }
    /// Packets wait to be written (acknowledgements, pings, subscriptions).
    var wantsWrite: Bool { get }
    /// Ready for the messages the broker keeps for us: the daemon tells systemd it is ready once
    /// every source is. A source whose traffic is not kept while it is away is always ready.
    var isReady: Bool { get }
    /// Reads what the socket holds, handing each message to `deliver`, until it is drained or
    /// `shouldStop()` says the batch is full. `.down` means the link broke: the acknowledgements
    /// it still held are gone with it, so the broker redelivers those messages.
    func read(shouldStop: () -> Bool, deliver: (MQTTMessage) -> Void) -> SourceRead
    /// Lets the acknowledgements of every message delivered so far leave.
    /// Called only when everything delivered is committed.
    func release()
    /// Publishes what decoding asked for (Sparkplug rebirth requests and STATE); sources that
    /// publish nothing ignore it. Called only when everything delivered is committed.
    func publish(_ messages: [IngestBatch.Outbound])
    /// Keep-alive, and reconnecting when down; called only with nothing uncommitted, so a
    /// reconnect never discards an acknowledgement that was due.
    func housekeeping()
    /// Takes a reloaded registry and settings (SIGHUP): subscriptions follow the new gateways.
    func reload(config: DaemonConfig, plant: Plant)
    /// Says goodbye and disconnects, after the last release.
    func stop()
}

/// What one `AcknowledgingSource.read` found.
public enum SourceRead: Sendable, Equatable {
    /// Nothing more on the socket for now.
    case drained
    /// The batch filled up; more may be waiting.
    case stoppedEarly
    /// The link broke; the source reconnects in `housekeeping`.
    case down
}

/// What both MQTT sources do alike with a connection that may be down: read it into the batch,
/// or let its queued acknowledgements go; a failure marks the source down through `failed`.
enum SessionIO {
    static func read(
        _ connection: MQTTConnection, up: Bool, shouldStop: () -> Bool, deliver: (MQTTMessage) -> Void,
        failed: (any Error) -> Void
    ) -> SourceRead {
        guard up else { return .down }
        do {
            return try connection.readAvailable(shouldStop: shouldStop, deliver: deliver) == .drained ? .drained : .stoppedEarly
        } catch {
            failed(error)
            return .down
        }
    }

    static func release(_ connection: MQTTConnection, up: Bool, failed: (any Error) -> Void) {
        guard up, connection.wantsWrite else { return }
        do { try connection.flushWrites() } catch { failed(error) }
    }
}
