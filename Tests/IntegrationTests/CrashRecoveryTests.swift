import Foundation
import ReadingStore
import Telemetry
import Testing

/// Nothing acknowledged is ever lost, and nothing redelivered counts twice.
@Suite("Crash and restart recovery", .serialized)
struct CrashRecoveryTests {

    @Test func killNineMidStreamAtQoS1LosesNothing() throws {
        let count = 30_000
        let broker = try TestBroker()
        let dir = try temporaryDirectory("kill9")
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite", clientID: "zhizao-it-kill9")
        try daemon.start()
        let publisher = try Publisher.startStream(broker, topic: "zhizao/v1/ws-assembly/rbt-411",
                                                  lines: sequencedReadings(device: "rbt-411", metric: "power", count: count))
        defer { stopProcess(publisher, signal: SIGKILL, grace: 0) }
        var killsMidStream = 0
        for fraction in [4, 2] {
            try daemon.waitForReadings(Int64(count / fraction))
            if try daemon.status().readingsStored < Int64(count) { killsMidStream += 1 }
            daemon.killHard()
            usleep(300_000)
            try daemon.start()
        }
        publisher.waitUntilExit()
        #expect(publisher.terminationStatus == 0)
        try daemon.waitForSettled(Int64(count))
        usleep(500_000)
        #expect(killsMidStream >= 1, "at least one kill landed while messages were still arriving")
        try daemon.expectEverySequenceOnce(device: "rbt-411", count: count)
        #expect(try daemon.status().readingsStored == Int64(count), "readings_stored counts each reading once")
        #expect(daemon.terminate() == 0)
    }

    @Test func brokerRestartMidStreamLosesNothing() throws {
        let half = 5_000
        let broker = try TestBroker()
        let dir = try temporaryDirectory("broker-restart")
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite", clientID: "zhizao-it-restart")
        try daemon.start()
        try Publisher.stream(broker, topic: "zhizao/v1/ws-assembly/tst-421",
                             lines: sequencedReadings(device: "tst-421", metric: "power", count: half))
        broker.stop()
        usleep(500_000)
        try broker.start()
        try Publisher.stream(broker, topic: "zhizao/v1/ws-assembly/tst-421",
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
        try Publisher.stream(broker, topic: "zhizao/v1/ws-assembly/prs-401",
                             lines: sequencedReadings(device: "prs-401", metric: "power", count: 3_000))
        try daemon.start()
        try daemon.waitForSettled(3_000)
        try daemon.expectEverySequenceOnce(device: "prs-401", count: 3_000)
        #expect(try daemon.status().readingsStored == Int64(3_000), "readings_stored counts each reading once")
        #expect(daemon.terminate() == 0)
    }
}
