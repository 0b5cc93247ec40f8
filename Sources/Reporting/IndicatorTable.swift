public import Aggregation
import Foundation
public import PlantRegistry
public import ReadingStore

/// Indicator rows for scopes and windows, as `zhizao indicators` prints them and
/// `zhizao report` draws them (see Schemas/indicators.schema.json).
///
/// Everything is read from stored rollups, never from raw readings: the scope totals of the
/// whole days and hours of each row, and per-series minutes at a window's ragged edges (see
/// `WindowTotals`), so a row costs a few indexed reads. Each scope is reckoned in its own
/// site's calendar, shifts and factors. Printing the rows is the caller's business.
public struct IndicatorTable {
    /// How a window is cut into rows.
    public enum Every: String, CaseIterable, Sendable {
        case hour = "1h"
        /// One row per occurrence of a shift of the site's shift calendar.
        case shift
        /// Local calendar days.
        case day = "1d"
        /// Local calendar months.
        case month = "1mo"
        /// One row for the whole window.
        case all
    }

    /// The indicators of one scope over one window, with the baseline's if one was asked for.
    public struct Row: Sendable {
        public var scope: Scope
        /// The row's start in epoch milliseconds: its hour, shift, day or month, cut at the
        /// window's start for the first row.
        public var start: Int64
        /// The shift's name, for rows per shift.
        public var shift: String?
        /// The product, for rows per product (`--by product`).
        public var product: String?
        public var indicators: Indicators
        /// The same scope over the whole baseline window.
        public var baseline: Indicators?
        /// Change of each per-unit figure against the baseline, in percent.
        public var changePct: [String: Double]?
        /// Late readings held beside the figures of a closed period the window touches.
        public var pending: PendingAdjustment?

        public init(
            scope: Scope, start: Int64, shift: String? = nil, indicators: Indicators,
            baseline: Indicators? = nil, changePct: [String: Double]? = nil, pending: PendingAdjustment? = nil
        ) {
            self.scope = scope
            self.start = start
            self.shift = shift
            self.indicators = indicators
            self.baseline = baseline
            self.changePct = changePct
            self.pending = pending
        }
    }

    public let plant: Plant
    public let plan: AggregationPlan
    /// The registry's first site: the one `site` names on the command line.
    public let site: Site
    public let reader: any TelemetryReader
    /// The first site's shift calendar.
    public let shifts: ShiftCalendar
    /// The scopes with an unmetered figure (a whole-node meter with meters below it), whose
    /// hourly balance is checked.
    public let balancedScopes: Set<Scope>
    /// Exact-window totals read from the store.
    public let windows: WindowTotals
    /// Per-scope facts looked up once (site, key-process machines, lines).
    public let index: ScopeIndex

    public init(plant: Plant, reader: any TelemetryReader) throws {
        guard let site = plant.sites.first else { throw ReportingError.noSite }
        self.plant = plant
        self.plan = AggregationPlan(plant: plant)
        self.site = site
        self.reader = reader
        self.shifts = ShiftCalendar(site: site, calendar: plan.calendar)
        self.balancedScopes = Set(plan.unmeteredScopes.values.joined())
        self.windows = try WindowTotals(reader: reader, plan: plan, plant: plant)
        self.index = ScopeIndex(plant: plant, plan: plan)
    }

    /// Every site, its workshops and its lines, in registry order.
    public var knownScopes: [Scope] { plant.sites.flatMap(\.scopes) }

    /// The known scopes of one level, e.g. every workshop.
    public func scopes(_ kind: Scope.Kind) -> [Scope] { knownScopes.filter { $0.kind == kind } }

    /// The index of the site a scope belongs to (the first site for a scope the registry lacks).
    func siteIndex(of scope: Scope) -> Int { index.site[scope] ?? 0 }

    /// The site a scope belongs to: its time zone, shifts, coefficients and factors apply.
    public func site(of scope: Scope) -> Site { plant.sites[siteIndex(of: scope)] }

    /// The calendar (time zone) of a scope's site.
    public func calendar(of scope: Scope) -> WindowCalendar { plan.calendars[siteIndex(of: scope)] }

    /// The shift calendar of a scope's site.
    public func shifts(of scope: Scope) -> ShiftCalendar { ShiftCalendar(site: site(of: scope), calendar: calendar(of: scope)) }

    /// `site` (the first site), `site:ID`, `workshop:ID` or `line:ID` (nil: the first site),
    /// checked against the registry; an unknown one is an error naming the nearest known ones.
    public func resolve(scope text: String?) throws(ReportingError) -> Scope {
        guard let text else { return .site(site.id) }
        if let scope = site.scope(named: text), knownScopes.contains(scope) { return scope }
        let typed = site.scope(named: text)?.key ?? text
        throw .unknownScope(typed, nearest: nearest(typed, in: knownScopes.map(\.key)), known: knownScopes)
    }

