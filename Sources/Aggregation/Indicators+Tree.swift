import Foundation
public import PlantRegistry

extension Indicators {
    /// The indicators of a scope as the metering tree and the products define them: a workshop's
    /// or site's output is its final products (converted to the standard product, or none over
    /// unlike units); media made on site count in a line's comprehensive energy (allocated to
    /// the line that uses them) and never in a workshop's or the site's, whose electricity and
    /// fuel already made them; the scope's unmetered use per carrier is reported.
    public static func compute(
        totals raw: [String: Double], site: Site, scope: Scope, products: [Product], staticRate: Double?,
        valueAddedYuan: Double? = nil, keyProcessMs: Double? = nil
    ) -> Indicators {
        var totals = raw
        var output: ProductOutput?
        if scope.kind != .line {
            let o = ProductOutput.of(totals: raw, products: products, scope: scope)
            totals[AggregationPlan.good] = o.good ?? 0
            totals[AggregationPlan.scrap] = o.scrap ?? 0
            output = o
        }
        var i = compute(
            totals: totals, site: site, staticRate: staticRate, valueAddedYuan: valueAddedYuan, keyProcessMs: keyProcessMs)
        if let output {
            if output.goodByProduct.count > 1 { i.goodByProduct = output.goodByProduct }
            if let note = output.note {
                i.notes.removeAll { $0.hasPrefix("no good output") }
                i.notes.append(note)
            } else if output.goodByProduct.values.reduce(0, +) == 0, i.notes.contains(where: { $0.hasPrefix("no good output") }) {
                i.notes.removeAll { $0.hasPrefix("no good output") }
                i.notes.append(
                    "no final product output in \(scope) in this window (intermediate products count with their lines only): per-unit figures are absent"
                )
            }
        }
        var media: [String: Double] = [:]
        var mediaKgce = 0.0
        for c in Carrier.allCases where c.isMedium {
            guard let used = raw[AggregationPlan.onSite(c)] else { continue }
            media[c.rawValue] = used
            mediaKgce += used * (site.energyCoefficients[c] ?? 0)
        }
        if !media.isEmpty {
            i.onSiteMedia = media
            i.onSiteMediaKgce = mediaKgce
            if scope.kind == .line, let kgce = i.energyKgce {
                i.energyKgce = kgce + mediaKgce
                i.kgcePerGoodUnit = i.goodUnits > 0 ? (kgce + mediaKgce) / i.goodUnits : nil
                i.notes.append(
                    "media made on site are allocated to the lines that use them (on-site media kgce, in their comprehensive energy)")
            } else if scope.kind != .line {
                i.notes.append(
                    "media made on site are shown apart (on-site media kgce), not in comprehensive energy: the electricity and fuel that made them are already counted"
                )
            }
        }
        var unmetered: [String: Double] = [:]
        for c in Carrier.allCases {
            if let u = raw[AggregationPlan.unmetered(AggregationPlan.consumption(c))] { unmetered[c.rawValue] = u }
        }
        if !unmetered.isEmpty { i.unmetered = unmetered }
        return i
    }
}

/// The hourly balance check of the metering tree: in each hour the meters below a node may add
/// up to at most its whole-node meters plus a tolerance.
public struct BalanceCheck: Sendable, Equatable {
    public var scope: Scope
    public var carrier: Carrier
    /// The hour's start, epoch ms.
    public var hour: Int64
    /// What the whole-node meters measured, and what the meters below it add up to.
    public var whole: Double
    public var below: Double
    public var tolerance: Double

    /// The amount by which the meters below exceed the whole plus the tolerance.
    public var excess: Double { below - whole * (1 + tolerance) }

    /// The hours whose meters below exceed the whole plus `tolerance`, from hourly totals of
    /// one scope (`consumption.<carrier>` and `unmetered.consumption.<carrier>`).
    public static func violations(scope: Scope, hourly: [(Int64, [String: Double])], tolerance: Double) -> [BalanceCheck] {
        var out: [BalanceCheck] = []
        // Each carrier's quantity names spelled once, not per hour (a month of a workshop is 720 hours).
        let names = Carrier.allCases.map { c in
            (c, AggregationPlan.consumption(c), AggregationPlan.unmetered(AggregationPlan.consumption(c)))
        }
        for (hour, totals) in hourly {
            for (c, q, unmeteredName) in names {
                guard let unmetered = totals[unmeteredName] else { continue }
                let whole = totals[q] ?? 0
                let check = BalanceCheck(
                    scope: scope, carrier: c, hour: hour, whole: whole, below: whole - unmetered, tolerance: tolerance)
                // A little slack for floating point sums of spread shares.
                if check.excess > 1e-9 * max(1, abs(whole)) { out.append(check) }
            }
        }
        return out
    }
}
