import Foundation
import PlantRegistry
import Sparkplug
import Telemetry

/// Zhizao as a Sparkplug B primary host application: births, aliases, sequence numbers and
/// deaths per edge node, turned into readings of the registry's devices. Its effects (device
/// online/offline, rebirth requests and STATE messages to publish) come out of decoding as
/// values in the batch, so the ingest loop commits and publishes them in its own order.
///
/// Used from the ingest thread only (`@unchecked Sendable` so the decoder can carry it).
public final class SparkplugSession: @unchecked Sendable {
    /// Something the host must publish (rebirth requests, its STATE).
    public typealias Outbound = IngestBatch.Outbound

    public struct Settings: Sendable {
        public var hostID: String
        /// How long a sequence gap may stay open before a rebirth is requested.
        public var reorderTimeoutMs: Int64
        /// At most one rebirth request per edge node in this time.
        public var rebirthIntervalMs: Int64

        public init(hostID: String = "zhizao", reorderTimeoutMs: Int64 = 2000, rebirthIntervalMs: Int64 = 5000) {
            self.hostID = hostID
            self.reorderTimeoutMs = reorderTimeoutMs
            self.rebirthIntervalMs = rebirthIntervalMs
        }
    }

    struct Node {
        var online = false
        var bdSeq: UInt64?
        var lastSeq: UInt64?
        var missing: Set<UInt64> = []
        var gapSinceMs: Int64?
        var lastRebirthMs: Int64 = .min / 2
        /// alias -> (device id or nil for the node, metric name)
        var aliases: [UInt64: (device: String?, name: String)] = [:]
        var devicesOnline: Set<String> = []
    }

    public var plant: Plant
    public let settings: Settings
    var nodes: [String: Node] = [:]
    /// The timestamp of the host's current session (its Will and online STATE carry it).
    public var sessionTimestampMs: Int64 = 0

    public init(plant: Plant, settings: Settings) {
        self.plant = plant
        self.settings = settings
    }

    /// The host's STATE topic and payloads (Sparkplug 3.0: JSON, retained, QoS 1).
    public var stateTopic: String { "spBv1.0/STATE/\(settings.hostID)" }

    private static let prefix = Array("spBv1.0/".utf8)

    /// `spBv1.0/STATE/…`, `spBv1.0/<group>/NCMD/…` or `…/DCMD/…`: control, not data.
    static func isControlTopic(_ topic: UnsafeRawBufferPointer) -> Bool {
        // Checked for every message when Sparkplug is on: most topics fail the first byte compare.
        guard topic.count > prefix.count, topic.prefix(prefix.count).elementsEqual(prefix) else { return false }
        let levels = topic.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        if levels.count >= 2, levels[1].elementsEqual("STATE".utf8) { return true }
        return levels.count >= 3 && (levels[2].elementsEqual("NCMD".utf8) || levels[2].elementsEqual("DCMD".utf8))
    }
    public func statePayload(online: Bool) -> [UInt8] {
        Array("{\"online\":\(online),\"timestamp\":\(sessionTimestampMs)}".utf8)
    }

    /// The topic filters the host subscribes to.
    public var subscriptions: [String] {
        plant.gateways.compactMap(\.sparkplugGroup).map { "spBv1.0/\($0)/#" } + [stateTopic]
    }

    /// The rebirth requests for sequence gaps older than the reorder timeout.
    public func housekeeping(nowMs: Int64) -> [Outbound] {
        var requests: [Outbound] = []
        for (key, node) in nodes {
            if let since = node.gapSinceMs, nowMs - since >= settings.reorderTimeoutMs {
                nodes[key]!.gapSinceMs = nil
                nodes[key]!.missing = []
                if let r = rebirth(key, nowMs: nowMs) { requests.append(r) }
            }
        }
        return requests
    }

    /// An NCMD `Node Control/Rebirth` for the edge node `group/node`, at most one per
    /// `rebirthIntervalMs`.
    func rebirth(_ key: String, nowMs: Int64) -> Outbound? {
        guard nowMs - (nodes[key]?.lastRebirthMs ?? .min / 2) >= settings.rebirthIntervalMs else { return nil }
        nodes[key, default: Node()].lastRebirthMs = nowMs
        let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
        let topic = SparkplugTopic(group: parts[0], type: .ncmd, edgeNode: parts[1]).text
        let metric = SparkplugMetric(
            name: "Node Control/Rebirth", alias: nil, timestamp: UInt64(nowMs), datatype: .boolean, value: .bool(true))
        guard let bytes = try? SparkplugPayload.encode(timestamp: UInt64(nowMs), seq: nil, metrics: [metric]) else { return nil }
        return Outbound(topic: topic, payload: bytes, qos: 0, retain: false)
    }

