internal import Yams

/// What a line makes: unit-product energy (单位产品综合能耗) is defined per product.
public struct Product: Sendable, Equatable, Codable {
    /// Whether the output leaves the site as a product, or becomes a component of another
    /// line's product (shafts for motors) and so is never added to the site's output.
    public enum Output: String, Sendable, CaseIterable, Codable {
        case final
        case intermediate
    }

    public var id: String
    /// The unit output is counted in (`pcs`, `t`...).
    public var unit: String
    public var output: Output
    /// Conversion to the site's standard product (折标系数): one unit of this product is
    /// `factor` standard units. Without it, sums over unlike products get no per-unit figure.
    public var factor: Double?

    public init(id: String, unit: String, output: Output, factor: Double? = nil) {
        self.id = id
        self.unit = unit
        self.output = output
        self.factor = factor
    }
}

extension Plant {
    /// The line with this id, and its workshop's id.
    public func line(id: String) -> (line: Line, workshop: String)? {
        for site in sites {
            for ws in site.workshops {
                if let l = ws.lines.first(where: { $0.id == id }) { return (l, ws.id) }
            }
        }
        return nil
    }
}

extension PlantBuilder {
    /// Reads a line's `product: {id, unit, output, factor}`.
    func readProduct(_ l: YAMLFields, line lid: String) -> Product? {
        guard let node = l.value("product") else { return nil }
        guard let p = YAMLFields(node, file: l.file, log: log, context: "`product` of line \(lid)") else { return nil }
        p.rejectUnknownKeys(allowed: ["id", "unit", "output", "factor"])
        let id = p.identifier("id", required: true) ?? lid
        let unit = p.string("unit", required: true, hint: "add `unit: pcs` (or t, m...)") ?? "units"
        let output =
            p.choice("output", Product.Output.self, required: true) ?? .final
        let factor = p.double("factor")
        if let f = factor, f <= 0 {
            log.add(
                l.file, p.value("factor"), "`factor` of product \(id) must be above 0",
                hint: "standard units per \(unit), e.g. `factor: 1.5`; leave it out when there is none")
        }
        return Product(id: id, unit: unit, output: output, factor: factor)
    }

    /// One output counter per line: a device attached to the line itself with a good or scrap
    /// count, or a machine's counter declared `line_output: true`; a second is an error, and a
    /// count outside any line counts nowhere.
    func checkOutputCounters(_ devices: [Device], places: [(file: String, node: Node, fields: [String: Node])]) {
        var byLine: [String: Int] = [:]
        for (i, d) in devices.enumerated() {
            let counts = d.metrics.contains { $0.measures == .goodCount || $0.measures == .scrapCount }
            let place = places[i]
            if d.lineOutput && !counts {
                log.add(
                    place.file, place.fields["line_output"] ?? place.node,
                    "device \(d.id) has `line_output` but no good_count or scrap_count metric",
                    hint: "remove `line_output`")
            }
            guard counts else { continue }
            guard let line = d.line else {
                log.add(
                    place.file, place.node, "device \(d.id) counts output but is not attached to a line: its count would add to no product",
                    hint: "add `line: <id>` (output is counted per line, whose `product` names what it makes)")
                continue
            }
            guard d.process == nil || d.lineOutput else { continue }
            if let other = byLine[line] {
                log.add(
                    place.file, place.fields["line_output"] ?? place.node,
                    "line \(line) has two output counters, \(devices[other].id) (\(places[other].file):\(places[other].node.mark?.line ?? 0)) and \(d.id): its output would be counted twice",
                    hint: "keep one: a machine's part counter is not line output unless it says `line_output: true`")
            } else {
                byLine[line] = i
            }
        }
    }
}
