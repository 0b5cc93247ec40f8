import PlantRegistry
import Telemetry

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

/// Turns stored readings into rollup changes, correct whatever order they arrive in.
///
/// Every rollup is a sum over single readings (gauge statistics) or over pairs of consecutive
/// readings of a series (a counter's consumption, or an integrated gauge's trapezoid,
/// attributed to the minute of the later reading; a state's time, from one reading to the
/// next, at most `stateHoldMs`). A reading
/// that lands between two stored neighbours removes their pair and adds its two new pairs, so
/// any arrival order, with duplicates (which never reach here: the store drops them), sums
/// to what sorted arrival gives. The newest point of each series is kept in memory, so
/// in-order data never asks the store for neighbours.
public final class Aggregator: @unchecked Sendable {
    // @unchecked: used from one thread at a time (the ingest thread, or a rebuild).
    public let plan: AggregationPlan
    private var newest: [SeriesPoint?]
    private var newestKnown: [Bool]
    public private(set) var delta = RollupDelta()
    /// When set (a partial rebuild), only contributions to minutes inside it are kept.
    public var window: Range<Int64>?

    /// Neighbours of `ts` already stored for a series: the latest before and earliest after.
    public typealias NeighbourLookup = (SeriesIndex, Int64) throws -> (before: SeriesPoint?, after: SeriesPoint?)

    public init(plan: AggregationPlan) {
        self.plan = plan
        newest = Array(repeating: nil, count: plan.series.count)
        newestKnown = Array(repeating: false, count: plan.series.count)
    }

    /// Forgets the in-memory newest points (after a rebuild or a failed commit).
    public func resetCache() {
        for i in newest.indices { newest[i] = nil; newestKnown[i] = false }
    }

    /// Hands over the accumulated changes and starts a new batch.
    public func takeDelta() -> RollupDelta {
        let d = delta
        delta.removeAll()
        return d
    }

    /// Accounts for a reading just stored (not a duplicate; gateway errors are skipped).
    public func add(_ r: Reading, neighbours: NeighbourLookup) throws {
        let point: SeriesPoint
        switch r.value {
        case .number(let v): point = SeriesPoint(ts: r.timestampMs, value: v, state: nil)
        case .state(let s): point = SeriesPoint(ts: r.timestampMs, value: 0, state: s)
        case .error: return
        }
        let i = Int(r.series)
        let plan = self.plan.series[i]
        single(r.series, point, plan.kind)
        if plan.kind == .gauge {
            if let n = newest[i], n.ts >= point.ts {} else { newest[i] = point }
            return
        }
        var before: SeriesPoint?
        var after: SeriesPoint?
        if newestKnown[i], let n = newest[i], n.ts < point.ts {
            before = n  // in order: the fast path
        } else {
            (before, after) = try neighbours(r.series, point.ts)
        }
        if let b = before, let a = after { pair(r.series, b, a, sign: -1) }
        if let b = before { pair(r.series, b, point, sign: 1) }
        if let a = after { pair(r.series, point, a, sign: 1) }
        if after == nil { newest[i] = point; newestKnown[i] = true }
    }

    /// Accounts for an already sorted series from scratch (rebuilds): pairs are consecutive.
    public func addSorted(series: SeriesIndex, _ points: [SeriesPoint]) {
        let kind = plan.series[Int(series)].kind
        for (k, p) in points.enumerated() {
            single(series, p, kind)
            if kind != .gauge, k > 0 { pair(series, points[k - 1], p, sign: 1) }
        }
    }

    private func inWindow(_ minute: Int64) -> Bool { window?.contains(minute) ?? true }

    private func single(_ s: SeriesIndex, _ p: SeriesPoint, _ kind: AggregationPlan.Kind) {
        guard p.state == nil, inWindow(plan.calendar.minuteStart(p.ts)) else { return }
        let key = RollupDelta.SeriesMinute(series: s, minute: plan.calendar.minuteStart(p.ts))
        var m = delta.minutes[key] ?? RollupDelta.MinuteStats()
        m.count += 1
        m.sum += p.value
        m.min = Swift.min(m.min, p.value)
        m.max = Swift.max(m.max, p.value)
        if p.ts > m.lastTs { m.lastTs = p.ts; m.last = p.value }
        delta.minutes[key] = m
    }

    private func pair(_ s: SeriesIndex, _ a: SeriesPoint, _ b: SeriesPoint, sign: Double) {
        let sp = plan.series[Int(s)]
        switch sp.kind {
        case .counter(let rollover):
            consume(s, sp, at: b.ts, Self.consumption(from: a.value, to: b.value, rollover: rollover) * sign)
        case .state:
            guard let state = a.state else { return }
            let end = Swift.min(b.ts, a.ts + plan.stateHoldMs)
            var t = a.ts
            while t < end {
                let minute = plan.calendar.minuteStart(t)
                let stop = Swift.min(end, minute + WindowCalendar.minuteMs)
                if inWindow(minute) {
                    let key = RollupDelta.StateMinute(series: s, minute: minute, state: state)
                    delta.states[key, default: 0] += Int64(sign) * (stop - t)
                    if let machine = sp.machine { delta.machineMinutes.insert(.init(machine: machine, minute: minute)) }
                }
                t = stop
            }
        case .integratedGauge:
            // Trapezoid between readings; a gap longer than the hold time is not invented data.
            let dt = b.ts - a.ts
            guard dt > 0, dt <= plan.stateHoldMs else { return }
            consume(s, sp, at: b.ts, (a.value + b.value) / 2 * Double(dt) / 3_600_000 * sign)
        case .gauge:
            break
        }
    }

    /// Books consumption to the minute of `ts` and to the series' scope totals.
    private func consume(_ s: SeriesIndex, _ sp: AggregationPlan.SeriesPlan, at ts: Int64, _ used: Double) {
        guard used != 0, inWindow(plan.calendar.minuteStart(ts)) else { return }
        let key = RollupDelta.SeriesMinute(series: s, minute: plan.calendar.minuteStart(ts))
        var m = delta.minutes[key] ?? RollupDelta.MinuteStats()
        m.consumption += used
        delta.minutes[key] = m
        for t in sp.targets { addScope(t.scope, t.quantity, at: ts, used) }
    }

    /// Adds to a scope quantity in the local hour and day holding `ts`.
    func addScope(_ scope: Scope, _ quantity: String, at ts: Int64, _ value: Double) {
        delta.addScope(scope, quantity, at: ts, value, calendar: plan.calendar)
    }

    /// A cumulative counter's consumption between two readings: never negative. A drop is a
    /// rollover when the register has a configured maximum and was in its upper half (it
    /// wrapped), otherwise a reset (a meter swap or PLC restart counts again from zero).
    public static func consumption(from a: Double, to b: Double, rollover: Double?) -> Double {
        if b >= a { return b - a }
        if let r = rollover, a >= r / 2 { return (r - a) + b }
        return b
    }
}