    /// The lines a scope holds (a line holds itself), in registry order.
    public func lines(within scope: Scope) -> [Scope] {
        plant.sites.flatMap { s in
            s.workshops.flatMap { ws in
                ws.lines.filter { scope == .site(s.id) || scope == .workshop(ws.id) || scope == .line($0.id) }.map { .line($0.id) }
            }
        }
    }

    /// OEE of a line with a planned run time per item; other scopes have none. Its planned busy
    /// time is that of exactly `[from, to)` in the line's site's shift calendar.
    public func oee(scope: Scope, totals: [String: Double], from: Int64, to: Int64) -> OEE? {
        oee(scope: scope, totals: totals, plannedBusyMs: { shifts(of: scope).plannedBusyMs(from: from, to: to) })
    }

    /// OEE with the planned busy time asked only when the line has a planned run time.
    func oee(scope: Scope, totals: [String: Double], plannedBusyMs: () -> Double) -> OEE? {
        guard case .line(let id) = scope, let line = index.lines[id], let pri = line.plannedCycleSeconds else { return nil }
        return OEE.compute(
            producingMs: totals[AggregationPlan.producingMs] ?? 0, machines: index.machineCount[scope] ?? 0,
            plannedBusyMs: plannedBusyMs(), priSeconds: pri,
            good: totals[AggregationPlan.good] ?? 0, scrap: totals[AggregationPlan.scrap] ?? 0)
    }

    /// A site's planned busy time per window, worked out once for all the lines of a table that
    /// share the window (160 lines × 30 days of shifts each, in the site's zone, were the table's
    /// largest cost after its reads).
    struct PlannedBusyTimes {
        struct Key: Hashable {
            var site: Int
            var from: Int64
            var to: Int64
        }
        var known: [Key: Double] = [:]

        mutating func ms(_ table: IndicatorTable, _ scope: Scope, from: Int64, to: Int64) -> Double {
            let key = Key(site: table.siteIndex(of: scope), from: from, to: to)
            if let ms = known[key] { return ms }
            let ms = table.shifts(of: scope).plannedBusyMs(from: from, to: to)
            known[key] = ms
            return ms
        }
    }

    /// The windows a row each: `[start, end)` cut from `[from, to)` by `every` in the scope's
    /// site calendar (the first and last clipped to the window), with the shift's name.
    func buckets(_ scope: Scope, from: Int64, to: Int64, every: Every) -> [(start: Int64, end: Int64, shift: String?)] {
        let calendar = calendar(of: scope)
        var out: [(start: Int64, end: Int64, shift: String?)] = []
        func cut(first: Int64, next: (Int64) -> Int64) {
            var t = first
            while t < to {
                let n = next(t)
                out.append((max(t, from), min(n, to), nil))
                t = n
            }
        }
        switch every {
        case .all: out = [(from, to, nil)]
        case .hour: cut(first: calendar.hourStart(from)) { $0 + WindowCalendar.hourMs }
        case .day: cut(first: calendar.dayStart(from)) { calendar.dayStart($0 + 25 * WindowCalendar.hourMs) }
        case .month: cut(first: calendar.monthStart(from)) { calendar.nextMonth($0) }
        case .shift:
            out = shifts(of: scope).occurrences(from: from, to: to).map { (max($0.start, from), min($0.end, to), $0.shift.name) }
        }
        return out
    }

