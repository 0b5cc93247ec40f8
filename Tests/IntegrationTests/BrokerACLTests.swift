import Foundation
import Glibc
import Testing

/// The broker's half of the trust chain: the ACL and password file generated from the registry
/// (`zhizao devices acl`) are the ones shipped, and mosquitto enforces them.
@Suite("Broker ACL from the registry", .serialized)
struct BrokerACLTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func theShippedACLIsTheGeneratedOne() throws {
        let r = try ZhizaoBinary.run(["devices", "acl", "--devices", ZhizaoBinary.shippedDevices])
        #expect(r.code == 0, "\(r.stderr)")
        let shipped = try String(contentsOfFile: Self.repo.appendingPathComponent("systemd/mosquitto-zhizao.acl").path, encoding: .utf8)
        #expect(r.stdout == shipped, "regenerate it: zhizao devices acl --devices Devices --out systemd/mosquitto-zhizao.acl")
        #expect(shipped.contains("user gw-lines-plain\ntopic write factory/ws-machining/line-shaft/em-shaft/+\n"))
    }

    /// Runs mosquitto_pub as `user`; a publish the ACL denies is dropped by the broker, not refused
    /// to the client (MQTT 3.1.1), so the exit status says nothing about it.
    func publish(_ broker: TestBroker, as user: String, _ topic: String, _ payload: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try executable("mosquitto_pub", in: ["/usr/bin"]))
        p.arguments = ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-u", user, "-P", "pw-\(user)", "-t", topic, "-m", payload]
        try p.run()
        p.waitUntilExit()
    }

    @Test func mosquittoLetsEachGatewayWriteOnlyItsOwnTopics() throws {
        // The password file: the generated template, filled in and hashed by mosquitto_passwd -U.
        let broker = try TestBroker(extraConfig: "allow_anonymous false\npassword_file $DIR/passwd\nacl_file $DIR/acl\n") { dir in
            for (format, file) in [("acl", "acl"), ("passwd-template", "passwd")] {
                let r = try ZhizaoBinary.run([
                    "devices", "acl", "--devices", ZhizaoBinary.shippedDevices, "--format", format, "--out", "\(dir)/\(file)",
                ])
                guard r.code == 0 else { throw TestFailure("devices acl --format \(format): \(r.stderr)") }
            }
            let template = try String(contentsOfFile: dir + "/passwd", encoding: .utf8)
            #expect(template.hasPrefix("zhizao:CHANGE-ME\n") && template.contains("gw-lines-plain:CHANGE-ME\n"))
            let filled =
                template.split(separator: "\n").map { line in
                    let user = line.split(separator: ":")[0]
                    return "\(user):pw-\(user)"
                }.joined(separator: "\n") + "\n"
            try filled.write(toFile: dir + "/passwd", atomically: true, encoding: .utf8)
            let hash = Process()
            hash.executableURL = URL(fileURLWithPath: try executable("mosquitto_passwd", in: ["/usr/bin"]))
            hash.arguments = ["-U", dir + "/passwd"]
            try hash.run()
            hash.waitUntilExit()
            guard hash.terminationStatus == 0 else { throw TestFailure("mosquitto_passwd -U refused the template") }
        }
        // Zhizao's user subscribes to both plain gateways' topics.
        let dir = try temporaryDirectory("acl-sub")
        let out = dir + "/sub.out"
        let sub = Process()
        sub.executableURL = URL(fileURLWithPath: try executable("mosquitto_sub", in: ["/usr/bin"]))
        sub.arguments = [
            "-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-u", "zhizao", "-P", "pw-zhizao",
            "-t", "factory/+/+/+/+", "-t", "utility/sz-baoan/+/+", "-v",
        ]
        sub.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(out)))
        try sub.run()
        defer { stopProcess(sub, signal: SIGTERM, grace: 2) }
        func received() throws -> String { try String(contentsOfFile: out, encoding: .utf8) }
        let own = "factory/ws-machining/line-shaft/em-shaft/energy_kwh"
        // Subscribed once an allowed probe comes through.
        var probes = 0
        try waitUntil(timeout: 20, "the subscription to deliver a probe") {
            probes += 1
            try publish(broker, as: "gw-lines-plain", own, "probe-\(probes)")
            usleep(200_000)  // pacing the probes, not a wait for luck: the loop ends on a received probe
            return try received().contains("probe-")
        }
        try publish(broker, as: "gw-utility-plain", own, "denied-other-gateway")
        try publish(broker, as: "gw-lines-plain", "factory/ws-assembly/line-motor/em-shaft/energy_kwh", "denied-wrong-place")
        try publish(broker, as: "gw-lines-plain", "utility/sz-baoan/em-shaft/energy_kwh", "denied-utility-topic")
        try publish(broker, as: "zhizao", own, "denied-daemon-user")
        try publish(broker, as: "gw-utility-plain", "utility/sz-baoan/wm-site/volume", "allowed-utility")
        try publish(broker, as: "gw-lines-plain", own, "sentinel")
        try waitUntil(timeout: 20, "the sentinel, published after the denied ones") { try received().contains("sentinel") }
        let text = try received()
        #expect(text.contains("utility/sz-baoan/wm-site/volume allowed-utility"))
        #expect(!text.contains("denied-"), "\(text)")
    }
}
