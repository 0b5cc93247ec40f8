import Foundation
import PayloadDecoders
import PlantRegistry
import Sparkplug
import Telemetry
import Testing

/// A gateway speaks only for the devices its file declares: every spoofing case of issue 18,
/// per decoder, is quarantined as `foreign_device` while the good readings beside it are kept.
@Suite("Gateway binding")
struct GatewayBindingTests {
    /// The fixture plant plus a second workshop and, per decoder, a second gateway to spoof from.
    static let files: [String: String] = [
        "plant.yaml": Fixtures.plantYAML + """

                  - id: ws2
                    lines:
                      - id: l2
            """,
        "gateways/utility.yaml": """
        gateway: gw-util
        decoder: plain
        topic: util/s1/+/+
        topic_template: util/s1/{device}/{metric}
        devices:
          - id: fm-1
            meter_role: main
            metrics:
              - {name: gas, source: volume, kind: counter, unit: m3, measures: energy, carrier: natural_gas}
        """,
        "gateways/neuron2.yaml": """
        gateway: gw-neuron2
        decoder: neuron
        topic: /neuron/app2/+/+
        devices:
          - id: plc-2
            workshop: ws2
            neuron: {node: s7b, group: g2}
            metrics:
              - {name: power, source: P_KW, kind: gauge, unit: kW, measures: other}
        """,
        "gateways/spa.yaml": """
        gateway: gw-spa
        decoder: sparkplug
        group_id: grpA
        devices:
          - id: cmp-a
            workshop: ws1
            sparkplug: {edge_node_id: edge-a, device_id: dev-a}
            metrics:
              - {name: power, source: Power, kind: gauge, unit: kW, measures: other}
        """,
        "gateways/spb.yaml": """
        gateway: gw-spb
        decoder: sparkplug
        group_id: grpB
        devices:
          - id: cmp-b
            workshop: ws2
            sparkplug: {edge_node_id: edge-b, device_id: dev-b}
            metrics:
              - {name: power, source: Power, kind: gauge, unit: kW, measures: other}
        """,
    ]

    let plant: Plant
    let decoder: PayloadDecoder
    static let now: Int64 = 1_764_400_000_000

    init() throws {
        plant = try Plant.load(directory: try Fixtures.registry(Self.files))
        decoder = PayloadDecoder(plant: plant, sparkplug: .init(hostID: "zz", rebirthIntervalMs: 0))
    }

    func decode(_ topic: String, _ payload: [UInt8], eventTime: String? = nil, into batch: inout IngestBatch) {
        var t = topic
        t.withUTF8 { tb in
            payload.withUnsafeBytes { pb in
                decoder.decode(topic: UnsafeRawBufferPointer(tb), payload: pb, receivedAtMs: Self.now, eventTime: eventTime, into: &batch)
            }
        }
    }

    func decode(_ topic: String, _ payload: String, eventTime: String? = nil) -> IngestBatch {
        var batch = IngestBatch()
        decode(topic, Array(payload.utf8), eventTime: eventTime, into: &batch)
        return batch
    }

    func series(_ device: String, _ metric: String) -> SeriesIndex {
        SeriesIndex(plant.series.firstIndex(of: SeriesKey(device: device, metric: metric))!)
    }

    func foreign(_ b: IngestBatch) -> [String] {
        b.quarantined.filter { $0.rejection.reason == .foreignDevice }.map(\.rejection.detail)
    }

    // MARK: native

    @Test func nativePayloadNamingAnotherGatewaysDeviceIsForeignAndTheGoodReadingIsKept() throws {
        let b = decode(
            "zz/native/x",
            """
            [{"device":"plc-1","ts":1764399990000,"metrics":{"P_KW":7}},
             {"device":"cnc-1","ts":1764399990000,"metrics":{"power":3}}]
            """)
        #expect(b.readings == [Reading(series: series("cnc-1", "power"), timestampMs: 1_764_399_990_000, value: .number(3))])
        let details = foreign(b)
        #expect(details.count == 1)
        #expect(b.quarantined.count == 1)
        #expect(details.first?.contains("device plc-1 belongs to gateway gw-neuron") == true)
        #expect(details.first?.contains("the topic belongs to gateway gw-native") == true)
    }

    // MARK: plain

    @Test func plainTopicPlacingADeviceInAnotherWorkshopIsForeign() throws {
        var batch = IngestBatch()
        decode("factory/ws2/l2/em-1/energy_kwh", Array("77777".utf8), into: &batch)
        decode("factory/ws1/l2/em-1/energy_kwh", Array("77778".utf8), into: &batch)
        decode("factory/ws1/l1/em-1/energy_kwh", Array("12".utf8), into: &batch)
        #expect(batch.readings.map(\.value) == [.number(12)])
        let details = foreign(batch)
        #expect(details.count == 2)
        #expect(details[0].contains("workshop ws1") && details[1].contains("line l1"), "\(details)")
    }

