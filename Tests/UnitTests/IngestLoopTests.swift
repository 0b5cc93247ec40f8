import Aggregation
import Foundation
import Glibc
import IngestDaemon
import Logging
import MQTTClient
import PayloadDecoders
import PlantRegistry
import ReadingStore
import ServiceLifecycle
import Sparkplug
import Synchronization
import Telemetry
import Testing

/// The guarantee the product stands on, checked in process: an acknowledgement leaves only
/// after the commit that holds its message. The loop runs for real on its own thread against a
/// real SQLite file; only the MQTT sessions are stand-ins, which at every release look into the
/// database through a second connection and note any message released before it was stored.
@Suite("Ingest loop in process", .serialized)
struct IngestLoopTests {

    // MARK: - A stand-in MQTT session

    /// An `AcknowledgingSource` fed by the test: a pipe makes its "socket" readable when the
    /// test queues messages; `release()` checks the database before it lets anything go.
    final class FakeSource: AcknowledgingSource, @unchecked Sendable {
        // @unchecked: the queue and journal are behind the mutex; the rest is touched by the
        // loop's thread only (the test reads it after the loop has returned or through `state`).
        struct Message {
            var topic: String
            var payload: [UInt8]
            var readings: Int
        }
        struct Tally {
            var queue: [Message] = []
            var deliveredMessages = 0
            var deliveredReadings = 0
            var releases = 0
            /// Releases that found fewer of this source's readings stored than it had delivered.
            var violations: [String] = []
            var events: [String] = []
            var reloads = 0
        }

        let name: String
        let state = Mutex(Tally())
        /// How many of this source's readings the database holds (read through its own connection).
        let stored: @Sendable () throws -> Int
        private let pipe: (read: Int32, write: Int32)
        var stopped = false

        init(name: String, stored: @escaping @Sendable () throws -> Int) {
            self.name = name
            self.stored = stored
            var fds: [Int32] = [0, 0]
            precondition(Glibc.pipe(&fds) == 0)
            for fd in fds { _ = fcntl(fd, F_SETFL, O_NONBLOCK) }
            pipe = (fds[0], fds[1])
        }

        deinit {
            close(pipe.read)
            close(pipe.write)
        }

        /// Queues messages for the loop to read and wakes it.
        func send(_ messages: [Message]) {
            state.withLock { $0.queue += messages }
            poke()
        }

        /// Makes the socket readable (with or without a message waiting).
        func poke() {
            var b: UInt8 = 1
            _ = write(pipe.write, &b, 1)
        }

        var descriptor: Int32? { stopped ? nil : pipe.read }
        var wantsWrite: Bool { false }
        var isReady: Bool { true }

        func read(shouldStop: () -> Bool, deliver: (MQTTMessage) -> Void) -> SourceRead {
            var sink = [UInt8](repeating: 0, count: 256)
            while Glibc.read(pipe.read, &sink, sink.count) > 0 {}
            while !shouldStop() {
                guard let m = state.withLock({ $0.queue.isEmpty ? nil : $0.queue.removeFirst() }) else { return .drained }
                var topic = m.topic
                topic.withUTF8 { t in
                    m.payload.withUnsafeBytes { p in deliver(MQTTMessage(topic: UnsafeRawBufferPointer(t), payload: p)) }
                }
                state.withLock {
                    $0.deliveredMessages += 1
                    $0.deliveredReadings += m.readings
                }
            }
            poke()  // more may be queued: come back
            return .stoppedEarly
        }

        func release() { check("release") }

        /// Everything delivered so far must be in the database now.
        private func check(_ event: String) {
            let delivered = state.withLock { $0.deliveredReadings }
            let inDatabase = (try? stored()) ?? -1
            state.withLock {
                if event == "release" { $0.releases += 1 }
                $0.events.append("\(event) \(delivered)")
                if inDatabase < delivered {
                    $0.violations.append("\(name): \(event) with \(delivered) readings delivered but \(inDatabase) stored")
                }
            }
        }

