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

/// The hot path, in one place: wait for the sockets → read and decode straight into the batch →
/// commit the batch → release the acknowledgements it earned → housekeeping → reload.
///
/// It runs on one dedicated thread because every step blocks and their order is the whole
/// point: a QoS 1 message is acknowledged only after the transaction holding its readings has
/// committed, so a crash at any instant loses nothing the broker considers delivered. `run()`
/// is a small loop over named steps on one `LoopState`; the sources (the ingest session, the
/// Sparkplug host) sit behind `AcknowledgingSource`, and the only place that lets their
/// acknowledgements go is `release(_:)`, reached only with an empty batch.
public final class IngestLoop: @unchecked Sendable {
    // @unchecked: `run()` touches the sources, store and state from its own thread only; other
    // threads only call `requestStop()` and `requestReload()`, which set atomics.
    private var config: DaemonConfig
    private var plant: Plant
    private let sources: [any AcknowledgingSource]
    private let sparkplug: SparkplugSession?
    private let store: any TelemetryStore
    private let logger: Logger
    private let notifier: SystemdNotifier
    private let metrics: IngestMetrics?
    /// Loads the configuration and registry anew (SIGHUP); nil when reloading is not offered.
    private let reloadSource: (@Sendable () throws -> (DaemonConfig, Plant))?
    /// How long a failing commit waits before it tries again (a busy database waits less).
    private let retryDelayMs: Int
    /// Rows one retention step removes at most, and the least time between two steps.
    private let retentionStepRows: Int
    private let retentionStepIntervalMs: Int
    private let stopRequested = Atomic<Bool>(false)
    private let reloadRequested = Atomic<Bool>(false)

    /// A loop over the given sources; `sparkplug` is the Sparkplug host's bookkeeping that the
    /// decoder shares (nil without Sparkplug gateways). With `config.retention` set, the loop
    /// prunes between batches: at most `retentionStepRows` rows per step, steps at least
    /// `retentionStepIntervalMs` apart.
    public init(
        config: DaemonConfig, plant: Plant, store: any TelemetryStore, sources: [any AcknowledgingSource],
        sparkplug: SparkplugSession? = nil, logger: Logger,
        notifier: SystemdNotifier = SystemdNotifier(environment: [:]), metrics: IngestMetrics? = nil,
        retryDelayMs: Int = 1000, retentionStepRows: Int = 2000, retentionStepIntervalMs: Int = 2000,
        reloadSource: (@Sendable () throws -> (DaemonConfig, Plant))? = nil
    ) {
        self.retentionStepRows = retentionStepRows
        self.retentionStepIntervalMs = retentionStepIntervalMs
        self.config = config
        self.plant = plant
        self.store = store
        self.sources = sources
        self.sparkplug = sparkplug
        self.logger = logger
        self.notifier = notifier
        self.metrics = metrics
        self.retryDelayMs = retryDelayMs
        self.reloadSource = reloadSource
    }

    /// A loop over MQTT: the ingest session, and the Sparkplug host when the registry has
    /// Sparkplug gateways.
    public convenience init(
        config: DaemonConfig, plant: Plant, store: any TelemetryStore, logger: Logger,
        notifier: SystemdNotifier = SystemdNotifier(environment: [:]), metrics: IngestMetrics? = nil,
        reloadSource: (@Sendable () throws -> (DaemonConfig, Plant))? = nil
    ) throws {
        var sources: [any AcknowledgingSource] = [try IngestSession(config: config, plant: plant, logger: logger, metrics: metrics)]
        var host: SparkplugHost?
        if plant.gateways.contains(where: { $0.decoder == .sparkplug }) {
            host = try SparkplugHost(config: config, plant: plant, logger: logger)
            sources.append(host!)
        }
        self.init(
            config: config, plant: plant, store: store, sources: sources, sparkplug: host?.session, logger: logger,
            notifier: notifier, metrics: metrics, reloadSource: reloadSource)
    }

    /// Asks `run()` to stop reading, commit, acknowledge, disconnect and return.
    public func requestStop() { stopRequested.store(true, ordering: .relaxed) }

    /// Asks `run()` to reload the registry and ingest settings between two batches (SIGHUP).
    public func requestReload() { reloadRequested.store(true, ordering: .relaxed) }

    private var stopping: Bool { stopRequested.load(ordering: .relaxed) }

