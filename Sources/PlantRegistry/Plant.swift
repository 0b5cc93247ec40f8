public import Telemetry

/// The plant as the registry in `Devices/` describes it: sites, their tree, gateways and devices.
///
/// Loaded once at start-up; it also holds the lookup tables the hot path uses (device by id,
/// metric by source tag, gateway by topic), so decoding never searches lists.
///
/// `Codable` for the registry cache (`Plant+Cache.swift`): only what the registry's files say
/// is encoded (`CodingKeys`); decoding rebuilds every lookup table through `init(linking:)`,
/// the derivation the YAML path uses too.
public struct Plant: Sendable, Equatable, Codable {
    public var sites: [Site]
    public var gateways: [Gateway]
    public var devices: [Device]
    /// Every (device, metric) pair; a `SeriesIndex` indexes this array.
    public var series: [SeriesKey]
    var deviceByID: [String: Int]
    /// Which gateway may speak for which device, precomputed so the hot path checks it without
    /// allocating (see `Plant+Binding.swift`).
    var binding = GatewayBinding()
    /// SHA-256 of the registry's files (names and contents), hex; recorded in the audit trail
    /// at a reload so a changed registry is never silent.
    public var registryDigest = ""
    /// The gateways that declare a `status_topic`, with its bytes.
    var statusTopics: [StatusTopic] = []

    struct StatusTopic: Sendable, Equatable {
        var gateway: Int
        var topic: [UInt8]
    }

    /// What the cache stores: the rest is derived (`init(linking:)`).
    enum CodingKeys: String, CodingKey, CaseIterable {
        case sites, gateways, devices, registryDigest
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let gateways = try c.decode([Gateway].self, forKey: .gateways)
        let devices = try c.decode([Device].self, forKey: .devices)
        // A cache file is data from disk: an index out of range must not trap in the linking.
        guard devices.allSatisfy({ gateways.indices.contains($0.gateway) }) else {
            throw DecodingError.dataCorruptedError(forKey: .devices, in: c, debugDescription: "a device names no gateway")
        }
        self.init(linking: try c.decode([Site].self, forKey: .sites), gateways: gateways, devices: devices)
        registryDigest = try c.decode(String.self, forKey: .registryDigest)
    }

    /// The device with this id, if the registry has it.
    public func deviceIndex(id: String) -> Int? { deviceByID[id] }

    /// The gateway whose `status_topic` this is (compared byte by byte: no allocation).
    public func gatewayIndex(statusTopic topic: UnsafeRawBufferPointer) -> Int? {
        for s in statusTopics where s.topic.count == topic.count && s.topic.elementsEqual(topic) { return s.gateway }
        return nil
    }

    /// The index of the gateway whose topic filter matches, the first in load order.
    public func gatewayIndex(forTopic topic: UnsafeRawBufferPointer) -> Int? {
        for (i, g) in gateways.enumerated() where g.filter.matches(topic) { return i }
        return nil
    }

}

/// How a site counts its static key-process control rate (see DOMAIN.md).
public enum ControlRateBasis: String, Sendable, CaseIterable, Codable {
    case machineCount = "machine_count"
    case processCount = "process_count"
}

