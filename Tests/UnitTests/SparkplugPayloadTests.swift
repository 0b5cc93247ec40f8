import Sparkplug
import Testing

@Suite("Sparkplug B payloads")
struct SparkplugPayloadTests {
    /// A payload built by hand from the protobuf wire format, independent of the decoder:
    /// field 1 timestamp (varint 1000 = E8 07), field 3 seq (varint 5), then four metrics in
    /// field 2 (tag 0x12, length, bytes):
    /// - name "Power" (0A 05 …), alias 7 (10 07), datatype 10 Double (20 0A), double_value
    ///   12.5 in field 13 as 64-bit little-endian (69 00 00 00 00 00 00 29 40);
    /// - alias 8 (10 08), datatype 3 Int32 (20 03), int_value −2 in field 10 as the uint32
    ///   0xFFFFFFFE (50 FE FF FF FF 0F);
    /// - name "Running" (0A 07 …), datatype 11 Boolean (20 0B), boolean_value true in field 14 (70 01);
    /// - name "T" (0A 01 54), datatype 16 DataSet (20 10), an empty dataset_value in field 17
    ///   (8A 01 00).
    static let bytes: [UInt8] = [
        0x08, 0xE8, 0x07, 0x18, 0x05,
        0x12, 0x14, 0x0A, 0x05, 0x50, 0x6F, 0x77, 0x65, 0x72, 0x10, 0x07, 0x20, 0x0A,
        0x69, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x29, 0x40,
        0x12, 0x0A, 0x10, 0x08, 0x20, 0x03, 0x50, 0xFE, 0xFF, 0xFF, 0xFF, 0x0F,
        0x12, 0x0D, 0x0A, 0x07, 0x52, 0x75, 0x6E, 0x6E, 0x69, 0x6E, 0x67, 0x20, 0x0B, 0x70, 0x01,
        0x12, 0x08, 0x0A, 0x01, 0x54, 0x20, 0x10, 0x8A, 0x01, 0x00,
    ]

    @Test func decodesAHandBuiltPayload() throws {
        let p = try SparkplugPayload(serializedBytes: Self.bytes)
        #expect(p.timestamp == 1000)
        #expect(p.seq == 5)
        #expect(
            p.metrics == [
                SparkplugMetric(name: "Power", alias: 7, timestamp: nil, datatype: .double, value: .number(12.5)),
                SparkplugMetric(name: nil, alias: 8, timestamp: nil, datatype: .int32, value: .number(-2)),
                SparkplugMetric(name: "Running", alias: nil, timestamp: nil, datatype: .boolean, value: .bool(true)),
                SparkplugMetric(name: "T", alias: nil, timestamp: nil, datatype: .dataSet, value: .unsupported("DataSet")),
            ])
    }

    @Test func rejectsBytesThatAreNotAPayload() {
        #expect(throws: (any Error).self) { _ = try SparkplugPayload(serializedBytes: [0x12, 0x40, 0x01]) }
        #expect(throws: (any Error).self) { _ = try SparkplugPayload(serializedBytes: Array("{\"json\":1}".utf8)) }
    }

    @Test func encodesWhatItDecodes() throws {
        let metrics = [
            SparkplugMetric(name: "Node Control/Rebirth", alias: nil, timestamp: 1234, datatype: .boolean, value: .bool(true)),
            SparkplugMetric(name: "t", alias: 3, timestamp: nil, datatype: .int16, value: .number(-300)),
            SparkplugMetric(name: "u", alias: 4, timestamp: nil, datatype: .uint64, value: .number(9_000_000_000)),
            SparkplugMetric(name: "f", alias: 5, timestamp: nil, datatype: .float, value: .number(0.5)),
            SparkplugMetric(name: "s", alias: 6, timestamp: nil, datatype: .string, value: .text("producing")),
        ]
        let bytes = try SparkplugPayload.encode(timestamp: 99, seq: 255, metrics: metrics)
        let back = try SparkplugPayload(serializedBytes: bytes)
        #expect(back.timestamp == 99 && back.seq == 255)
        #expect(back.metrics == metrics)
    }

    @Test(arguments: [
        ("spBv1.0/plant/NDATA/edge-1", SparkplugTopic(group: "plant", type: .ndata, edgeNode: "edge-1")),
        ("spBv1.0/plant/DBIRTH/edge-1/press-4", SparkplugTopic(group: "plant", type: .dbirth, edgeNode: "edge-1", device: "press-4")),
        ("spBv1.0/STATE/zhizao", SparkplugTopic(group: "", type: .state, edgeNode: "zhizao")),
    ])
    func parsesTopics(text: String, topic: SparkplugTopic) {
        #expect(SparkplugTopic(text) == topic)
        #expect(SparkplugTopic(text)?.text == text)
    }

    @Test(arguments: [
        "spBv1.0/plant/NDATA/edge-1/dev", "spBv1.0/plant/DDATA/edge-1", "spAv1.0/plant/NDATA/e",
        "spBv1.0/plant/XDATA/e", "spBv1.0//NDATA/e", "spBv1.0/STATE",
    ])
    func refusesMalformedTopics(text: String) {
        #expect(SparkplugTopic(text) == nil)
    }
}
