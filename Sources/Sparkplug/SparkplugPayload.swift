import Foundation
import SwiftProtobuf

/// Sparkplug B message kinds, the third level of an `spBv1.0/...` topic.
public enum SparkplugMessageType: String, Sendable, CaseIterable {
    case nbirth = "NBIRTH"
    case ndeath = "NDEATH"
    case dbirth = "DBIRTH"
    case ddeath = "DDEATH"
    case ndata = "NDATA"
    case ddata = "DDATA"
    case ncmd = "NCMD"
    case dcmd = "DCMD"
    case state = "STATE"
}

/// A parsed Sparkplug topic: `spBv1.0/<group>/<type>/<edge node>[/<device>]`, or the host
/// application's `spBv1.0/STATE/<host id>`.
public struct SparkplugTopic: Sendable, Equatable {
    public var group: String
    public var type: SparkplugMessageType
    public var edgeNode: String
    public var device: String?

    public static let namespace = "spBv1.0"

    public init(group: String, type: SparkplugMessageType, edgeNode: String, device: String? = nil) {
        self.group = group
        self.type = type
        self.edgeNode = edgeNode
        self.device = device
    }

    /// Nil for anything that is not a well-formed Sparkplug B topic.
    public init?(_ topic: String) {
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard levels.first == Self.namespace, levels.count >= 3 else { return nil }
        if levels[1] == "STATE" {
            guard levels.count == 3, !levels[2].isEmpty else { return nil }
            self.init(group: "", type: .state, edgeNode: levels[2])
            return
        }
        guard levels.count == 4 || levels.count == 5, let type = SparkplugMessageType(rawValue: levels[2]), type != .state,
            levels.allSatisfy({ !$0.isEmpty })
        else { return nil }
        let isDevice = [.dbirth, .ddeath, .ddata, .dcmd].contains(type)
        guard isDevice == (levels.count == 5) else { return nil }
        self.init(group: levels[1], type: type, edgeNode: levels[3], device: isDevice ? levels[4] : nil)
    }

    public var text: String {
        type == .state
            ? "\(Self.namespace)/STATE/\(edgeNode)"
            : ([Self.namespace, group, type.rawValue, edgeNode] + (device.map { [$0] } ?? [])).joined(separator: "/")
    }
}

/// Sparkplug B metric data types (the specification's numbering).
public enum SparkplugDataType: UInt32, Sendable {
    case int8 = 1
    case int16, int32, int64, uint8, uint16, uint32, uint64, float, double, boolean, string, dateTime, text
    case uuid, dataSet, bytes, file, template, propertySet, propertySetList
    case int8Array, int16Array, int32Array, int64Array, uint8Array, uint16Array, uint32Array, uint64Array
    case floatArray, doubleArray, booleanArray, stringArray, dateTimeArray
}

/// A metric's value as Zhizao can store it, or why it cannot (yet).
public enum SparkplugValue: Sendable, Equatable {
    case number(Double)
    case bool(Bool)
    case text(String)
    case null
    /// Arrays, DataSets, Templates, bytes and files have no mapping to readings yet.
    case unsupported(String)
}

/// One metric of a Sparkplug payload.
public struct SparkplugMetric: Sendable, Equatable {
    public var name: String?
    public var alias: UInt64?
    /// Milliseconds since the epoch, when the metric carries its own time.
    public var timestamp: UInt64?
    public var datatype: SparkplugDataType?
    public var value: SparkplugValue

    public init(name: String?, alias: UInt64?, timestamp: UInt64?, datatype: SparkplugDataType?, value: SparkplugValue) {
        self.name = name
        self.alias = alias
        self.timestamp = timestamp
        self.datatype = datatype
        self.value = value
    }
}

/// A decoded Sparkplug B payload (protobuf, `Schemas/sparkplug_b.proto`).
///
/// The generated protobuf types stay inside this module: callers see plain Swift values.
public struct SparkplugPayload: Sendable, Equatable {
    public var timestamp: UInt64?
    public var seq: UInt64?
    public var metrics: [SparkplugMetric]

    /// Decodes protobuf bytes; throws for anything that is not a valid payload.
    public init(serializedBytes bytes: some Collection<UInt8>) throws {
        let p = try Org_Eclipse_Tahu_Protobuf_Payload(serializedBytes: Array(bytes))
        timestamp = p.hasTimestamp ? p.timestamp : nil
        seq = p.hasSeq ? p.seq : nil
        metrics = p.metrics.map(Self.metric)
    }

    static func metric(_ m: Org_Eclipse_Tahu_Protobuf_Payload.Metric) -> SparkplugMetric {
        let type = m.hasDatatype ? SparkplugDataType(rawValue: m.datatype) : nil
        var value: SparkplugValue
        if m.hasIsNull && m.isNull {
            value = .null
        } else {
            switch m.value {
            case .intValue(let v)?:
                switch type {
                case .int8?: value = .number(Double(Int8(truncatingIfNeeded: Int32(bitPattern: v))))
                case .int16?: value = .number(Double(Int16(truncatingIfNeeded: Int32(bitPattern: v))))
                case .int32?: value = .number(Double(Int32(bitPattern: v)))
                default: value = .number(Double(v))
                }
            case .longValue(let v)?:
                value = type == .int64 ? .number(Double(Int64(bitPattern: v))) : .number(Double(v))
            case .floatValue(let v)?: value = .number(Double(v))
            case .doubleValue(let v)?: value = .number(v)
            case .booleanValue(let v)?: value = .bool(v)
            case .stringValue(let v)?: value = .text(v)
            case .bytesValue?: value = .unsupported("bytes")
            case .datasetValue?: value = .unsupported("DataSet")
            case .templateValue?: value = .unsupported("Template")
            case .extensionValue?: value = .unsupported("extension value")
            case nil: value = .null
            }
        }
        if let type, type.rawValue >= SparkplugDataType.int8Array.rawValue { value = .unsupported("array (\(type))") }
        if type == .file { value = .unsupported("File") }
        return SparkplugMetric(
            name: m.hasName ? m.name : nil, alias: m.hasAlias ? m.alias : nil,
            timestamp: m.hasTimestamp ? m.timestamp : nil, datatype: type, value: value)
    }

    /// Encodes a payload (the host's rebirth request, tests and the simulator).
    public static func encode(timestamp: UInt64?, seq: UInt64?, metrics: [SparkplugMetric]) throws -> [UInt8] {
        var p = Org_Eclipse_Tahu_Protobuf_Payload()
        if let timestamp { p.timestamp = timestamp }
        if let seq { p.seq = seq }
        p.metrics = metrics.map { m in
            var out = Org_Eclipse_Tahu_Protobuf_Payload.Metric()
            if let n = m.name { out.name = n }
            if let a = m.alias { out.alias = a }
            if let t = m.timestamp { out.timestamp = t }
            if let d = m.datatype { out.datatype = d.rawValue }
            switch m.value {
            case .number(let v):
                switch m.datatype {
                case .int8?, .int16?, .int32?: out.intValue = UInt32(bitPattern: Int32(v))
                case .uint8?, .uint16?, .uint32?: out.intValue = UInt32(v)
                case .int64?, .dateTime?: out.longValue = UInt64(bitPattern: Int64(v))
                case .uint64?: out.longValue = UInt64(v)
                case .float?: out.floatValue = Float(v)
                default: out.doubleValue = v
                }
            case .bool(let b): out.booleanValue = b
            case .text(let s): out.stringValue = s
            case .null: out.isNull = true
            case .unsupported: break
            }
            return out
        }
        return try p.serializedBytes()
    }
}
