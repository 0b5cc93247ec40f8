public import Telemetry

/// A reading reduced to what aggregation needs.
public struct SeriesPoint: Sendable, Equatable {
    public var ts: Int64
    public var value: Double
    public var state: String?

    public init(ts: Int64, value: Double, state: String?) {
        self.ts = ts
        self.value = value
        self.state = state
    }
}

/// What the aggregator may ask of the stored readings: the narrow interface a store implements
/// (inside the transaction that writes the batch), so the rollup arithmetic stays here, pure,
/// and a second store adds a store, not a second aggregator.
public protocol ReadingHistory {
    /// Up to `before` stored points of a series just before `ts` and up to `after` just after
    /// it, each list in time order (gateway errors skipped).
    func neighbours(_ series: SeriesIndex, around ts: Int64, before: Int, after: Int) throws
        -> (before: [SeriesPoint], after: [SeriesPoint])
    /// The stored points of a series with `from <= ts < to`, in time order.
    func points(_ series: SeriesIndex, from: Int64, to: Int64) throws -> [SeriesPoint]
    /// The time of every stored reading of the device (any metric, gateway errors included)
    /// with `from <= ts <= to`, in order: the device's sign of life.
    func messageTimes(device: Int, from: Int64, to: Int64) throws -> [Int64]
    /// The stored machine minutes of a key-process machine with `from <= minute <= to`.
    func machineMinutes(device: String, from: Int64, to: Int64) throws -> [Int64: RollupDelta.MachineMinuteValue]
}