public struct Site: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    /// The Chinese name (`name_zh`), shown by `--lang zh`; nil falls back to `name`.
    public var nameZH: String? = nil
    /// IANA time zone for local days, months and shifts.
    public var timeZone: String
    public var controlRateBasis: ControlRateBasis
    public var workshops: [Workshop]
    /// Conversion to standard coal, kgce per unit of each carrier (GB/T 2589; defaults in `Site.defaultCoefficients`).
    public var energyCoefficients: [Carrier: Double] = Site.defaultCoefficients
    /// Scope 2 emission factor of grid electricity, with its vintage and series.
    public var gridFactor = EmissionFactor.defaultGrid
    /// Scope 1 emission factors, kgCO2 per unit of each fuel.
    public var fuelFactors: [Carrier: Double] = Site.defaultFuelFactors
    /// Scope 2 emission factors of purchased heat (kgCO2/MJ) and steam (kgCO2/t)
    /// (`scope2_emission_factors`); no defaults: they depend on the supplier.
    public var purchasedFactors: [Carrier: Double] = [:]
    /// The default staleness window of the site's devices (`stale_after_s`; 8 hours).
    public var staleAfterMs: Int64 = 8 * 3_600_000
    /// The shift calendar (local time, whole hours), repeated every day; empty = round the clock.
    public var shifts: [Shift] = []
    /// The balance check's tolerance (`balance_tolerance`, a fraction): the meters below a
    /// node may add up to its whole-node meters plus this share before an hour is flagged.
    public var balanceTolerance: Double = 0.02

    /// GB/T 2589 annex values (2008 edition; check against the 2020 edition before a pilot
    /// relies on them). New water and compressed air are unconfirmed; steam depends on its
    /// pressure grade and has no default: a site that meters steam must set it.
    public static let defaultCoefficients: [Carrier: Double] = [
        .electricity: 0.1229, .naturalGas: 1.2143, .diesel: 1.4571, .gasoline: 1.4714, .lpg: 1.7143,
        .rawCoal: 0.7143, .heat: 0.03412, .water: 0.2571, .compressedAir: 0.0400,
    ]

    /// kgCO2 per unit burnt (unconfirmed defaults: IPCC 2006 default carbon contents with
    /// Chinese lower heating values; natural gas 2.162 kg/m3, diesel 3.096 kg/kg, gasoline
    /// 2.925 kg/kg, LPG 3.101 kg/kg, raw coal 1.900 kg/kg). Set them per site.
    public static let defaultFuelFactors: [Carrier: Double] = [
        .naturalGas: 2.162, .diesel: 3.096, .gasoline: 2.925, .lpg: 3.101, .rawCoal: 1.900,
    ]
}

/// An emission factor with where it comes from: several series exist and must not be mixed.
public struct EmissionFactor: Sendable, Equatable, Codable {
    public var kgCO2PerUnit: Double
    public var vintage: Int
    public var series: String

    /// MEE/NBS national-average grid factor, 2022 vintage.
    public static let defaultGrid = EmissionFactor(
        kgCO2PerUnit: 0.5366, vintage: 2022,
        series: "MEE/NBS national average grid factor")
}

/// A daily shift in site-local time.
public struct Shift: Sendable, Equatable, Codable {
    public var name: String
    /// Minutes after local midnight; `end` may be 1440 (midnight) or less than `start` (overnight).
    public var startMinute: Int
    public var endMinute: Int
    /// Planned downtime inside each occurrence (breaks, planned maintenance), minutes.
    public var plannedDowntimeMinutes: Double

    public init(name: String, startMinute: Int, endMinute: Int, plannedDowntimeMinutes: Double = 0) {
        self.name = name
        self.startMinute = startMinute
        self.endMinute = endMinute
        self.plannedDowntimeMinutes = plannedDowntimeMinutes
    }

    /// Length of one occurrence, minutes.
    public var lengthMinutes: Int { endMinute > startMinute ? endMinute - startMinute : 1440 - startMinute + endMinute }
}

public struct Workshop: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    /// The Chinese name (`name_zh`), shown by `--lang zh`; nil falls back to `name`.
    public var nameZH: String? = nil
    public var lines: [Line]
}

public struct Line: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    /// The Chinese name (`name_zh`), shown by `--lang zh`; nil falls back to `name`.
    public var nameZH: String? = nil
    public var processes: [Process]
    /// OEE's planned run time per item (PRI), seconds; without it the line has no OEE.
    public var plannedCycleSeconds: Double? = nil
    /// What the line makes (`product`); nil: an undeclared final product counted in units.
    public var product: Product? = nil
}

public struct Process: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    /// The Chinese name (`name_zh`), shown by `--lang zh`; nil falls back to `name`.
    public var nameZH: String? = nil
    /// A key process (关键工序) counts towards the control rates.
    public var keyProcess: Bool
}

/// Which decoder reads a gateway's payloads.
public enum DecoderKind: String, Sendable, CaseIterable, Codable {
    case native
    case neuron
    case plain
    case sparkplug
}

