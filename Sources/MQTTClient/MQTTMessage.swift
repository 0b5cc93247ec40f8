/// A message as libmosquitto hands it over: borrowed bytes, valid only during the handler call.
///
/// The ingest loop decodes straight from these bytes into its batch, so nothing is copied on
/// the hot path; copy what you need to keep.
public struct MQTTMessage {
    public let topic: UnsafeRawBufferPointer
    public let payload: UnsafeRawBufferPointer
    public let qos: Int
    public let retained: Bool
    /// The MQTT v5 user property `ts`, where the publisher attached one: the event time of a
    /// payload that cannot carry it (plain values).
    public let eventTime: String?

    /// Wraps borrowed bytes (libmosquitto's, or a test's) as a message.
    public init(
        topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, qos: Int = 1, retained: Bool = false,
        eventTime: String? = nil
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retained = retained
        self.eventTime = eventTime
    }

}
