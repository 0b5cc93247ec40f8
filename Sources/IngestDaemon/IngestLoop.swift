import Aggregation
import Foundation
import Glibc
import Logging
import MQTTClient
import PayloadDecoders
public import PlantRegistry
public import ReadingStore
import Synchronization
import Telemetry

/// The hot path, in one place: wait for the socket → read and decode straight into the batch →
/// commit the batch → release the PUBACKs it earned → housekeeping.
///
/// It runs on one dedicated thread because every step blocks and their order is the whole
/// point: a QoS 1 message is acknowledged only after the transaction holding its readings
/// has committed, so a crash at any instant loses nothing the broker considers delivered.
public final class IngestLoop: @unchecked Sendable {
    // @unchecked: `run()` touches the connection, store and batch from its own thread only;
    // other threads only call `requestStop()`, which sets an atomic.
    private var config: DaemonConfig
    private var plant: Plant
    private let store: any TelemetryStore
    private let logger: Logger
    private let notifier: SystemdNotifier
    private let metrics: IngestMetrics?
    /// Loads the configuration and registry anew (SIGHUP); nil when reloading is not offered.
    private let reloadSource: (@Sendable () throws -> (DaemonConfig, Plant))?
    private let stopRequested = Atomic<Bool>(false)
    private let reloadRequested = Atomic<Bool>(false)
    private var totals = IngestTotals()
    private var quarantineLog = QuarantineLog()

    public init(config: DaemonConfig, plant: Plant, store: any TelemetryStore, logger: Logger,
                notifier: SystemdNotifier = SystemdNotifier(environment: [:]), metrics: IngestMetrics? = nil,
                reloadSource: (@Sendable () throws -> (DaemonConfig, Plant))? = nil) {
        self.metrics = metrics
        self.config = config
        self.plant = plant
        self.store = store
        self.logger = logger
        self.notifier = notifier
        self.reloadSource = reloadSource
    }

    /// Asks `run()` to stop reading, commit, acknowledge, disconnect and return.
    public func requestStop() { stopRequested.store(true, ordering: .relaxed) }

    /// Asks `run()` to reload the registry and ingest settings between two batches (SIGHUP).
    public func requestReload() { reloadRequested.store(true, ordering: .relaxed) }

    private var stopping: Bool { stopRequested.load(ordering: .relaxed) }

