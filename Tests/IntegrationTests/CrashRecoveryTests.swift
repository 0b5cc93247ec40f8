import Foundation
import ReadingStore
import Telemetry
import Testing

/// Nothing acknowledged is ever lost, and nothing redelivered counts twice.
@Suite("Crash and restart recovery", .serialized)
struct CrashRecoveryTests {

    /// The stream's last 1,000 messages are held back until both kills are done, so each kill
    /// lands mid-stream by construction; each waits until the daemon has stored a quarter, then
    /// half, of the stream.
    @Test func killNineMidStreamAtQoS1LosesNothing() throws {
        let count = 30_000
        let broker = try TestBroker()
        let dir = try temporaryDirectory("kill9")
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite", clientID: "zhizao-it-kill9")
        try daemon.start()
        let publisher = try PacedPublisher(broker, device: "rbt-411", count: count, holdingBack: 1_000, perSecond: 5_000)
        defer { publisher.abort() }
        for fraction in [4, 2] {
            try daemon.waitForReadings(Int64(count / fraction))
            #expect(publisher.isStreaming, "the kill lands while the stream is still publishing")
            daemon.killHard()
            try daemon.start()
        }
        #expect(try publisher.finish() == count)
        try daemon.waitForSettled(Int64(count))
        // Anything still to come (a redelivery counted twice) would come before the sentinel.
        try daemon.passSentinel(broker, device: "tst-421")
        try daemon.expectEverySequenceOnce(device: "rbt-411", count: count)
        #expect(try daemon.status().readingsStored == Int64(count + 1), "readings_stored counts each reading once (and the sentinel)")
        #expect(daemon.terminate() == 0)
    }

    @Test func brokerRestartMidStreamLosesNothing() throws {
        let half = 5_000
        let broker = try TestBroker()
        let dir = try temporaryDirectory("broker-restart")
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite", clientID: "zhizao-it-restart")
        try daemon.start()
        try Publisher.stream(
            broker, topic: "zhizao/v1/ws-assembly/tst-421",
            lines: sequencedReadings(device: "tst-421", metric: "power", count: half))
        broker.stop()
        try broker.start()
        try Publisher.stream(
            broker, topic: "zhizao/v1/ws-assembly/tst-421",
            lines: sequencedReadings(device: "tst-421", metric: "power", count: half, from: half))
        try daemon.waitForSettled(Int64(2 * half))
        try daemon.expectEverySequenceOnce(device: "tst-421", count: 2 * half)
        #expect(try daemon.status().readingsStored == Int64(2 * half), "readings_stored counts each reading once")
        #expect(daemon.log.contains("connection to the broker lost"))
        #expect(daemon.terminate() == 0)
    }

    @Test func messagesQueuedWhileTheDaemonIsDownArriveAfterRestart() throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("offline")
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite", clientID: "zhizao-it-offline")
        try daemon.start()
        #expect(daemon.terminate() == 0)
        try Publisher.stream(
            broker, topic: "zhizao/v1/ws-assembly/prs-401",
            lines: sequencedReadings(device: "prs-401", metric: "power", count: 3_000))
        try daemon.start()
        try daemon.waitForSettled(3_000)
        try daemon.expectEverySequenceOnce(device: "prs-401", count: 3_000)
        #expect(try daemon.status().readingsStored == Int64(3_000), "readings_stored counts each reading once")
        #expect(daemon.terminate() == 0)
    }
}
