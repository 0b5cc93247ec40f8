/// One difference between two registries that changes computed figures, for the audit trail.
public struct RegistryChange: Sendable, Equatable {
    /// What changed: `registry` (its files' digest) or `site <id> <factor>`.
    public var subject: String
    public var before: String?
    public var after: String?
}

extension Plant {
    /// What a reload from `old` to this registry changes: always the registry's digest (so every
    /// reload is on record, changed or not), then every coefficient and emission factor of a
    /// site that differs, added or removed.
    public func changes(since old: Plant) -> [RegistryChange] {
        var out = [RegistryChange(subject: "registry", before: "sha256 \(old.registryDigest)", after: "sha256 \(registryDigest)")]
        let before = old.factorValues
        let after = factorValues
        for key in Set(before.keys).union(after.keys).sorted() where before[key] != after[key] {
            out.append(RegistryChange(subject: key, before: before[key], after: after[key]))
        }
        return out
    }

    /// Every site's coefficients and emission factors as text, keyed `site <id> <name>`.
    var factorValues: [String: String] {
        var out: [String: String] = [:]
        for site in sites {
            for (carrier, v) in site.energyCoefficients {
                out["site \(site.id) energy_coefficients.\(carrier.rawValue)"] = "\(v) kgce/unit"
            }
            for (carrier, v) in site.fuelFactors { out["site \(site.id) fuel_emission_factors.\(carrier.rawValue)"] = "\(v) kgCO2/unit" }
            let g = site.gridFactor
            out["site \(site.id) grid_emission_factor"] = "\(g.kgCO2PerUnit) kgCO2/kWh (\(g.vintage), \(g.series))"
        }
        return out
    }
}
