import PlantRegistry
import Telemetry

/// Turns stored readings into rollup changes as a meter-data engineer books them, correct
/// whatever order the readings arrive in.
///
/// Every rollup is a sum over single readings (gauge statistics) or over pairs of consecutive
/// readings of a series: a counter's use (with the read before the pair, to keep the high-water
/// mark across a jitter dip), an integrated gauge's trapezoid, a state's time. A pair's use
/// belongs to the interval `(a, b]` that its later read closes and is spread over it in
/// proportion to time; across a gap it is still spread, and marked estimated. A state holds
/// until the next value of its series unless the device is known to be away (silent past its
/// staleness window, or declared dead): that time is booked as `unknown`. A reading that lands
/// between stored neighbours removes the bookings it changes and adds the new ones, so any
/// arrival order sums to what sorted arrival gives, and what a rebuild gives.
///
/// The aggregator is pure arithmetic: it asks a `ReadingHistory` for stored neighbours and
/// returns a `RollupDelta`; a store writes it in the batch's transaction.
public final class Aggregator: @unchecked Sendable {
    // @unchecked: used from one thread at a time (the ingest thread, or a rebuild).
    public let plan: AggregationPlan
    /// The newest stored point of each series, and the one before it: the in-order fast path.
    private var newest: [SeriesPoint?]
    private var previous: [SeriesPoint?]
    private var newestKnown: [Bool]
    public private(set) var delta = RollupDelta()
    /// When set (a partial rebuild, or the raw retention horizon onwards), only contributions to
    /// minutes inside it are kept: nothing is booked where the readings it would need are gone.
    public var window: Range<Int64>?

    /// Intervals longer than this book their use per hour (at the hour's first minute) rather
    /// than per minute, so a month-long gap costs hundreds of rows, not tens of thousands.
    public static let perMinuteLimitMs: Int64 = 6 * WindowCalendar.hourMs

    public init(plan: AggregationPlan) {
        self.plan = plan
        newest = Array(repeating: nil, count: plan.series.count)
        previous = Array(repeating: nil, count: plan.series.count)
        newestKnown = Array(repeating: false, count: plan.series.count)
    }

    /// Forgets the in-memory newest points (after a rebuild or a failed commit).
    public func resetCache() {
        for i in newest.indices {
            newest[i] = nil
            previous[i] = nil
            newestKnown[i] = false
        }
    }

    /// Hands over the accumulated changes and starts a new batch.
    public func takeDelta() -> RollupDelta {
        let d = delta
        delta.removeAll()
        return d
    }

    // MARK: - Streaming

    /// Accounts for a reading just stored (not a duplicate). A gateway error books nothing but
    /// still shows the device was alive.
    public func add(_ r: Reading, history: any ReadingHistory) throws {
        let i = Int(r.series)
        let sp = plan.series[i]
        let point: SeriesPoint
        switch r.value {
        case .number(let v): point = SeriesPoint(ts: r.timestampMs, value: v, state: nil)
        case .state(let s): point = SeriesPoint(ts: r.timestampMs, value: 0, state: s)
        case .error:
            try signOfLife(device: sp.device, at: r.timestampMs, from: r.series, history: history)
            return
        }
        // Later than the minute of the series' newest stored point: nothing of the minute is stored.
        let opens = newestKnown[i] && (newest[i].map { plan.calendar.minuteStart($0.ts) < plan.calendar.minuteStart(point.ts) } ?? true)
        single(r.series, point, opens: opens)
        if sp.kind != .gauge {
            // The two stored reads before the point and the two after it.
            var b0: SeriesPoint?
            var b1: SeriesPoint?
            var a1: SeriesPoint?
            var a2: SeriesPoint?
            if newestKnown[i], let n = newest[i], n.ts < point.ts {
                (b0, b1) = (previous[i], n)  // in order: the fast path, from memory, no allocation
            } else {
                let (before, after) = try history.neighbours(r.series, around: point.ts, before: 2, after: 2)
                b1 = before.last
                b0 = before.count > 1 ? before[before.count - 2] : nil
                a1 = after.first
                a2 = after.count > 1 ? after[1] : nil
            }
            let lookBack: Bool = if case .counter = sp.kind { true } else { false }
            if let b1, let a1 { try pair(r.series, prev: b0, b1, a1, sign: -1, history: history, excluding: point.ts) }
            if lookBack, let a1, let a2 { try pair(r.series, prev: b1, a1, a2, sign: -1, history: history) }
            if let b1 { try pair(r.series, prev: b0, b1, point, sign: 1, history: history) }
            if let a1 { try pair(r.series, prev: b1, point, a1, sign: 1, history: history) }
            if lookBack, let a1, let a2 { try pair(r.series, prev: point, a1, a2, sign: 1, history: history) }
            if a1 == nil {
                previous[i] = b1
                newest[i] = point
                newestKnown[i] = true
            } else if a2 == nil, newestKnown[i], newest[i]?.ts == a1?.ts {
                previous[i] = point  // landed just before the newest: it is the newest's predecessor now
            }
        } else if newestKnown[i], let n = newest[i], n.ts >= point.ts {
        } else {
            // A gauge's newest is known once a reading finds nothing stored after it.
            let last = try newestKnown[i] || history.neighbours(r.series, around: point.ts, before: 0, after: 1).after.isEmpty
            if last {
                previous[i] = newest[i]
                newest[i] = point
                newestKnown[i] = true
            }
        }
        try signOfLife(device: sp.device, at: point.ts, from: r.series, history: history)
    }

