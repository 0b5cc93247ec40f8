import PlantRegistry
import Telemetry

/// EMQ Neuron's north-app JSON, in either of its two formats:
///
/// - values-format: `{"timestamp":ms,"node":"n","group":"g","values":{"TAG":1.5},"errors":{"TAG2":3001}}`
/// - tags-format: `{"timestamp":ms,"node":"n","group":"g","tags":[{"name":"TAG","value":1.5},{"name":"TAG2","error":3001}]}`
///
/// The (node, group) pair names the device; each tag maps to a metric by its `source`. A tag
/// that carries an error code is stored as an error, never as a value.
enum NeuronDecoder {
    static func decode(_ payload: UnsafeRawBufferPointer, gateway g: Int, plant: Plant, into out: inout DecodeOutput) {
        let gateway = plant.gateways[g]
        var c = JSONCursor(payload)
        let mark = out.readings.count
        do throws(JSONCursor.Failure) {
            try c.expect(123, "`{` starting a Neuron message")
            var ts: Int64?
            var node: JSONCursor.StringToken?
            var group: JSONCursor.StringToken?
            var valuesAt: Int?
            var errorsAt: Int?
            var tagsAt: Int?
            var first = true
            while let key = try c.nextKey(first: &first) {
                if c.equals(key, "timestamp") {
                    ts = try c.timestamp()
                } else if c.equals(key, "node") || c.equals(key, "node_name") {
                    guard case .string(let t) = try c.value() else { throw c.fail("`node` must be a string") }
                    node = t
                } else if c.equals(key, "group") || c.equals(key, "group_name") {
                    guard case .string(let t) = try c.value() else { throw c.fail("`group` must be a string") }
                    group = t
                } else if c.equals(key, "values") {
                    c.skipWhitespace()
                    valuesAt = c.i
                    guard c.peek() == 123 else { throw c.fail("`values` must be an object") }
                    try c.skipValue()
                } else if c.equals(key, "errors") {
                    c.skipWhitespace()
                    errorsAt = c.i
                    guard c.peek() == 123 else { throw c.fail("`errors` must be an object") }
                    try c.skipValue()
                } else if c.equals(key, "tags") {
                    c.skipWhitespace()
                    tagsAt = c.i
                    guard c.peek() == 91 else { throw c.fail("`tags` must be an array") }
                    try c.skipValue()
                } else {
                    try c.skipValue()
                }
            }
            c.skipWhitespace()
            guard c.atEnd else { throw c.fail("unexpected bytes after the JSON object") }
            guard let ts else { throw c.fail("missing `timestamp`") }
            guard let node, let group else { throw c.fail("missing `node` or `group`") }
            guard valuesAt != nil || tagsAt != nil else { throw c.fail("neither `values` nor `tags`") }

            let key = NeuronGroup(node: c.text(node), group: c.text(group))
            guard let d = gateway.neuronDevices[key] else {
                if let other = plant.neuronOwner(key) {
                    out.reject(
                        .foreignDevice,
                        plant.foreignDetail(
                            device: other, topicGateway: g,
                            claimed: "does not bind Neuron node \(key.node) group \(key.group)"))
                    return
                }
                out.reject(
                    .unknownDevice,
                    "Neuron node \"\(key.node.prefix(64))\" group \"\(key.group.prefix(64))\" is not mapped to a device in gateway \(gateway.id)"
                )
                return
            }
            let device = plant.devices[d]
            if out.rejectIfFuture(ts, device: device.id) { return }

            let before = out.readings.count + out.rejections.count
            defer {
                if out.readings.count + out.rejections.count == before {
                    out.reject(.malformed, "Neuron message for device \(device.id) carries no tag")
                }
            }
            if let valuesAt {
                var v = JSONCursor(c.bytes)
                v.i = valuesAt
                try v.expect(123, "`{`")
                var f = true
                while let tag = try v.nextKey(first: &f) {
                    try out.emitMember(v.text(tag), from: &v, device: device, ts: ts, seq: nil, noun: "tag")
                }
            }
            if let errorsAt {
                var e = JSONCursor(c.bytes)
                e.i = errorsAt
                try e.expect(123, "`{`")
                var f = true
                while let tag = try e.nextKey(first: &f) {
                    guard case .number(_, let code?) = try e.value() else { throw e.fail("error codes must be integers") }
                    tagError(tag: e.text(tag), code: code, device: device, ts: ts, out: &out)
                }
            }
            if let tagsAt {
                var t = JSONCursor(c.bytes)
                t.i = tagsAt
                try t.expect(91, "`[`")
                var f = true
                while try t.nextElement(first: &f) {
                    try t.expect(123, "`{` starting a tag")
                    var name: String?
                    var raw: RawValue?
                    var code: Int64?
                    var fk = true
                    while let k = try t.nextKey(first: &fk) {
                        if t.equals(k, "name") {
                            guard case .string(let s) = try t.value() else { throw t.fail("tag `name` must be a string") }
                            name = t.text(s)
                        } else if t.equals(k, "value") {
                            raw = try t.rawValue()
                        } else if t.equals(k, "error") {
                            guard case .number(_, let c?) = try t.value() else { throw t.fail("tag `error` must be an integer") }
                            code = c
                        } else {
                            try t.skipValue()
                        }
                    }
                    guard let name else { throw t.fail("a tag without `name`") }
                    if let code {
                        tagError(tag: name, code: code, device: device, ts: ts, out: &out)
                    } else if let raw {
                        guard let mi = device.metricIndex(source: name) else {
                            out.reject(.unknownMetric, "device \(device.id) has no tag \"\(name.prefix(64))\"")
                            continue
                        }
                        out.emit(raw, metric: device.metrics[mi], device: device, ts: ts, seq: nil)
                    } else {
                        out.reject(.invalidValue, "device \(device.id) tag \(name) has neither `value` nor `error`")
                    }
                }
            }
        } catch {
            out.readings.removeSubrange(mark...)
            out.rejections.removeAll()
            out.reject(.malformed, "Neuron JSON: \(error.message) at byte \(error.offset)")
        }
    }

    private static func tagError(tag: String, code: Int64, device: Device, ts: Int64, out: inout DecodeOutput) {
        guard let mi = device.metricIndex(source: tag) else {
            out.reject(.unknownMetric, "device \(device.id) has no tag \"\(tag.prefix(64))\"")
            return
        }
        out.readings.append(Reading(series: device.metrics[mi].series, timestampMs: ts, value: .error(code)))
    }
}
