import Foundation
public import PlantRegistry

/// The green-manufacturing and intelligentisation figures of one scope and window, computed
/// from its stored totals (see DOMAIN.md for every definition).
///
/// A figure that cannot be computed is nil and `notes` says why (no good output, no meter of
/// a carrier, a carrier without a coefficient), never a zero or a division by zero.
public struct Indicators: Codable, Sendable, Equatable {
    public var electricityKWh: Double?
    /// Comprehensive energy consumption (GB/T 2589), kgce.
    public var energyKgce: Double?
    public var goodUnits: Double
    public var scrapUnits: Double
    public var kwhPerGoodUnit: Double?
    public var kgcePerGoodUnit: Double?
    /// Scope 2: purchased electricity (grid factor) and purchased heat and steam (their factors), kgCO2.
    public var co2Scope2Kg: Double?
    /// Scope 1: fuels burnt in the scope, kgCO2.
    public var co2Scope1Kg: Double?
    /// Which emission scopes the CO2 figures include, and the carriers counted in each
    /// (`{"scope1": ["natural_gas"], "scope2": ["electricity"]}`).
    public var co2Scopes: [String: [String]] = [:]
    public var co2KgPerGoodUnit: Double?
    /// New water intake, m³.
    public var waterM3: Double?
    public var waterM3PerGoodUnit: Double?
    /// Key-process control rate from the registry alone (NC-capable share).
    public var staticControlRate: Double?
    /// Key-process control rate from telemetry: producing time under NC over producing time.
    public var operationalControlRate: Double?
    public var producingHours: Double
    /// Industrial value added recorded by the user for the window's months, yuan.
    public var valueAddedYuan: Double?
    /// Comprehensive energy per 10,000 yuan of value added, tce (the programme's unit), over the
    /// whole months whose value added was recorded, with the energy of exactly those months.
    public var tcePer10kYuan: Double?
    /// The same in kgce (1 tce = 1,000 kgce), kept for readers of earlier output.
    public var kgcePer10kYuan: Double?
    public var co2KgPer10kYuan: Double?
    /// ISO 22400-2 OEE, for lines with a planned run time per item.
    public var oee: OEE?
    /// The estimated part (use spread over meter gaps) of each figure that has one, in percent.
    public var estimatedPct: [String: Double] = [:]
    /// Key-process machine time whose state is unknown (device silent or declared dead), hours.
    public var unknownHours: Double = 0
    /// That time as a share of the key-process machines' time in the window.
    public var unknownShare: Double?
    /// Metering tree (see `Indicators+Tree.swift`): the scope's unmetered use per carrier (what
    /// its whole-node meters see and the meters below do not), in the carrier's unit.
    public var unmetered: [String: Double]? = nil
    /// Hours of the window failing the balance check (meters below > whole-node + tolerance).
    public var balanceViolationHours: Int? = nil
    /// Media made on site used in the scope, per carrier, and their kgce (allocated to lines).
    public var onSiteMedia: [String: Double]? = nil
    public var onSiteMediaKgce: Double? = nil
    /// Good output of each final product of a workshop or site, in its own unit.
    public var goodByProduct: [String: Double]? = nil
    public var notes: [String]

    enum CodingKeys: String, CodingKey {
        case electricityKWh = "electricity_kwh"
        case energyKgce = "energy_kgce"
        case goodUnits = "good_units"
        case scrapUnits = "scrap_units"
        case kwhPerGoodUnit = "kwh_per_good_unit"
        case kgcePerGoodUnit = "kgce_per_good_unit"
        case co2Scope2Kg = "co2_scope2_kg"
        case co2Scope1Kg = "co2_scope1_kg"
        case co2Scopes = "co2_scopes"
        case co2KgPerGoodUnit = "co2_kg_per_good_unit"
        case waterM3 = "water_m3"
        case waterM3PerGoodUnit = "water_m3_per_good_unit"
        case staticControlRate = "static_control_rate"
        case operationalControlRate = "operational_control_rate"
        case producingHours = "key_process_producing_h"
        case valueAddedYuan = "value_added_yuan"
        case tcePer10kYuan = "tce_per_10k_yuan"
        case kgcePer10kYuan = "kgce_per_10k_yuan"
        case co2KgPer10kYuan = "co2_kg_per_10k_yuan"
        case oee
        case estimatedPct = "estimated_pct"
        case unknownHours = "key_process_unknown_h"
        case unknownShare = "key_process_unknown_share"
        case unmetered
        case balanceViolationHours = "balance_violation_hours"
        case onSiteMedia = "on_site_media"
        case onSiteMediaKgce = "on_site_media_kgce"
        case goodByProduct = "good_by_product"
        case notes
    }

