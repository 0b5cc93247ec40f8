import Foundation
import Glibc

/// A `mosquitto_pub -l` stream of sequenced readings fed by the test through a socket, so the test
/// decides when the stream ends: it keeps publishing (paced) until `stop()` or, with a fixed
/// `count`, until `finish()` lets the held-back tail go. A kill made before that lands while the
/// stream is still running by construction, however slow or fast the machine is.
final class PacedPublisher: @unchecked Sendable {
    let device: String
    let process: Process
    private let lines: (Int) -> String
    private let count: Int
    private let condition = NSCondition()
    private var allowed: Int
    private var written = 0
    private var stopping = false
    private var writerDone = false

    /// - count: the stream's length; endless streams stop at `stop()` (the default cap keeps
    ///   every timestamp in the past: 150,000 ms after a base 200 s ago).
    /// - holdingBack: lines not given to mosquitto_pub before `finish()`.
    /// - perSecond: the pace; the socket also blocks when mosquitto_pub falls behind.
    init(
        _ broker: TestBroker, device: String, metric: String = "power", count: Int = 150_000,
        holdingBack: Int = 0, perSecond: Int = 2_000
    ) throws {
        self.device = device
        self.count = count
        allowed = count - holdingBack
        let base = Int64(Date().timeIntervalSince1970 * 1000) - 200_000
        lines = { i in sequencedReadings(device: device, metric: metric, count: 1, from: i, base: base)[0] }
        // mosquitto_pub's input is a socket pair made close-on-exec atomically, so no other child
        // (a restarted daemon, another test's broker) inherits the writing end and keeps
        // mosquitto_pub from seeing the end of its input; `send` with MSG_NOSIGNAL turns a write
        // after mosquitto_pub died into an error rather than a SIGPIPE for the test runner.
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw TestFailure("socketpair failed: \(errno)")
        }
        let readEnd = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true)
        let writeFD = fds[1]
        process = Process()
        process.executableURL = URL(fileURLWithPath: try executable("mosquitto_pub", in: ["/usr/bin"]))
        process.arguments = [
            "-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", "zhizao/v1/ws-assembly/\(device)", "-l",
            "-i", "zhizao-it-pub-\(UUID().uuidString.prefix(8))",
        ]
        process.standardInput = readEnd
        do { try process.run() } catch {
            close(writeFD)
            throw error
        }
        try readEnd.close()
        let chunk = 20
        let pauseUs = UInt32(1_000_000 * chunk / max(perSecond, 1))
        let thread = Thread { [self] in
            var i = 0
            while true {
                condition.lock()
                while i >= allowed && !stopping { condition.wait() }
                let end = stopping ? i : min(i + chunk, allowed)
                condition.unlock()
                if end <= i { break }
                let bytes = Array(((i..<end).map(lines).joined(separator: "\n") + "\n").utf8)
                var offset = 0
                while offset < bytes.count {
                    let n = bytes.withUnsafeBytes { send(writeFD, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                    if n <= 0 { break }
                    offset += n
                }
                if offset < bytes.count { break }  // mosquitto_pub is gone: isStreaming and stop() say so
                i = end
                condition.lock()
                written = i
                condition.broadcast()
                condition.unlock()
                usleep(pauseUs)  // the publisher's pace, by design
            }
            close(writeFD)
            condition.lock()
            writerDone = true
            condition.broadcast()
            condition.unlock()
        }
        thread.start()
    }

    /// mosquitto_pub is running and lines of the stream are still to be given to it.
    var isStreaming: Bool {
        condition.lock()
        defer { condition.unlock() }
        return !stopping && !writerDone && written < count && process.isRunning
    }

    /// Lines given to mosquitto_pub so far.
    var published: Int {
        condition.lock()
        defer { condition.unlock() }
        return written
    }

    /// Ends the stream after the chunk being written, waits until mosquitto_pub has published
    /// everything it was given and exited cleanly; returns the number of lines published.
    @discardableResult
    func stop() throws -> Int {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !writerDone { condition.wait() }
        let n = written
        condition.unlock()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestFailure("mosquitto_pub -l for \(device) failed with \(process.terminationStatus)")
        }
        return n
    }

    /// Lets the held-back lines go, waits until all `count` were given, then stops.
    @discardableResult
    func finish(timeout: Double = 120) throws -> Int {
        condition.lock()
        allowed = count
        condition.broadcast()
        let deadline = Date().addingTimeInterval(timeout)
        while written < count && !writerDone && Date() < deadline { _ = condition.wait(until: deadline) }
        condition.unlock()
        return try stop()
    }

    /// For `defer`: kills mosquitto_pub (the writer then ends on EPIPE); harmless after `stop()`.
    func abort() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        stopProcess(process, signal: SIGKILL, grace: 0)
    }
}
