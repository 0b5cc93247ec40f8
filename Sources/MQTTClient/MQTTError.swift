internal import CMosquitto

/// A failure of the MQTT link, with a code the caller can act on and readable text.
///
/// libmosquitto's `MOSQ_ERR_*` numbers stay inside this module: `Code` is what callers see.
public struct MQTTError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; decides whether reconnecting can help.
    public enum Code: String, Sendable, CaseIterable {
        /// The socket is gone (reset, closed by either side, keep-alive expired, or never opened).
        case connectionLost = "connection_lost"
        /// The broker refused the connection (credentials, client id, protocol version).
        case refused
        /// The broker did not answer in time.
        case timeout
        /// TLS setup or handshake failed (certificates, host name).
        case tls
        /// The broker's name could not be resolved.
        case lookup
        /// The broker spoke something this client does not understand.
        case protocolViolation = "protocol"
        /// A value we passed is invalid (topic, payload size, option).
        case invalid
        /// The process is out of memory.
        case noMemory = "no_memory"
        /// Anything else libmosquitto reports.
        case other
    }

    public let code: Code
    public let message: String

    public var description: String { message }

    /// The link to the broker is gone or was never made; reconnecting may help.
    public var isConnectionLost: Bool {
        switch code {
        case .connectionLost, .refused, .timeout, .protocolViolation, .lookup, .tls: true
        case .invalid, .noMemory, .other: false
        }
    }

    /// The socket is gone (closed by either side, or never opened).
    public static let notConnected = MQTTError(.connectionLost, message: "not connected to the broker")

    public init(_ code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// Maps libmosquitto's return code: the one place that reads `MOSQ_ERR_*` values.
    init(mosquitto rc: Int32, context: String) {
        self.init(Self.code(mosquitto: rc), message: "\(context): \(String(cString: mosquitto_strerror(rc)))")
    }

    static func code(mosquitto rc: Int32) -> Code {
        switch rc {
        case MOSQ_ERR_NO_CONN.rawValue, MOSQ_ERR_CONN_LOST.rawValue, MOSQ_ERR_KEEPALIVE.rawValue,
            MOSQ_ERR_ERRNO.rawValue:
            .connectionLost
        case MOSQ_ERR_CONN_REFUSED.rawValue, MOSQ_ERR_AUTH.rawValue, MOSQ_ERR_ACL_DENIED.rawValue: .refused
        case MOSQ_ERR_TIMEOUT.rawValue: .timeout
        case MOSQ_ERR_TLS.rawValue, MOSQ_ERR_TLS_HANDSHAKE.rawValue, MOSQ_ERR_OCSP.rawValue: .tls
        case MOSQ_ERR_EAI.rawValue, MOSQ_ERR_LOOKUP.rawValue: .lookup
        case MOSQ_ERR_PROTOCOL.rawValue, MOSQ_ERR_MALFORMED_PACKET.rawValue, MOSQ_ERR_MALFORMED_UTF8.rawValue,
            MOSQ_ERR_DUPLICATE_PROPERTY.rawValue:
            .protocolViolation
        case MOSQ_ERR_INVAL.rawValue, MOSQ_ERR_PAYLOAD_SIZE.rawValue, MOSQ_ERR_OVERSIZE_PACKET.rawValue,
            MOSQ_ERR_NOT_SUPPORTED.rawValue, MOSQ_ERR_QOS_NOT_SUPPORTED.rawValue:
            .invalid
        case MOSQ_ERR_NOMEM.rawValue: .noMemory
        default: .other
        }
    }

    /// Maps a libmosquitto return code to success or an error.
    static func check(_ rc: Int32, _ context: @autoclosure () -> String) throws(MQTTError) {
        if rc != MOSQ_ERR_SUCCESS.rawValue { throw MQTTError(mosquitto: rc, context: context()) }
    }
}
