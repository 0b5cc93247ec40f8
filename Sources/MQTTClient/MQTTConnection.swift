internal import CMosquitto
import Glibc

/// One MQTT client connection whose network loop the caller drives.
///
/// libmosquitto normally acknowledges a QoS 1 PUBLISH before it calls the message handler,
/// and with its own network thread that PUBACK leaves at once. Here the handle runs in
/// "threaded" mode, so libmosquitto only *queues* outgoing packets (PUBACKs included) until
/// `flushWrites()` is called. The caller reads, stores what it read durably, and only then
/// flushes: a message is acknowledged only after it is safe.
///
/// Thread safety: every method must be called from one thread at a time (the ingest thread);
/// the class is `@unchecked Sendable` only so that it can be handed to that thread once.
public final class MQTTConnection: @unchecked Sendable {
    /// What `readAvailable` found on the socket.
    public enum ReadOutcome: Sendable {
        /// The socket is drained; wait for it to become readable again.
        case drained
        /// The caller asked to stop early (e.g. its batch is full); more may be waiting.
        case stoppedEarly
    }

    /// Connection state changes reported from inside libmosquitto's callbacks.
    public enum Event: Sendable {
        case connected(reasonCode: Int)
        case connectionRefused(reasonCode: Int, reason: String)
        case disconnected(reasonCode: Int)
        case subscribed(grantedQoS: [Int])
        /// A QoS 1 message was acknowledged (or a QoS 0 one written) by the broker.
        case published(messageID: Int, reasonCode: Int)
    }

    public let options: MQTTOptions
    private let handle: OpaquePointer
    /// Set only for the duration of a `readAvailable` call (the only place messages arrive).
    private var messageHandler: ((MQTTMessage) -> Void)?
    private var eventHandler: ((Event) -> Void)?
    private var subscriptions: [String] = []
    private var subscriptionQoS: Int32 = 1

    /// Creates the client; nothing touches the network until `connect()`.
    public init(options: MQTTOptions) throws(MQTTError) {
        _ = libraryInitialised
        guard let h = mosquitto_new(options.clientID, options.cleanStart, nil) else {
            throw MQTTError(.noMemory, message: "mosquitto_new failed (errno \(errno))")
        }
        self.handle = h
        self.options = options
        mosquitto_user_data_set(h, Unmanaged.passUnretained(self).toOpaque())
        try configure()
    }

    deinit {
        mosquitto_destroy(handle)
    }