    /// Runs until `requestStop()`; throws only for faults that retrying cannot fix.
    public func run() throws {
        var limits = config.ingest
        var decoder = Self.decoder(plant, limits)
        let connection = try MQTTConnection(options: config.mqtt)
        var filters = config.subscriptions(for: plant.gateways.filter { $0.decoder != .sparkplug }.map(\.topic))
        connection.subscribe(to: filters, qos: 1)
        var link = LinkLog(logger: logger, broker: "\(config.mqtt.host):\(config.mqtt.port)", filters: filters)
        var announcedReady = false
        let notifier = self.notifier
        let metrics = self.metrics
        connection.onEvent { event in
            link.record(event)
            switch event {
            case .connected: metrics?.setConnected(true)
            case .disconnected: metrics?.setConnected(false)
            default: break
            }
            if case .subscribed = event, !announcedReady {
                announcedReady = true
                notifier.send("READY=1\nSTATUS=subscribed to \(filters.count) topic filter(s)")
            }
        }
        var heartbeat = Heartbeat(notifier: notifier)

        var batch = IngestBatch()
        batch.readings.reserveCapacity(limits.batchMaxReadings + 256)
        let onMessage: (MQTTMessage) -> Void = { message in
            if batch.messages == 0 { batch.openedAtNs = Clock.monotonicNs() }
            decoder.decode(topic: message.topic, payload: message.payload, receivedAtMs: Clock.wallMs(),
                           eventTime: message.eventTime, into: &batch)
            if let states = decoder.sparkplug?.takeStates(), !states.isEmpty { batch.deviceStates += states }
        }
        connection.onMessage(onMessage)
        // Sparkplug B gateways: Zhizao is their primary host, on a session of its own.
        let host = try decoder.sparkplug.map { try SparkplugHostLink(options: config.mqtt, session: $0, logger: logger) }
        host?.start(onMessage: onMessage)
        host?.ensureConnected()
        var maxDelayNs = UInt64(limits.batchMaxDelayMs) * 1_000_000
        let batchIsFull = { batch.readings.count >= limits.batchMaxReadings || batch.messages >= limits.batchMaxReadings }

        /// Swaps in a new registry and ingest settings between batches; a bad one is refused
        /// and the running one kept.
        func reload() {
            guard let reloadSource else { return }
            notifier.reloading()
            do {
                let (newConfig, newPlant) = try reloadSource()
                try store.prepareSeries(newPlant.series)
                store.enableAggregation(AggregationPlan(plant: newPlant))
                if newConfig.mqtt.host != config.mqtt.host || newConfig.mqtt.port != config.mqtt.port
                    || newConfig.mqtt.clientID != config.mqtt.clientID || newConfig.databasePath != config.databasePath {
                    logger.warning("broker, client id or database changed in the configuration: they take effect at the next restart")
                }
                plant = newPlant
                limits = newConfig.ingest
                config.ingest = limits
                decoder = Self.decoder(newPlant, limits, keeping: decoder.sparkplug)
                maxDelayNs = UInt64(limits.batchMaxDelayMs) * 1_000_000
                filters = newConfig.subscriptions(for: newPlant.gateways.filter { $0.decoder != .sparkplug }.map(\.topic))
                connection.updateSubscriptions(to: filters)
                logger.notice("reloaded the registry and ingest settings", metadata: [
                    "devices": "\(newPlant.devices.count)", "series": "\(newPlant.series.count)", "filters": "\(filters.joined(separator: " "))"])
            } catch {
                logger.error("reload refused; keeping the running registry and settings", metadata: ["reason": "\(error)"])
            }
            notifier.send("READY=1\nSTATUS=\(heartbeat.status(totals))")
        }

        var backoffMs = 250
        // The ingest socket, and the Sparkplug host's when there is one; allocated once.
        var fds = [pollfd](repeating: pollfd(), count: 2)
        while !stopping {
            // Connect (again) with backoff, forever; each state change is logged once by LinkLog.
            do {
                try connection.connect()
                try connection.flushWrites()
            } catch {
                link.connectFailed(error)
                sleepInterruptibly(ms: backoffMs)
                backoffMs = min(backoffMs * 2, 30_000)
                continue
            }
            do {
                while !stopping {
                    guard let fd = connection.socketDescriptor else { throw MQTTError.notConnected }
                    var events = Int16(POLLIN)
                    if batch.isEmpty && connection.wantsWrite { events |= Int16(POLLOUT) }
                    var timeoutMs: Int32 = 250
                    if !batch.isEmpty {
                        let age = Clock.monotonicNs() &- batch.openedAtNs
                        timeoutMs = age >= maxDelayNs ? 0 : Int32((maxDelayNs - age) / 1_000_000)
                    }
                    fds[0] = pollfd(fd: fd, events: events, revents: 0)
                    var watched = 1
                    if let hostFD = host?.fd {
                        fds[1] = pollfd(fd: hostFD, events: Int16(POLLIN) | (batch.isEmpty && host!.wantsWrite ? Int16(POLLOUT) : 0), revents: 0)
                        watched = 2
                    }
                    let ready = poll(&fds, nfds_t(watched), timeoutMs)
                    var drained = true
                    if ready > 0 && fds[0].revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 {
                        drained = try connection.readAvailable(shouldStop: batchIsFull) == .drained
                    }
                    if ready > 0, watched > 1, fds[1].revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 {
                        host?.read(shouldStop: batchIsFull)
                    }
                    if !batch.isEmpty {
                        let aged = Clock.monotonicNs() &- batch.openedAtNs >= maxDelayNs
                        var commitNow = batchIsFull() || aged || stopping
                        if !commitNow && drained {
                            // The socket went quiet: linger briefly so a burst lands in one commit.
                            var q = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                            commitNow = poll(&q, 1, Int32(limits.lingerMs)) <= 0
                        }
                        if commitNow { commit(&batch) }
                    }
                    // Only with nothing uncommitted may queued packets (the PUBACKs) leave.
                    if batch.isEmpty && connection.wantsWrite { try connection.flushWrites() }
                    if batch.isEmpty { host?.flush() }
                    if batch.isEmpty && reloadRequested.exchange(false, ordering: .relaxed) {
                        reload()
                        if connection.wantsWrite { try connection.flushWrites() }
                    }
                    if announcedReady { heartbeat.beat(totals) }
                    try connection.housekeeping()
                    if batch.isEmpty { host?.housekeeping() }
                }
            } catch {
                // The messages of an uncommitted batch were never acknowledged; store them anyway
                // (the broker redelivers them and the duplicates are ignored).
                if !batch.isEmpty { commit(&batch) }
                // A link that worked reconnects at once; one refused or dropped at login backs off.
                let wasConnected = link.connected
                if wasConnected { link.lost(error) } else { link.droppedBeforeConnack(error) }
                backoffMs = wasConnected ? 250 : min(backoffMs * 2, 30_000)
                sleepInterruptibly(ms: backoffMs)
                continue
            }
        }
        notifier.send("STOPPING=1\nSTATUS=stopping: committing and acknowledging")
        if !batch.isEmpty { commit(&batch) }
        try? connection.flushWrites()
        host?.flush()
        host?.stop()
        connection.disconnect()
        logger.info("ingest stopped", metadata: totals.metadata())
    }

