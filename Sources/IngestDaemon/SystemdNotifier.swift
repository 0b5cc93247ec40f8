import Glibc

/// The daemon's side of systemd's notification protocol (`sd_notify`): READY, STATUS,
/// WATCHDOG, RELOADING and STOPPING datagrams to `$NOTIFY_SOCKET`.
///
/// Hand-written rather than linking libsystemd: the protocol is one datagram of
/// `KEY=value` lines to a Unix socket (documented in sd_notify(3)), and libsystemd would add a
/// C dependency to every build for these thirty lines. Without `$NOTIFY_SOCKET` it does nothing.
public struct SystemdNotifier: Sendable {
    let socketPath: String?
    /// How often to send WATCHDOG=1 (half of `$WATCHDOG_USEC`), or nil when no watchdog is set.
    public let watchdogIntervalNs: UInt64?

    public init(environment: [String: String]) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        var interval: UInt64?
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0 {
            // WATCHDOG_PID, when set, names the process the watchdog is for.
            if let pid = environment["WATCHDOG_PID"].flatMap(Int32.init), pid != getpid() {} else { interval = usec * 1000 / 2 }
        }
        watchdogIntervalNs = interval
    }

    public var isEnabled: Bool { socketPath != nil }

    /// Sends `state` (newline-separated `KEY=value` assignments); errors are ignored, as
    /// sd_notify's are: the daemon must work the same outside systemd.
    public func send(_ state: String) {
        guard let path = socketPath else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        var message = Array(state.utf8)
        _ = withUnsafePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                sendto(fd, &message, message.count, Int32(MSG_NOSIGNAL), sa, length)
            }
        }
    }

    /// `RELOADING=1` with the monotonic time systemd 253+ expects alongside it.
    public func reloading() {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        send("RELOADING=1\nMONOTONIC_USEC=\(UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000)")
    }
}
