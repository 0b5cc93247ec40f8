import ArgumentParser
import Dispatch
import Foundation
import GatewaySimulator
import Glibc
import IngestDaemon
import MQTTClient
import PlantRegistry
import Reporting
import Telemetry

/// `zhizao simulate`: the example plant's gateways, played through a broker.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Play the plant in Devices/ through the broker, each gateway in its own payload format.",
        discussion: """
            Machines cycle through producing, setup, idle and down over three shifts (the night one \
            quieter), CNC machines switch between NC and manual mode, meters count energy, water \
            and gas that follow the load, lines count good and scrap parts, one meter rolls over \
            and one counter resets. Gateways now and then send late, duplicated, out-of-order or \
            malformed messages, and once an hour a device's values arrive through a gateway that \
            does not declare it (quarantined as foreign_device); --clean turns all that off. A seed \
            replays the same plant exactly. \
            At the end it prints what it published per device and format.

            --scale N plays a plant N times the registry's: copy 1 keeps every id, copy k adds \
            -xKK to workshop, line and device ids (ws-machining-x02, cnc-101-x02), to the parent \
            a meter names, to Neuron node names (s7-shaft-x02) and to Sparkplug edge node ids \
            (air-station-x02), so every copy's topics differ: plain topics name the device, \
            Neuron topics the node, Sparkplug topics the edge node; a gateway whose topic names \
            its workshop (zhizao/v1/ws-assembly/#) is copied with it (gw-assembly-native-x02 on \
            zhizao/v1/ws-assembly-x02/#). Sites, processes and products are shared; a site-level \
            main meter (gas, water intake) becomes one of N part meters (meter_scope: part) whose \
            sum is the site. The daemon \
            needs the same registry: --write-devices DIR writes it (plant.yaml and \
            gateways/*.yaml) and exits; --scale 1 writes the registry itself.

            Examples:
              zhizao simulate                                   # real time, until Ctrl-C
              zhizao simulate --duration 7d --speed 10080       # a week of plant time in a minute
              zhizao simulate --duration 7d --speed max         # a week as fast as the broker takes it
              zhizao simulate --rate 20000 --duration 60s       # a steady 20,000 msg/s for a minute
              zhizao simulate --count 1000 --seed 7 --format json
              zhizao simulate --scale 40 --write-devices /tmp/plant-x40     # the registry of 40 plants
              zhizao run --devices /tmp/plant-x40 &
              zhizao simulate --scale 40 --duration 1d --speed max          # a day of them
            """)

    @Option(help: ArgumentHelp("Broker URL (env ZHIZAO_BROKER).", valueName: "URL"))
    var broker: String = ProcessInfo.processInfo.environment["ZHIZAO_BROKER"] ?? DaemonConfig.defaultBroker

    @OptionGroup var registry: RegistryOptions

    @Option(help: "Seed of the plant's randomness.")
    var seed: UInt64 = 1

    @Option(help: ArgumentHelp("Messages per second, steady (benchmarks).", valueName: "MSG_PER_S"))
    var rate: Double?

    @Option(
        help: ArgumentHelp("Plant time per wall time: 1 is real time, 10080 a week a minute, max as fast as possible.", valueName: "FACTOR")
    )
    var speed: String?

    @Option(
        help: ArgumentHelp("Plant time to simulate (with --speed) or wall time to run (with --rate): 90s, 15m, 6h, 7d.", valueName: "D"))
    var duration: String?

    @Option(help: ArgumentHelp("Stop after this many messages.", valueName: "N"))
    var count: Int?

    @Option(help: ArgumentHelp("Plant time to start at (RFC 3339 or YYYY-MM-DD, site time); default so the run ends now.", valueName: "T"))
    var from: String?

    @Option(help: "Publish QoS (0 or 1).")
    var qos: Int = 1

    @Flag(help: "No late, duplicated, out-of-order, malformed or foreign messages.")
    var clean = false

    @Option(help: "table or json.")
    var format: OutputFormat = .table

    @Option(help: ArgumentHelp("Play the registry's workshops, lines and devices N times (copy k's ids end in -xKK).", valueName: "N"))
    var scale: Int = 1

    @Option(
        name: .customLong("write-devices"),
        help: ArgumentHelp("Write the registry of --scale N copies to DIR (for zhizao run --devices DIR) and exit.", valueName: "DIR"))
    var writeDevices: String?

    @Option(name: .customLong("client-id"), help: "MQTT client id of the simulator.")
    var clientID: String = "zhizao-simulate-\(getpid())"

    func validate() throws {
        if rate != nil && speed != nil { throw ValidationError("--rate and --speed exclude each other: pick one") }
        if let rate, rate <= 0 { throw ValidationError("--rate must be above 0 messages per second") }
        if let s = speed, s != "max", (Double(s) ?? 0) <= 0 {
            throw ValidationError("--speed \(s) is neither a positive number nor `max`")
        }
        if let d = duration, TimeArgument.parseDuration(d) == nil {
            throw ValidationError("--duration \(d) is not a duration: use e.g. 90s, 15m, 6h or 7d")
        }
        if let f = from, Self.parseTime(f) == nil {
            throw ValidationError("--from \(f) is not a time: use RFC 3339 (2026-11-20T08:00:00+08:00) or a date (2026-11-20)")
        }
        if qos != 0 && qos != 1 { throw ValidationError("--qos must be 0 or 1") }
        if let count, count <= 0 { throw ValidationError("--count must be above 0") }
        if !(1...99).contains(scale) { throw ValidationError("--scale \(scale) is out of range: use 1 to 99 copies of the plant") }
    }

    /// The registry in `--devices`, replicated `--scale` times (loaded from a scratch folder).
    func loadPlant() throws -> Plant {
        let scaled: ScaledRegistry
        do { scaled = try ScaledRegistry(directory: registry.devices, copies: scale) } catch {
            throw fail("\(error)\nrun `zhizao devices validate --devices \(registry.devices)` for details")
        }
        if let dir = writeDevices {
            do { try scaled.write(to: dir) } catch {
                throw fail(
                    "cannot write the scaled registry to --write-devices \(dir): \(error.localizedDescription); pass a writable folder")
            }
            return try Plant.load(directory: dir)
        }
        let scratch = NSTemporaryDirectory() + "zhizao-scale-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        do { try scaled.write(to: scratch) } catch {
            throw fail("cannot write the scaled registry to \(scratch): \(error.localizedDescription); set TMPDIR to a writable folder")
        }
        return try Plant.load(directory: scratch)
    }

    func run() throws {
        let plant: Plant
        do { plant = try loadPlant() } catch let error as RegistryError {
            throw fail("\(error)\nrun `zhizao devices validate --devices \(writeDevices ?? registry.devices)` for details")
        }
        if let dir = writeDevices {
            let series = plant.devices.reduce(0) { $0 + $1.metrics.count }
            print(
                "wrote \(dir): \(plant.devices.count) devices, \(series) series, \(plant.gateways.count) gateways (\(scale) × \(registry.devices))"
            )
            return
        }
        var config: DaemonConfig
        do {
            config = try DaemonConfig.resolve(file: nil, environment: [:], overrides: .init(broker: broker, clientID: clientID))
        } catch {
            throw fail("\(error)")
        }
        config.mqtt.cleanStart = true

        var options = SimulationOptions()
        options.seed = seed
        options.qos = qos
        options.imperfect = !clean
        options.count = count
        options.durationMs = duration.flatMap(TimeArgument.parseDuration)
        options.fromMs = from.flatMap(Self.parseTime)
        if let rate {
            options.pace = .rate(rate)
        } else if speed == "max" {
            options.pace = .maximum
        } else {
            let factor = speed.flatMap(Double.init) ?? 1
            options.pace = .speed(factor)
            if factor > 1, options.durationMs == nil, options.count == nil, options.fromMs == nil {
                options.durationMs = 7 * 86_400_000  // faster than real time needs an end before "now"
            }
        }
        if options.pace == .maximum, options.durationMs == nil, options.count == nil {
            options.durationMs = 7 * 86_400_000
        }

        let simulator = Simulator(plant: plant, options: options, mqtt: config.mqtt)
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupt.setEventHandler { simulator.stop() }
        interrupt.resume()

        let onTerminal = isatty(STDERR_FILENO) == 1
        let report: SimulationReport
        do {
            report = try simulator.run { line in
                if onTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8)) }
            }
        } catch {
            throw fail("simulation stopped: \(error)")
        }
        if onTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        switch format {
        case .json:
            try printJSON(report)
        case .csv:
            printTable(
                ["device", "format", "messages", "readings"], format: .csv,
                report.devices.map { [$0.device, $0.format, String($0.messages), String($0.readings)] })
        case .table:
            printTable(
                ["device", "format", "messages", "readings"],
                report.devices.filter { $0.messages > 0 }.map { [$0.device, $0.format, String($0.messages), String($0.readings)] })
            print("")
            print("plant time       \(report.plantFrom) .. \(report.plantTo) (\(report.ticks) ticks)")
            print(
                "published        \(report.messagesPublished) messages ("
                    + report.perFormat.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")")
            print("readings sent    \(report.readingsExpected) (what the daemon should store)")
            print(
                "imperfections    \(report.malformed) malformed, \(report.foreign) foreign (another gateway's device), \(report.duplicates) duplicated, \(report.late) late, \(report.outOfOrder) out of order"
            )
            print("wall time        \(String(format: "%.1f", report.wallSeconds)) s")
        }
    }

    /// RFC 3339, or a date taken as local midnight in the machine's zone.
    static func parseTime(_ text: String) -> Int64? {
        if let ms = Timestamp.parseRFC3339(text) { return ms }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = .current
        f.dateFormat = "yyyy-MM-dd"
        return f.date(from: text).map { Int64($0.timeIntervalSince1970 * 1000) }
    }
}
