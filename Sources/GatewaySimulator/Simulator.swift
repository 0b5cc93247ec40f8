import Foundation
import MQTTClient
public import PlantRegistry
import Synchronization

/// How `zhizao simulate` runs: pace, span, seed and how imperfect the gateways are.
public struct SimulationOptions: Sendable {
    /// How plant time relates to wall time.
    public enum Pace: Sendable, Equatable {
        /// Plant time runs `factor` times faster than wall time (1 = real time).
        case speed(Double)
        /// As fast as the broker takes it.
        case maximum
        /// A steady number of messages per wall-clock second, whatever plant time that covers.
        case rate(Double)
    }

    public var seed: UInt64 = 1
    public var pace: Pace = .speed(1)
    /// Plant time of the first tick (ms since epoch); nil picks one so the run ends at "now".
    public var fromMs: Int64?
    /// Plant time to cover (speed and maximum pace) or wall time to run (rate pace), in ms.
    public var durationMs: Int64?
    /// Stop after this many messages.
    public var count: Int?
    /// Plant time between two readings of a device.
    public var tickMs: Int64 = 60_000
    public var qos = 1
    /// Late, duplicated, out-of-order and malformed messages, as real gateways send.
    public var imperfect = true

    public init() {}
}

/// What was published, so a test or a person can compare it with what was stored.
public struct SimulationReport: Codable, Sendable {
    public struct DeviceCount: Codable, Sendable {
        public var device: String
        public var format: String
        public var messages: Int
        public var readings: Int
    }

    public var seed: UInt64
    public var plantFrom: String
    public var plantTo: String
    public var ticks: Int
    public var messagesPublished: Int
    /// Distinct readings in well-formed messages: what the daemon should store.
    public var readingsExpected: Int
    public var malformed: Int
    /// Messages sent through a gateway that does not declare their device (quarantined as
    /// `foreign_device`, no reading stored).
    public var foreign: Int
    public var duplicates: Int
    public var late: Int
    public var outOfOrder: Int
    public var perFormat: [String: Int]
    public var devices: [DeviceCount]
    public var wallSeconds: Double

    enum CodingKeys: String, CodingKey {
        case seed, ticks, malformed, foreign, duplicates, late, devices
        case plantFrom = "plant_from"
        case plantTo = "plant_to"
        case messagesPublished = "messages_published"
        case readingsExpected = "readings_expected"
        case outOfOrder = "out_of_order"
        case perFormat = "messages_per_format"
        case wallSeconds = "wall_seconds"
    }
}

/// Plays the plant through a broker, each gateway in its own payload format.
public final class Simulator: @unchecked Sendable {
    // @unchecked: `run` owns all state on the calling thread; `stop()` only sets an atomic.
    private let plant: Plant
    private let options: SimulationOptions
    private let mqtt: MQTTOptions
    private let stopRequested = Atomic<Bool>(false)

    public init(plant: Plant, options: SimulationOptions, mqtt: MQTTOptions) {
        self.plant = plant
        self.options = options
        self.mqtt = mqtt
    }

    /// Ends the run after the current tick (Ctrl-C).
    public func stop() { stopRequested.store(true, ordering: .relaxed) }

