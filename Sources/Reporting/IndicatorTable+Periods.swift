public import Aggregation
import Foundation
import PlantRegistry
import ReadingStore

/// The late readings held beside a closed period's figures (`zhizao close`), as an indicator
/// row shows them: the closed figures stay as reported, and this is what a reopen would add.
public struct PendingAdjustment: Encodable, Sendable, Equatable {
    /// The closed periods the row's window touches, e.g. `2026-11 site:sz-baoan`.
    public var closedPeriods: [String]
    /// The held change per stored quantity (`consumption.electricity`, `good`, ...).
    public var quantities: [String: Double]
    public var electricityKWh: Double
    /// Comprehensive energy of the held change, kgce (nil if a carrier has no coefficient).
    public var energyKgce: Double?
    public var goodUnits: Double
    public var waterM3: Double

    enum CodingKeys: String, CodingKey {
        case closedPeriods = "closed_periods"
        case quantities
        case electricityKWh = "electricity_kwh"
        case energyKgce = "energy_kgce"
        case goodUnits = "good_units"
        case waterM3 = "water_m3"
    }

    /// The note a row touching closed periods carries (in `Indicators.notes`, so the report shows it too).
    public var note: String {
        "closed period \(closedPeriods.joined(separator: ", ")): figures as reported; late readings pending beside them: "
            + "\(Self.signed(electricityKWh)) kWh, \(Self.signed(goodUnits)) good units (zhizao reopen folds them in)"
    }

    /// `+15`, `-2.5`, `+0.125`: at most three decimals, no trailing zeros.
    static func signed(_ v: Double) -> String {
        var text = String(format: "%.3f", v)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        if text == "-0" { text = "0" }
        return text.hasPrefix("-") ? text : "+" + text
    }
}

extension IndicatorTable {
    /// Closed periods and their adjustments for one scope over the asked window, read once and
    /// then cut per row.
    struct ClosedView {
        var periods: [ClosedPeriod]
        var adjustments: [(start: Int64, totals: [String: Double])]
    }

    /// What the rows of `scope` over [from, to) need to show closed figures: nil when no closed
    /// period freezes the scope's figures in that window. `periods`: the closed periods, read
    /// once for a table's scopes.
    func closedView(scope: Scope, period: String, from: Int64, to: Int64, periods all: ClosedPeriods) throws -> ClosedView? {
        let periods = all.overlapping(from: from, to: to, scopes: [scope])
        guard !periods.isEmpty else { return nil }
        return ClosedView(
            periods: periods, adjustments: try reader.scopeAdjustments(scope: scope, period: period, from: from, to: to))
    }

    /// The pending adjustment of a row whose window [start, end) touches a closed period.
    func pendingAdjustment(_ view: ClosedView?, from start: Int64, to end: Int64) -> PendingAdjustment? {
        guard let view else { return nil }
        let touched = view.periods.filter { $0.overlaps(from: start, to: end) }
        guard !touched.isEmpty else { return nil }
        var held: [String: Double] = [:]
        for (s, totals) in view.adjustments where s >= start && s < end { held.merge(totals, uniquingKeysWith: +) }
        let figures = Indicators.compute(totals: held, site: site, staticRate: nil)
        return PendingAdjustment(
            closedPeriods: touched.map(\.name), quantities: held, electricityKWh: figures.electricityKWh ?? 0,
            energyKgce: held.isEmpty ? 0 : figures.energyKgce, goodUnits: figures.goodUnits, waterM3: figures.waterM3 ?? 0)
    }
}

extension IndicatorTable {
    /// Everything held beside a closed period's figures of its own scope, for `zhizao periods`.
    public func pending(of period: ClosedPeriod) throws -> PendingAdjustment {
        let view = ClosedView(
            periods: [period],
            adjustments: try reader.scopeAdjustments(scope: period.scope, period: "day", from: period.start, to: period.end))
        return pendingAdjustment(view, from: period.start, to: period.end)!
    }
}