    /// Handles one message on a Sparkplug topic of `gateway`.
    func handle(_ topicText: String, _ payload: UnsafeRawBufferPointer, gateway g: Int?, into out: inout DecodeOutput) {
        guard let topic = SparkplugTopic(topicText) else {
            out.reject(.malformed, "not a Sparkplug B topic: \(topicText.prefix(80))")
            return
        }
        let now = out.nowMs
        if topic.type == .state {
            // Our own STATE turned offline (a will fired for an earlier session): say online again.
            if topic.edgeNode == settings.hostID, String(decoding: payload, as: UTF8.self).contains("\"online\":false") {
                out.outbound.append(Outbound(topic: stateTopic, payload: statePayload(online: true), qos: 1, retain: true))
            }
            return
        }
        if topic.type == .ncmd || topic.type == .dcmd { return }  // commands from hosts, not data
        guard let g else { return }
        let gateway = plant.gateways[g]
        let decoded: SparkplugPayload
        do { decoded = try SparkplugPayload(serializedBytes: payload) } catch {
            out.reject(.malformed, "Sparkplug B \(topic.type.rawValue) from \(topic.edgeNode): not a valid protobuf payload")
            return
        }
        let key = "\(topic.group)/\(topic.edgeNode)"
        var node = nodes[key] ?? Node()
        defer { nodes[key] = node }
        let nodeDevice = gateway.sparkplugDevices[SparkplugAddress(edgeNode: topic.edgeNode, device: nil)]
        func setState(_ address: SparkplugAddress, _ online: Bool, _ reason: String, _ out: inout DecodeOutput) {
            if let d = gateway.sparkplugDevices[address] {
                out.states.append(.init(device: plant.devices[d].id, online: online, atMs: now, reason: reason))
                // A death certificate ends what the device's states said: from now on they are
                // unknown (not off), until its birth says again.
                if !online {
                    for m in plant.devices[d].metrics where m.kind == .state {
                        out.readings.append(Reading(series: m.series, timestampMs: now, value: .state("unknown")))
                    }
                }
            }
        }

        switch topic.type {
        case .nbirth:
            node.online = true
            node.aliases = [:]
            node.devicesOnline = []
            node.missing = []
            node.gapSinceMs = nil
            node.lastSeq = decoded.seq.flatMap { $0 < 256 ? $0 : nil }
            node.bdSeq = decoded.metrics.first { $0.name == "bdSeq" }.flatMap {
                if case .number(let v) = $0.value { UInt64(exactly: v) } else { nil }
            }
            for m in decoded.metrics { if let name = m.name, let alias = m.alias { node.aliases[alias] = (nil, name) } }
            setState(SparkplugAddress(edgeNode: topic.edgeNode, device: nil), true, "NBIRTH", &out)
            emit(decoded, node: &node, topic: topic, gateway: g, device: nodeDevice, out: &out)
        case .ndeath:
            let bd = decoded.metrics.first { $0.name == "bdSeq" }.flatMap {
                if case .number(let v) = $0.value { UInt64(exactly: v) } else { nil }
            }
            // Only the death of the current session counts: a stale will from an earlier one is ignored.
            guard node.online, bd == node.bdSeq else { return }
            node.online = false
            node.aliases = [:]
            setState(SparkplugAddress(edgeNode: topic.edgeNode, device: nil), false, "NDEATH", &out)
            for device in node.devicesOnline { setState(SparkplugAddress(edgeNode: topic.edgeNode, device: device), false, "NDEATH", &out) }
            node.devicesOnline = []
        default:
            guard node.online else {
                out.reject(
                    .unknownDevice, "Sparkplug \(topic.type.rawValue) from edge node \(topic.edgeNode) before its NBIRTH; rebirth requested"
                )
                if let r = rebirth(key, nowMs: now) { out.outbound.append(r) }
                return
            }
            track(decoded.seq, node: &node, now: now)
            let address = SparkplugAddress(edgeNode: topic.edgeNode, device: topic.device)
            switch topic.type {
            case .dbirth:
                guard let device = topic.device else { return }
                node.devicesOnline.insert(device)
                for m in decoded.metrics { if let name = m.name, let alias = m.alias { node.aliases[alias] = (device, name) } }
                setState(address, true, "DBIRTH", &out)
                emit(decoded, node: &node, topic: topic, gateway: g, device: gateway.sparkplugDevices[address], out: &out)
            case .ddeath:
                if let device = topic.device { node.devicesOnline.remove(device) }
                setState(address, false, "DDEATH", &out)
            case .ndata, .ddata:
                emit(decoded, node: &node, topic: topic, gateway: g, device: gateway.sparkplugDevices[address], out: &out)
            default:
                break
            }
        }
        if node.gapSinceMs == nil, !node.missing.isEmpty { node.gapSinceMs = now }
        if node.missing.isEmpty { node.gapSinceMs = nil }
    }

