import Foundation
public import PlantRegistry
public import Telemetry

/// Turns one MQTT message into readings, or into located rejections, through the device
/// profiles of the gateway whose topic filter claims it.
///
/// A message never throws: whatever is wrong with it becomes a `Rejection` in the batch's
/// quarantine, and the good parts of it are still stored.
public struct PayloadDecoder: Sendable {
    public let plant: Plant
    /// Larger payloads are quarantined unread.
    public var maxPayloadBytes: Int
    /// Event times further ahead of the receive time than this are quarantined.
    public var maxFutureSkewMs: Int64
    /// How much of a rejected payload the quarantine keeps.
    public var quarantinedPayloadBytes: Int
    /// The Sparkplug B host state, when the registry has Sparkplug gateways.
    public let sparkplug: SparkplugSession?

    public init(
        plant: Plant, maxPayloadBytes: Int = 256 * 1024, maxFutureSkewMs: Int64 = 300_000,
        quarantinedPayloadBytes: Int = 1024, sparkplug: SparkplugSession.Settings = .init(),
        keeping session: SparkplugSession? = nil
    ) {
        self.plant = plant
        if plant.gateways.contains(where: { $0.decoder == .sparkplug }) {
            // A reload keeps the host's session (births, aliases, sequence numbers) with the new registry.
            let s = session ?? SparkplugSession(plant: plant, settings: sparkplug)
            s.plant = plant
            self.sparkplug = s
        } else {
            self.sparkplug = nil
        }
        self.maxPayloadBytes = maxPayloadBytes
        self.maxFutureSkewMs = maxFutureSkewMs
        self.quarantinedPayloadBytes = quarantinedPayloadBytes
    }

    /// Decodes one message into `batch` (readings appended; rejections quarantined).
    /// `eventTime` is the message's MQTT v5 user property `ts`, if any: the event time of
    /// payloads that carry none (plain values), in epoch milliseconds or RFC 3339.
    public func decode(
        topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, receivedAtMs: Int64,
        eventTime: String? = nil, into batch: inout IngestBatch
    ) {
        // Sparkplug control traffic (host STATE, NCMD/DCMD commands, our own rebirth requests
        // echoed back) is handled, not counted as a gateway's message.
        if let sparkplug, SparkplugSession.isControlTopic(topic) {
            var out = DecodeOutput(readings: [], nowMs: receivedAtMs, maxFutureSkewMs: maxFutureSkewMs)
            sparkplug.handle(String(decoding: topic, as: UTF8.self), payload, gateway: nil, into: &out)
            batch.outbound += out.outbound
            return
        }
        batch.messages += 1
        if let g = plant.gatewayIndex(statusTopic: topic) {
            gatewayStatus(g, topic: topic, payload: payload, receivedAtMs: receivedAtMs, into: &batch)
            return
        }
        var out = DecodeOutput(readings: batch.readings, nowMs: receivedAtMs, maxFutureSkewMs: maxFutureSkewMs)
        out.eventTime = eventTime
        batch.readings = []  // hand the buffer over without copying
        decodeMessage(topic: topic, payload: payload, into: &out)
        batch.readings = out.readings
        // Sparkplug effects travel in the batch: states are committed with it, requests sent after it.
        if !out.states.isEmpty { batch.deviceStates += out.states }
        if !out.outbound.isEmpty { batch.outbound += out.outbound }
        if !out.rejections.isEmpty {
            quarantine(out.rejections, topic: topic, payload: payload, receivedAtMs: receivedAtMs, batch: &batch)
        }
    }

    /// A gateway saying it is online or offline on its `status_topic` (its MQTT Will, or a
    /// status message it publishes). Offline: its devices' states become unknown from now on
    /// (an `unknown` reading for each state metric), never `off`; online: they hold again from
    /// their next value.
    func gatewayStatus(
        _ g: Int, topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, receivedAtMs: Int64,
        into batch: inout IngestBatch
    ) {
        let gateway = plant.gateways[g]
        guard let online = Self.onlineStatus(payload) else {
            quarantine(
                [
                    Rejection(
                        reason: .malformed,
                        detail:
                            "status topic of gateway \(gateway.id): the payload says neither online nor offline (e.g. `offline`, `{\"online\": false}`)"
                    )
                ],
                topic: topic, payload: payload, receivedAtMs: receivedAtMs, batch: &batch)
            return
        }
        for d in gateway.deviceIndices {
            let device = plant.devices[d]
            batch.deviceStates.append(.init(device: device.id, online: online, atMs: receivedAtMs, reason: "gateway status"))
            guard !online else { continue }
            for m in device.metrics where m.kind == .state {
                batch.readings.append(Reading(series: m.series, timestampMs: receivedAtMs, value: .state("unknown")))
            }
        }
    }