    /// A message from a device at `ts` may extend how long the device's other states were
    /// known: a state held across a silence longer than its staleness window is booked anew
    /// when a late message lands inside that silence.
    private func signOfLife(device: Int, at ts: Int64, from series: SeriesIndex, history: any ReadingHistory) throws {
        for s in plan.deviceStateSeries[device] where s != series {
            let i = Int(s)
            guard let stale = plan.series[i].staleAfterMs else { continue }
            if newestKnown[i] {
                guard let n = newest[i], ts < n.ts else { continue }  // in order: no booked state spans ts
            }
            let (before, after) = try history.neighbours(s, around: ts, before: 2, after: 1)
            if after.isEmpty {
                newest[i] = before.last
                previous[i] = before.count > 1 ? before[before.count - 2] : nil
                newestKnown[i] = true
                continue
            }
            guard let a = before.last, let b = after.first, b.ts - a.ts > stale else { continue }
            try statePair(s, a, b, sign: -1, history: history, excluding: ts)
            try statePair(s, a, b, sign: 1, history: history)
        }
    }

    // MARK: - Rebuilds

    /// Accounts for a series from scratch (rebuilds): `points` sorted, including the two stored
    /// before the window and one after it, so pairs across its edges are whole.
    public func addSorted(series: SeriesIndex, _ points: [SeriesPoint], history: any ReadingHistory) throws {
        let kind = plan.series[Int(series)].kind
        for (k, p) in points.enumerated() {
            single(series, p)
            if kind != .gauge, k > 0 {
                try pair(series, prev: k > 1 ? points[k - 2] : nil, points[k - 1], p, sign: 1, history: history)
            }
        }
    }

    // MARK: - Bookings

    private func inWindow(_ minute: Int64) -> Bool { window?.contains(minute) ?? true }

    private func single(_ s: SeriesIndex, _ p: SeriesPoint, opens: Bool = false) {
        guard p.state == nil, inWindow(plan.calendar.minuteStart(p.ts)) else { return }
        let key = RollupDelta.SeriesMinute(series: s, minute: plan.calendar.minuteStart(p.ts))
        if opens { delta.newMinutes.insert(key) }
        var m = delta.minutes[key] ?? RollupDelta.MinuteStats()
        m.count += 1
        m.sum += p.value
        m.min = Swift.min(m.min, p.value)
        m.max = Swift.max(m.max, p.value)
        if p.ts > m.lastTs {
            m.lastTs = p.ts
            m.last = p.value
        }
        delta.minutes[key] = m
    }

    /// Books (sign +1) or unbooks (-1) the pair `a → b`; `prev` is the read before `a`.
    private func pair(
        _ s: SeriesIndex, prev: SeriesPoint?, _ a: SeriesPoint, _ b: SeriesPoint, sign: Double,
        history: any ReadingHistory, excluding: Int64? = nil
    ) throws {
        let sp = plan.series[Int(s)]
        switch sp.kind {
        case .counter(let modulus):
            let (used, event) = Self.registerUse(
                prev: prev?.value, a.value, b.value, modulus: modulus,
                resetBelow: sp.resetBelow, rolloverMargin: sp.rolloverMargin)
            let gap = b.ts - a.ts > sp.gapMs
            if let event { quality(s, event, a.ts, b.ts, sign, used) }
            if gap && used != 0 { quality(s, .estimated, a.ts, b.ts, sign, used) }
            spread(s, sp, from: a.ts, to: b.ts, used * sign, estimated: gap)
        case .integratedGauge:
            let used = (a.value + b.value) / 2 * Double(b.ts - a.ts) / 3_600_000
            let gap = b.ts - a.ts > sp.gapMs
            if gap && used != 0 { quality(s, .estimated, a.ts, b.ts, sign, used) }
            spread(s, sp, from: a.ts, to: b.ts, used * sign, estimated: gap)
        case .state:
            try statePair(s, a, b, sign: Int64(sign), history: history, excluding: excluding)
        case .gauge:
            break
        }
    }

