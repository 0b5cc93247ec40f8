import ArgumentParser
import PlantRegistry

extension Devices {
    /// `zhizao devices list`: every device with its place in the plant, decoder, topic and metrics.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List devices with their place in the plant, decoder, topic and metrics.",
            discussion: """
                Examples:
                  zhizao devices list
                  zhizao devices list --devices /etc/zhizao/devices --format json
                """)

        @OptionGroup var registry: RegistryOptions
        @Option(help: "table or json.") var format: OutputFormat = .table
        @OptionGroup var language: LanguageOptions

        func run() throws {
            let plant: Plant
            do { plant = try registry.loadPlant() } catch {
                throw fail("\(error)\nrun `zhizao devices validate --devices \(registry.devices)` for details")
            }
            let listed = plant.devices.map { DeviceListing(plant: plant, device: $0) }
            switch format {
            case .json:
                try printJSON(listed)
            case .table, .csv:
                printTable(
                    language.localization.headings(
                        ["device", "workshop", "line", "process", "key", "nc", "decoder", "topic", "metrics"], format: format),
                    format: format,
                    listed.map { d in
                        [
                            d.id, d.workshop ?? "-", d.line ?? "-", d.process ?? "-", d.keyProcess ? "yes" : "no",
                            d.ncCapable ? "yes" : "no",
                            d.decoder, d.topic, d.metrics.map { m in m.unit.map { "\(m.name) [\($0)]" } ?? m.name }.joined(separator: ", "),
                        ]
                    })
                if format == .table { print("\n\(listed.count) devices, \(plant.series.count) series, \(plant.gateways.count) gateways") }
            }
        }
    }
}

/// One device as `devices list --format json` prints it (see Schemas/devices-list.schema.json).
struct DeviceListing: Encodable {
    struct MetricListing: Encodable {
        var name: String
        var kind: String
        var unit: String?
        var measures: String
        var carrier: String?
        var source: String?
    }

    struct SparkplugListing: Encodable {
        var groupID: String
        var edgeNodeID: String
        var deviceID: String?

        enum CodingKeys: String, CodingKey {
            case groupID = "group_id"
            case edgeNodeID = "edge_node_id"
            case deviceID = "device_id"
        }
    }

    var id: String
    var sparkplug: SparkplugListing?
    var site: String
    var workshop: String?
    var line: String?
    var process: String?
    var keyProcess: Bool
    var ncCapable: Bool
    var meterRole: String?
    var gateway: String
    var decoder: String
    var topic: String
    var metrics: [MetricListing]

    enum CodingKeys: String, CodingKey {
        case id, site, workshop, line, process, gateway, decoder, topic, metrics, sparkplug
        case keyProcess = "key_process"
        case ncCapable = "nc_capable"
        case meterRole = "meter_role"
    }

    init(plant: Plant, device d: Device) {
        let g = plant.gateways[d.gateway]
        id = d.id
        site = d.site
        workshop = d.workshop
        line = d.line
        process = d.process
        keyProcess = d.keyProcess
        ncCapable = d.ncCapable
        meterRole = d.meterRole?.rawValue
        gateway = g.id
        decoder = g.decoder.rawValue
        topic = g.topic
        if let sp = d.sparkplug, let group = g.sparkplugGroup {
            sparkplug = SparkplugListing(groupID: group, edgeNodeID: sp.edgeNode, deviceID: sp.device)
        }
        metrics = d.metrics.map {
            MetricListing(
                name: $0.name, kind: $0.kind.rawValue, unit: $0.unit, measures: $0.measures.rawValue,
                carrier: $0.carrier?.rawValue, source: $0.source)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(site, forKey: .site)
        try c.encode(workshop, forKey: .workshop)
        try c.encode(line, forKey: .line)
        try c.encode(process, forKey: .process)
        try c.encode(keyProcess, forKey: .keyProcess)
        try c.encode(ncCapable, forKey: .ncCapable)
        try c.encodeIfPresent(meterRole, forKey: .meterRole)
        try c.encode(gateway, forKey: .gateway)
        try c.encode(decoder, forKey: .decoder)
        try c.encode(topic, forKey: .topic)
        try c.encode(metrics, forKey: .metrics)
        try c.encodeIfPresent(sparkplug, forKey: .sparkplug)
    }
}