    /// `online`/`offline` (also 1/0, true/false, connected/disconnected), or JSON with
    /// `"online": true|false` or `"status"`/`"state"`: `"online"|"offline"`; nil for anything else.
    static func onlineStatus(_ payload: UnsafeRawBufferPointer) -> Bool? {
        let text = String(decoding: payload.prefix(512), as: UTF8.self).lowercased().filter { !$0.isWhitespace && $0 != "'" }
        let word = text.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        if ["offline", "0", "false", "disconnected", "lost"].contains(word) { return false }
        if ["online", "1", "true", "connected"].contains(word) { return true }
        for key in ["\"status\":", "\"state\":"] {
            if text.contains(key + "\"offline\"") { return false }
            if text.contains(key + "\"online\"") { return true }
        }
        if text.contains("\"online\":false") || text.contains("\"online\":0") { return false }
        if text.contains("\"online\":true") || text.contains("\"online\":1") { return true }
        return nil
    }

    func decodeMessage(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, into out: inout DecodeOutput) {
        guard payload.count <= maxPayloadBytes else {
            out.reject(
                .oversize, "payload of \(payload.count) bytes exceeds the limit of \(maxPayloadBytes) bytes (ingest.max_payload_bytes)")
            return
        }
        guard let g = plant.gatewayIndex(forTopic: topic) else {
            out.reject(.unknownTopic, "no gateway in the registry subscribes to a filter matching this topic")
            return
        }
        let gateway = plant.gateways[g]
        switch gateway.decoder {
        case .native: NativeJSONDecoder.decode(payload, gateway: g, plant: plant, into: &out)
        case .neuron: NeuronDecoder.decode(payload, gateway: g, plant: plant, into: &out)
        case .plain: PlainValueDecoder.decode(payload, topic: topic, gateway: g, plant: plant, into: &out)
        case .sparkplug:
            if let sparkplug { sparkplug.handle(String(decoding: topic, as: UTF8.self), payload, gateway: g, into: &out) }
        }
    }

    private func quarantine(
        _ rejections: [Rejection], topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer,
        receivedAtMs: Int64, batch: inout IngestBatch
    ) {
        let topicString = String(decoding: topic, as: UTF8.self)
        let kept = Array(UnsafeRawBufferPointer(rebasing: payload.prefix(quarantinedPayloadBytes)))
        // One quarantine row per reason and message: a payload with fifty unknown tags is one row.
        var seen: [QuarantineReason] = []
        for r in rejections where !seen.contains(r.reason) {
            seen.append(r.reason)
            let same = rejections.filter { $0.reason == r.reason }
            var detail = same.prefix(5).map(\.detail).joined(separator: "; ")
            if same.count > 5 { detail += "; and \(same.count - 5) more" }
            batch.quarantined.append(
                .init(
                    receivedAtMs: receivedAtMs, topic: topicString, payload: kept,
                    payloadBytes: payload.count,
                    rejection: Rejection(reason: r.reason, detail: detail)))
        }
    }
}

/// The readings and rejections of one message while it is being decoded.
struct DecodeOutput {
    var readings: [Reading]
    var rejections: [Rejection] = []
    /// Devices that went online or offline (Sparkplug births and deaths).
    var states: [IngestBatch.DeviceState] = []
    /// Messages to publish after the commit (Sparkplug rebirth requests, STATE).
    var outbound: [IngestBatch.Outbound] = []
    let nowMs: Int64
    let maxFutureSkewMs: Int64
    var eventTime: String?

    init(readings: [Reading], nowMs: Int64, maxFutureSkewMs: Int64) {
        self.readings = readings
        self.nowMs = nowMs
        self.maxFutureSkewMs = maxFutureSkewMs
    }

    mutating func reject(_ reason: QuarantineReason, _ detail: String) {
        rejections.append(Rejection(reason: reason, detail: detail))
    }

    /// True (and rejected) when `ts` lies too far in the future.
    mutating func rejectIfFuture(_ ts: Int64, device: String) -> Bool {
        guard ts > nowMs + maxFutureSkewMs else { return false }
        reject(
            .futureTimestamp,
            "device \(device): timestamp \(Timestamp.formatRFC3339UTC(ts)) is \((ts - nowMs) / 1000) s ahead of the receive time (limit ingest.max_future_skew_s)"
        )
        return true
    }