    private func quality(
        _ s: SeriesIndex, _ kind: RollupDelta.QualityKind, _ start: Int64, _ end: Int64, _ sign: Double,
        _ amount: Double
    ) {
        guard inWindow(plan.calendar.minuteStart(end)) else { return }
        let key = RollupDelta.QualityKey(series: s, kind: kind, start: start, end: end)
        var q = delta.quality[key] ?? RollupDelta.QualityChange()
        q.count += Int(sign)
        q.amount += sign * amount
        delta.quality[key] = q
    }

    /// What a register booked between reads `a` and `b` (`prev` the read before `a`), and the
    /// data-quality event it was, if any.
    ///
    /// A drop is a rollover when the register has a modulus, `a` lay within `rolloverMargin` of
    /// it and `b` within that of zero (use = modulus − a + b); a reset when `b` is at most
    /// `resetBelow` of `a` (use = b, counted from zero); otherwise an anomaly (jitter): nothing,
    /// and the read before the dip stays the high-water mark, so the climb back books only the
    /// increase past it.
    public static func registerUse(
        prev: Double?, _ a: Double, _ b: Double, modulus: Double?, resetBelow: Double = 0.1,
        rolloverMargin: Double = 0.1
    ) -> (Double, RollupDelta.QualityKind?) {
        if b >= a {
            var reference = a
            if let p = prev, a < p,
                dropKind(
                    from: p, to: a, modulus: modulus, resetBelow: resetBelow,
                    rolloverMargin: rolloverMargin) == .anomaly
            {
                reference = p
            }
            return (Swift.max(0, b - reference), nil)
        }
        let kind = dropKind(from: a, to: b, modulus: modulus, resetBelow: resetBelow, rolloverMargin: rolloverMargin)
        switch kind {
        case .rollover: return ((modulus ?? 0) - a + b, .rollover)
        case .reset: return (b, .reset)
        default: return (0, .anomaly)
        }
    }

    static func dropKind(
        from a: Double, to b: Double, modulus: Double?, resetBelow: Double,
        rolloverMargin: Double
    ) -> RollupDelta.QualityKind {
        if let m = modulus, a >= m * (1 - rolloverMargin), b <= m * rolloverMargin { return .rollover }
        if b <= a * resetBelow { return .reset }
        return .anomaly
    }

    /// Spreads a use over `[from, to)` in proportion to time: per minute, or per hour (at the
    /// hour's first minute) for an interval longer than `perMinuteLimitMs`; each hour's share
    /// goes to the series' scope totals too.
    private func spread(
        _ s: SeriesIndex, _ sp: AggregationPlan.SeriesPlan, from: Int64, to: Int64, _ used: Double,
        estimated: Bool
    ) {
        guard used != 0, to > from else { return }
        let length = Double(to - from)
        let perMinute = to - from <= Self.perMinuteLimitMs
        // Scope totals are in the carrier's canonical unit, in the hours and days of the series' site.
        let calendar = plan.calendar(series: sp)
        var t = from
        while t < to {
            let hourEnd = Swift.min(to, calendar.hourStart(t) + WindowCalendar.hourMs)
            let hourShare = used * Double(hourEnd - t) / length
            if inWindow(plan.calendar.minuteStart(t)) {
                let booked = hourShare * sp.unitFactor
                for target in sp.targets {
                    delta.addScope(target.scope, target.quantity, at: t, booked * target.weight, calendar: calendar)
                    if estimated {
                        delta.addScope(
                            target.scope, AggregationPlan.estimated(target.quantity), at: t, booked * target.weight, calendar: calendar)
                    }
                }
            }
            if perMinute {
                var m = t
                while m < hourEnd {
                    let minute = plan.calendar.minuteStart(m)
                    let stop = Swift.min(hourEnd, minute + WindowCalendar.minuteMs)
                    bookMinute(s, minute, used * Double(stop - m) / length, estimated: estimated)
                    m = stop
                }
            } else {
                bookMinute(s, plan.calendar.minuteStart(t), hourShare, estimated: estimated)
            }
            t = hourEnd
        }
    }

