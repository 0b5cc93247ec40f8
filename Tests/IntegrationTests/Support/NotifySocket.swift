import Foundation
import Glibc

/// A datagram socket standing in for systemd's notification socket.
///
/// A thread receives continuously, as systemd does: Linux queues only
/// `net.unix.max_dgram_qlen` (often 10) datagrams, and a daemon whose notifications are not read
/// blocks in `sendto`, so a test that paused reading would stall the daemon it is watching.
final class NotifySocket: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var received: [(message: String, at: Double)] = []

    init() throws {
        path = try temporaryDirectory("notify") + "/notify.sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
        guard ok else {
            close(fd)
            throw TestFailure("cannot bind \(path)")
        }
        // The thread holds the socket only during one poll, so the socket can go away between.
        Thread { [weak self] in
            while let socket = self, socket.receiveOnce() {}
        }.start()
    }

    /// Waits up to 100 ms for a datagram and records it with its arrival time; false once closed.
    private func receiveOnce() -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&p, 1, 100)
        if ready < 0 && errno != EINTR { return false }
        guard ready > 0 else { return true }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        if n > 0 {
            let message = String(decoding: buffer[0..<n], as: UTF8.self)
            let now = ProcessInfo.processInfo.systemUptime
            lock.lock()
            received.append((message, now))
            lock.unlock()
        }
        return true
    }

    deinit { close(fd) }

    /// Everything received so far, in order.
    var messages: [String] {
        lock.lock()
        defer { lock.unlock() }
        return received.map(\.message)
    }

    /// Arrival times (seconds, monotonic) of the datagrams exactly equal to `message`.
    func arrivals(of message: String) -> [Double] {
        lock.lock()
        defer { lock.unlock() }
        return received.filter { $0.message == message }.map(\.at)
    }

    /// Waits until `condition` holds on everything received, or the time-out.
    @discardableResult
    func wait(timeout: Double, for condition: ([String]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(messages) { return true }
            usleep(20_000)  // a poll of the condition
        }
        return condition(messages)
    }
}
