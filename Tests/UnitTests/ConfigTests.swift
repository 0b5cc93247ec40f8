import Foundation
import IngestDaemon
import MQTTClient
import ReadingStore
import Testing

@Suite("Daemon configuration")
struct ConfigTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("zhizao-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func defaultsWithoutFile() throws {
        let c = try DaemonConfig.resolve(file: nil, environment: [:])
        #expect(c.mqtt.host == "127.0.0.1" && c.mqtt.port == 1883)
        #expect(c.databasePath == "./zhizao.sqlite")
        #expect(c.devicesDirectory == "./Devices")
        #expect(c.mqtt.cleanStart == false && c.mqtt.sessionExpirySeconds > 0)
    }

    @Test func flagsOverrideEnvironmentOverrideFile() throws {
        let pw = try write("s3cret\n")
        let file = try write(
            """
            broker:
              url: mqtt://file-host:1884
              client_id: from-file
              password_file: \(pw)
            store:
              path: /file/db.sqlite
            devices: /file/devices
            ingest:
              batch_max_readings: 100
            """)
        let env = ["ZHIZAO_BROKER": "mqtt://env-host:1885", "ZHIZAO_DB": "/env/db.sqlite"]
        let c = try DaemonConfig.resolve(file: file, environment: env, overrides: .init(broker: "mqtts://flag-host"))
        #expect(c.mqtt.host == "flag-host" && c.mqtt.port == 8883 && c.mqtt.tls != nil)
        #expect(c.databasePath == "/env/db.sqlite")
        #expect(c.devicesDirectory == "/file/devices")
        #expect(c.mqtt.clientID == "from-file")
        #expect(c.mqtt.password == "s3cret")
        #expect(c.ingest.batchMaxReadings == 100)
    }

    @Test func unknownKeyNamesFileAndLine() throws {
        let file = try write("broker:\n  url: mqtt://x:1\n  sesion_expiry: 10\n")
        #expect {
            _ = try DaemonConfig.resolve(file: file, environment: [:])
        } throws: { error in
            let text = "\(error)"
            return text.contains("\(file):3") && text.contains("did you mean `session_expiry`?")
        }
    }

    @Test func retentionDaysFromTheFile() throws {
        let none = try DaemonConfig.resolve(file: nil, environment: [:])
        #expect(none.retention == RetentionPolicy() && none.retention.keepsEverything)
        let file = try write("retention:\n  raw_days: 90\n  minute_days: 400\n")
        #expect(try DaemonConfig.resolve(file: file, environment: [:]).retention == RetentionPolicy(rawDays: 90, minuteDays: 400))
        let rawOnly = try write("retention:\n  raw_days: 30\n")
        #expect(try DaemonConfig.resolve(file: rawOnly, environment: [:]).retention == RetentionPolicy(rawDays: 30))
    }

    @Test(arguments: [
        ("retention:\n  raw_days: 0\n", ":2", "`retention.raw_days` must be a whole number of days"),
        ("retention:\n  raw_days: 7\n  minute_days: -3\n", ":3", "`retention.minute_days` must be a whole number of days"),
        ("retention:\n  raw_days: 1.5\n", ":2", "`retention.raw_days` must be a whole number of days"),
        ("retention:\n  raw_days: 30\n  minute_days: 7\n", ":3", "`retention.minute_days` (7) is less than `retention.raw_days` (30)"),
        ("retention:\n  raw_dayz: 30\n", ":2", "did you mean `raw_days`?"),
    ])
    func badRetentionNamesTheKeyAndFile(yaml: String, line: String, message: String) throws {
        let file = try write(yaml)
        #expect {
            _ = try DaemonConfig.resolve(file: file, environment: [:])
        } throws: { error in
            let text = "\(error)"
            return text.contains("\(file)\(line)") && text.contains(message)
        }
    }

    @Test func badBrokerURLNamesTheFlag() {
        #expect {
            _ = try DaemonConfig.resolve(file: nil, environment: [:], overrides: .init(broker: "http://x"))
        } throws: { "\($0)".contains("--broker") }
        #expect {
            _ = try DaemonConfig.resolve(file: nil, environment: ["ZHIZAO_BROKER": "mqtt://x:99999"])
        } throws: { "\($0)".contains("ZHIZAO_BROKER") && "\($0)".contains("port") }
    }

    @Test func sharedGroupPrefixesEveryFilter() throws {
        let c = try DaemonConfig.resolve(file: nil, environment: ["ZHIZAO_SHARED_GROUP": "zz"])
        #expect(c.subscriptions(for: ["a/#", "b/+", "a/#"]) == ["$share/zz/a/#", "$share/zz/b/+"])
    }
}