    private func bookMinute(_ s: SeriesIndex, _ minute: Int64, _ used: Double, estimated: Bool) {
        guard inWindow(minute) else { return }
        let key = RollupDelta.SeriesMinute(series: s, minute: minute)
        var m = delta.minutes[key] ?? RollupDelta.MinuteStats()
        m.consumption += used
        if estimated { m.estimated += used }
        delta.minutes[key] = m
    }

    /// A state held from `a` until `b`, split into known and unknown time.
    private func statePair(
        _ s: SeriesIndex, _ a: SeriesPoint, _ b: SeriesPoint, sign: Int64, history: any ReadingHistory,
        excluding: Int64? = nil
    ) throws {
        guard let state = a.state else { return }
        let sp = plan.series[Int(s)]
        let timeline = try Self.known(from: a.ts, to: b.ts, staleAfterMs: sp.staleAfterMs) {
            var times = try history.messageTimes(device: sp.device, from: a.ts, to: b.ts)
            if let excluding, let k = times.firstIndex(of: excluding) { times.remove(at: k) }
            return times
        }
        if state == AggregationPlan.unknownState {
            quality(s, .offline, a.ts, b.ts, Double(sign), Double(b.ts - a.ts))
            bookState(s, sp, from: a.ts, to: b.ts, state: state, sign: sign)
            return
        }
        var t = a.ts
        for k in timeline {
            if k.lowerBound > t {
                quality(s, .stale, t, k.lowerBound, Double(sign), Double(k.lowerBound - t))
                bookState(s, sp, from: t, to: k.lowerBound, state: AggregationPlan.unknownState, sign: sign)
            }
            bookState(s, sp, from: k.lowerBound, to: k.upperBound, state: state, sign: sign)
            t = k.upperBound
        }
        if t < b.ts {
            quality(s, .stale, t, b.ts, Double(sign), Double(b.ts - t))
            bookState(s, sp, from: t, to: b.ts, state: AggregationPlan.unknownState, sign: sign)
        }
    }

    /// The parts of `[from, to)` in which a device was known to be alive: everything when the
    /// interval is no longer than its staleness window (or it has none), else the union of
    /// `[message, message + staleAfter)` over its messages.
    static func known(from: Int64, to: Int64, staleAfterMs: Int64?, messages: () throws -> [Int64]) rethrows -> [Range<Int64>] {
        guard let stale = staleAfterMs, to - from > stale else { return [from..<to] }
        var out: [Range<Int64>] = []
        for m in try messages() where m >= from && m < to {
            let end = Swift.min(to, m + stale)
            if let last = out.last, m <= last.upperBound {
                out[out.count - 1] = last.lowerBound..<Swift.max(last.upperBound, end)
            } else {
                out.append(m..<end)
            }
        }
        return out
    }

    private func bookState(
        _ s: SeriesIndex, _ sp: AggregationPlan.SeriesPlan, from: Int64, to: Int64, state: String,
        sign: Int64
    ) {
        var t = from
        while t < to {
            let minute = plan.calendar.minuteStart(t)
            let stop = Swift.min(to, minute + WindowCalendar.minuteMs)
            if inWindow(minute) {
                delta.states[RollupDelta.StateMinute(series: s, minute: minute, state: state), default: 0] += sign * (stop - t)
                if let machine = sp.machine { delta.machineMinutes.insert(.init(machine: machine, minute: minute)) }
            }
            t = stop
        }
    }

    // MARK: - Key-process machines