    /// Commits until it succeeds: a full disk or locked file must not cost the batch, and its
    /// messages stay unacknowledged (so safe at the broker) until it does.
    private func commit(_ batch: inout IngestBatch) {
        var failures = 0
        while true {
            do {
                let started = Clock.monotonicNs()
                let committedAt = Clock.wallMs()
                let outcome = try store.commit(batch, committedAtMs: committedAt)
                totals.add(batch, outcome)
                metrics?.record(batch, outcome, commitNs: Clock.monotonicNs() &- started, committedAtMs: committedAt)
                if !batch.quarantined.isEmpty { quarantineLog.record(batch.quarantined, logger: logger) }
                if failures > 0 { logger.notice("commit succeeded again", metadata: ["retries": "\(failures)"]) }
                batch.reset()
                return
            } catch {
                // Say why once, then once a minute while it lasts: the broker keeps the messages.
                if failures % 60 == 0 {
                    logger.error(failures == 0 ? "commit failed; retrying every second without acknowledging"
                                               : "commit still failing; still not acknowledging",
                                 metadata: ["error": "\(error)", "readings": "\(batch.readings.count)", "seconds": "\(failures)"])
                }
                failures += 1
                notifier.send("WATCHDOG=1\nSTATUS=commit failing for \(failures) s; not acknowledging")
                Glibc.sleep(1)
            }
        }
    }

    static func decoder(_ plant: Plant, _ limits: IngestLimits, keeping session: SparkplugSession? = nil) -> PayloadDecoder {
        PayloadDecoder(plant: plant, maxPayloadBytes: limits.maxPayloadBytes,
                       maxFutureSkewMs: Int64(limits.maxFutureSkewSeconds) * 1000,
                       quarantinedPayloadBytes: limits.quarantinePayloadBytes,
                       sparkplug: limits.sparkplug, keeping: session)
    }

    private func sleepInterruptibly(ms: Int) {
        var left = ms
        while left > 0 && !stopping {
            usleep(UInt32(min(left, 100)) * 1000)
            left -= 100
            // Reconnecting is the loop doing its work: keep the watchdog fed meanwhile.
            if notifier.watchdogIntervalNs != nil { notifier.send("WATCHDOG=1") }
        }
    }
}

/// Quarantined messages in the log: each at debug level with its topic and reason, and a
/// summary by reason at most every ten seconds at notice level, so bad input cannot flood the
/// journal. Payloads are never logged.
struct QuarantineLog {
    var pending: [String: Int] = [:]
    var lastTopic: [String: String] = [:]
    var lastSummary: UInt64 = 0

    mutating func record(_ entries: [IngestBatch.Quarantined], logger: Logger) {
        for e in entries {
            logger.debug("quarantined", metadata: ["topic": "\(e.topic)", "reason": "\(e.rejection.reason.rawValue)",
                                                   "detail": "\(e.rejection.detail)"])
            pending[e.rejection.reason.rawValue, default: 0] += 1
            lastTopic[e.rejection.reason.rawValue] = e.topic
        }
        let now = Clock.monotonicNs()
        guard now &- lastSummary >= 10_000_000_000 else { return }
        lastSummary = now
        for (reason, n) in pending.sorted(by: { $0.key < $1.key }) {
            logger.notice("messages quarantined", metadata: ["reason": "\(reason)", "count": "\(n)",
                                                             "topic": "\(lastTopic[reason] ?? "")", "hint": "zhizao quarantine"])
        }
        pending = [:]
        lastTopic = [:]
    }
}

/// WATCHDOG=1 from the loop that does the work (so a hung loop is restarted), and a STATUS
/// line with the ingest rate every few seconds.
struct Heartbeat {
    let notifier: SystemdNotifier
    var lastWatchdog: UInt64 = 0
    var lastStatus: UInt64 = 0
    var lastInserted = 0