        func publish(_ messages: [IngestBatch.Outbound]) {
            state.withLock { $0.events.append("publish \(messages.map(\.topic).joined(separator: " "))") }
        }
        func housekeeping() {}
        func reload(config: DaemonConfig, plant: Plant) {
            check("reload")
            state.withLock { $0.reloads += 1 }
        }
        func stop() {
            stopped = true
            state.withLock { $0.events.append("stop") }
        }
    }

    /// A real SQLite store whose commits can be made to fail, as a full disk or a held lock does.
    final class FlakyStore: TelemetryStore {
        let real: SQLiteStore
        let failWith = Mutex<StoreError?>(nil)
        let failures = Atomic<Int>(0)
        init(_ real: SQLiteStore) { self.real = real }
        func prepareSeries(_ keys: [SeriesKey]) throws { try real.prepareSeries(keys) }
        func enableAggregation(_ plan: AggregationPlan) { real.enableAggregation(plan) }
        func commit(_ batch: IngestBatch, committedAtMs: Int64) throws -> CommitOutcome {
            if let e = failWith.withLock({ $0 }) {
                failures.add(1, ordering: .relaxed)
                throw e
            }
            return try real.commit(batch, committedAtMs: committedAtMs)
        }
        func recordAudit(_ entries: [AuditEntry]) throws { try real.recordAudit(entries) }
        func pruneStep(rawBefore: Int64?, minuteBefore: Int64?, maxRows: Int) throws -> PruneProgress {
            try real.pruneStep(rawBefore: rawBefore, minuteBefore: minuteBefore, maxRows: maxRows)
        }
    }

    // MARK: - Harness

    /// The Sparkplug edge node of the host-session tests: pump-1 (Flow, Running) on edge-1.
    static let sparkplugGateway = SparkplugSessionTests.gateway

    /// The loop on its thread, its sources, and the database it writes.
    final class Rig: @unchecked Sendable {
        let database: String
        let plant: Plant
        let store: FlakyStore
        let native: FakeSource
        let sparkplug: FakeSource
        let loop: IngestLoop
        private let finished = Mutex<Bool>(false)
        private var thread: Thread?

        init(
            limits: IngestLimits = IngestLimits(), registry: [String: String] = [:],
            retention: RetentionPolicy = RetentionPolicy(), retentionStepRows: Int = 2000, retentionStepIntervalMs: Int = 2000,
            reload: (@Sendable () throws -> (DaemonConfig, Plant))? = nil
        ) throws {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zhizao-loop-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            database = dir + "/z.sqlite"
            var files = registry
            files["gateways/sp.yaml"] = files["gateways/sp.yaml"] ?? IngestLoopTests.sparkplugGateway
            plant = try Plant.load(directory: try Fixtures.registry(files))
            let real = try SQLiteStore(path: database)
            try real.prepareSeries(plant.series)
            real.enableAggregation(AggregationPlan(plant: plant))
            store = FlakyStore(real)
            let path = database
            native = FakeSource(name: "ingest") {
                try StoreReader(path: path).readings(limit: 1_000_000).filter { $0.device.hasPrefix("cnc-") }.count
            }
            sparkplug = FakeSource(name: "sparkplug") { try StoreReader(path: path).readings(device: "pump-1", limit: 1_000_000).count }
            var config = try DaemonConfig.resolve(file: nil, environment: [:])
            config.ingest = limits
            config.retention = retention
            loop = IngestLoop(
                config: config, plant: plant, store: store, sources: [native, sparkplug],
                sparkplug: SparkplugSession(plant: plant, settings: limits.sparkplug),
                logger: Logger(label: "test"), retryDelayMs: 20, retentionStepRows: retentionStepRows,
                retentionStepIntervalMs: retentionStepIntervalMs, reloadSource: reload)
        }

        func start() {
            let t = Thread { [self] in
                try? loop.run()
                finished.withLock { $0 = true }
            }
            t.start()
            thread = t
        }

        /// Stops the loop (waking it as a message would) and waits until `run()` returned.
        func stop() throws {
            loop.requestStop()
            // Wake it from a linger wait, as a message would, until it has returned.
            try waitFor("the loop to return") {
                native.poke()
                return self.finished.withLock { $0 }
            }
        }