    /// Sequence numbers run 0–255 per edge node across its node and device messages.
    func track(_ seq: UInt64?, node: inout Node, now: Int64) {
        // Out of the 0–255 range is no sequence number at all (and must not loop forever below).
        guard let seq, seq < 256 else { return }
        guard let last = node.lastSeq, last < 256 else {
            node.lastSeq = seq
            return
        }
        let expected = (last + 1) % 256
        let ahead = (seq + 256 - expected) % 256
        if seq == expected {
            node.lastSeq = seq
        } else if node.missing.remove(seq) != nil {
            // A late message filled part of a gap.
        } else if ahead < 128 {
            var s = expected
            while s != seq {
                node.missing.insert(s)
                s = (s + 1) % 256
            }
            node.lastSeq = seq
        }
    }

    /// Metrics the protocol itself uses: never readings.
    static func isControl(_ name: String) -> Bool {
        name == "bdSeq" || name.hasPrefix("Node Control/") || name.hasPrefix("Device Control/") || name.hasPrefix("Properties/")
    }

    private func emit(
        _ p: SparkplugPayload, node: inout Node, topic: SparkplugTopic, gateway g: Int, device index: Int?,
        out: inout DecodeOutput
    ) {
        let gateway = plant.gateways[g]
        guard p.metrics.contains(where: { m in m.name.map { !Self.isControl($0) } ?? true }) else { return }
        guard let index else {
            // Group, edge node and device must be the ones the registry binds together.
            if let other = plant.sparkplugOwner(SparkplugAddress(edgeNode: topic.edgeNode, device: topic.device)) {
                out.reject(
                    .foreignDevice,
                    plant.foreignDetail(
                        device: other, topicGateway: g,
                        claimed:
                            "does not bind edge node \(topic.edgeNode)\(topic.device.map { " device \($0)" } ?? "") in group \(topic.group)"
                    ))
                return
            }
            out.reject(
                .unknownDevice,
                "Sparkplug \(topic.edgeNode)\(topic.device.map { "/\($0)" } ?? "") in group \(topic.group) is not mapped to a device in gateway \(gateway.id)"
            )
            return
        }
        let device = plant.devices[index]
        let key = "\(topic.group)/\(topic.edgeNode)"
        for m in p.metrics {
            var name = m.name
            if name == nil, let alias = m.alias {
                guard let known = node.aliases[alias], known.device == topic.device else {
                    out.reject(
                        .unknownMetric,
                        "Sparkplug \(topic.edgeNode)\(topic.device.map { "/\($0)" } ?? ""): alias \(alias) is not in its birth; rebirth requested"
                    )
                    if let r = rebirth(key, nowMs: out.nowMs) { out.outbound.append(r) }
                    continue
                }
                name = known.name
            }
            guard let name else { continue }
            if Self.isControl(name) { continue }
            guard let mi = device.metricIndex(source: name) else {
                out.reject(.unknownMetric, "device \(device.id) has no Sparkplug metric \"\(name.prefix(64))\"")
                continue
            }
            // A timestamp past Int64 (hostile or corrupt) must not trap: it is quarantined as future.
            let ts = Int64(clamping: m.timestamp ?? p.timestamp ?? UInt64(out.nowMs))
            if out.rejectIfFuture(ts, device: device.id) { continue }
            switch m.value {
            case .number(let v):
                out.emit(
                    .number(v, v == v.rounded() && abs(v) < 1e15 ? Int64(v) : nil), metric: device.metrics[mi], device: device, ts: ts,
                    seq: nil)
            case .bool(let b): out.emit(.bool(b), metric: device.metrics[mi], device: device, ts: ts, seq: nil)
            case .text(let s): out.emit(.text(s), metric: device.metrics[mi], device: device, ts: ts, seq: nil)
            case .null: continue
            case .unsupported(let what):
                out.reject(.invalidValue, "device \(device.id) Sparkplug metric \(name): \(what) values have no mapping to readings yet")
            }
        }
    }
}