    /// Computes the figures from a window's totals (`quantity` → value) and the site's factors;
    /// `keyProcessMs` is the key-process machines' time in the window (machines × length).
    public static func compute(
        totals: [String: Double], site: Site, staticRate: Double?,
        valueAddedYuan: Double? = nil, keyProcessMs: Double? = nil
    ) -> Indicators {
        var notes: [String] = []
        func total(_ c: Carrier) -> Double? { totals[AggregationPlan.consumption(c)] }
        let kwh = total(.electricity)
        var kgce: Double? = nil
        var scope1: Double? = nil
        var scope2Purchased: Double? = nil
        var scopes: [String: [String]] = [:]
        var uncounted: [Carrier] = []
        for c in Carrier.allCases {
            guard let used = total(c) else { continue }
            if let k = site.energyCoefficients[c] {
                kgce = (kgce ?? 0) + used * k
            } else {
                uncounted.append(c)
            }
            if let f = site.fuelFactors[c] {
                scope1 = (scope1 ?? 0) + used * f
                scopes["scope1", default: []].append(c.rawValue)
            }
            if c == .electricity { scopes["scope2", default: []].append(c.rawValue) }
            if c == .heat || c == .steam {
                if let f = site.purchasedFactors[c] {
                    scope2Purchased = (scope2Purchased ?? 0) + used * f
                    scopes["scope2", default: []].append(c.rawValue)
                } else {
                    notes.append(
                        "CO2 leaves out \(c.rawValue): it has no scope 2 factor (set scope2_emission_factors.\(c.rawValue) for site \(site.id) if it is purchased)"
                    )
                }
            }
        }
        // Never a partial sum: a metered carrier without a coefficient makes comprehensive
        // energy (and everything derived from it) absent, with the reason.
        for c in uncounted {
            notes.append(
                "comprehensive energy is absent: \(c.rawValue) has no kgce coefficient (set energy_coefficients.\(c.rawValue) for site \(site.id))"
            )
        }
        if !uncounted.isEmpty { kgce = nil }
        let good = totals[AggregationPlan.good] ?? 0
        let scrap = totals[AggregationPlan.scrap] ?? 0
        let grid = kwh.map { $0 * site.gridFactor.kgCO2PerUnit }
        let scope2: Double? = grid == nil && scope2Purchased == nil ? nil : (grid ?? 0) + (scope2Purchased ?? 0)
        let co2: Double? = scope1 == nil && scope2 == nil ? nil : (scope1 ?? 0) + (scope2 ?? 0)
        func perUnit(_ v: Double?) -> Double? { v.flatMap { good > 0 ? $0 / good : nil } }
        func per10k(_ v: Double?, _ yuan: Double?) -> Double? {
            guard let v, let yuan, yuan > 0 else { return nil }
            return v / (yuan / 10_000)
        }
        if good == 0 { notes.append("no good output in this window: per-unit figures are absent") }
        if kwh == nil { notes.append("no electricity meter covers this scope") }
        let producing = totals[AggregationPlan.producingMs] ?? 0
        let nc = totals[AggregationPlan.ncProducingMs] ?? 0
        if producing == 0 { notes.append("no key-process producing time: the operational control rate is absent") }
        // How much of each figure was spread over meter gaps rather than measured.
        func estimated(_ q: String) -> Double { totals[AggregationPlan.estimated(q)] ?? 0 }
        var estimatedPct: [String: Double] = [:]
        func share(_ key: String, _ part: Double, of whole: Double?) {
            guard let whole, whole > 0, part > 1e-9 else { return }
            estimatedPct[key] = min(100, part / whole * 100)
        }
        share("electricity_kwh", estimated(AggregationPlan.consumption(.electricity)), of: kwh)
        share("water_m3", estimated(AggregationPlan.consumption(.water)), of: total(.water))
        share("good_units", estimated(AggregationPlan.good), of: good)
        share(
            "energy_kgce",
            Carrier.allCases.reduce(0) { sum, c in
                sum + estimated(AggregationPlan.consumption(c)) * (site.energyCoefficients[c] ?? 0)
            }, of: kgce)
        if let e = estimatedPct["electricity_kwh"] {
            notes.append(String(format: "%.1f%% of the electricity is estimated across meter gaps (zhizao quality lists them)", e))
        }
        let unknown = totals[AggregationPlan.unknownMs] ?? 0
        let unknownShare = keyProcessMs.flatMap { $0 > 0 ? min(1, unknown / $0) : nil }
        if unknown > 0 {
            notes.append(String(format: "%.1f h of key-process time has an unknown state (devices silent or offline)", unknown / 3_600_000))
        }
        var out = Indicators(
            electricityKWh: kwh, energyKgce: kgce, goodUnits: good, scrapUnits: scrap,
            kwhPerGoodUnit: perUnit(kwh), kgcePerGoodUnit: perUnit(kgce), co2Scope2Kg: scope2,
            co2Scope1Kg: scope1, co2KgPerGoodUnit: perUnit(co2), waterM3: total(.water),
            waterM3PerGoodUnit: perUnit(total(.water)), staticControlRate: staticRate,
            operationalControlRate: producing > 0 ? min(1, max(0, nc / producing)) : nil,
            producingHours: producing / 3_600_000, valueAddedYuan: valueAddedYuan,
            tcePer10kYuan: per10k(kgce, valueAddedYuan).map { $0 / 1000 },
            kgcePer10kYuan: per10k(kgce, valueAddedYuan), co2KgPer10kYuan: per10k(co2, valueAddedYuan),
            oee: nil, notes: notes)
        out.co2Scopes = scopes
        out.estimatedPct = estimatedPct
        out.unknownHours = unknown / 3_600_000
        out.unknownShare = unknownShare
        return out
    }

