import Foundation
import Glibc
import Logging

/// A minimal HTTP server for `GET /metrics` on its own thread.
///
/// Hand-written: the HTTP servers available to this project (Hummingbird, Vapor) stand on
/// SwiftNIO, minutes of build time on these machines, for one read-only endpoint that answers a
/// scraper every few seconds. It speaks just enough HTTP/1.1: one request per connection,
/// `Connection: close`.
public final class MetricsServer: @unchecked Sendable {
    // @unchecked: `listener` is set once before the thread starts; `stop()` only closes it.
    private let listener: Int32
    private let metrics: IngestMetrics
    private let logger: Logger
    /// `host:port` as bound (the kernel's choice when port 0 was asked for).
    public let address: String
    public let port: UInt16

    /// Binds `host:port` (loopback unless configured otherwise); throws a readable error.
    public init(listen: String, metrics: IngestMetrics, logger: Logger) throws {
        let parts = listen.split(separator: ":")
        guard parts.count == 2, let asked = UInt16(parts[1]) else {
            throw ConfigError("metrics listen address \"\(listen)\" is not host:port", hint: "e.g. 127.0.0.1:9464")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(asked.bigEndian)
        guard inet_pton(AF_INET, String(parts[0]), &addr.sin_addr) == 1 else {
            close(fd)
            throw ConfigError("metrics listen address \"\(listen)\" needs an IPv4 address", hint: "e.g. 127.0.0.1:9464")
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard bound, Glibc.listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ConfigError("cannot listen for metrics on \(listen): \(reason)", hint: "pick a free port in metrics.listen")
        }
        // Port 0 asks the kernel for a free one: report the port actually bound.
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        self.metrics = metrics
        self.logger = logger
        port = UInt16(bigEndian: actual.sin_port)
        address = "\(parts[0]):\(port)"
    }

    /// Serves until `stop()`.
    public func start() {
        let thread = Thread { [self] in serve() }
        thread.name = "zhizao-metrics"
        thread.start()
        logger.info("metrics on http://\(address)/metrics")
    }

    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            handle(client)
            close(client)
        }
    }

    private func handle(_ fd: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192 {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            request += buffer[0..<n]
            if request.suffix(4) == [13, 10, 13, 10] || String(decoding: request, as: UTF8.self).contains("\r\n\r\n") { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let (status, type, body): (String, String, [UInt8])
        if line.hasPrefix("GET /metrics ") || line == "GET /metrics" {
            (status, type, body) = ("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics.render())
        } else {
            (status, type, body) = ("404 Not Found", "text/plain; charset=utf-8", Array("only GET /metrics is served here\n".utf8))
        }
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let out = Array(head.utf8) + body
        var sent = 0
        while sent < out.count {
            let n = out.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }
}