    /// What the loop carries from one turn to the next.
    struct LoopState {
        var batch = IngestBatch()
        var limits: IngestLimits
        var decoder: PayloadDecoder
        var maxDelayNs: UInt64
        /// How long the last successful commit took (see `ageLimitNs`).
        var lastCommitNs: UInt64 = 0
        /// The sockets of the sources that are up; allocated once.
        var polls: [pollfd]
        /// Which source each watched entry of `polls` belongs to.
        var polled: [Int]
        var watched = 0
        /// Every source read to the end of what it had (so a quiet moment may close the batch).
        var drained = true
        /// A source's link broke: commit what was read before it reconnects.
        var sourceWentDown = false
        var announcedReady = false
        /// The longest a turn waits for the sockets: a quarter second, or half the watchdog interval.
        var idleWaitMs: Int32 = 250
        var heartbeat: Heartbeat
        var totals = IngestTotals()
        var quarantineLog = QuarantineLog()
        var disk: DiskSpaceWatch
        var retention: RetentionPacer

        /// How old the batch's first message may get before it commits: `batch_max_delay_ms`,
        /// or while the daemon is behind (its last commit took longer than that) as long as
        /// that commit took, up to `catchUpFactor` times the delay. Part of a commit's cost is
        /// per batch and grows with the plant, not with the readings (every series' B-tree
        /// pages, every scope's hour and day totals, every touched machine's minutes): with
        /// 50 ms batches a 40-plant stream spent most of its time on it and fell behind. A
        /// quiet socket still closes a batch after `linger_ms`, so a daemon that keeps up
        /// commits as often as before.
        var ageLimitNs: UInt64 { IngestLoop.ageLimitNs(maxDelayNs: maxDelayNs, lastCommitNs: lastCommitNs) }
    }

    /// A batch waits at most this many times `batch_max_delay_ms` while the daemon catches up.
    package static let catchUpFactor: UInt64 = 20

    /// The batch age limit after a commit that took `lastCommitNs` (see `LoopState.ageLimitNs`).
    package static func ageLimitNs(maxDelayNs: UInt64, lastCommitNs: UInt64) -> UInt64 {
        max(maxDelayNs, min(lastCommitNs, maxDelayNs * catchUpFactor))
    }

    /// Runs until `requestStop()`.
    public func run() throws {
        var state = LoopState(
            limits: config.ingest, decoder: Self.decoder(plant, config.ingest, keeping: sparkplug),
            maxDelayNs: UInt64(config.ingest.batchMaxDelayMs) * 1_000_000,
            polls: [pollfd](repeating: pollfd(), count: sources.count),
            polled: [Int](repeating: 0, count: sources.count),
            heartbeat: Heartbeat(notifier: notifier),
            disk: DiskSpaceWatch(path: config.databasePath, logger: logger, metrics: metrics),
            retention: RetentionPacer(
                policy: config.retention, calendar: AggregationPlan(plant: plant).calendar,
                stepRows: retentionStepRows,
                stepIntervalNs: UInt64(retentionStepIntervalMs) * 1_000_000))
        state.batch.readings.reserveCapacity(config.ingest.batchMaxReadings + 256)
        if let half = notifier.watchdogIntervalNs { state.idleWaitMs = Int32(clamping: max(1, min(250, half / 1_000_000))) }
        housekeeping(&state)
        while !stopping {
            wait(&state)
            read(&state)
            if !state.batch.isEmpty, batchIsDue(&state) { commit(&state) }
            if state.batch.isEmpty {
                // Only with nothing uncommitted may acknowledgements leave or links reconnect.
                release(&state)
                housekeeping(&state)
                if reloadRequested.exchange(false, ordering: .relaxed) { reload(&state) }
            }
            if state.announcedReady { state.heartbeat.beat(state.totals) }
        }
        shutdown(&state)
    }

    // MARK: - The steps

    /// Waits until a source's socket is readable (or writable with acknowledgements to send and
    /// nothing uncommitted), the batch's delay runs out, or a quarter second passes.
    func wait(_ state: inout LoopState) {
        // A quarter second at most, and no longer than half the watchdog interval (so WATCHDOG=1
        // keeps its pace even when nothing arrives).
        var timeoutMs: Int32 = state.idleWaitMs
        if !state.batch.isEmpty {
            let age = Clock.monotonicNs() &- state.batch.openedAtNs
            let limit = state.ageLimitNs
            timeoutMs = age >= limit ? 0 : min(state.idleWaitMs, Int32((limit - age) / 1_000_000))
        }
        state.watched = 0
        for (i, source) in sources.enumerated() {
            guard let fd = source.descriptor else { continue }
            var events = Int16(POLLIN)
            if state.batch.isEmpty && source.wantsWrite { events |= Int16(POLLOUT) }
            state.polls[state.watched] = pollfd(fd: fd, events: events, revents: 0)
            state.polled[state.watched] = i
            state.watched += 1
        }
        // With every source down this only sleeps until the next reconnect attempt.
        _ = poll(&state.polls, nfds_t(state.watched), timeoutMs)
    }