    /// Rows for each scope and window of exactly [fromMs, toMs), with a baseline comparison if
    /// asked. Each scope is reckoned in its own site's time zone, shifts and factors.
    ///
    /// Value added counts only for the whole months a row covers, since finance reports it per
    /// month, and is divided into the energy of exactly those months; a month the row holds
    /// only part of gets no per-10,000-yuan figure, and a note says so.
    public func rows(
        scopes: [Scope], from fromMs: Int64, to toMs: Int64, every: Every,
        baseline baseWindow: (from: Int64, to: Int64)?
    ) throws -> [Row] {
        let balanced = balancedScopes
        // What every scope needs read once for all of them, not once per scope.
        let valueAddedFrom = min(fromMs, baseWindow?.from ?? fromMs) - 32 * WindowCalendar.dayMs
        let recorded = try reader.valueAdded(scopes: scopes, from: valueAddedFrom, to: max(toMs, baseWindow?.to ?? toMs))
        let periods = ClosedPeriods(try reader.closedPeriods())
        let storedDays = try windows.storedDays(scopes, from: fromMs, to: toMs)
        let siteProducts = plant.sites.map { products(of: $0) }
        var busy = PlannedBusyTimes()
        var rows: [Row] = []
        for s in scopes {
            let site = site(of: s)
            if every == .shift && site.shifts.isEmpty { throw ReportingError.noShiftCalendar(site: site.id) }
            let calendar = calendar(of: s)
            let valueAdded = recorded[s] ?? [:]
            let keyProcess = index.keyProcessDevices[s] ?? []
            let rate = Indicators.staticControlRate(plant: plant, keyProcessDevices: keyProcess)
            let machines = index.machineCount[s] ?? 0
            let closed = try closedView(scope: s, period: "hour", from: fromMs, to: toMs, periods: periods)
            let keyMachines = keyProcess.count
            /// The indicators of [start, end) from its totals, with value added over its whole months.
            func indicators(_ totals: WindowTotals.Totals, _ start: Int64, _ end: Int64) throws -> Indicators {
                var i = Indicators.compute(
                    totals: totals.values, site: site, scope: s, products: siteProducts[siteIndex(of: s)], staticRate: rate,
                    keyProcessMs: Double(machines) * Double(end - start))
                i.oee = oee(scope: s, totals: totals.values, plannedBusyMs: { busy.ms(self, s, from: start, to: end) })
                try applyValueAdded(&i, scope: s, site: site, totals: totals, from: start, to: end, recorded: valueAdded, rate: rate)
                for edge in totals.roundedEdges {
                    let horizon = windows.minuteHorizon.map { TimeArgument.format($0, calendar: calendar) } ?? "?"
                    i.notes.append(
                        "minute rollups before \(horizon) were pruned by retention: "
                            + "this window's edge at \(TimeArgument.format(edge, calendar: calendar)) is counted to the nearest hour")
                }
                if balanced.contains(s) {
                    let hours = Set(try balanceViolations(scope: s, from: start, to: end).map(\.hour))
                    i.balanceViolationHours = hours.count
                    if !hours.isEmpty {
                        i.notes.append(
                            "\(s): \(hours.count) hour(s) fail the balance check (meters below > whole-node meters + \(site.balanceTolerance * 100)%): zhizao quality --scope \(s) lists them"
                        )
                    }
                }
                if keyMachines > machines {
                    i.notes.append(
                        "\(keyMachines - machines) key-process machine(s) in \(s) report no machine state: the operational rate covers the others"
                    )
                }
                return i
            }
            var base: Indicators?
            if let (bf, bt) = baseWindow {
                base = try indicators(windows.totals(s, from: bf, to: bt, calendar: calendar), bf, bt)
            }
            let days = storedDays[s]
            for b in buckets(s, from: fromMs, to: toMs, every: every) {
                let totals = try windows.totals(s, from: b.start, to: b.end, calendar: calendar, days: days)
                guard !totals.values.isEmpty else { continue }
                var i = try indicators(totals, b.start, b.end)
                let pending = pendingAdjustment(closed, from: b.start, to: b.end)
                if let pending { i.notes.append(pending.note) }
                rows.append(
                    Row(
                        scope: s, start: b.start, shift: b.shift, indicators: i,
                        baseline: base, changePct: base.map { i.changePercent(against: $0) }, pending: pending))
            }
        }
        return rows
    }

    /// Value added of the whole months in [start, end) with a recorded figure, divided into the
    /// energy and CO2 of exactly those months; a note for each recorded month cut by the window.
    func applyValueAdded(
        _ i: inout Indicators, scope: Scope, site: Site, totals: WindowTotals.Totals, from start: Int64, to end: Int64,
        recorded: [Int64: Double], rate: Double?
    ) throws {
        let calendar = calendar(of: scope)
        var whole: [(start: Int64, end: Int64, yuan: Double)] = []
        var month = calendar.monthStart(start)
        while month < end {
            let next = calendar.nextMonth(month)
            if let yuan = recorded[month] {
                if month >= start && next <= end {
                    whole.append((month, next, yuan))
                } else {
                    i.notes.append(
                        "value added is recorded per month: \(TimeArgument.formatMonth(month, calendar: calendar)) is only partly in this window, "
                            + "so it gives no per-10,000-yuan figure (ask for whole months, e.g. --every 1mo from the 1st)")
                }
            }
            month = next
        }
        guard !whole.isEmpty else { return i.setValueAdded(yuan: nil, over: nil) }
        let yuan = whole.map(\.yuan).reduce(0, +)
        // The energy of exactly those months: the row's own when they are the whole row.
        var monthTotals = WindowTotals.Totals()
        if whole.count == 1 && whole[0].start == start && whole[0].end == end {
            monthTotals = totals
        } else {
            for m in whole { monthTotals.add(try windows.totals(scope, from: m.start, to: m.end, calendar: calendar).values) }
        }
        i.setValueAdded(yuan: yuan, over: Indicators.compute(totals: monthTotals.values, site: site, staticRate: rate))
    }
}

extension Site {
    /// The scope a user names: `site` for this site, else the stored form (`line:line-shaft`);
    /// nil if the text is neither. Whether the registry has it is for the caller to check.
    public func scope(named text: String) -> Scope? {
        text == "site" ? .site(id) : Scope(text)
    }
}
