internal import CMosquitto

/// A failure reported by libmosquitto, with its code and readable text.
public struct MQTTError: Error, CustomStringConvertible, Sendable {
    /// libmosquitto's `MOSQ_ERR_*` value.
    public let code: Int32
    public let message: String

    public var description: String { message }

    /// The link to the broker is gone (reset, closed, or never made); reconnecting may help.
    public var isConnectionLost: Bool {
        code == MOSQ_ERR_NO_CONN.rawValue || code == MOSQ_ERR_CONN_LOST.rawValue
            || code == MOSQ_ERR_ERRNO.rawValue || code == MOSQ_ERR_KEEPALIVE.rawValue
            || code == MOSQ_ERR_PROTOCOL.rawValue || code == MOSQ_ERR_CONN_REFUSED.rawValue
    }

    /// The socket is gone (closed by either side, or never opened).
    public static let notConnected = MQTTError(code: MOSQ_ERR_NO_CONN.rawValue, message: "not connected to the broker")

    init(code: Int32, context: String) {
        self.code = code
        let text = String(cString: mosquitto_strerror(code))
        self.message = "\(context): \(text)"
    }

    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    /// Maps a libmosquitto return code to success or an error; the one place that reads them.
    static func check(_ rc: Int32, _ context: @autoclosure () -> String) throws(MQTTError) {
        if rc != MOSQ_ERR_SUCCESS.rawValue { throw MQTTError(code: rc, context: context()) }
    }
}