    private func configure() throws(MQTTError) {
        let version = options.protocolVersion == .v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311
        try MQTTError.check(
            mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, Int32(version)),
            "setting the MQTT protocol version")
        if options.protocolVersion == .v5 {
            try MQTTError.check(
                mosquitto_int_option(
                    handle, MOSQ_OPT_RECEIVE_MAXIMUM,
                    Int32(clamping: options.receiveMaximum)),
                "setting receive-maximum")
        }
        // Queue outgoing packets instead of writing them: PUBACKs leave only in flushWrites().
        try MQTTError.check(mosquitto_threaded_set(handle, true), "enabling external-loop mode")
        if options.username != nil || options.password != nil {
            try MQTTError.check(
                mosquitto_username_pw_set(handle, options.username, options.password),
                "setting username/password")
        }
        if let tls = options.tls {
            try MQTTError.check(
                mosquitto_tls_set(handle, tls.caFile, tls.caPath, tls.certFile, tls.keyFile, nil),
                "configuring TLS (check ca_file/cert_file/key_file paths)")
            if tls.insecureSkipHostnameCheck {
                try MQTTError.check(mosquitto_tls_insecure_set(handle, true), "disabling TLS host-name check")
            }
        }
        mosquitto_message_v5_callback_set(handle) { _, userData, message, properties in
            guard let userData, let message else { return }
            let connection = Unmanaged<MQTTConnection>.fromOpaque(userData).takeUnretainedValue()
            let m = message.pointee
            let topicLength = m.topic.map { strlen($0) } ?? 0
            let view = MQTTMessage(
                topic: UnsafeRawBufferPointer(start: m.topic, count: topicLength),
                payload: UnsafeRawBufferPointer(start: m.payload, count: Int(m.payloadlen)),
                qos: Int(m.qos), retained: m.retain,
                eventTime: properties.flatMap { userProperty("ts", in: $0) })
            connection.messageHandler?(view)
        }
        mosquitto_publish_v5_callback_set(handle) { _, userData, mid, reasonCode, _ in
            guard let userData else { return }
            let connection = Unmanaged<MQTTConnection>.fromOpaque(userData).takeUnretainedValue()
            connection.eventHandler?(.published(messageID: Int(mid), reasonCode: Int(reasonCode)))
        }
        mosquitto_connect_v5_callback_set(handle) { _, userData, rc, _, _ in
            guard let userData else { return }
            let connection = Unmanaged<MQTTConnection>.fromOpaque(userData).takeUnretainedValue()
            connection.didConnect(reasonCode: rc)
        }
        mosquitto_disconnect_v5_callback_set(handle) { _, userData, rc, _ in
            guard let userData else { return }
            let connection = Unmanaged<MQTTConnection>.fromOpaque(userData).takeUnretainedValue()
            connection.eventHandler?(.disconnected(reasonCode: Int(rc)))
        }
        mosquitto_subscribe_callback_set(handle) { _, userData, _, count, granted in
            guard let userData else { return }
            let connection = Unmanaged<MQTTConnection>.fromOpaque(userData).takeUnretainedValue()
            let qos = (0..<Int(count)).map { Int(granted?[$0] ?? 128) }
            connection.eventHandler?(.subscribed(grantedQoS: qos))
        }
    }

    private func didConnect(reasonCode rc: Int32) {
        guard rc == 0 else {
            let text =
                options.protocolVersion == .v5
                ? String(cString: mosquitto_reason_string(rc)) : String(cString: mosquitto_connack_string(rc))
            eventHandler?(.connectionRefused(reasonCode: Int(rc), reason: text))
            return
        }
        eventHandler?(.connected(reasonCode: 0))
        // (Re)subscribe on every connect: harmless with a persistent session, needed without one.
        for filter in subscriptions {
            _ = mosquitto_subscribe(handle, nil, filter, subscriptionQoS)
        }
    }

    /// Sets the function told of connects, refusals, disconnects and granted subscriptions.
    public func onEvent(_ handler: @escaping (Event) -> Void) { eventHandler = handler }

    /// Topic filters subscribed at every successful connect.
    public func subscribe(to filters: [String], qos: Int) {
        subscriptions = filters
        subscriptionQoS = Int32(qos)
    }

    /// Changes the subscriptions of a live connection (after a registry reload): unsubscribes
    /// the filters no longer wanted, subscribes the new ones; `flushWrites()` sends them.
    public func updateSubscriptions(to filters: [String]) {
        let removed = subscriptions.filter { !filters.contains($0) }
        let added = filters.filter { !subscriptions.contains($0) }
        subscriptions = filters
        guard socketDescriptor != nil else { return }
        for f in removed { _ = mosquitto_unsubscribe(handle, nil, f) }
        for f in added { _ = mosquitto_subscribe(handle, nil, f, subscriptionQoS) }
    }

    /// The message the broker publishes for us if we vanish (set before `connect()`).
    public func setWill(topic: String, payload: [UInt8], qos: Int, retain: Bool) throws(MQTTError) {
        let rc = payload.withUnsafeBytes { p in
            mosquitto_will_set_v5(handle, topic, Int32(p.count), p.baseAddress, Int32(qos), retain, nil)
        }
        try MQTTError.check(rc, "setting the will on \(topic)")
    }

    /// Opens the TCP (or TLS) connection and queues CONNECT; `flushWrites()` sends it.
    public func connect() throws(MQTTError) {
        var props: OpaquePointer? = nil
        if options.protocolVersion == .v5 && !options.cleanStart {
            mosquitto_property_add_int32(
                &props, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue),
                options.sessionExpirySeconds)
        }
        defer { mosquitto_property_free_all(&props) }
        let rc = mosquitto_connect_bind_v5(
            handle, options.host, Int32(options.port),
            Int32(options.keepAliveSeconds), nil, props)
        if rc == MOSQ_ERR_ERRNO.rawValue {
            let text = String(cString: strerror(errno))
            throw MQTTError(.connectionLost, message: "connecting to \(options.host):\(options.port): \(text)")
        }
        try MQTTError.check(rc, "connecting to \(options.host):\(options.port)")
    }

    /// The socket to poll, or nil when not connected.
    public var socketDescriptor: Int32? {
        let fd = mosquitto_socket(handle)
        return fd < 0 ? nil : fd
    }

    /// True when packets are queued for sending (PUBACKs, PINGREQ, SUBSCRIBE...).
    public var wantsWrite: Bool { mosquitto_want_write(handle) }

    /// Reads packets until the socket would block or `shouldStop()` says so, handing each
    /// message to `deliver` while its bytes are valid (libmosquitto frees them afterwards).
    public func readAvailable(shouldStop: () -> Bool, deliver: (MQTTMessage) -> Void) throws(MQTTError) -> ReadOutcome {
        let outcome = withoutActuallyEscaping(deliver) { deliver -> Result<ReadOutcome, MQTTError> in
            messageHandler = deliver
            defer { messageHandler = nil }
            do throws(MQTTError) { return .success(try readPackets(shouldStop: shouldStop)) } catch { return .failure(error) }
        }
        return try outcome.get()
    }

    /// Reads and dispatches packets (messages to `messageHandler`) until the socket would block
    /// or `shouldStop()` says so.
    private func readPackets(shouldStop: () -> Bool) throws(MQTTError) -> ReadOutcome {
        while !shouldStop() {
            zhizao_clear_errno()
            let rc = mosquitto_loop_read(handle, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                if rc == MOSQ_ERR_ERRNO.rawValue {
                    let e = zhizao_errno()
                    if e == EAGAIN || e == EWOULDBLOCK { return .drained }
                }
                throw MQTTError(mosquitto: rc, context: "reading from the broker")
            }
            let e = zhizao_errno()
            if e == EAGAIN || e == EWOULDBLOCK { return .drained }
        }
        return .stoppedEarly
    }

    /// Sends every queued packet (this is where PUBACKs leave).
    public func flushWrites() throws(MQTTError) {
        while mosquitto_want_write(handle) {
            let rc = mosquitto_loop_write(handle, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                throw MQTTError(mosquitto: rc, context: "writing to the broker")
            }
            if mosquitto_want_write(handle) {
                // The socket buffer is full: wait until it drains rather than spin.
                guard let fd = socketDescriptor else { return }
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, 100)
            }
        }
    }

    /// Keep-alive and retry timers; call at least once a second.
    public func housekeeping() throws(MQTTError) {
        try MQTTError.check(mosquitto_loop_misc(handle), "keep-alive housekeeping")
    }

    /// Sends DISCONNECT and closes the socket.
    public func disconnect() {
        _ = mosquitto_disconnect(handle)
        try? flushWrites()
    }

    /// Queues a message for publishing and returns its message id; `flushWrites()` sends it.
    /// `eventTime` travels as the MQTT v5 user property `ts`. (The simulator publishes; the
    /// ingest path only subscribes.)
    @discardableResult
    public func publish(
        topic: String, payload: UnsafeRawBufferPointer, qos: Int, retain: Bool = false,
        eventTime: String? = nil
    ) throws(MQTTError) -> Int {
        var props: OpaquePointer? = nil
        defer { mosquitto_property_free_all(&props) }
        if let eventTime, options.protocolVersion == .v5 {
            mosquitto_property_add_string_pair(&props, Int32(MQTT_PROP_USER_PROPERTY.rawValue), "ts", eventTime)
        }
        var mid: Int32 = 0
        try MQTTError.check(
            mosquitto_publish_v5(
                handle, &mid, topic, Int32(payload.count), payload.baseAddress,
                Int32(qos), retain, props), "publishing to \(topic)")
        return Int(mid)
    }
}

/// The value of the first user property named `name`, copied (libmosquitto frees its own).
private func userProperty(_ name: String, in properties: OpaquePointer) -> String? {
    var found: OpaquePointer? = properties
    var skipFirst = false
    while let current = found {
        var key: UnsafeMutablePointer<CChar>? = nil
        var value: UnsafeMutablePointer<CChar>? = nil
        found = mosquitto_property_read_string_pair(
            current, Int32(MQTT_PROP_USER_PROPERTY.rawValue), &key, &value, skipFirst)
        skipFirst = true
        defer {
            free(key)
            free(value)
        }
        guard found != nil, let key, let value else { return nil }
        if strcmp(key, name) == 0 { return String(cString: value) }
    }
    return nil
}

/// libmosquitto's process-wide initialisation, run once on first use.
private let libraryInitialised: Void = {
    mosquitto_lib_init()
}()
