import Foundation
public import MQTTClient
import PayloadDecoders
import PlantRegistry
public import ReadingStore
import Yams

/// Everything `zhizao run` needs, merged from defaults, the config file, `ZHIZAO_*`
/// environment variables and command-line flags, in rising priority.
///
/// Config file keys (YAML; `systemd/zhizao.yaml` is a commented example):
/// `broker.url`, `broker.protocol`, `broker.client_id`, `broker.username`, `broker.password_file`,
/// `broker.keep_alive`, `broker.session_expiry`, `broker.receive_maximum`, `broker.shared_group`,
/// `broker.tls.{ca_file,ca_path,cert_file,key_file,insecure}`, `store.path` (or `store.url`, `store.password_file`), `store.durability`,
/// `devices`, `ingest.{batch_max_readings,batch_max_delay_ms,linger_ms,max_payload_bytes,
/// max_future_skew_s,quarantine_payload_bytes}`, `retention.{raw_days,minute_days}`, `metrics.{enabled,listen}`,
/// `log_level`.
///
/// Environment: `ZHIZAO_BROKER`, `ZHIZAO_CLIENT_ID`, `ZHIZAO_DB`, `ZHIZAO_DB_PASSWORD_FILE`, `ZHIZAO_DEVICES`,
/// `ZHIZAO_MQTT_USERNAME`, `ZHIZAO_MQTT_PASSWORD`, `ZHIZAO_MQTT_PASSWORD_FILE`,
/// `ZHIZAO_SHARED_GROUP`, `ZHIZAO_LOG_LEVEL`, `ZHIZAO_METRICS_LISTEN`. The password never comes
/// from argv; under systemd it may come from the credential `mqtt-password`.
public struct DaemonConfig: Sendable {
    public var mqtt: MQTTOptions
    /// Optional `$share/<group>/` prefix so several daemons split one stream.
    public var sharedGroup: String?
    /// A SQLite file's path, or a `postgresql://user@host:port/dbname` URL (`store.url`).
    public var databasePath: String
    /// A libpq password file for the PostgreSQL store (`store.password_file`); PGPASSFILE and
    /// PGPASSWORD also apply. Never a password in the URL.
    public var databasePasswordFile: String? = nil
    public var durability: SQLiteStore.Durability
    public var devicesDirectory: String
    public var ingest: IngestLimits
    public var logLevel: String
    /// Where to serve Prometheus metrics (`host:port`), or nil: off.
    public var metricsListen: String?
    /// How long raw readings and minute rollups are kept (by default for ever); the daemon
    /// prunes older ones in small steps between batches.
    public var retention = RetentionPolicy()

    /// Flags given on the command line (nil = not given).
    public struct Overrides: Sendable {
        public var broker: String?
        public var database: String?
        public var devices: String?
        public var clientID: String?
        public var logLevel: String?
        public var sharedGroup: String?
        public init(
            broker: String? = nil, database: String? = nil, devices: String? = nil,
            clientID: String? = nil, logLevel: String? = nil, sharedGroup: String? = nil
        ) {
            self.sharedGroup = sharedGroup
            self.broker = broker
            self.database = database
            self.devices = devices
            self.clientID = clientID
            self.logLevel = logLevel
        }
    }

    public static let defaultBroker = "mqtt://127.0.0.1:1883"