    /// Reads every readable source, decoding each message straight into the batch.
    func read(_ state: inout LoopState) {
        state.drained = true
        for w in 0..<state.watched where state.polls[w].revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 {
            let limit = state.limits.batchMaxReadings
            let outcome = sources[state.polled[w]].read(
                shouldStop: { state.batch.readings.count >= limit || state.batch.messages >= limit },
                deliver: { message in
                    if state.batch.messages == 0 { state.batch.openedAtNs = Clock.monotonicNs() }
                    state.decoder.decode(
                        topic: message.topic, payload: message.payload, receivedAtMs: Clock.wallMs(),
                        eventTime: message.eventTime, into: &state.batch)
                })
            switch outcome {
            case .drained: break
            case .stoppedEarly: state.drained = false
            case .down: state.sourceWentDown = true
            }
        }
    }

    /// The batch commits when full, when its first message is `batch_max_delay_ms` old (longer
    /// while the daemon catches up: `LoopState.ageLimitNs`), when a
    /// link broke or the loop stops, or when the sockets stay quiet for `linger_ms` (so a
    /// burst lands in one commit rather than many small ones).
    func batchIsDue(_ state: inout LoopState) -> Bool {
        let limit = state.limits.batchMaxReadings
        if state.batch.readings.count >= limit || state.batch.messages >= limit || stopping || state.sourceWentDown {
            return true
        }
        if Clock.monotonicNs() &- state.batch.openedAtNs >= state.ageLimitNs { return true }
        guard state.drained else { return false }
        for w in 0..<state.watched {
            state.polls[w].events = Int16(POLLIN)
            state.polls[w].revents = 0
        }
        return poll(&state.polls, nfds_t(state.watched), Int32(state.limits.lingerMs)) <= 0
    }

    /// Commits the batch, retrying until it succeeds: a full disk or a locked file must not cost
    /// it, and its messages stay unacknowledged (so safe at the broker) meanwhile.
    func commit(_ state: inout LoopState) {
        var failing = CommitFailures(logger: logger, retryDelayMs: retryDelayMs)
        while true {
            do {
                let started = Clock.monotonicNs()
                let committedAt = Clock.wallMs()
                let outcome = try store.commit(state.batch, committedAtMs: committedAt)
                state.totals.add(state.batch, outcome)
                let commitNs = Clock.monotonicNs() &- started
                state.lastCommitNs = commitNs
                metrics?.record(state.batch, outcome, commitNs: commitNs, committedAtMs: committedAt)
                logger.trace("committed", metadata: ["readings": "\(state.batch.readings.count)", "commit_us": "\(commitNs / 1000)"])
                if !state.batch.quarantined.isEmpty { state.quarantineLog.record(state.batch.quarantined, logger: logger) }
                failing.recovered()
                let effects = state.batch.outbound
                state.batch.reset()
                state.batch.outbound = effects  // published with the release, after the commit
                state.sourceWentDown = false
                return
            } catch {
                let waitMs = failing.failed(error, readings: state.batch.readings.count)
                notifier.send(
                    "WATCHDOG=1\nSTATUS=commit failing (\(failing.code.rawValue)): attempt \(failing.attempts), for \(failing.seconds) s; not acknowledging"
                )
                usleep(UInt32(waitMs) * 1000)
            }
        }
    }

    /// Lets every source's acknowledgements go and publishes what decoding asked for
    /// (Sparkplug rebirth requests, STATE). Reached only with nothing uncommitted.
    func release(_ state: inout LoopState) {
        precondition(state.batch.isEmpty, "acknowledgements may leave only when everything read is committed")
        for source in sources {
            source.release()
            if !state.batch.outbound.isEmpty { source.publish(state.batch.outbound) }
        }
        state.batch.outbound.removeAll(keepingCapacity: true)
    }

