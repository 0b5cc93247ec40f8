import PlantRegistry
import Telemetry

/// One value per message: the payload is a number (or a state word), the topic names device
/// and metric through the gateway's `topic_template`. The event time is the MQTT v5 user
/// property `ts` (epoch ms or RFC 3339) where the publisher sets one, else the receive time.
enum PlainValueDecoder {
    static func decode(
        _ payload: UnsafeRawBufferPointer, topic: UnsafeRawBufferPointer, gateway g: Int,
        plant: Plant, into out: inout DecodeOutput
    ) {
        let gateway = plant.gateways[g]
        guard let template = gateway.topicTemplate, let place = template.capture(topic) else {
            out.reject(.unknownTopic, "topic does not fit the template \(gateway.topicTemplate?.text ?? "?") of gateway \(gateway.id)")
            return
        }
        let deviceID = String(decoding: UnsafeRawBufferPointer(rebasing: topic[place.device]), as: UTF8.self)
        guard let d = plant.deviceIndex(id: deviceID) else {
            out.reject(.unknownDevice, "device \"\(deviceID.prefix(64))\" (from the topic) is not in the registry")
            return
        }
        // The topic must be the device's own gateway's, and its place levels the registry's.
        guard plant.gateway(g, binds: d) else {
            out.reject(.foreignDevice, plant.foreignDetail(device: d, topicGateway: g))
            return
        }
        if let mismatch = plant.placeMismatch(device: d, topic: topic, capture: place) {
            out.reject(
                .foreignDevice,
                plant.foreignDetail(
                    device: d, topicGateway: g, mismatch: mismatch,
                    claimed: "the topic places it elsewhere"))
            return
        }
        let device = plant.devices[d]
        let metricName = String(decoding: UnsafeRawBufferPointer(rebasing: topic[place.metric]), as: UTF8.self)
        guard let mi = device.metricIndex(source: metricName) else {
            out.reject(.unknownMetric, "device \(device.id) has no metric \"\(metricName.prefix(64))\"")
            return
        }
        // Trim surrounding whitespace (mosquitto_pub -l, shell echo).
        var lo = 0
        var hi = payload.count
        while lo < hi, payload[lo] == 32 || payload[lo] == 9 || payload[lo] == 10 || payload[lo] == 13 { lo += 1 }
        while hi > lo, payload[hi - 1] == 32 || payload[hi - 1] == 9 || payload[hi - 1] == 10 || payload[hi - 1] == 13 { hi -= 1 }
        guard hi > lo else {
            out.reject(.malformed, "device \(device.id) metric \(metricName): empty payload")
            return
        }
        let body = UnsafeRawBufferPointer(rebasing: payload[lo..<hi])
        var c = JSONCursor(body)
        let raw: RawValue
        switch try? c.rawValue() {
        case let v? where c.atEnd && v.isNumeric:
            raw = v  // a number, or NaN/Infinity (rejected as non-finite by emit)
        default:
            let word = String(decoding: body, as: UTF8.self)
            guard word.utf8.count <= 64, word.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
                out.reject(.malformed, "device \(device.id) metric \(metricName): payload is neither a number nor a state word")
                return
            }
            raw = word == "true" ? .bool(true) : word == "false" ? .bool(false) : .text(word)
        }
        var ts = out.nowMs
        if let text = out.eventTime {
            guard let parsed = Int64(text) ?? Timestamp.parseRFC3339(text) else {
                out.reject(
                    .malformed,
                    "device \(device.id) metric \(metricName): user property ts \"\(text.prefix(40))\" is neither epoch milliseconds nor RFC 3339"
                )
                return
            }
            if out.rejectIfFuture(parsed, device: device.id) { return }
            ts = parsed
        }
        out.emit(raw, metric: device.metrics[mi], device: device, ts: ts, seq: nil)
    }
}
