/// A message as libmosquitto hands it over: borrowed bytes, valid only during the handler call.
///
/// The ingest loop decodes straight from these bytes into its batch, so nothing is copied on
/// the hot path; copy what you need to keep.
public struct MQTTMessage {
    public let topic: UnsafeRawBufferPointer
    public let payload: UnsafeRawBufferPointer
    public let qos: Int
    public let retained: Bool

    init(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, qos: Int, retained: Bool) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retained = retained
    }

    /// The topic as a Swift string (allocates for long topics).
    public var topicString: String { String(decoding: topic, as: UTF8.self) }
}