    @Test func plainTopicOfAnotherGatewayIsForeign() throws {
        var batch = IngestBatch()
        decode("util/s1/em-1/energy_kwh", Array("88888".utf8), into: &batch)  // the utility gateway's topic, em-1 is gw-plain's
        decode("factory/ws1/l1/fm-1/volume", Array("5".utf8), into: &batch)  // and the other way round
        decode("util/s1/fm-1/volume", Array("6".utf8), into: &batch)
        #expect(batch.readings == [Reading(series: series("fm-1", "gas"), timestampMs: Self.now, value: .number(6))])
        let details = foreign(batch)
        #expect(details.count == 2)
        #expect(details[0].contains("device em-1 belongs to gateway gw-plain") && details[0].contains("topic belongs to gateway gw-util"))
        #expect(details[1].contains("device fm-1 belongs to gateway gw-util") && details[1].contains("topic belongs to gateway gw-plain"))
    }

    // MARK: Neuron

    @Test func neuronGroupOfAnotherGatewayIsForeign() throws {
        var batch = IngestBatch()
        decode(
            "/neuron/app/s7b/g2", Array(#"{"timestamp":1764399990000,"node":"s7b","group":"g2","values":{"P_KW":9}}"#.utf8), into: &batch)
        decode("/neuron/app/s7/g1", Array(#"{"timestamp":1764399990000,"node":"s7","group":"g1","values":{"P_KW":4}}"#.utf8), into: &batch)
        #expect(batch.readings == [Reading(series: series("plc-1", "power"), timestampMs: 1_764_399_990_000, value: .number(4))])
        let details = foreign(batch)
        #expect(details.count == 1)
        #expect(details.first?.contains("device plc-2 belongs to gateway gw-neuron2") == true)
        #expect(details.first?.contains("topic belongs to gateway gw-neuron ") == true)
        // An unbound (node, group) nobody declares stays unknown, not foreign.
        let unknown = decode("/neuron/app/x/y", #"{"timestamp":1764399990000,"node":"x","group":"y","values":{"P_KW":1}}"#)
        #expect(unknown.quarantined.map(\.rejection.reason) == [.unknownDevice])
    }

    // MARK: Sparkplug

    func sparkplug(
        _ group: String, _ type: SparkplugMessageType, node: String, device: String? = nil, seq: UInt64,
        _ metrics: [SparkplugMetric], into batch: inout IngestBatch
    ) throws {
        let topic = SparkplugTopic(group: group, type: type, edgeNode: node, device: device).text
        let bytes = try SparkplugPayload.encode(timestamp: UInt64(Self.now - 1000), seq: seq, metrics: metrics)
        decode(topic, bytes, into: &batch)
    }

    static let bdSeq = SparkplugMetric(name: "bdSeq", alias: nil, timestamp: nil, datatype: .int64, value: .number(0))
    static func power(_ v: Double) -> SparkplugMetric {
        SparkplugMetric(name: "Power", alias: nil, timestamp: nil, datatype: .double, value: .number(v))
    }

    /// A Sparkplug address the registry binds elsewhere (group, edge node, device), then the
    /// device's own address: the first is foreign, the second stored.
    struct SparkplugSpoof: Sendable, CustomStringConvertible {
        var group: String, node: String, device: String
        var ownGroup: String, ownNode: String, ownDevice: String, owner: String
        var detail: [String]
        var description: String { "\(group)/\(node)/\(device)" }
    }

    @Test(arguments: [
        // edge-a/dev-a is bound in group grpA; here it speaks in grpB's namespace.
        SparkplugSpoof(
            group: "grpB", node: "edge-a", device: "dev-a", ownGroup: "grpA", ownNode: "edge-a", ownDevice: "dev-a",
            owner: "cmp-a",
            detail: [
                "device cmp-a belongs to gateway gw-spa (Sparkplug group grpA, edge node edge-a, device dev-a)",
                "topic belongs to gateway gw-spb",
            ]),
        // dev-b belongs to edge-b in grpB; edge-a of grpB claims it.
        SparkplugSpoof(
            group: "grpB", node: "edge-a", device: "dev-b", ownGroup: "grpB", ownNode: "edge-b", ownDevice: "dev-b",
            owner: "cmp-b",
            detail: [
                "device cmp-b belongs to gateway gw-spb",
                "does not bind edge node edge-a device dev-b in group grpB",
            ]),
    ])
    func sparkplugDeviceUnderAnotherGroupOrEdgeNodeIsForeign(_ spoof: SparkplugSpoof) throws {
        var batch = IngestBatch()
        try sparkplug(spoof.group, .nbirth, node: spoof.node, seq: 0, [Self.bdSeq], into: &batch)
        try sparkplug(spoof.group, .dbirth, node: spoof.node, device: spoof.device, seq: 1, [Self.power(50)], into: &batch)
        try sparkplug(spoof.ownGroup, .nbirth, node: spoof.ownNode, seq: 0, [Self.bdSeq], into: &batch)
        try sparkplug(spoof.ownGroup, .dbirth, node: spoof.ownNode, device: spoof.ownDevice, seq: 1, [Self.power(5)], into: &batch)
        #expect(batch.readings == [Reading(series: series(spoof.owner, "power"), timestampMs: Self.now - 1000, value: .number(5))])
        let details = foreign(batch)
        #expect(details.count == 1)
        for part in spoof.detail { #expect(details.first?.contains(part) == true, "\(details)") }
    }

    // MARK: the registry

    @Test func filterOverlapFindsACommonTopic() throws {
        func common(_ a: String, _ b: String) -> String? { TopicFilter(a)!.commonTopic(with: TopicFilter(b)!) }
        #expect(common("factory/#", "factory/+/+/+/+") == "factory/x/x/x/x")
        #expect(common("a/+/c", "a/b/+") == "a/b/c")
        #expect(common("a/#", "a") == "a")
        #expect(common("#", "x/y") == "x/y")
        #expect(common("a/+/c", "a/b/d") == nil)
        #expect(common("a/+", "a/b/c") == nil)
        #expect(common("+/x", "$SYS/x") == nil)
        #expect(common("$SYS/#", "$SYS/x") == "$SYS/x")
        #expect(common("spBv1.0/grpA/#", "spBv1.0/grpB/#") == nil)
        // The example really is matched by both.
        for (a, b) in [("factory/#", "+/ws1/#"), ("a/+/+", "+/b/#")] {
            let t = try #require(common(a, b))
            #expect(TopicFilter(a)!.matches(t) && TopicFilter(b)!.matches(t), "\(t)")
        }
    }

    @Test func overlappingFiltersOfTwoGatewaysAreRefusedWithBothFilesAndLines() throws {
        let dir = try Fixtures.registry([
            "gateways/wide.yaml": """
            gateway: gw-wide
            decoder: native
            # a catch-all that would also claim the plain gateway's topics
            topic: factory/#
            devices:
              - id: x-1
                metrics:
                  - {name: power, kind: gauge, unit: kW, measures: other}
            """
        ])
        let (_, problems) = Plant.loadReporting(directory: dir)
        let overlap = problems.filter { $0.message.contains("ambiguous") }
        #expect(overlap.count == 2, "\(problems)")
        let plain = try #require(overlap.first { $0.file.hasSuffix("gateways/plain.yaml") })
        let wide = try #require(overlap.first { $0.file.hasSuffix("gateways/wide.yaml") })
        #expect(plain.line == 3)
        #expect(wide.line == 4)
        #expect(plain.message.contains("gateways/wide.yaml:4") && wide.message.contains("gateways/plain.yaml:3"), "\(overlap)")
        #expect(plain.message.contains("factory/x/x/x/x"))
        #expect(plain.hint?.contains("filter of its own") == true)
    }

    @Test func aDeviceWithoutTheWorkshopItsTemplateNamesIsRefused() throws {
        let text = Fixtures.plainGateway.replacingOccurrences(of: "    workshop: ws1\n    line: l1\n", with: "")
        let (_, problems) = Plant.loadReporting(directory: try Fixtures.registry(["gateways/plain.yaml": text]))
        #expect(problems.contains { $0.message.contains("device em-1 has no workshop") && $0.line > 0 }, "\(problems)")
        #expect(problems.contains { $0.message.contains("device em-1 has no line") }, "\(problems)")
    }

    @Test func registryDigestIsSHA256OfItsFiles() throws {
        var d = SHA256()
        d.update(Array("abc".utf8))
        #expect(d.finalizeHex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var long = SHA256()
        long.update(Array(repeating: UInt8(ascii: "a"), count: 1000))
        #expect(long.finalizeHex() == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
        let a = try Fixtures.plant()
        let b = try Fixtures.plant()
        #expect(a.registryDigest.count == 64 && a.registryDigest == b.registryDigest, "the same files wherever they sit")
        let changed = try Plant.load(directory: try Fixtures.registry(["plant.yaml": Fixtures.plantYAML + "\n# a comment\n"]))
        #expect(changed.registryDigest != a.registryDigest)
    }
}