/// A Sparkplug B edge node, or one of its devices (device nil: the node's own metrics).
public struct SparkplugAddress: Sendable, Hashable, Codable {
    public var edgeNode: String
    public var device: String?

    public init(edgeNode: String, device: String?) {
        self.edgeNode = edgeNode
        self.device = device
    }
}

/// A source of payloads: one topic filter, one payload format, the devices behind it.
///
/// The device tables (`neuronDevices`, `sparkplugDevices`, `deviceIndices`) are derived when the
/// plant is linked, so the cache does not store them.
public struct Gateway: Sendable, Equatable, Codable {
    public var id: String
    public var decoder: DecoderKind
    /// The MQTT subscription filter its payloads arrive on.
    public var topic: String
    public var filter: TopicFilter
    /// Plain decoder only: where device and metric sit in the topic.
    public var topicTemplate: TopicTemplate?
    /// Neuron decoder only: (node, group) -> device index.
    public var neuronDevices: [NeuronGroup: Int] = [:]
    /// Sparkplug decoder only: the Sparkplug group id, and (edge node, device) -> device index.
    public var sparkplugGroup: String? = nil
    public var sparkplugDevices: [SparkplugAddress: Int] = [:]
    public var deviceIndices: [Int] = []
    /// The file that declares it, for messages.
    public var file: String
    /// Where the gateway says it is online or offline (its MQTT Will, or a status topic it
    /// publishes): offline makes its devices' states unknown until they report again.
    public var statusTopic: String? = nil

    /// What the cache stores: the device tables are derived (`Plant.init(linking:)`).
    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, decoder, topic, filter, topicTemplate, sparkplugGroup, file, statusTopic
    }
}

/// A Neuron south node and group, which together name one device here.
public struct NeuronGroup: Sendable, Hashable, Codable {
    public var node: String
    public var group: String

    public init(node: String, group: String) {
        self.node = node
        self.group = group
    }
}

/// Energy and energy-carrying media a meter measures.
public enum Carrier: String, Sendable, CaseIterable, Codable, CodingKeyRepresentable {
    case electricity
    case naturalGas = "natural_gas"
    case water
    case steam
    case compressedAir = "compressed_air"
    case diesel
    case gasoline
    case lpg
    case rawCoal = "raw_coal"
    case heat
    case chilledWater = "chilled_water"

    /// Energy-consuming media (耗能工质) that may be made on site (`origin: on_site`).
    public var isMedium: Bool { self == .compressedAir || self == .steam || self == .chilledWater }
}

/// Whether a meter is a main (incoming) meter or a sub-meter already counted in a main.
public enum MeterRole: String, Sendable, CaseIterable, Codable {
    case main
    case sub
}

/// A device as its gateway file declares it, placed in the tree; `metricBySource` is derived
/// when the plant is linked, so the cache does not store it.
public struct Device: Sendable, Equatable, Codable {
    public var id: String
    public var site: String
    /// Nil for site-level meters.
    public var workshop: String?
    public var line: String?
    public var process: String?
    /// True when the device's process is a key process.
    public var keyProcess: Bool
    /// Numerically controlled (CNC, robot cell, PLC/DCS-covered).
    public var ncCapable: Bool
    public var meterRole: MeterRole?
    /// Whether its meter measures its node as a whole or part of it (`meter_scope`); nil: as
    /// `meter_role` implies (see `MeteringLayout`).
    public var meterScope: MeterScope? = nil
    /// The id of the meter upstream of this one (`parent`), if declared.
    public var parentMeter: String? = nil
    /// Where the media it meters come from (`origin`); nil: purchased.
    public var origin: MediumOrigin? = nil
    /// A machine's good and scrap counters are the line's output only when declared so
    /// (`line_output: true`); a device attached to the line itself is its output counter.
    public var lineOutput: Bool = false
    public var gateway: Int
    public var neuron: NeuronGroup?
    public var sparkplug: SparkplugAddress? = nil
    public var metrics: [Metric]
    /// `stale_after_s` of the device, else of its gateway (ms): after this long without any
    /// message from the device its states are unknown. Nil: the site's default applies.
    public var staleAfterMs: Int64? = nil
    /// Source tag (or name) -> metric index.
    var metricBySource: [String: Int] = [:]

