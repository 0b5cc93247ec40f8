public import Aggregation
import Foundation
public import PlantRegistry
public import ReadingStore

/// Indicator rows for scopes and windows, as `zhizao indicators` prints them and
/// `zhizao report` draws them (see Schemas/indicators.schema.json).
///
/// Everything is read from the stored scope totals, never from raw readings, so a year of
/// daily rows costs one indexed read per scope. Printing the rows is the caller's business.
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
        /// The window start in epoch milliseconds (a shift occurrence's start for shift rows).
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
    /// The site reported on: the registry's first.
    public let site: Site
    public let reader: StoreReader
    public let shifts: ShiftCalendar
    /// The scopes with an unmetered figure (a whole-node meter with meters below it), whose
    /// hourly balance is checked.
    public let balancedScopes: Set<Scope>

    public init(plant: Plant, reader: StoreReader) throws(ReportingError) {
        guard let site = plant.sites.first else { throw .noSite }
        self.plant = plant
        self.plan = AggregationPlan(plant: plant)
        self.site = site
        self.reader = reader
        self.shifts = ShiftCalendar(site: site, calendar: plan.calendar)
        self.balancedScopes = Set(MeteringTree(plant: plant).unmeteredScopes.values.joined())
    }

    /// The site, its workshops and its lines, in registry order.
    public var knownScopes: [Scope] { site.scopes }

    /// The known scopes of one level, e.g. every workshop.
    public func scopes(_ kind: Scope.Kind) -> [Scope] { knownScopes.filter { $0.kind == kind } }

    /// `site`, `workshop:ID` or `line:ID` (nil: the site), checked against the registry; an
    /// unknown one is an error naming the nearest known ones.
    public func resolve(scope text: String?) throws(ReportingError) -> Scope {
        guard let text else { return .site(site.id) }
        if let scope = site.scope(named: text), knownScopes.contains(scope) { return scope }
        let typed = site.scope(named: text)?.key ?? text
        throw .unknownScope(typed, nearest: nearest(typed, in: knownScopes.map(\.key)), known: knownScopes)
    }

    /// The lines a scope holds (a line holds itself), in registry order.
    public func lines(within scope: Scope) -> [Scope] {
        site.workshops.flatMap { ws in
            ws.lines.filter { scope == .site(site.id) || scope == .workshop(ws.id) || scope == .line($0.id) }.map { .line($0.id) }
        }
    }

    /// OEE of a line with a planned run time per item; other scopes have none.
    public func oee(scope: Scope, totals: [String: Double], from: Int64, to: Int64) -> OEE? {
        guard case .line(let id) = scope, let line = site.workshops.flatMap(\.lines).first(where: { $0.id == id }),
            let pri = line.plannedCycleSeconds
        else { return nil }
        let machines = plan.machines.filter { $0.scopes.contains(scope) }.count
        return OEE.compute(
            producingMs: totals[AggregationPlan.producingMs] ?? 0, machines: machines,
            plannedBusyMs: shifts.plannedBusyMs(from: from, to: to), priSeconds: pri,
            good: totals[AggregationPlan.good] ?? 0, scrap: totals[AggregationPlan.scrap] ?? 0)
    }

    /// Rows for each scope and window of [fromMs, toMs), with a baseline comparison if asked.
    ///
    /// Value added counts only for the whole months a window covers, since finance reports it
    /// per month; a window holding part of a month has no per-10,000-yuan figures.
    public func rows(
        scopes: [Scope], from fromMs: Int64, to toMs: Int64, every: Every,
        baseline baseWindow: (from: Int64, to: Int64)?
    ) throws -> [Row] {
        if every == .shift && site.shifts.isEmpty { throw ReportingError.noShiftCalendar(site: site.id) }
        var valueAddedByScope: [Scope: [Int64: Double]] = [:]
        let balanced = balancedScopes
        /// Indicators of one scope over [start, end), with the value added of the whole months it covers.
        func indicators(_ scope: Scope, _ totals: [String: Double], _ start: Int64, _ end: Int64, rate: Double?) throws -> Indicators {
            if valueAddedByScope[scope] == nil {
                // One read per scope: the months that may fall in any window asked for.
                valueAddedByScope[scope] = try reader.valueAdded(
                    scope: scope, from: min(fromMs, baseWindow?.from ?? fromMs) - 32 * WindowCalendar.dayMs,
                    to: max(toMs, baseWindow?.to ?? toMs))
            }
            let months = valueAddedByScope[scope]!.filter { $0.key >= start && $0.key < end }
            let covered = months.filter { plan.calendar.nextMonth($0.key) <= end }
            let machines = plan.machines.filter { $0.scopes.contains(scope) }.count
            var i = Indicators.compute(
                totals: totals, site: site, scope: scope, products: products, staticRate: rate,
                valueAddedYuan: covered.isEmpty ? nil : covered.values.reduce(0, +),
                keyProcessMs: Double(machines) * Double(end - start))
            if balanced.contains(scope) {
                let hours = try balanceViolations(scope: scope, from: max(start, fromMs), to: min(end, toMs)).map(\.hour)
                i.balanceViolationHours = Set(hours).count
                if !hours.isEmpty {
                    i.notes.append(
                        "\(scope): \(Set(hours).count) hour(s) fail the balance check (meters below > whole-node meters + \(site.balanceTolerance * 100)%): zhizao quality --scope \(scope) lists them"
                    )
                }
            }
            return i
        }
        var rows: [Row] = []
        for s in scopes {
            let period = every == .hour || every == .shift ? "hour" : "day"
            var buckets: [(Int64, [String: Double])] = []
            var shiftEnds: [Int64: (String, Int64)] = [:]
            for (start, totals) in try reader.scopeTotals(scope: s, period: period, from: fromMs, to: toMs) {
                let key: Int64
                switch every {
                case .hour, .day: key = start
                case .month: key = plan.calendar.monthStart(start)
                case .all: key = fromMs
                case .shift:
                    guard let occurrence = shifts.occurrenceStart(containing: start) else { continue }
                    key = occurrence.start
                    shiftEnds[key] = (occurrence.shift.name, key + Int64(occurrence.shift.lengthMinutes) * 60_000)
                }
                if buckets.last?.0 == key {
                    buckets[buckets.count - 1].1.merge(totals, uniquingKeysWith: +)
                } else {
                    buckets.append((key, totals))
                }
            }
            let rate = Indicators.staticControlRate(plant: plant, scope: s)
            let closed = try closedView(scope: s, period: period, from: fromMs, to: toMs)
            let keyMachines = plant.devices.filter { $0.keyProcess && $0.meterRole == nil && AggregationPlan.scopes(of: $0).contains(s) }
                .count
            let unobserved = keyMachines - plan.machines.filter { $0.scopes.contains(s) }.count
            var base: Indicators?
            if let (bf, bt) = baseWindow {
                var totals: [String: Double] = [:]
                for (_, t) in try reader.scopeTotals(scope: s, period: "day", from: bf, to: bt) { totals.merge(t, uniquingKeysWith: +) }
                base = try indicators(s, totals, bf, bt, rate: rate)
                base?.oee = oee(scope: s, totals: totals, from: bf, to: bt)
            }
            for (start, totals) in buckets {
                let end: Int64 =
                    switch every {
                    case .hour: start + WindowCalendar.hourMs
                    case .shift: shiftEnds[start]?.1 ?? start
                    case .day: plan.calendar.dayStart(start + 25 * WindowCalendar.hourMs)
                    case .month: plan.calendar.nextMonth(start)
                    case .all: toMs
                    }
                var i = try indicators(s, totals, start, end, rate: rate)
                i.oee = oee(scope: s, totals: totals, from: max(start, fromMs), to: min(end, toMs))
                let pending = pendingAdjustment(closed, from: max(start, fromMs), to: min(end, toMs))
                if let pending { i.notes.append(pending.note) }
                if unobserved > 0 {
                    i.notes.append(
                        "\(unobserved) key-process machine(s) in \(s) report no machine state: the operational rate covers the others")
                }
                rows.append(
                    Row(
                        scope: s, start: start, shift: shiftEnds[start]?.0, indicators: i,
                        baseline: base, changePct: base.map { i.changePercent(against: $0) }, pending: pending))
            }
        }
        return rows
    }
}

extension Site {
    /// The scope a user names: `site` for this site, else the stored form (`line:line-shaft`);
    /// nil if the text is neither. Whether the registry has it is for the caller to check.
    public func scope(named text: String) -> Scope? {
        text == "site" ? .site(id) : Scope(text)
    }
}
