/// Everything read since the last commit: readings, rejected messages and counts.
///
/// One batch is committed in one transaction, then the PUBACKs of its messages are released.
/// Buffers are kept between batches (`reset()` keeps capacity) so the hot path does not
/// allocate per message.
public struct IngestBatch: Sendable {
    /// A rejected message with enough context to find and replay it.
    public struct Quarantined: Sendable {
        public var receivedAtMs: Int64
        public var topic: String
        /// The payload, truncated to the configured length.
        public var payload: [UInt8]
        public var payloadBytes: Int
        public var rejection: Rejection

        public init(receivedAtMs: Int64, topic: String, payload: [UInt8], payloadBytes: Int, rejection: Rejection) {
            self.receivedAtMs = receivedAtMs
            self.topic = topic
            self.payload = payload
            self.payloadBytes = payloadBytes
            self.rejection = rejection
        }
    }

    /// A device going online or offline (Sparkplug births and deaths).
    public struct DeviceState: Sendable, Equatable {
        public var device: String
        public var online: Bool
        public var atMs: Int64
        public var reason: String

        public init(device: String, online: Bool, atMs: Int64, reason: String) {
            self.device = device
            self.online = online
            self.atMs = atMs
            self.reason = reason
        }
    }

    /// A message a source must publish once the batch is committed (a Sparkplug rebirth
    /// request, the host's STATE): an effect of decoding, carried as a value.
    public struct Outbound: Sendable, Equatable {
        public var topic: String
        public var payload: [UInt8]
        public var qos: Int
        public var retain: Bool

        public init(topic: String, payload: [UInt8], qos: Int, retain: Bool) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
        }
    }

    public var readings: [Reading] = []
    public var quarantined: [Quarantined] = []
    public var deviceStates: [DeviceState] = []
    /// Messages to publish after the commit (Sparkplug rebirth requests and STATE).
    public var outbound: [Outbound] = []
    /// Messages received into this batch, good or bad.
    public var messages: Int = 0
    /// Monotonic time (ns) when the first message of the batch arrived.
    public var openedAtNs: UInt64 = 0

    public init() {}

    /// Nothing to commit (messages and device states); `outbound` alone needs no commit.
    public var isEmpty: Bool { messages == 0 && deviceStates.isEmpty }

    public mutating func reset() {
        readings.removeAll(keepingCapacity: true)
        quarantined.removeAll(keepingCapacity: true)
        deviceStates.removeAll(keepingCapacity: true)
        outbound.removeAll(keepingCapacity: true)
        messages = 0
        openedAtNs = 0
    }
}

/// What one commit stored.
public struct CommitOutcome: Sendable, Equatable {
    public var inserted: Int
    /// Readings already stored (a redelivery after a crash or reconnect).
    public var duplicates: Int
    public var quarantined: Int

    public init(inserted: Int = 0, duplicates: Int = 0, quarantined: Int = 0) {
        self.inserted = inserted
        self.duplicates = duplicates
        self.quarantined = quarantined
    }
}
