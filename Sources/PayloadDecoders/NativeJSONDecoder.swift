import PlantRegistry
import Telemetry

/// Zhizao's own JSON (`Schemas/reading.schema.json`):
/// `{"device":"cnc-101","ts":1764288000000,"seq":7,"metrics":{"power":3.2,"state":"producing"}}`
/// or an array of such objects. `ts` is epoch milliseconds or RFC 3339 with an offset.
enum NativeJSONDecoder {
    static func decode(_ payload: UnsafeRawBufferPointer, gateway g: Int, plant: Plant, into out: inout DecodeOutput) {
        var c = JSONCursor(payload)
        let mark = out.readings.count
        do throws(JSONCursor.Failure) {
            if c.consume(91) {  // [
                var first = true
                var any = false
                while try c.nextElement(first: &first) {
                    any = true
                    try message(&c, gateway: g, plant: plant, into: &out)
                }
                if !any { throw c.fail("empty array: no readings") }
            } else {
                try message(&c, gateway: g, plant: plant, into: &out)
            }
            c.skipWhitespace()
            guard c.atEnd else { throw c.fail("unexpected bytes after the JSON value") }
        } catch {
            // A payload that is not well-formed is rejected whole: keep nothing half-read.
            out.readings.removeSubrange(mark...)
            out.rejections.removeAll()
            out.reject(.malformed, "native JSON: \(error.message) at byte \(error.offset)")
        }
    }

    private static func message(_ c: inout JSONCursor, gateway g: Int, plant: Plant, into out: inout DecodeOutput) throws(JSONCursor
        .Failure)
    {
        try c.expect(123, "`{` starting a reading object")
        var deviceToken: JSONCursor.StringToken?
        var ts: Int64?
        var seq: Int64?
        var metricsAt: Int?
        var first = true
        while let key = try c.nextKey(first: &first) {
            if c.equals(key, "device") {
                guard case .string(let t) = try c.value() else { throw c.fail("`device` must be a string") }
                deviceToken = t
            } else if c.equals(key, "ts") {
                ts = try c.timestamp()
            } else if c.equals(key, "seq") {
                guard case .number(_, let integer?) = try c.value(), integer >= 0 else {
                    throw c.fail("`seq` must be a non-negative integer")
                }
                seq = integer
            } else if c.equals(key, "metrics") {
                c.skipWhitespace()
                metricsAt = c.i
                guard c.peek() == 123 else { throw c.fail("`metrics` must be an object") }
                try c.skipValue()
            } else {
                try c.skipValue()
            }
        }
        guard let deviceToken else { throw c.fail("missing `device`") }
        guard let ts else { throw c.fail("missing `ts`") }
        guard let metricsAt else { throw c.fail("missing `metrics`") }

        let deviceID = c.text(deviceToken)
        guard let d = plant.deviceIndex(id: deviceID) else {
            let near = nearest(deviceID, in: plant.devices.map(\.id))
            out.reject(
                .unknownDevice,
                "device \"\(deviceID.prefix(64))\" is not in the registry"
                    + (near.isEmpty ? "" : " (nearest: \(near.joined(separator: ", ")))"))
            return
        }
        // The payload names the device; only the gateway whose topic carries it may speak for it.
        guard plant.gateway(g, binds: d) else {
            out.reject(.foreignDevice, plant.foreignDetail(device: d, topicGateway: g))
            return
        }
        let device = plant.devices[d]
        if out.rejectIfFuture(ts, device: device.id) { return }

        var m = JSONCursor(c.bytes)
        m.i = metricsAt
        try m.expect(123, "`{`")
        var firstMetric = true
        while let key = try m.nextKey(first: &firstMetric) {
            try out.emitMember(m.text(key), from: &m, device: device, ts: ts, seq: seq, noun: "metric")
        }
        if firstMetric { out.reject(.malformed, "device \(device.id): `metrics` is empty") }
    }
}
