/// How to reach and log in to the broker, and the session the client asks for.
///
/// The defaults suit an ingester that must not lose QoS 1 messages across its own restarts:
/// MQTT v5, a persistent session (clean start off) that outlives a crash by a day, and a
/// receive maximum large enough that the broker never throttles delivery below what one
/// commit batch holds.
public struct MQTTOptions: Sendable {
    /// The MQTT protocol revision spoken on the wire.
    public enum ProtocolVersion: String, Sendable, CaseIterable {
        case v5 = "5"
        case v311 = "3.1.1"
    }

    /// TLS settings; a CA file or CA directory is required, a client certificate is optional.
    public struct TLS: Sendable {
        public var caFile: String?
        public var caPath: String?
        public var certFile: String?
        public var keyFile: String?
        /// Skip the broker host-name check (never for production; useful against test brokers).
        public var insecureSkipHostnameCheck: Bool

        public init(
            caFile: String? = nil, caPath: String? = nil, certFile: String? = nil,
            keyFile: String? = nil, insecureSkipHostnameCheck: Bool = false
        ) {
            self.caFile = caFile
            self.caPath = caPath
            self.certFile = certFile
            self.keyFile = keyFile
            self.insecureSkipHostnameCheck = insecureSkipHostnameCheck
        }
    }

    public var host: String
    public var port: Int
    public var clientID: String
    public var protocolVersion: ProtocolVersion
    /// Seconds between PINGREQs when the link is otherwise idle.
    public var keepAliveSeconds: Int
    /// Start a fresh session; off keeps the broker's queue for us while we are away.
    public var cleanStart: Bool
    /// MQTT v5 only: how long the broker keeps our session after we vanish. Must be above 0
    /// for a persistent session to survive a crash.
    public var sessionExpirySeconds: UInt32
    /// MQTT v5 only: how many unacknowledged QoS 1/2 messages the broker may send us at once.
    public var receiveMaximum: Int
    public var username: String?
    public var password: String?
    public var tls: TLS?

    public init(
        host: String = "127.0.0.1", port: Int = 1883, clientID: String,
        protocolVersion: ProtocolVersion = .v5, keepAliveSeconds: Int = 30,
        cleanStart: Bool = false, sessionExpirySeconds: UInt32 = 86_400,
        receiveMaximum: Int = 65_535, username: String? = nil, password: String? = nil,
        tls: TLS? = nil
    ) {
        self.host = host
        self.port = port
        self.clientID = clientID
        self.protocolVersion = protocolVersion
        self.keepAliveSeconds = keepAliveSeconds
        self.cleanStart = cleanStart
        self.sessionExpirySeconds = sessionExpirySeconds
        self.receiveMaximum = receiveMaximum
        self.username = username
        self.password = password
        self.tls = tls
    }
}
