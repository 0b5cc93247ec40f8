/// The registry's binding of devices to gateways, topics and Sparkplug addresses, as lookup
/// tables built once at load.
///
/// A gateway speaks only for the devices its file declares: a reading naming another gateway's
/// device, or a topic placing a device somewhere the registry does not, is quarantined as
/// `foreign_device`. Without this, anyone allowed to write one gateway's topics could rewrite
/// every device's figures, and the broker's per-gateway ACL would protect nothing.
struct GatewayBinding: Sendable, Equatable {
    /// Per device: its site, workshop and line as bytes, compared with a topic's levels.
    var places: [Place] = []
    /// Every Neuron (node, group) and Sparkplug address in the plant, whichever gateway binds it.
    var neuronOwner: [NeuronGroup: Int] = [:]
    var sparkplugOwner: [SparkplugAddress: Int] = [:]
    /// Sparkplug device ids, for a device named under an edge node that is not its own.
    var sparkplugDeviceOwner: [String: Int] = [:]

    struct Place: Sendable, Equatable {
        var site: [UInt8]
        var workshop: [UInt8]?
        var line: [UInt8]?
    }

    init() {}

    init(devices: [Device]) {
        places = devices.map {
            Place(
                site: Array($0.site.utf8), workshop: $0.workshop.map { Array($0.utf8) },
                line: $0.line.map { Array($0.utf8) })
        }
        for (i, d) in devices.enumerated() {
            if let n = d.neuron, neuronOwner[n] == nil { neuronOwner[n] = i }
            if let sp = d.sparkplug {
                if sparkplugOwner[sp] == nil { sparkplugOwner[sp] = i }
                if let id = sp.device, sparkplugDeviceOwner[id] == nil { sparkplugDeviceOwner[id] = i }
            }
        }
    }
}

/// Which part of a topic disagrees with the registry's place for a device.
public enum PlaceMismatch: Sendable, Equatable {
    case site
    case workshop
    case line
}

extension Plant {
    /// True when gateway `g` declares device `d`: only then may its topics carry the device's readings.
    @inlinable public func gateway(_ g: Int, binds d: Int) -> Bool { devices[d].gateway == g }

    /// The first place level of `topic` (per the template's capture) that disagrees with device
    /// `d`'s place in the registry, or nil when all agree. Compares bytes; allocates nothing.
    public func placeMismatch(device d: Int, topic: UnsafeRawBufferPointer, capture: TopicTemplate.Capture) -> PlaceMismatch? {
        let place = binding.places[d]
        func agrees(_ range: Range<Int>?, _ expected: [UInt8]?) -> Bool {
            guard let range else { return true }
            guard let expected, expected.count == range.count else { return false }
            for k in 0..<expected.count where topic[range.lowerBound + k] != expected[k] { return false }
            return true
        }
        if !agrees(capture.site, place.site) { return .site }
        if !agrees(capture.workshop, place.workshop) { return .workshop }
        if !agrees(capture.line, place.line) { return .line }
        return nil
    }

    /// The device a Neuron (node, group) names in any gateway (for a foreign-device message).
    public func neuronOwner(_ group: NeuronGroup) -> Int? { binding.neuronOwner[group] }

    /// The device a Sparkplug edge node and device name in any gateway, else the device whose
    /// Sparkplug device id this is under another edge node.
    public func sparkplugOwner(_ address: SparkplugAddress) -> Int? {
        if let d = binding.sparkplugOwner[address] { return d }
        return address.device.flatMap { binding.sparkplugDeviceOwner[$0] }
    }

    /// The quarantine detail of a foreign reading: the gateway the topic belongs to, the
    /// device's own gateway, and what disagrees. Built only on the rejection path.
    public func foreignDetail(
        device d: Int, topicGateway g: Int, mismatch: PlaceMismatch? = nil,
        claimed: String? = nil
    ) -> String {
        let device = devices[d]
        let own = gateways[device.gateway]
        var s = "device \(device.id) belongs to gateway \(own.id)"
        if let sp = device.sparkplug, let group = own.sparkplugGroup {
            s += " (Sparkplug group \(group), edge node \(sp.edgeNode)\(sp.device.map { ", device \($0)" } ?? ""))"
        }
        if let mismatch {
            let registry: String
            switch mismatch {
            case .site: registry = "site \(device.site)"
            case .workshop: registry = "workshop \(device.workshop ?? "(none)")"
            case .line: registry = "line \(device.line ?? "(none)")"
            }
            s += ", whose registry place is \(registry)"
        }
        s += "; the topic belongs to gateway \(gateways[g].id)"
        if let claimed { s += " and \(claimed)" }
        return s
    }
}