    /// Recomputes the machine minutes the batch touched from the stored readings: producing
    /// time, its exact overlap with nc intervals, and unknown time; the changes against what
    /// was stored go to the machines' scopes. Call once per batch, before `takeDelta()`.
    public func finishMachines(history: any ReadingHistory) throws {
        guard !delta.machineMinutes.isEmpty else { return }
        let byMachine = Dictionary(grouping: delta.machineMinutes, by: \.machine)
        delta.machineMinutes.removeAll(keepingCapacity: true)
        for (index, touched) in byMachine {
            let machine = plan.machines[index]
            let lo = touched.map(\.minute).min()!
            let hi = touched.map(\.minute).max()!
            let end = hi + WindowCalendar.minuteMs
            let states = try intervals(machine.stateSeries, from: lo, to: end, history: history)
            let producing = states.filter { $0.state == "producing" }.map(\.range)
            let unknown = states.filter { $0.state == AggregationPlan.unknownState }.map(\.range)
            let nc: [Range<Int64>]
            if let mode = machine.modeSeries {
                let modes = try intervals(mode, from: lo, to: end, history: history)
                nc = Self.intersect(producing, modes.filter { $0.state == "nc" }.map(\.range))
            } else {
                nc = machine.ncCapable ? producing : []
            }
            let calendar = plan.calendar(machine: machine)
            var fresh: [Int64: RollupDelta.MachineMinuteValue] = [:]
            func add(_ ranges: [Range<Int64>], _ apply: (inout RollupDelta.MachineMinuteValue, Int64) -> Void) {
                for r in ranges {
                    var t = Swift.max(r.lowerBound, lo)
                    while t < Swift.min(r.upperBound, end) {
                        let minute = plan.calendar.minuteStart(t)
                        let stop = Swift.min(r.upperBound, minute + WindowCalendar.minuteMs)
                        apply(&fresh[minute, default: .init()], stop - t)
                        t = stop
                    }
                }
            }
            add(producing) { $0.producingMs += $1 }
            add(nc) { $0.ncProducingMs += Double($1) }
            add(unknown) { $0.unknownMs += $1 }
            let stored = try history.machineMinutes(device: machine.device, from: lo, to: hi)
            for minute in Set(stored.keys).union(fresh.keys) where inWindow(minute) {
                let new = fresh[minute] ?? .init()
                let old = stored[minute] ?? .init()
                guard new != old else { continue }
                delta.machineRows[.init(machine: index, minute: minute)] = new
                for scope in machine.scopes {
                    delta.addScope(
                        scope, AggregationPlan.producingMs, at: minute, Double(new.producingMs - old.producingMs),
                        calendar: calendar)
                    delta.addScope(
                        scope, AggregationPlan.ncProducingMs, at: minute, new.ncProducingMs - old.ncProducingMs,
                        calendar: calendar)
                    delta.addScope(
                        scope, AggregationPlan.unknownMs, at: minute, Double(new.unknownMs - old.unknownMs),
                        calendar: calendar)
                }
            }
        }
    }

    /// The state intervals of a series overlapping `[from, to)`, with unknown time split out.
    private func intervals(_ s: SeriesIndex, from: Int64, to: Int64, history: any ReadingHistory) throws
        -> [(range: Range<Int64>, state: String)]
    {
        var points = try history.neighbours(s, around: from, before: 1, after: 0).before
        points += try history.points(s, from: from, to: to)
        points += try history.neighbours(s, around: to - 1, before: 0, after: 1).after
        let sp = plan.series[Int(s)]
        var out: [(range: Range<Int64>, state: String)] = []
        for (a, b) in zip(points, points.dropFirst()) {
            guard let state = a.state, b.ts > from, a.ts < to else { continue }
            if state == AggregationPlan.unknownState {
                out.append((a.ts..<b.ts, state))
                continue
            }
            let known = try Self.known(from: a.ts, to: b.ts, staleAfterMs: sp.staleAfterMs) {
                try history.messageTimes(device: sp.device, from: a.ts, to: b.ts)
            }
            var t = a.ts
            for k in known {
                if k.lowerBound > t { out.append((t..<k.lowerBound, AggregationPlan.unknownState)) }
                out.append((k, state))
                t = k.upperBound
            }
            if t < b.ts { out.append((t..<b.ts, AggregationPlan.unknownState)) }
        }
        return out
    }

    /// The overlap of two sorted lists of disjoint intervals.
    static func intersect(_ x: [Range<Int64>], _ y: [Range<Int64>]) -> [Range<Int64>] {
        var out: [Range<Int64>] = []
        var i = 0
        var j = 0
        while i < x.count && j < y.count {
            let lo = Swift.max(x[i].lowerBound, y[j].lowerBound)
            let hi = Swift.min(x[i].upperBound, y[j].upperBound)
            if lo < hi { out.append(lo..<hi) }
            if x[i].upperBound < y[j].upperBound { i += 1 } else { j += 1 }
        }
        return out
    }
}
