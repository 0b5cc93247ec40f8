public import Aggregation
import Foundation
public import PlantRegistry
import ReadingStore

extension IndicatorTable {
    /// The products the first site's lines make (undeclared ones as `units`), for output sums.
    public var products: [Product] { products(of: site) }

    /// The products a site's lines make (undeclared ones as `units`).
    public func products(of site: Site) -> [Product] {
        site.workshops.flatMap(\.lines).map { AggregationPlan.product(of: $0) }
    }

    /// Whether a scope has an unmetered figure, so its balance is checked.
    public func hasBalance(_ scope: Scope) -> Bool { balancedScopes.contains(scope) }

    /// The hours of `[from, to)` in which the meters below a scope add up to more than its
    /// whole-node meters plus the site's `balance_tolerance`.
    public func balanceViolations(scope: Scope, from: Int64, to: Int64) throws -> [BalanceCheck] {
        let hourly = try reader.scopeTotals(scope: scope, period: "hour", from: from, to: to)
        return BalanceCheck.violations(
            scope: scope, hourly: hourly.map { ($0.start, $0.totals) }, tolerance: site(of: scope).balanceTolerance)
    }

    /// One row per product a scope's lines make, over the whole window: each product's lines'
    /// totals added (its own unit, so no factor is needed), for `--by product`.
    public func productRows(scope: Scope, from: Int64, to: Int64) throws -> [Row] {
        var byProduct: [(Product, [Scope])] = []
        for ws in site.workshops {
            for line in ws.lines where lines(within: scope).contains(.line(line.id)) {
                let p = AggregationPlan.product(of: line)
                if let k = byProduct.firstIndex(where: { $0.0.id == p.id }) {
                    byProduct[k].1.append(.line(line.id))
                } else {
                    byProduct.append((p, [.line(line.id)]))
                }
            }
        }
        var rows: [Row] = []
        for (product, lineScopes) in byProduct {
            var totals: [String: Double] = [:]
            for l in lineScopes {
                for (_, t) in try reader.scopeTotals(scope: l, period: "day", from: from, to: to) {
                    totals.merge(t, uniquingKeysWith: +)
                }
            }
            // Lines are summed here, so a line's unmetered use is not the product's.
            totals = totals.filter { !$0.key.hasPrefix(AggregationPlan.unmeteredPrefix) }
            var i = Indicators.compute(
                totals: totals, site: site, scope: lineScopes[0], products: products, staticRate: nil)
            i.notes.append(
                "product \(product.id) (\(product.output.rawValue), per \(product.unit)): lines \(lineScopes.map(\.id).joined(separator: ", "))"
            )
            var row = Row(scope: scope, start: from, indicators: i)
            row.product = product.id
            rows.append(row)
        }
        return rows
    }
}

extension IndicatorTable {
    /// Whether `inner` lies within `outer` (a scope lies within itself).
    public func contains(_ outer: Scope, _ inner: Scope) -> Bool {
        switch (outer, inner) {
        case (.site, _): true
        case (.workshop(let w), .workshop(let x)): w == x
        case (.workshop, .line): lines(within: outer).contains(inner)
        case (.line, .line): outer == inner
        default: false
        }
    }
}