    /// Keep-alives, reconnects, Sparkplug reorder timeouts, the disk's free space, a retention step; tells systemd
    /// READY once every source is. (The watchdog is fed every turn after READY, reconnecting included: that is
    /// the loop doing its work.)
    func housekeeping(_ state: inout LoopState) {
        for source in sources { source.housekeeping() }
        state.disk.check(nowNs: Clock.monotonicNs())
        prune(&state)
        if !state.announcedReady, sources.allSatisfy(\.isReady) {
            state.announcedReady = true
            notifier.send("READY=1\nSTATUS=subscribed; ingesting")
        }
    }

    /// One bounded retention step when one is due (`retention.raw_days`, `retention.minute_days`):
    /// reached only with nothing uncommitted, and short, so the next batch waits little.
    func prune(_ state: inout LoopState) {
        guard state.retention.isDue(nowNs: Clock.monotonicNs()) else { return }
        let (rawBefore, minuteBefore) = state.retention.policy.horizons(nowMs: Clock.wallMs(), calendar: state.retention.calendar)
        let started = Clock.monotonicNs()
        do {
            let step = try store.pruneStep(rawBefore: rawBefore, minuteBefore: minuteBefore, maxRows: state.retention.stepRows)
            let now = Clock.monotonicNs()
            logger.trace(
                "prune step",
                metadata: [
                    "readings": "\(step.readings)", "minutes": "\(step.minutes)",
                    "step_us": "\((now &- started) / 1000)",
                ])
            if let pass = state.retention.record(step, nowNs: now) {
                logger.info("retention pass done", metadata: ["readings": "\(pass.readings)", "minutes": "\(pass.minutes)"])
            }
        } catch {
            state.retention.failed(nowNs: Clock.monotonicNs())
            logger.warning("retention step failed; trying again in a minute", metadata: ["reason": "\(error)"])
        }
    }

    /// Swaps in a new registry and ingest settings between batches; a bad one is refused and
    /// the running one kept.
    func reload(_ state: inout LoopState) {
        guard let reloadSource else { return }
        notifier.reloading()
        do {
            let (newConfig, newPlant) = try reloadSource()
            // Every reload is on the audit trail with the registry's digest, and so is each
            // coefficient or factor it changes (they change computed figures without a reading);
            // recorded first, so a change the trail cannot hold is not made.
            let actor = AuditActor.current(command: "reload")
            try store.recordAudit(newPlant.changes(since: plant).map { actor.entry($0.subject, before: $0.before, after: $0.after) })
            try store.prepareSeries(newPlant.series)
            store.enableAggregation(AggregationPlan(plant: newPlant))
            if newConfig.mqtt.host != config.mqtt.host || newConfig.mqtt.port != config.mqtt.port
                || newConfig.mqtt.clientID != config.mqtt.clientID || newConfig.databasePath != config.databasePath
            {
                logger.warning("broker, client id or database changed in the configuration: they take effect at the next restart")
            }
            if sparkplug == nil, newPlant.gateways.contains(where: { $0.decoder == .sparkplug }) {
                logger.warning("a Sparkplug B gateway was added: the Sparkplug host starts at the next restart")
            }
            plant = newPlant
            config.ingest = newConfig.ingest
            state.limits = newConfig.ingest
            state.decoder = Self.decoder(newPlant, newConfig.ingest, keeping: sparkplug)
            state.maxDelayNs = UInt64(newConfig.ingest.batchMaxDelayMs) * 1_000_000
            state.retention.policy = newConfig.retention
            state.retention.calendar = AggregationPlan(plant: newPlant).calendar
            config.retention = newConfig.retention
            for source in sources { source.reload(config: newConfig, plant: newPlant) }
            logger.notice(
                "reloaded the registry and ingest settings",
                metadata: [
                    "devices": "\(newPlant.devices.count)", "series": "\(newPlant.series.count)",
                    "filters": "\(IngestSession.filters(newConfig, newPlant).joined(separator: " "))",
                ])
        } catch {
            logger.error("reload refused; keeping the running registry and settings", metadata: ["reason": "\(error)"])
        }
        notifier.send("READY=1\nSTATUS=\(state.heartbeat.status(state.totals))")
    }

    /// Stops reading, commits what was read, lets its acknowledgements go, then disconnects.
    func shutdown(_ state: inout LoopState) {
        notifier.send("STOPPING=1\nSTATUS=stopping: committing and acknowledging")
        if !state.batch.isEmpty { commit(&state) }
        release(&state)
        for source in sources { source.stop() }
        logger.info("ingest stopped", metadata: state.totals.metadata())
    }

