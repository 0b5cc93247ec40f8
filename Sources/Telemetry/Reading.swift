/// Index of a (device, metric) series in the loaded plant registry.
///
/// It is assigned when the registry loads and maps to the store's own series key; a reading's
/// identity stays (device, metric, timestamp), independent of any database row id.
public typealias SeriesIndex = Int32

/// What a reading says: a number, a canonical state word, or a gateway's error code.
public enum ReadingValue: Sendable, Equatable {
    case number(Double)
    /// A canonical state (`producing`, `setup`, `idle`, `down`, `off`, `nc`, `manual`).
    case state(String)
    /// The gateway could not read the tag; the code is the gateway's, never a value.
    case error(Int64)
}

/// One decoded sample of one series.
public struct Reading: Sendable, Equatable {
    public var series: SeriesIndex
    /// Event time in milliseconds since the Unix epoch (UTC).
    public var timestampMs: Int64
    public var value: ReadingValue
    /// The publisher's sequence number, where its payload carries one.
    public var seq: Int64?

    public init(series: SeriesIndex, timestampMs: Int64, value: ReadingValue, seq: Int64? = nil) {
        self.series = series
        self.timestampMs = timestampMs
        self.value = value
        self.seq = seq
    }
}

/// The identity of a series as users name it.
public struct SeriesKey: Sendable, Hashable {
    public var device: String
    public var metric: String
    /// The site whose registry declares the device. Not part of equality: within one registry
    /// a device id is unique, so (device, metric) names a series; a store shared by several
    /// sites (PostgreSQL) keys its series by site too.
    public var site: String

    public init(device: String, metric: String, site: String = "") {
        self.device = device
        self.metric = metric
        self.site = site
    }

    public static func == (a: SeriesKey, b: SeriesKey) -> Bool { a.device == b.device && a.metric == b.metric }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(device)
        hasher.combine(metric)
    }
}