    /// Scope 1 plus scope 2, kgCO2; nil when neither applies.
    public var co2Kg: Double? {
        co2Scope1Kg == nil && co2Scope2Kg == nil ? nil : (co2Scope1Kg ?? 0) + (co2Scope2Kg ?? 0)
    }

    /// Sets the per-value-added figures from the value added of whole months and the energy
    /// and CO2 of exactly those months (`over`: their indicators).
    public mutating func setValueAdded(yuan: Double?, over months: Indicators?) {
        valueAddedYuan = yuan
        guard let yuan, yuan > 0, let months else {
            tcePer10kYuan = nil
            kgcePer10kYuan = nil
            co2KgPer10kYuan = nil
            return
        }
        kgcePer10kYuan = months.energyKgce.map { $0 / (yuan / 10_000) }
        tcePer10kYuan = kgcePer10kYuan.map { $0 / 1000 }
        co2KgPer10kYuan = months.co2Kg.map { $0 / (yuan / 10_000) }
    }

    /// Change of each per-unit figure against a baseline, in percent (negative is a fall: for
    /// unit consumption, the energy-saving rate 节能率 is its opposite).
    public func changePercent(against base: Indicators) -> [String: Double] {
        func pct(_ v: Double?, _ b: Double?) -> Double? {
            guard let v, let b, b != 0 else { return nil }
            return (v - b) / b * 100
        }
        var out: [String: Double] = [:]
        out["kwh_per_good_unit"] = pct(kwhPerGoodUnit, base.kwhPerGoodUnit)
        out["kgce_per_good_unit"] = pct(kgcePerGoodUnit, base.kgcePerGoodUnit)
        out["co2_kg_per_good_unit"] = pct(co2KgPerGoodUnit, base.co2KgPerGoodUnit)
        out["water_m3_per_good_unit"] = pct(waterM3PerGoodUnit, base.waterM3PerGoodUnit)
        out["kgce_per_10k_yuan"] = pct(kgcePer10kYuan, base.kgcePer10kYuan)
        out["tce_per_10k_yuan"] = pct(tcePer10kYuan, base.tcePer10kYuan)
        out["operational_control_rate"] = pct(operationalControlRate, base.operationalControlRate)
        return out
    }

    /// The static key-process control rate of a scope: NC-capable machines over all machines in
    /// its key processes (machine-count basis), or key processes with at least one NC-capable
    /// machine over all key processes (process-count basis), as the site chooses.
    public static func staticControlRate(plant: Plant, scope: Scope) -> Double? {
        let devices = plant.devices.filter { d in
            d.keyProcess && d.meterRole == nil && AggregationPlan.scopes(of: d).contains(scope)
        }
        return staticControlRate(plant: plant, keyProcessDevices: devices)
    }

    /// The static rate from a scope's key-process machines that are not meters, already picked
    /// (in registry order), so a table of many scopes need not scan every device per scope.
    public static func staticControlRate(plant: Plant, keyProcessDevices devices: [Device]) -> Double? {
        guard let site = plant.sites.first(where: { s in devices.first.map { $0.site == s.id } ?? false }) ?? plant.sites.first,
            !devices.isEmpty
        else { return nil }
        switch site.controlRateBasis {
        case .machineCount:
            return Double(devices.filter(\.ncCapable).count) / Double(devices.count)
        case .processCount:
            var processes: [String: Bool] = [:]
            for d in devices {
                processes["\(d.line ?? "")/\(d.process ?? "")", default: false] =
                    processes["\(d.line ?? "")/\(d.process ?? "")", default: false] || d.ncCapable
            }
            return Double(processes.values.filter { $0 }.count) / Double(processes.count)
        }
    }
}