    /// What the cache stores: everything but `metricBySource`.
    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, site, workshop, line, process, keyProcess, ncCapable, meterRole, meterScope, parentMeter, origin
        case lineOutput, gateway, neuron, sparkplug, metrics, staleAfterMs
    }

    /// The metric the gateway calls `source`.
    public func metricIndex(source: String) -> Int? { metricBySource[source] }
}

public enum MetricKind: String, Sendable, CaseIterable, Codable {
    case counter
    case gauge
    case state
}

public enum Measure: String, Sendable, CaseIterable, Codable {
    /// A consumption register (or gauge) of a carrier: the one its indicators add.
    case energy
    /// A tariff register (peak, valley...): stored and queryable, never added to the total.
    case energyTariff = "energy_tariff"
    /// An export register (energy sent back to the grid): stored and queryable, never added.
    case energyExport = "energy_export"
    case goodCount = "good_count"
    case scrapCount = "scrap_count"
    case machineState = "machine_state"
    case controlMode = "control_mode"
    case other
}

/// A metric of a device; `series` is numbered when the plant is linked, so the cache does not
/// store it.
public struct Metric: Sendable, Equatable, Codable {
    public var name: String
    public var kind: MetricKind
    public var unit: String?
    public var measures: Measure
    public var carrier: Carrier?
    /// The tag or metric name the gateway sends, where it differs from `name`.
    public var source: String?
    public var scale: Double
    public var offset: Double
    /// Counters: the register's modulus, the value at which it wraps to zero (a 5-digit
    /// totaliser wraps at 100000).
    public var rollover: Double?
    /// Counters: a drop to at most this fraction of the previous read is a reset (PLC restart,
    /// meter exchange); a smaller drop is an anomaly (jitter) and books nothing.
    public var resetBelow: Double = 0.1
    /// Counters with a modulus: a drop is a rollover when the previous read was within this
    /// fraction of the modulus from its top and the new one within it from zero.
    public var rolloverMargin: Double = 0.1
    /// How often the metric is expected to be read (ms); an interval longer than twice this is
    /// a gap, whose use is spread over it and marked estimated.
    public var expectedIntervalMs: Int64 = 900_000
    /// Canonical units of its carrier per unit of this metric (per unit·hour for a gauge
    /// integrated over time): 0.001 for a Wh register, 1000 for MWh (see `CarrierUnit`).
    public var toCanonical: Double = 1
    /// States: gateway code or word -> canonical word.
    public var states: [String: String]
    public var series: SeriesIndex = 0

    /// The name the gateway uses.
    public var sourceName: String { source ?? name }

    /// Canonical words a state metric may hold.
    public static let machineStates: Set<String> = ["producing", "setup", "idle", "down", "off"]
    public static let controlModes: Set<String> = ["nc", "manual"]

    /// What the cache stores: everything but `series`.
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, kind, unit, measures, carrier, source, scale, offset, rollover, resetBelow, rolloverMargin
        case expectedIntervalMs, toCanonical, states
    }
}

