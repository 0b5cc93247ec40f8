import Foundation
import ReadingStore
import Telemetry
import Testing

/// TLS with a CA made in the test: the broker verified by default, client certificates required.
@Suite("TLS", .serialized)
struct TLSTests {
    /// A CA, a server certificate for 127.0.0.1 and a client certificate, and a second CA.
    static func makeCertificates(in dir: String) throws {
        let script = """
            set -e
            cd '\(dir)'
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=zhizao-test-ca 2>/dev/null
            openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.crt -days 2 -subj /CN=someone-else 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=zhizao 2>/dev/null
            openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2 2>/dev/null
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TestFailure("openssl could not make the test certificates") }
    }

    func tlsBroker() throws -> (TestBroker, String) {
        let certs = try temporaryDirectory("certs")
        try Self.makeCertificates(in: certs)
        let broker = try TestBroker(
            extraConfig: """
                cafile \(certs)/ca.crt
                certfile \(certs)/server.crt
                keyfile \(certs)/server.key
                require_certificate true
                """)
        broker.secure = true
        return (broker, certs)
    }

    func config(_ dir: String, ca: String, certs: String) throws -> String {
        let path = dir + "/zhizao.yaml"
        try """
        broker:
          tls:
            ca_file: \(ca)
            cert_file: \(certs)/client.crt
            key_file: \(certs)/client.key
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func publish(_ broker: TestBroker, certs: String, _ payload: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_pub")
        p.arguments = [
            "-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "--cafile", certs + "/ca.crt",
            "--cert", certs + "/client.crt", "--key", certs + "/client.key",
            "-t", "factory/ws-machining/line-shaft/em-shaft/energy_kwh", "-m", payload,
        ]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    @Test func clientCertificateAndVerifiedServer() throws {
        let (broker, certs) = try tlsBroker()
        let dir = try temporaryDirectory("tls")
        let daemon = try DaemonProcess(
            broker: broker, database: dir + "/z.sqlite",
            extra: ["--config", try config(dir, ca: certs + "/ca.crt", certs: certs)])
        try daemon.start()
        try publish(broker, certs: certs, "77.5")
        try daemon.waitForReadings(1, timeout: 15)
        #expect(try StoreReader(path: daemon.database).readings().map(\.value) == [.number(77.5)])
        #expect(daemon.terminate() == 0)
    }

    @Test func aServerSignedByAnotherCAIsRefused() throws {
        let (broker, certs) = try tlsBroker()
        let dir = try temporaryDirectory("tls-bad")
        let daemon = try DaemonProcess(
            broker: broker, database: dir + "/z.sqlite",
            extra: ["--config", try config(dir, ca: certs + "/other-ca.crt", certs: certs)])
        try daemon.launch()
        try waitUntil(timeout: 15, "the refused handshake in the log") { daemon.log.contains("cannot reach the broker") }
        #expect(daemon.log.contains("TLS"), "\(daemon.log)")
        // Each attempt is a new connection in the broker's log; one that succeeded would have
        // stayed connected, so a third attempt proves the first two were refused too.
        try waitUntil(timeout: 60, "three connection attempts in the broker's log") {
            broker.log.components(separatedBy: "New connection from").count - 1 >= 3
        }
        #expect(daemon.process?.isRunning == true, "it keeps retrying")
        #expect(daemon.log.components(separatedBy: "cannot reach the broker").count - 1 == 1, "logged once, not per retry")
        #expect(!daemon.log.contains("] subscribed"))
        // A client the broker does trust gets through, so the refusals were the daemon's doing.
        try publish(broker, certs: certs, "1")
        #expect(daemon.terminate() == 0)
    }
}