    mutating func beat(_ totals: IngestTotals) {
        guard notifier.isEnabled else { return }
        let now = Clock.monotonicNs()
        if let interval = notifier.watchdogIntervalNs, now &- lastWatchdog >= interval {
            lastWatchdog = now
            notifier.send("WATCHDOG=1")
        }
        if now &- lastStatus >= 5_000_000_000 {
            let rate = lastStatus == 0 ? 0 : Double(totals.inserted - lastInserted) / (Double(now &- lastStatus) / 1e9)
            lastStatus = now
            lastInserted = totals.inserted
            notifier.send("STATUS=\(Int(rate)) readings/s; \(totals.inserted) stored, \(totals.quarantined) quarantined since start")
        }
    }

    func status(_ totals: IngestTotals) -> String {
        "\(totals.inserted) readings stored, \(totals.quarantined) quarantined since start"
    }
}

/// Running totals, logged when the loop stops (benchmarks read this line).
struct IngestTotals {
    var messages = 0
    var inserted = 0
    var duplicates = 0
    var quarantined = 0
    var commits = 0
    var firstMessageNs: UInt64 = 0
    var lastCommitNs: UInt64 = 0

    mutating func add(_ batch: IngestBatch, _ outcome: CommitOutcome) {
        if commits == 0 { firstMessageNs = batch.openedAtNs }
        commits += 1
        messages += batch.messages
        inserted += outcome.inserted
        duplicates += outcome.duplicates
        quarantined += outcome.quarantined
        lastCommitNs = Clock.monotonicNs()
    }

    func metadata() -> Logger.Metadata {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        let span = Double(lastCommitNs &- firstMessageNs) / 1e9
        let rate = span > 0 ? Double(inserted) / span : 0
        return [
            "messages": "\(messages)", "readings": "\(inserted)", "duplicates": "\(duplicates)",
            "quarantined": "\(quarantined)", "commits": "\(commits)",
            "first_to_last_commit_s": "\(String(format: "%.3f", span))",
            "readings_per_s": "\(Int(rate))", "cpu_s": "\(String(format: "%.3f", cpu))",
            "max_rss_kb": "\(usage.ru_maxrss)",
        ]
    }
}

/// Logs connection state changes once each, not once per retry: a broker that is down or
/// refuses our login yields one line until the link works again.
struct LinkLog {
    let logger: Logger
    let broker: String
    let filters: [String]
    var connected = false
    var subscribed = false
    /// Problems already reported since the last successful connect.
    var reported: Set<String> = []

    mutating func record(_ event: MQTTConnection.Event) {
        switch event {
        case .connected:
            if !connected {
                logger.info("connected to the broker; subscribing", metadata: meta(["filters": filters.joined(separator: " ")]))
            }
            connected = true
            reported = []
        case .connectionRefused(let code, let reason):
            once("refused \(code)", .error, "the broker refused the connection: \(reason)",
                 ["code": "\(code)", "hint": "check broker.username, the password and the broker's ACL"])
        case .disconnected:
            lost(nil)
        case .subscribed(let granted):
            if granted.contains(where: { $0 > 2 }) {
                once("suback", .error, "the broker refused a subscription (check its ACL)", ["granted": "\(granted)"])
            } else if !subscribed {
                subscribed = true
                logger.info("subscribed", metadata: meta(["granted_qos": "\(granted)"]))
            }
        case .published:
            break
        }
    }

    mutating func connectFailed(_ error: any Error) {
        once("unreachable", .warning, "cannot reach the broker; retrying with backoff", ["error": "\(error)"])
    }

    /// The link failed before the broker accepted it (a TLS handshake refused, the socket
    /// closed at once): reported once, unless the broker's refusal already said why.
    mutating func droppedBeforeConnack(_ error: any Error) {
        guard reported.isEmpty else { return }
        once("unreachable", .warning, "cannot reach the broker; retrying with backoff", ["error": "\(error)"])
    }

    mutating func lost(_ error: (any Error)?) {
        guard connected else { return }
        connected = false
        subscribed = false
        logger.warning("connection to the broker lost; reconnecting", metadata: meta(error.map { ["error": "\($0)"] } ?? [:]))
    }

    private mutating func once(_ key: String, _ level: Logger.Level, _ message: String, _ extra: [String: String]) {
        guard reported.insert(key).inserted else { return }
        logger.log(level: level, "\(message)", metadata: meta(extra))
    }

    private func meta(_ extra: [String: String]) -> Logger.Metadata {
        var m: Logger.Metadata = ["broker": "\(broker)"]
        for (k, v) in extra { m[k] = "\(v)" }
        return m
    }
}

/// Clocks read on the hot path (vDSO calls, no allocation).
enum Clock {
    static func wallMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