extension Device {
    /// Reads only the keys the cache file holds (a device's optional fields are mostly absent;
    /// with metrics read the same way, a warm `indicators` at 40 plants went from 99-101 to
    /// 94 ms); id, site, gateway and metrics are required.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: "", site: "", workshop: nil, line: nil, process: nil, keyProcess: false, ncCapable: false, meterRole: nil,
            gateway: 0, neuron: nil, metrics: [])
        var required: Set<CodingKeys> = [.id, .site, .gateway, .metrics]
        for key in c.allKeys {
            required.remove(key)
            switch key {
            case .id: id = try c.decode(String.self, forKey: key)
            case .site: site = try c.decode(String.self, forKey: key)
            case .workshop: workshop = try c.decode(String.self, forKey: key)
            case .line: line = try c.decode(String.self, forKey: key)
            case .process: process = try c.decode(String.self, forKey: key)
            case .keyProcess: keyProcess = try c.decode(Bool.self, forKey: key)
            case .ncCapable: ncCapable = try c.decode(Bool.self, forKey: key)
            case .meterRole: meterRole = try c.decode(MeterRole.self, forKey: key)
            case .meterScope: meterScope = try c.decode(MeterScope.self, forKey: key)
            case .parentMeter: parentMeter = try c.decode(String.self, forKey: key)
            case .origin: origin = try c.decode(MediumOrigin.self, forKey: key)
            case .lineOutput: lineOutput = try c.decode(Bool.self, forKey: key)
            case .gateway: gateway = try c.decode(Int.self, forKey: key)
            case .neuron: neuron = try c.decode(NeuronGroup.self, forKey: key)
            case .sparkplug: sparkplug = try c.decode(SparkplugAddress.self, forKey: key)
            case .metrics: metrics = try c.decode([Metric].self, forKey: key)
            case .staleAfterMs: staleAfterMs = try c.decode(Int64.self, forKey: key)
            }
        }
        if let missing = required.first {
            throw DecodingError.keyNotFound(
                missing, .init(codingPath: c.codingPath, debugDescription: "a device needs \(missing.stringValue)"))
        }
    }
}

extension Metric {
    /// A metric with every field the YAML may leave out at its default: the cache omits a field
    /// that equals it. JSONDecoder's cost is per key, and at 40 plants the cache holds 2,720
    /// metrics whose fourteen fields are mostly defaults (nearly half of a warm load's decode).
    private static let plain = Metric(
        name: "", kind: .gauge, unit: nil, measures: .other, carrier: nil, source: nil, scale: 1, offset: 0, rollover: nil,
        states: [:], series: 0)

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self = Self.plain
        // Only the keys the file holds are read (most are absent), not a look-up per field.
        var required: Set<CodingKeys> = [.name, .kind]
        for key in c.allKeys {
            required.remove(key)
            switch key {
            case .name: name = try c.decode(String.self, forKey: key)
            case .kind: kind = try c.decode(MetricKind.self, forKey: key)
            case .unit: unit = try c.decode(String.self, forKey: key)
            case .measures: measures = try c.decode(Measure.self, forKey: key)
            case .carrier: carrier = try c.decode(Carrier.self, forKey: key)
            case .source: source = try c.decode(String.self, forKey: key)
            case .scale: scale = try c.decode(Double.self, forKey: key)
            case .offset: offset = try c.decode(Double.self, forKey: key)
            case .rollover: rollover = try c.decode(Double.self, forKey: key)
            case .resetBelow: resetBelow = try c.decode(Double.self, forKey: key)
            case .rolloverMargin: rolloverMargin = try c.decode(Double.self, forKey: key)
            case .expectedIntervalMs: expectedIntervalMs = try c.decode(Int64.self, forKey: key)
            case .toCanonical: toCanonical = try c.decode(Double.self, forKey: key)
            case .states: states = try c.decode([String: String].self, forKey: key)
            }
        }
        if let missing = required.first {
            throw DecodingError.keyNotFound(
                missing, .init(codingPath: c.codingPath, debugDescription: "a metric needs \(missing.stringValue)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        func put<T: Encodable & Equatable>(_ key: CodingKeys, _ value: T, _ plain: T) throws {
            if value != plain { try c.encode(value, forKey: key) }
        }
        let p = Self.plain
        try c.encode(name, forKey: .name)
        try c.encode(kind, forKey: .kind)
        try put(.unit, unit, p.unit)
        try put(.measures, measures, p.measures)
        try put(.carrier, carrier, p.carrier)
        try put(.source, source, p.source)
        try put(.scale, scale, p.scale)
        try put(.offset, offset, p.offset)
        try put(.rollover, rollover, p.rollover)
        try put(.resetBelow, resetBelow, p.resetBelow)
        try put(.rolloverMargin, rolloverMargin, p.rolloverMargin)
        try put(.expectedIntervalMs, expectedIntervalMs, p.expectedIntervalMs)
        try put(.toCanonical, toCanonical, p.toCanonical)
        try put(.states, states, p.states)
    }
}