    /// Applies a metric's profile to a raw value and appends the reading, or rejects it.
    mutating func emit(_ raw: RawValue, metric: Metric, device: Device, ts: Int64, seq: Int64?) {
        switch metric.kind {
        case .counter, .gauge:
            let x: Double
            switch raw {
            case .number(let d, _): x = d
            case .bool(let b): x = b ? 1 : 0
            case .nonFinite(let word):
                reject(.nonFinite, "device \(device.id) metric \(metric.name): \(word) is not a finite number")
                return
            case .text(let s):
                if s == "NaN" || s == "Infinity" || s == "-Infinity" || s == "nan" || s == "inf" || s == "-inf" {
                    reject(.nonFinite, "device \(device.id) metric \(metric.name): \(s) is not a finite number")
                } else {
                    reject(
                        .invalidValue,
                        "device \(device.id) metric \(metric.name) is a \(metric.kind.rawValue) and needs a number, got \"\(s.prefix(40))\""
                    )
                }
                return
            }
            let v = x * metric.scale + metric.offset
            guard v.isFinite else {
                reject(.nonFinite, "device \(device.id) metric \(metric.name): value \(x) is not finite after scaling")
                return
            }
            readings.append(Reading(series: metric.series, timestampMs: ts, value: .number(v), seq: seq))
        case .state:
            let key: String
            switch raw {
            case .text(let s): key = s
            case .number(let d, let i):
                if let i { key = String(i) } else { key = String(d) }
            case .bool(let b): key = b ? "true" : "false"
            case .nonFinite(let w): key = w
            }
            if let word = metric.states[key] {
                readings.append(Reading(series: metric.series, timestampMs: ts, value: .state(word), seq: seq))
            } else if Self.isCanonical(key, for: metric) {
                readings.append(Reading(series: metric.series, timestampMs: ts, value: .state(key), seq: seq))
            } else {
                let known = (Array(metric.states.keys) + Self.canonical(for: metric)).sorted()
                reject(
                    .invalidValue,
                    "device \(device.id) metric \(metric.name): state \"\(key.prefix(40))\" is not mapped (known: \(known.joined(separator: ", ")))"
                )
            }
        }
    }

    /// Reads the value of a device's member `name` (a metric or tag) at the cursor and emits
    /// it, or rejects an unknown name or a non-scalar value; the cursor ends after the value.
    mutating func emitMember(
        _ name: String, from c: inout JSONCursor, device: Device, ts: Int64, seq: Int64?,
        noun: String
    ) throws(JSONCursor.Failure) {
        guard let mi = device.metricIndex(source: name) else {
            try c.skipValue()
            reject(.unknownMetric, "device \(device.id) has no \(noun) \"\(name.prefix(64))\"")
            return
        }
        guard let raw = try c.rawValue() else {
            reject(.invalidValue, "device \(device.id) \(noun) \(name): value must be a number, boolean or string")
            return
        }
        emit(raw, metric: device.metrics[mi], device: device, ts: ts, seq: seq)
    }

    static func canonical(for metric: Metric) -> [String] {
        switch metric.measures {
        case .controlMode: return Metric.controlModes.sorted()
        case .machineState: return Metric.machineStates.sorted()
        default: return []
        }
    }

    static func isCanonical(_ word: String, for metric: Metric) -> Bool {
        switch metric.measures {
        case .controlMode: return Metric.controlModes.contains(word)
        case .machineState: return Metric.machineStates.contains(word)
        default: return metric.states.isEmpty  // a free-form state metric keeps its words
        }
    }
}

/// A scalar as a payload carries it, before the metric's profile is applied.
enum RawValue {
    case number(Double, Int64?)
    case bool(Bool)
    case text(String)
    case nonFinite(String)

    var isNumeric: Bool {
        switch self {
        case .number, .nonFinite: true
        case .bool, .text: false
        }
    }
}

extension JSONCursor {
    /// Reads a scalar for a metric; nil (and the cursor past it) for objects, arrays and null.
    mutating func rawValue() throws(Failure) -> RawValue? {
        let start = i
        switch try value() {
        case .number(let d, let integer): return .number(d, integer)
        case .bool(let b): return .bool(b)
        case .string(let t): return .text(text(t))
        case .nonFinite(let w): return .nonFinite(w)
        case .null: return nil
        case .objectStart, .arrayStart:
            i = start
            try skipValue()
            return nil
        }
    }

    /// Reads an event time: epoch milliseconds or an RFC 3339 string.
    mutating func timestamp() throws(Failure) -> Int64 {
        switch try value() {
        case .number(let d, let integer):
            if let integer { return integer }
            guard d.isFinite, abs(d) < 1e15 else { throw fail("timestamp out of range") }
            return Int64(d)
        case .string(let t):
            guard let ms = Timestamp.parseRFC3339(UnsafeRawBufferPointer(rebasing: bytes[t.range])) else {
                throw fail("timestamp is neither epoch milliseconds nor RFC 3339 with an offset")
            }
            return ms
        default:
            throw fail("timestamp must be epoch milliseconds or an RFC 3339 string")
        }
    }
}
