import Foundation
import ReadingStore
import Telemetry
import Testing

/// MQTT 3.1.1 with a username and a password from a file, against a broker that demands them.
@Suite("Broker login", .serialized)
struct BrokerLoginTests {
    func brokerWithPasswords() throws -> TestBroker {
        try TestBroker(extraConfig: "allow_anonymous false\npassword_file $DIR/passwd\n") { dir in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try executable("mosquitto_passwd", in: ["/usr/bin"]))
            p.arguments = ["-c", "-b", dir + "/passwd", "ingest", "s3cret"]
            try p.run()
            p.waitUntilExit()
        }
    }

    @Test func mqtt311WithPasswordFileIngests() throws {
        let broker = try brokerWithPasswords()
        let dir = try temporaryDirectory("login")
        try "s3cret\n".write(toFile: dir + "/mqtt.password", atomically: true, encoding: .utf8)
        try """
        broker:
          protocol: "3.1.1"
          username: ingest
          password_file: \(dir)/mqtt.password
        """.write(toFile: dir + "/zhizao.yaml", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(broker: broker, database: dir + "/z.sqlite", extra: ["--config", dir + "/zhizao.yaml"])
        try daemon.start()
        try Publisher.publish(broker, topic: "factory/ws-machining/line-shaft/em-shaft/energy_kwh", "42", login: ("ingest", "s3cret"))
        try daemon.waitForReadings(1, timeout: 20)
        #expect(try StoreReader(path: daemon.database).readings().map(\.value) == [.number(42)])
        #expect(!daemon.arguments.contains("s3cret"), "the password never travels on the command line")
        #expect(!daemon.log.contains("s3cret"), "nor into the log")
        #expect(daemon.terminate() == 0)
    }

    @Test func wrongPasswordIsLoggedOnceAndRetriedWithoutDying() throws {
        let broker = try brokerWithPasswords()
        let dir = try temporaryDirectory("login-bad")
        let daemon = try DaemonProcess(
            broker: broker, database: dir + "/z.sqlite",
            environment: ["ZHIZAO_MQTT_USERNAME": "ingest", "ZHIZAO_MQTT_PASSWORD": "wr0ngPa55"])
        try daemon.launch()
        try waitUntil(timeout: 15, "the refusal in the log") { daemon.log.contains("refused the connection") }
        // The broker's log shows each refused attempt: wait for two retries after the first.
        try waitUntil(timeout: 60, "three refused connections in the broker's log") {
            broker.log.components(separatedBy: "disconnected, not authorised").count - 1 >= 3
        }
        #expect(daemon.process?.isRunning == true, "the daemon keeps retrying")
        #expect(daemon.log.components(separatedBy: "refused the connection").count - 1 == 1, "logged once, not per retry")
        #expect(!daemon.log.contains("wr0ngPa55"), "the password is not logged")
        #expect(daemon.terminate() == 0)
    }
}