        func stored(_ device: String) throws -> Int { try StoreReader(path: database).readings(device: device, limit: 1_000_000).count }
    }

    /// Waits for a condition, up to a minute (a bound that only a broken loop reaches).
    static func waitFor(_ what: String, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(60)
        while try !condition() {
            guard Date() < deadline else { throw TestFailure("timed out waiting for \(what)") }
            usleep(2_000)  // a poll of the condition, never an assertion after a pause
        }
    }

    static let t0: Int64 = 1_764_400_000_000

    /// Native JSON messages of cnc-1, one power reading each, seq from `from`.
    static func nativeMessages(_ range: Range<Int>, device: String = "cnc-1") -> [FakeSource.Message] {
        range.map { i in
            .init(
                topic: "zz/native/\(device)",
                payload: Array(#"{"device":"\#(device)","ts":\#(t0 + Int64(i) * 1000),"seq":\#(i),"metrics":{"power":\#(i)}}"#.utf8),
                readings: 1)
        }
    }

    /// An edge node's birth, its device's birth (one reading), then `count` DDATA of one reading each.
    static func sparkplugMessages(count: Int) throws -> [FakeSource.Message] {
        func m(_ name: String?, alias: UInt64?, _ type: SparkplugDataType, _ v: SparkplugValue) -> SparkplugMetric {
            SparkplugMetric(name: name, alias: alias, timestamp: nil, datatype: type, value: v)
        }
        var out: [FakeSource.Message] = [
            .init(
                topic: "spBv1.0/g1/NBIRTH/edge-1",
                payload: try SparkplugPayload.encode(timestamp: UInt64(t0), seq: 0, metrics: [m("bdSeq", alias: nil, .int64, .number(1))]),
                readings: 0),
            .init(
                topic: "spBv1.0/g1/DBIRTH/edge-1/pump",
                payload: try SparkplugPayload.encode(timestamp: UInt64(t0), seq: 1, metrics: [m("Flow", alias: 7, .double, .number(1))]),
                readings: 1),
        ]
        for i in 0..<count {
            out.append(
                .init(
                    topic: "spBv1.0/g1/DDATA/edge-1/pump",
                    payload: try SparkplugPayload.encode(
                        timestamp: UInt64(t0 + Int64(i + 1) * 1000), seq: UInt64((i + 2) % 256),
                        metrics: [m(nil, alias: 7, .double, .number(Double(i)))]),
                    readings: 1))
        }
        return out
    }

    static func smallBatches() -> IngestLimits {
        var limits = IngestLimits()
        limits.batchMaxReadings = 40
        limits.batchMaxDelayMs = 5
        limits.lingerMs = 1
        return limits
    }

    // MARK: - Tests

    @Test func noAcknowledgementLeavesBeforeTheCommitThatHoldsItsMessageOnBothSessions() throws {
        let rig = try Rig(limits: Self.smallBatches())
        rig.start()
        let sparkplug = try Self.sparkplugMessages(count: 400)
        for chunk in stride(from: 0, to: 2000, by: 250) {
            rig.native.send(Self.nativeMessages(chunk..<chunk + 250))
            rig.sparkplug.send(Array(sparkplug[min(sparkplug.count, chunk / 5)..<min(sparkplug.count, chunk / 5 + 50)]))
        }
        rig.sparkplug.send(Array(sparkplug[min(sparkplug.count, 400)...]))
        try Self.waitFor("every reading stored") { try rig.stored("cnc-1") == 2000 && rig.stored("pump-1") == 401 }
        try rig.stop()
        for source in [rig.native, rig.sparkplug] {
            let tally = source.state.withLock { $0 }
            #expect(tally.violations.isEmpty, "\(tally.violations.prefix(3))")
            #expect(tally.releases > 10, "\(source.name): many batches, each released after its commit (\(tally.releases))")
            #expect(tally.events.last == "stop", "\(source.name) disconnects last")
            #expect(
                tally.events.dropLast().last == "release \(tally.deliveredReadings)", "\(source.name): the last release covers everything")
        }
    }