    static func decoder(_ plant: Plant, _ limits: IngestLimits, keeping session: SparkplugSession?) -> PayloadDecoder {
        PayloadDecoder(
            plant: plant, maxPayloadBytes: limits.maxPayloadBytes,
            maxFutureSkewMs: Int64(limits.maxFutureSkewSeconds) * 1000,
            quarantinedPayloadBytes: limits.quarantinePayloadBytes,
            sparkplug: limits.sparkplug, keeping: session)
    }
}

/// A commit that keeps failing: says why once per kind of failure and then once a minute, and
/// decides how long to wait before the next try. A busy database (another writer holds the
/// lock) is retried soon; a full disk or an unwritable file waits longer, since only a person
/// or time fixes it.
struct CommitFailures {
    let logger: Logger
    let retryDelayMs: Int
    private(set) var code: StoreError.Code = .other
    private var failures = 0
    private var startedNs: UInt64 = 0
    private var lastLogNs: UInt64 = 0

    init(logger: Logger, retryDelayMs: Int) {
        self.logger = logger
        self.retryDelayMs = retryDelayMs
    }

    var seconds: Int { failures == 0 ? 0 : Int((Clock.monotonicNs() &- startedNs) / 1_000_000_000) }
    /// Failed attempts so far.
    var attempts: Int { failures }

    /// Records a failure and returns how long to wait before retrying (ms).
    mutating func failed(_ error: any Error, readings: Int) -> Int {
        let now = Clock.monotonicNs()
        let newCode = (error as? StoreError)?.code ?? .other
        if failures == 0 { startedNs = now }
        let first = failures == 0
        let changed = !first && newCode != code
        code = newCode
        failures += 1
        if first || changed || now &- lastLogNs >= 60_000_000_000 {
            lastLogNs = now
            let what = first ? "commit failed" : changed ? "commit still failing, now" : "commit still failing"
            logger.error(
                "\(what): \(Self.explain(code)); retrying without acknowledging",
                metadata: [
                    "code": "\(code.rawValue)", "error": "\(error)", "readings": "\(readings)",
                    "seconds": "\(seconds)",
                ])
        }
        switch code {
        case .busy, .conflict: return max(1, retryDelayMs / 5)
        case .diskFull, .readOnly, .corrupt, .cannotOpen, .io: return retryDelayMs * 2
        case .unavailable:
            // Reconnect with backoff: 2×, 4×, … the retry delay, at most 30 s between attempts.
            return min(30_000, retryDelayMs << min(failures, 8))
        case .other: return retryDelayMs
        }
    }

    mutating func recovered() {
        guard failures > 0 else { return }
        logger.notice("commit succeeded again", metadata: ["retries": "\(failures)", "code": "\(code.rawValue)"])
        failures = 0
    }

    static func explain(_ code: StoreError.Code) -> String {
        switch code {
        case .diskFull: "the disk holding the database is full; free space and ingest resumes by itself"
        case .busy: "the database is busy: another program holds its write lock"
        case .readOnly: "the database cannot be written (read-only file system or file permissions)"
        case .corrupt: "the database file is damaged; stop the daemon and restore it from a backup"
        case .cannotOpen: "the database file cannot be opened"
        case .io: "the disk reported an I/O error"
        case .unavailable: "the database server cannot be reached; reconnecting with backoff"
        case .conflict: "another daemon's transaction conflicted with this batch; retrying it"
        case .other: "the store refused the batch"
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
            logger.debug(
                "quarantined",
                metadata: [
                    "topic": "\(e.topic)", "reason": "\(e.rejection.reason.rawValue)",
                    "detail": "\(e.rejection.detail)",
                ])
            pending[e.rejection.reason.rawValue, default: 0] += 1
            lastTopic[e.rejection.reason.rawValue] = e.topic
        }
        let now = Clock.monotonicNs()
        guard now &- lastSummary >= 10_000_000_000 else { return }
        lastSummary = now
        for (reason, n) in pending.sorted(by: { $0.key < $1.key }) {
            logger.notice(
                "messages quarantined",
                metadata: [
                    "reason": "\(reason)", "count": "\(n)",
                    "topic": "\(lastTopic[reason] ?? "")", "hint": "zhizao quarantine",
                ])
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
        let cpu =
            Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
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
    var filters: [String]
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
            once(
                "refused \(code)", .error, "the broker refused the connection: \(reason)",
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

    /// We disconnect on purpose (shutdown): the disconnect event that follows is logged at info.
    mutating func closing() {
        guard connected else { return }
        connected = false
        subscribed = false
        logger.info("disconnecting from the broker", metadata: meta([:]))
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
