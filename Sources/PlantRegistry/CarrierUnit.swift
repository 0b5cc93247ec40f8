/// The units a carrier may be metered in, and their conversion to the carrier's canonical unit
/// (the unit its kgce coefficient and emission factor are per).
///
/// A register (counter) reads an amount; a gauge of a meter without a register reads a rate
/// that is integrated over time, so its accepted units are rates (W, kW, MW; m3/h, t/h...)
/// and the factor converts one unit·hour into the canonical unit. A unit outside these lists
/// is a registry error: a Wh register read as if it were kWh would count a thousand times over.
public enum CarrierUnit {
    /// The canonical unit of each carrier: what its coefficient (kgce per unit) is per.
    public static func canonical(_ c: Carrier) -> String {
        switch c {
        case .electricity: "kWh"
        case .naturalGas, .compressedAir, .water: "m3"
        case .steam: "t"
        case .diesel, .gasoline, .lpg, .rawCoal: "kg"
        // Chilled water is metered by the cooling energy it carries (a heat meter on the loop).
        case .heat, .chilledWater: "MJ"
        }
    }

    /// Amount units (registers) and how many canonical units one of them is.
    public static func amounts(_ c: Carrier) -> [(unit: String, factor: Double)] {
        switch c {
        case .electricity: [("kWh", 1), ("Wh", 0.001), ("MWh", 1000)]
        // Gas at reference conditions: m3, also written m³ or Nm3.
        case .naturalGas, .compressedAir: [("m3", 1), ("m³", 1), ("Nm3", 1)]
        // New water: a tonne is a cubic metre.
        case .water: [("m3", 1), ("m³", 1), ("t", 1)]
        case .steam: [("t", 1), ("kg", 0.001)]
        case .diesel, .gasoline, .lpg, .rawCoal: [("kg", 1), ("t", 1000)]
        case .heat: [("MJ", 1), ("GJ", 1000)]
        // Cooling energy; chillers' meters often read kWh of cooling (3.6 MJ).
        case .chilledWater: [("MJ", 1), ("GJ", 1000), ("kWh", 3.6)]
        }
    }

    /// Rate units (gauges integrated over time) and how many canonical units one unit·hour is.
    public static func rates(_ c: Carrier) -> [(unit: String, factor: Double)] {
        switch c {
        case .electricity: [("kW", 1), ("W", 0.001), ("MW", 1000)]
        // A heat meter's power: 1 kWh of heat is 3.6 MJ.
        case .heat, .chilledWater: [("kW", 3.6), ("MW", 3600), ("MJ/h", 1), ("GJ/h", 1000)]
        default: amounts(c).map { ("\($0.unit)/h", $0.factor) }
        }
    }

    /// Canonical units per metric unit (per unit·hour for a gauge); nil for a unit the carrier
    /// does not accept in that kind.
    public static func factor(unit: String, carrier: Carrier, kind: MetricKind) -> Double? {
        accepted(carrier, kind).first { $0.unit == unit }?.factor
    }

    /// The units a metric of this kind may use for this carrier.
    public static func accepted(_ c: Carrier, _ kind: MetricKind) -> [(unit: String, factor: Double)] {
        kind == .gauge ? rates(c) : amounts(c)
    }
}
