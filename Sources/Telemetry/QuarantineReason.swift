/// Why a message, or part of one, was not stored as readings.
///
/// The raw values are stable: they appear in the quarantine table, in counters and in
/// `zhizao status`.
public enum QuarantineReason: String, Sendable, CaseIterable, Codable {
    /// Not parseable in the profile's format (bad JSON, missing field, wrong type).
    case malformed
    /// No device profile claims the topic.
    case unknownTopic = "unknown_topic"
    /// The payload names a device the registry does not have.
    case unknownDevice = "unknown_device"
    /// The device has no metric (or tag) of that name.
    case unknownMetric = "unknown_metric"
    /// NaN or infinity.
    case nonFinite = "non_finite"
    /// A value of the wrong type for the metric, or a state code the profile does not map.
    case invalidValue = "invalid_value"
    /// Payload larger than the configured limit.
    case oversize
    /// Event time further ahead of the receive time than the configured skew.
    case futureTimestamp = "future_timestamp"
    /// A device sent through a gateway, topic or Sparkplug address the registry does not bind
    /// it to: another gateway's topic, a topic naming another workshop or line, another group
    /// or edge node. Only the gateway that declares a device speaks for it.
    case foreignDevice = "foreign_device"
    /// A reading older than the raw retention horizon: the stored neighbours it would be booked
    /// against were pruned, so it cannot be accounted for without corrupting the rollups kept.
    case beyondRetention = "beyond_retention"
}

/// A rejected message or part of one, as the quarantine table keeps it.
public struct Rejection: Sendable, Equatable {
    public var reason: QuarantineReason
    /// Human-readable detail naming the device, tag or field at fault.
    public var detail: String

    public init(reason: QuarantineReason, detail: String) {
        self.reason = reason
        self.detail = detail
    }
}