    @Test func aFailingCommitReleasesNothingAndRetriesUntilItSucceeds() throws {
        let rig = try Rig(limits: Self.smallBatches())
        rig.start()
        rig.native.send(Self.nativeMessages(0..<10))
        try Self.waitFor("the first ten stored and released") { rig.native.state.withLock { $0.events.contains("release 10") } }
        rig.store.failWith.withLock { $0 = StoreError("disk full (test)", code: .diskFull) }
        rig.native.send(Self.nativeMessages(10..<50))
        // The loop has now tried (and failed) to commit the new messages several times, and is
        // still in its retry loop: nothing past the first ten may have been released.
        try Self.waitFor("three failed commits") { rig.store.failures.load(ordering: .relaxed) >= 3 }
        #expect(rig.native.state.withLock { $0.events }.allSatisfy { !$0.hasPrefix("release") || $0 == "release 10" || $0 == "release 0" })
        #expect(try rig.stored("cnc-1") == 10)
        rig.store.failWith.withLock { $0 = nil }
        try Self.waitFor("the retried batch stored and released") { rig.native.state.withLock { $0.events.contains("release 50") } }
        #expect(try rig.stored("cnc-1") == 50)
        try rig.stop()
        #expect(rig.native.state.withLock { $0.violations }.isEmpty)
    }

    @Test func aReloadHappensBetweenBatchesAndTakesEffectForTheNextMessage() throws {
        let extraDevice =
            Fixtures.nativeGateway + """

                  - id: cnc-2
                    workshop: ws1
                    line: l1
                    process: turning
                    metrics:
                      - {name: power, kind: gauge, unit: kW, measures: other}
                """
        // The new registry also changes a coefficient: the reload records that, and the digest.
        let plantYAML = Fixtures.plantYAML.replacingOccurrences(
            of: "timezone: Asia/Shanghai\n",
            with: "timezone: Asia/Shanghai\n    energy_coefficients: {electricity: 0.5}\n")
        let newRegistry = try Fixtures.registry([
            "gateways/native.yaml": extraDevice, "gateways/sp.yaml": Self.sparkplugGateway,
            "plant.yaml": plantYAML,
        ])
        let rig = try Rig(limits: Self.smallBatches()) {
            var c = try DaemonConfig.resolve(file: nil, environment: [:])
            c.ingest = IngestLoopTests.smallBatches()
            return (c, try Plant.load(directory: newRegistry))
        }
        rig.start()
        rig.native.send(Self.nativeMessages(0..<500))
        rig.loop.requestReload()
        rig.native.send(Self.nativeMessages(500..<1000))
        try Self.waitFor("the reload") { rig.native.state.withLock { $0.reloads } == 1 }
        rig.native.send(Self.nativeMessages(0..<3, device: "cnc-2"))
        try Self.waitFor("cnc-2, known only to the new registry, stored") { try rig.stored("cnc-2") == 3 }
        try Self.waitFor("all of cnc-1 stored") { try rig.stored("cnc-1") == 1000 }
        try rig.stop()
        let tally = rig.native.state.withLock { $0 }
        #expect(tally.violations.isEmpty, "the reload came with nothing uncommitted: \(tally.violations.prefix(3))")
        #expect(try StoreReader(path: rig.database).quarantine().isEmpty)
        let audit = try StoreReader(path: rig.database).audit()
        let newPlant = try Plant.load(directory: newRegistry)
        #expect(audit.map(\.command) == ["reload", "reload"])
        #expect(audit.map(\.subject) == ["registry", "site s1 energy_coefficients.electricity"])
        #expect(audit.first?.before == "sha256 \(rig.plant.registryDigest)" && audit.first?.after == "sha256 \(newPlant.registryDigest)")
        #expect(rig.plant.registryDigest != newPlant.registryDigest)
        #expect(audit.last?.before == "0.1229 kgce/unit" && audit.last?.after == "0.5 kgce/unit")
        #expect(audit.allSatisfy { !$0.user.isEmpty })
    }

