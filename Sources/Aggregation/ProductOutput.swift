import Foundation
public import PlantRegistry

extension AggregationPlan {
    /// The product of a line: the declared one, else an undeclared final product counted in
    /// `units` (a registry without `product:` keeps adding its lines' output as before).
    public static func product(of line: Line) -> Product {
        line.product ?? Product(id: "units", unit: "units", output: .final)
    }

    /// Where a good or scrap counter's output counts: the line's `good`/`scrap` when it is the
    /// line's declared output counter (a machine's part counter is not, unless `line_output`),
    /// and, for a final product, its workshop's and site's total of that product; intermediate
    /// output (a component of another line's product) stays with its line.
    static func outputTargets(_ plant: Plant, _ d: Device, good: Bool) -> [(scope: Scope, quantity: String, weight: Double)] {
        guard let lid = d.line, d.process == nil || d.lineOutput, let (line, workshop) = plant.line(id: lid) else { return [] }
        var out: [(scope: Scope, quantity: String, weight: Double)] = [(.line(lid), good ? Self.good : Self.scrap, 1)]
        let p = product(of: line)
        if p.output == .final {
            let q = good ? Self.good(product: p.id) : Self.scrap(product: p.id)
            out += [(.workshop(workshop), q, 1), (.site(d.site), q, 1)]
        }
        return out
    }
}

/// The output of a workshop or site in one window: its final products, each in its own unit,
/// and their sum in the site's standard product when that sum means something.
public struct ProductOutput: Sendable, Equatable {
    /// Good units of each final product in the window, by product id.
    public var goodByProduct: [String: Double]
    public var scrapByProduct: [String: Double]
    /// The good output per-unit figures divide by: the one product's units, or the sum
    /// converted by each product's `factor` to standard units; nil over unlike units.
    public var good: Double?
    public var scrap: Double?
    /// Why there is no single output figure, if there is none.
    public var note: String?

    /// Reads the per-product totals of a workshop or site (`good.<product>`) and converts them
    /// with the products' factors: one product needs none; several need every one's factor,
    /// else there is no sum (never a sum of unlike units).
    public static func of(totals: [String: Double], products: [Product], scope: Scope) -> ProductOutput {
        var good: [String: Double] = [:]
        var scrap: [String: Double] = [:]
        for (k, v) in totals {
            if k.hasPrefix(AggregationPlan.goodPrefix) && !k.hasSuffix(".estimated") {
                good[String(k.dropFirst(AggregationPlan.goodPrefix.count))] = v
            } else if k.hasPrefix(AggregationPlan.scrapPrefix) && !k.hasSuffix(".estimated") {
                scrap[String(k.dropFirst(AggregationPlan.scrapPrefix.count))] = v
            }
        }
        var out = ProductOutput(goodByProduct: good, scrapByProduct: scrap, good: nil, scrap: nil, note: nil)
        let ids = Set(good.keys).union(scrap.keys).sorted()
        if ids.count <= 1 {
            out.good = good.values.reduce(0, +)
            out.scrap = scrap.values.reduce(0, +)
            return out
        }
        let byID = Dictionary(products.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let missing = ids.filter { byID[$0]?.factor == nil }
        if missing.isEmpty {
            out.good = good.reduce(0) { $0 + $1.value * (byID[$1.key]?.factor ?? 0) }
            out.scrap = scrap.reduce(0) { $0 + $1.value * (byID[$1.key]?.factor ?? 0) }
            return out
        }
        out.note =
            "\(scope) makes \(ids.count) final products (\(ids.joined(separator: ", "))) in unlike units and \(missing.joined(separator: ", ")) has no `factor` to the site's standard product: no per-unit figure over their sum (see --by product)"
        return out
    }
}