    /// Runs to the end of the span or count; `progress` is called about once a second.
    public func run(progress: (String) -> Void = { _ in }) throws -> SimulationReport {
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        var world = SimulatedPlant(plant: plant, seed: options.seed)
        var encoder = GatewayEncoder(plant: plant)
        var imperfections = SeededGenerator(seed: options.seed &* 0x2545_F491_4F6C_DD1D &+ 1)

        // Plant-time span: a simulated run ends at "now" unless told otherwise.
        let span: Int64? = {
            switch options.pace {
            case .rate: return nil
            case .speed, .maximum: return options.durationMs
            }
        }()
        var from = options.fromMs ?? (span.map { nowMs - $0 } ?? nowMs)
        if options.fromMs == nil, case .rate(let r) = options.pace {
            // Enough plant history behind "now" for the messages this run will send.
            let perTick = Double(max(1, approximateMessagesPerTick()))
            let messages = Double(options.count ?? Int(r * Double(options.durationMs ?? 60_000) / 1000))
            from = nowMs - Int64((messages / perTick + 2).rounded(.up)) * options.tickMs
        }
        from -= from % options.tickMs

        let connection = try MQTTConnection(options: mqtt)
        var inFlight = 0
        var connected = false
        var refused: String?
        connection.onEvent { event in
            switch event {
            case .published: inFlight -= 1
            case .connected: connected = true
            case .connectionRefused(_, let reason): refused = reason
            case .disconnected, .subscribed: break
            }
        }
        try connection.connect()
        try connection.flushWrites()
        let deadline = Date().addingTimeInterval(10)
        while !connected {
            if let refused { throw MQTTError(.refused, message: "the broker refused the simulator: \(refused)") }
            guard Date() < deadline else { throw MQTTError(.timeout, message: "no CONNACK from \(mqtt.host):\(mqtt.port) within 10 s") }
            try pump(connection, waitMs: 50)
        }

        var report = SimulationReport(
            seed: options.seed, plantFrom: "", plantTo: "", ticks: 0, messagesPublished: 0,
            readingsExpected: 0, malformed: 0, foreign: 0, duplicates: 0, late: 0, outOfOrder: 0,
            perFormat: [:],
            devices: plant.devices.map {
                .init(device: $0.id, format: plant.gateways[$0.gateway].decoder.rawValue, messages: 0, readings: 0)
            }, wallSeconds: 0)
        let wallStart = Date()
        var lastProgress = wallStart
        var held: [(releaseTick: Int, message: OutgoingMessage)] = []
        var t = from

        func send(_ m: OutgoingMessage) throws {
            if let limit = options.count, report.messagesPublished >= limit { return }
            if case .rate(let r) = options.pace {
                let due = wallStart.addingTimeInterval(Double(report.messagesPublished) / r)
                let wait = due.timeIntervalSinceNow
                if wait > 0.0005 { usleep(UInt32(wait * 1_000_000)) }
            }
            try m.payload.withUnsafeBytes { p in
                _ = try connection.publish(topic: m.topic, payload: p, qos: options.qos, eventTime: m.eventTime)
            }
            inFlight += 1
            report.messagesPublished += 1
            report.devices[m.device].messages += 1
            report.perFormat[report.devices[m.device].format, default: 0] += 1
            try pump(connection, waitMs: 0)
            while inFlight >= 1000 { try pump(connection, waitMs: 20) }
        }

        func finished() -> Bool {
            if stopRequested.load(ordering: .relaxed) { return true }
            if let limit = options.count, report.messagesPublished >= limit { return true }
            switch options.pace {
            case .rate:
                if options.count == nil, Date().timeIntervalSince(wallStart) * 1000 >= Double(options.durationMs ?? 60_000) { return true }
            case .speed, .maximum:
                if let span, t >= from + span { return true }
            }
            return false
        }

        while !finished() {
            // Pace plant time against wall time.
            if case .speed(let factor) = options.pace {
                let due = wallStart.addingTimeInterval(Double(t - from) / 1000 / factor)
                while due.timeIntervalSinceNow > 0 && !stopRequested.load(ordering: .relaxed) {
                    try pump(connection, waitMs: Int32(min(100, max(1, due.timeIntervalSinceNow * 1000))))
                }
            }
            var tickMessages: [OutgoingMessage] = []
            let step = world.step(atMs: t, dtMs: options.tickMs)
            for (device, values) in step {
                tickMessages += encoder.encode(device: device, values: values, atMs: t, rng: &world.rngForEncoding)
            }
            // Once an hour of plant time (at a fixed tick, so counts never depend on chance), one
            // device's values also arrive through a gateway that does not declare it.
            if options.imperfect, report.ticks % 60 == 30, !step.isEmpty {
                let (device, values) = step[(report.ticks / 60) % step.count]
                if let spoof = encoder.foreign(device: device, values: values, atMs: t) {
                    tickMessages.append(spoof)
                    report.foreign += 1
                }
            }
            if options.imperfect {
                var i = 0
                while i + 1 < tickMessages.count {
                    if !tickMessages[i].reliable && !tickMessages[i + 1].reliable && imperfections.chance(0.005) {
                        tickMessages.swapAt(i, i + 1)
                        report.outOfOrder += 1
                        i += 1
                    }
                    i += 1
                }
            }
            for var m in tickMessages {
                if options.imperfect && !m.reliable && imperfections.chance(0.003) {
                    held.append((report.ticks + 2 + Int(imperfections.next() % 18), m))
                    report.late += 1
                    continue
                }
                if options.imperfect && !m.reliable && imperfections.chance(0.001) {
                    // A gateway glitch: the payload is cut short (a Sparkplug one garbled). Its readings are lost.
                    m.payload =
                        m.topic.hasPrefix("spBv1.0/")
                        ? [0xFF, 0xFF, 0xFF]
                        : m.eventTime == nil ? Array(m.payload.prefix(m.payload.count / 2)) : []
                    m.readings = 0
                    report.malformed += 1
                }
                try send(m)
                report.readingsExpected += m.readings
                report.devices[m.device].readings += m.readings
                if options.imperfect && m.readings > 0 && imperfections.chance(0.003) {
                    try send(m)
                    report.duplicates += 1
                }
            }
            let due = held.filter { $0.releaseTick <= report.ticks }
            held.removeAll { $0.releaseTick <= report.ticks }
            for (_, m) in due {
                try send(m)
                report.readingsExpected += m.readings
                report.devices[m.device].readings += m.readings
            }
            report.ticks += 1
            t += options.tickMs
            if Date().timeIntervalSince(lastProgress) >= 1 {
                lastProgress = Date()
                let rate = Double(report.messagesPublished) / max(0.001, Date().timeIntervalSince(wallStart))
                progress("plant time \(Self.local(t - options.tickMs, plant)), \(report.messagesPublished) messages, \(Int(rate)) msg/s")
            }
        }
        // Late messages still held are published at the end, as a gateway would after a reconnect.
        for (_, m) in held where !(options.count.map { report.messagesPublished >= $0 } ?? false) {
            try send(m)
            report.readingsExpected += m.readings
            report.devices[m.device].readings += m.readings
        }
        // Wait for every acknowledgement before leaving.
        let ackDeadline = Date().addingTimeInterval(30)
        while inFlight > 0 && Date() < ackDeadline { try pump(connection, waitMs: 20) }
        connection.disconnect()
        report.plantFrom = Self.local(from, plant)
        report.plantTo = Self.local(t, plant)
        report.wallSeconds = Date().timeIntervalSince(wallStart)
        return report
    }

    /// Messages one tick produces, to size a rate run's plant history.
    private func approximateMessagesPerTick() -> Int {
        plant.devices.reduce(0) { sum, d in sum + (plant.gateways[d.gateway].decoder == .plain ? d.metrics.count : 1) }
    }

    /// Writes queued packets and reads acknowledgements, waiting up to `waitMs` for the socket.
    private func pump(_ c: MQTTConnection, waitMs: Int32) throws {
        if c.wantsWrite { try c.flushWrites() }
        guard let fd = c.socketDescriptor else { throw MQTTError.notConnected }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&p, 1, waitMs) > 0 { _ = try c.readAvailable(shouldStop: { false }, deliver: { _ in }) }  // acknowledgements only
        try c.housekeeping()
    }

    static func local(_ ms: Int64, _ plant: Plant) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: plant.sites.first?.timeZone ?? "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ssxxx"
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}