    /// Merges the sources; throws naming the file and line, variable or flag at fault.
    public static func resolve(
        file: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
        overrides: Overrides = .init()
    ) throws(ConfigError) -> DaemonConfig {
        var c = DaemonConfig(
            mqtt: MQTTOptions(clientID: "zhizao-\(hostName())"), sharedGroup: nil,
            databasePath: "./zhizao.sqlite", durability: .normal, devicesDirectory: "./Devices",
            ingest: IngestLimits(), logLevel: "info", metricsListen: nil)
        var brokerURL = (defaultBroker, "the default")
        var passwordFile: (String, String)?
        if let file { try c.apply(file: file, brokerURL: &brokerURL, passwordFile: &passwordFile) }

        // Environment overrides the file.
        if let v = environment["ZHIZAO_BROKER"] { brokerURL = (v, "ZHIZAO_BROKER") }
        if let v = environment["ZHIZAO_CLIENT_ID"] { c.mqtt.clientID = v }
        if let v = environment["ZHIZAO_DB"] { c.databasePath = v }
        if let v = environment["ZHIZAO_DB_PASSWORD_FILE"] { c.databasePasswordFile = v }
        if let v = environment["ZHIZAO_DEVICES"] { c.devicesDirectory = v }
        if let v = environment["ZHIZAO_MQTT_USERNAME"] { c.mqtt.username = v }
        if let v = environment["ZHIZAO_MQTT_PASSWORD_FILE"] { passwordFile = (v, "ZHIZAO_MQTT_PASSWORD_FILE") }
        if let v = environment["ZHIZAO_MQTT_PASSWORD"] {
            c.mqtt.password = v
            passwordFile = nil
        }
        if let v = environment["ZHIZAO_SHARED_GROUP"] { c.sharedGroup = v.isEmpty ? nil : v }
        if let v = environment["ZHIZAO_LOG_LEVEL"] { c.logLevel = v }
        if let v = environment["ZHIZAO_METRICS_LISTEN"] { c.metricsListen = v.isEmpty ? nil : v }

        // Flags override everything.
        if let v = overrides.broker { brokerURL = (v, "--broker") }
        if let v = overrides.database { c.databasePath = v }
        if let v = overrides.devices { c.devicesDirectory = v }
        if let v = overrides.clientID { c.mqtt.clientID = v }
        if let v = overrides.sharedGroup { c.sharedGroup = v.isEmpty ? nil : v }
        if let v = overrides.logLevel { c.logLevel = v }

        // systemd's LoadCredential=mqtt-password:… puts the password where only we can read it.
        if c.mqtt.password == nil, passwordFile == nil, let dir = environment["CREDENTIALS_DIRECTORY"],
            FileManager.default.fileExists(atPath: dir + "/mqtt-password")
        {
            passwordFile = (dir + "/mqtt-password", "the systemd credential mqtt-password")
        }
        try c.applyBrokerURL(brokerURL.0, from: brokerURL.1)
        if let (path, origin) = passwordFile {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigError(
                    "\(origin): cannot read the password file \(path)", hint: "check the path and that the zhizao user may read it")
            }
            c.mqtt.password = text.trimmingCharacters(in: .newlines)
        }
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(c.logLevel) else {
            throw ConfigError(
                "unknown log level \"\(c.logLevel)\"", hint: "use one of trace, debug, info, notice, warning, error, critical")
        }
        if let g = c.sharedGroup, g.contains("/") || g.contains("+") || g.contains("#") {
            throw ConfigError("shared group \"\(g)\" may not contain /, + or #", hint: "use a plain name such as zhizao")
        }
        return c
    }

    mutating func applyBrokerURL(_ url: String, from origin: String) throws(ConfigError) {
        let parts = url.split(separator: "://", maxSplits: 1)
        guard parts.count == 2, ["mqtt", "mqtts", "tcp", "ssl"].contains(parts[0]) else {
            throw ConfigError(
                "\(origin): broker URL \"\(url)\" is not mqtt://host:port or mqtts://host:port",
                hint: "e.g. mqtt://127.0.0.1:1883")
        }
        let secure = parts[0] == "mqtts" || parts[0] == "ssl"
        var hostPort = String(parts[1])
        if hostPort.hasSuffix("/") { hostPort.removeLast() }
        var host = hostPort
        var port = secure ? 8883 : 1883
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
            host = String(hostPort[..<colon])
            guard let p = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(p) else {
                throw ConfigError("\(origin): broker URL \"\(url)\" has an invalid port", hint: "use a port between 1 and 65535")
            }
            port = p
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ConfigError("\(origin): broker URL \"\(url)\" has no host") }
        mqtt.host = host
        mqtt.port = port
        if secure && mqtt.tls == nil { mqtt.tls = MQTTOptions.TLS(caPath: "/etc/ssl/certs") }
        if !secure { mqtt.tls = nil }
    }

    mutating func apply(file: String, brokerURL: inout (String, String), passwordFile: inout (String, String)?) throws(ConfigError) {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw ConfigError("cannot read the config file \(file)", hint: "check the path given to --config")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw ConfigError("\(file): not valid YAML: \(error)", hint: "check indentation near the line named above")
        }
        guard let root else { return }
        let log = ProblemLog()
        guard let f = YAMLFields(root, file: file, log: log, context: "the config file") else {
            throw ConfigError(log.problems.map(\.description).joined(separator: "\n"))
        }
        f.rejectUnknownKeys(allowed: ["broker", "store", "devices", "ingest", "log_level", "metrics", "sparkplug", "retention"])
        if let sp = f.value("sparkplug").flatMap({ YAMLFields($0, file: file, log: log, context: "`sparkplug`") }) {
            sp.rejectUnknownKeys(allowed: ["host_id", "reorder_timeout_ms"])
            if let id = sp.string("host_id") { ingest.sparkplug.hostID = id }
            if let t = sp.double("reorder_timeout_ms") { ingest.sparkplug.reorderTimeoutMs = Int64(max(0, t)) }
        }
        if let m = f.value("metrics").flatMap({ YAMLFields($0, file: file, log: log, context: "`metrics`") }) {
            m.rejectUnknownKeys(allowed: ["enabled", "listen"])
            if m.bool("enabled", default: m.has("listen")) { metricsListen = m.string("listen") ?? "127.0.0.1:9464" }
        }
        if let b = f.value("broker").flatMap({ YAMLFields($0, file: file, log: log, context: "`broker`") }) {
            b.rejectUnknownKeys(allowed: [
                "url", "protocol", "client_id", "username", "password_file", "keep_alive",
                "session_expiry", "receive_maximum", "shared_group", "tls",
            ])
            if let v = b.string("url") { brokerURL = (v, "\(file):\(b.value("url")?.mark?.line ?? 0)") }
            if let v = b.choice("protocol", MQTTOptions.ProtocolVersion.self) { mqtt.protocolVersion = v }
            if let v = b.string("client_id") { mqtt.clientID = v }
            if let v = b.string("username") { mqtt.username = v }
            if let v = b.string("password_file") { passwordFile = (v, "\(file):\(b.value("password_file")?.mark?.line ?? 0)") }
            if let v = b.double("keep_alive") { mqtt.keepAliveSeconds = Int(v) }
            if let v = b.double("session_expiry") {
                if v <= 0 {
                    log.add(
                        file, b.value("session_expiry"),
                        "`session_expiry` must be above 0, or queued messages vanish when the daemon restarts", hint: "use 86400 (a day)")
                }
                mqtt.sessionExpirySeconds = UInt32(clamping: Int(v))
            }
            if let v = b.double("receive_maximum") {
                if v < 1 || v > 65535 { log.add(file, b.value("receive_maximum"), "`receive_maximum` must be 1...65535") }
                mqtt.receiveMaximum = Int(v)
            }
            if let v = b.string("shared_group") { sharedGroup = v }
            if let t = b.value("tls").flatMap({ YAMLFields($0, file: file, log: log, context: "`broker.tls`") }) {
                t.rejectUnknownKeys(allowed: ["ca_file", "ca_path", "cert_file", "key_file", "insecure"])
                mqtt.tls = MQTTOptions.TLS(
                    caFile: t.string("ca_file"), caPath: t.string("ca_path"), certFile: t.string("cert_file"),
                    keyFile: t.string("key_file"), insecureSkipHostnameCheck: t.bool("insecure", default: false))
                if !brokerURL.0.hasPrefix("mqtts") { brokerURL.0 = brokerURL.0.replacingOccurrences(of: "mqtt://", with: "mqtts://") }
            }
        }
        if let s = f.value("store").flatMap({ YAMLFields($0, file: file, log: log, context: "`store`") }) {
            s.rejectUnknownKeys(allowed: ["path", "url", "password_file", "durability"])
            if let v = s.string("path") { databasePath = v }
            if let v = s.string("url") { databasePath = v }
            if let v = s.string("password_file") { databasePasswordFile = v }
            if let v = s.choice("durability", SQLiteStore.Durability.self) { durability = v }
        }
        if let r = f.value("retention").flatMap({ YAMLFields($0, file: file, log: log, context: "`retention`") }) {
            r.rejectUnknownKeys(allowed: ["raw_days", "minute_days"])
            func days(_ key: String) -> Int? {
                guard let v = r.double(key) else { return nil }
                guard v >= 1, v <= 100_000, v == v.rounded() else {
                    log.add(
                        file, r.value(key), "`retention.\(key)` must be a whole number of days, at least 1",
                        hint: "leave it out to keep that tier for ever")
                    return nil
                }
                return Int(v)
            }
            retention = RetentionPolicy(rawDays: days("raw_days"), minuteDays: days("minute_days"))
            if let raw = retention.rawDays, let minute = retention.minuteDays, minute < raw {
                log.add(
                    file, r.value("minute_days"),
                    "`retention.minute_days` (\(minute)) is less than `retention.raw_days` (\(raw)): minute rollups must be kept at least as long as raw readings",
                    hint: "set minute_days to \(raw) or more")
            }
        }
        if let v = f.string("devices") { devicesDirectory = v }
        if let v = f.string("log_level") { logLevel = v }
        if let i = f.value("ingest").flatMap({ YAMLFields($0, file: file, log: log, context: "`ingest`") }) {
            i.rejectUnknownKeys(allowed: [
                "batch_max_readings", "batch_max_delay_ms", "linger_ms", "max_payload_bytes",
                "max_future_skew_s", "quarantine_payload_bytes",
            ])
            func positive(_ key: String) -> Int? {
                guard let v = i.double(key) else { return nil }
                if v < 0 || v > 1e9 { log.add(file, i.value(key), "`\(key)` must be between 0 and 1e9") }
                return Int(v)
            }
            if let v = positive("batch_max_readings") { ingest.batchMaxReadings = max(1, v) }
            if let v = positive("batch_max_delay_ms") { ingest.batchMaxDelayMs = v }
            if let v = positive("linger_ms") { ingest.lingerMs = v }
            if let v = positive("max_payload_bytes") { ingest.maxPayloadBytes = v }
            if let v = positive("max_future_skew_s") { ingest.maxFutureSkewSeconds = v }
            if let v = positive("quarantine_payload_bytes") { ingest.quarantinePayloadBytes = v }
        }
        if !log.problems.isEmpty {
            throw ConfigError(log.problems.map(\.description).joined(separator: "\n"))
        }
    }

    /// The topic filters to subscribe to: one per gateway, shared-group prefixed if configured.
    public func subscriptions(for filters: [String]) -> [String] {
        var seen: Set<String> = []
        return filters.filter { seen.insert($0).inserted }.map { f in
            sharedGroup.map { "$share/\($0)/\(f)" } ?? f
        }
    }

    static func hostName() -> String {
        ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
    }
}

/// Batch and input limits of the ingest loop.
public struct IngestLimits: Sendable {
    /// A batch commits when it holds this many readings (a daemon catching up fills its
    /// batches towards this; it bounds the batch's memory)...
    public var batchMaxReadings = 20000
    /// ...or its first message is this old.
    public var batchMaxDelayMs = 50
    /// Wait this long for more data when the socket is momentarily empty, to avoid one-row commits.
    public var lingerMs = 5
    public var maxPayloadBytes = 256 * 1024
    public var maxFutureSkewSeconds = 300
    public var quarantinePayloadBytes = 1024
    /// The Sparkplug B primary host's id and sequence-gap patience.
    public var sparkplug = SparkplugSession.Settings()

    public init() {}
}

/// A configuration mistake, with where it is and how to fix it.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var hint: String?

    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    public var description: String { hint.map { "\(message)\n    fix: \($0)" } ?? message }
}