    @Test func retentionPrunesOlderReadingsBetweenBatchesWithoutLosingNewOnes() throws {
        let rig = try Rig(
            limits: Self.smallBatches(), retention: RetentionPolicy(rawDays: 1), retentionStepRows: 50,
            retentionStepIntervalMs: 20)
        // 600 readings of cnc-1's power five days ago, one a minute, stored before the loop starts:
        // with 600 minute rollups too, 50 rows a step takes some 24 steps, 20 ms apart at least.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let old = now - 5 * 86_400_000
        let power = try #require(rig.plant.series.firstIndex(of: SeriesKey(device: "cnc-1", metric: "power")))
        var batch = IngestBatch()
        batch.readings = (0..<600).map { Reading(series: SeriesIndex(power), timestampMs: old + Int64($0) * 60_000, value: .number(1)) }
        _ = try rig.store.real.commit(batch, committedAtMs: now)
        func fresh(_ i: Int) -> FakeSource.Message {
            .init(
                topic: "zz/native/cnc-1",
                payload: Array(#"{"device":"cnc-1","ts":\#(now + Int64(i)),"seq":\#(i),"metrics":{"power":\#(i)}}"#.utf8), readings: 1)
        }
        func power1() throws -> [Int64] {
            try StoreReader(path: rig.database).readings(device: "cnc-1", limit: 1_000_000).filter { $0.metric == "power" }.map(
                \.timestampMs)
        }
        rig.native.send((0..<20).map(fresh))
        var sent = 20
        rig.start()
        // Each series keeps its two newest reads before the horizon (neighbours for late readings).
        let keptOldest = old + 598 * 60_000
        var sawBoth = false
        // The horizon is a local midnight a day or two back; minutes are pruned after the raw readings.
        func oldestMinute() throws -> Int64? { try StoreReader(path: rig.database).storage(nowMs: now).oldestMinute }
        try Self.waitFor("the old readings pruned to the two the horizon keeps, and their minutes folded") {
            if sent < 2000 {
                rig.native.send([fresh(sent)])
                sent += 1
            }
            let ts = try power1()
            let older = ts.filter { $0 < old + 600 * 60_000 }.count
            if older > 2, ts.contains(where: { $0 >= now }) { sawBoth = true }
            return try ts.first == keptOldest && (oldestMinute() ?? 0) >= now - 2 * 86_400_000
        }
        try Self.waitFor("every new reading stored") { try power1().filter { $0 >= now }.count == sent }
        try rig.stop()
        #expect(sawBoth, "new readings were committed while old ones were still being pruned")
        let ts = try power1()
        #expect(ts.filter { $0 < now } == [keptOldest, old + 599 * 60_000])
        #expect(ts.filter { $0 >= now }.count == sent)
        #expect(try StoreReader(path: rig.database).quarantine().isEmpty, "no new reading was beyond retention")
        let tally = rig.native.state.withLock { $0 }
        #expect(tally.violations.isEmpty, "\(tally.violations.prefix(3))")
    }

    @Test func shutdownCommitsThenAcknowledgesThenDisconnects() throws {
        var limits = IngestLimits()
        limits.batchMaxDelayMs = 600_000  // nothing commits by age: only the shutdown commits
        limits.lingerMs = 600_000
        limits.batchMaxReadings = 100_000
        let rig = try Rig(limits: limits)
        rig.start()
        rig.native.send(Self.nativeMessages(0..<300))
        try Self.waitFor("all 300 read into the batch") { rig.native.state.withLock { $0.deliveredMessages } == 300 }
        #expect(try rig.stored("cnc-1") == 0, "still uncommitted: the batch waits for its delay")
        try rig.stop()
        #expect(try rig.stored("cnc-1") == 300)
        let tally = rig.native.state.withLock { $0 }
        #expect(tally.violations.isEmpty)
        #expect(Array(tally.events.suffix(2)) == ["release 300", "stop"])
    }

    /// While the daemon is behind, a batch may age as long as the last commit took (so reading
    /// and committing take turns of about the same length), never less than the configured
    /// delay and never more than 20 times it.
    @Test func aBatchAgesLongerOnlyWhileTheDaemonCatchesUp() {
        let ms: UInt64 = 1_000_000
        // Kept up: a 10 ms commit leaves the 50 ms delay as it is.
        #expect(IngestLoop.ageLimitNs(maxDelayNs: 50 * ms, lastCommitNs: 10 * ms) == 50 * ms)
        // Behind: a 300 ms commit lets the next batch read for 300 ms.
        #expect(IngestLoop.ageLimitNs(maxDelayNs: 50 * ms, lastCommitNs: 300 * ms) == 300 * ms)
        // A 5 s stall (a checkpoint, a busy disk) is capped at 20 × 50 ms = 1 s.
        #expect(IngestLoop.ageLimitNs(maxDelayNs: 50 * ms, lastCommitNs: 5_000 * ms) == 1_000 * ms)
        #expect(IngestLoop.catchUpFactor == 20)
    }

    /// The daemon's services as `zhizao run` wires them (metrics, SIGHUP, ingest), stopped the
    /// way SIGTERM stops them: ingest commits, acknowledges and disconnects, then metrics closes.
    @Test func gracefulShutdownOfTheServiceGroup() async throws {
        var limits = IngestLimits()
        limits.batchMaxDelayMs = 600_000
        limits.lingerMs = 600_000
        let rig = try Rig(limits: limits)
        let server = try MetricsServer(listen: "127.0.0.1:0", metrics: IngestMetrics(), logger: Logger(label: "test"))
        let group = await Daemon.serviceGroup(
            loop: rig.loop, metricsServer: server, logger: Logger(label: "test"),
            gracefulShutdownSignals: [])
        let running = Task { try await group.run() }
        try Self.waitFor("the metrics endpoint") { Self.accepts(port: server.port) }
        rig.native.send(Self.nativeMessages(0..<100))
        try Self.waitFor("all 100 read") { rig.native.state.withLock { $0.deliveredMessages } == 100 }
        await group.triggerGracefulShutdown()
        // Wake the loop from its linger wait, as a message would, until it has returned.
        let poker = Task {
            while !Task.isCancelled {
                rig.native.poke()
                try? await Task.sleep(for: .milliseconds(5))  // pacing the wake-ups; nothing is asserted on time
            }
        }
        try await running.value
        poker.cancel()
        #expect(try rig.stored("cnc-1") == 100)
        let tally = rig.native.state.withLock { $0 }
        #expect(tally.violations.isEmpty)
        #expect(Array(tally.events.suffix(2)) == ["release 100", "stop"])
        #expect(!Self.accepts(port: server.port), "the metrics socket is closed after shutdown")
    }

    /// True when a TCP connect to 127.0.0.1:`port` succeeds.
    static func accepts(port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(port.bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Errors say what happened, as a code the loop acts on.
@Suite("Error codes")
struct ErrorCodeTests {
    @Test func aFileThatIsNotADatabaseIsCorruptNotJustAnError() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("zhizao-notadb-\(UUID().uuidString).sqlite").path
        try String(repeating: "this is not a database\n", count: 400).write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            _ = try SQLiteStore(path: path)
        } throws: { error in
            (error as? StoreError)?.code == .corrupt && "\(error)".contains(path)
        }
    }

    @Test func aDatabaseInAMissingFolderCannotBeOpened() throws {
        #expect {
            _ = try SQLiteStore(path: "/nonexistent-\(UUID().uuidString)/z.sqlite")
        } throws: { error in
            (error as? StoreError)?.code == .cannotOpen
        }
    }

    @Test func aClosedPortIsAConnectionFailureThatReconnectingMayFix() throws {
        // A port nobody listens on: bind one, learn its number, close it.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        close(fd)
        let connection = try MQTTConnection(
            options: MQTTOptions(host: "127.0.0.1", port: Int(UInt16(bigEndian: addr.sin_port)), clientID: "t"))
        #expect {
            try connection.connect()
        } throws: { error in
            guard let e = error as? MQTTError else { return false }
            return e.code == .connectionLost && e.isConnectionLost && e.message.contains("127.0.0.1")
        }
    }
}
