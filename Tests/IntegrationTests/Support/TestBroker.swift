import Foundation
import Glibc

/// A private mosquitto on a free loopback port, with its own config and persistence folder.
///
/// Started through `Foundation.Process`; stopped by PID (SIGTERM to let it save its
/// persistence, or SIGKILL), because `terminate()` alone is not always honoured.
final class TestBroker: @unchecked Sendable {
    let port: Int
    let directory: String
    private var process: Process?

    /// `extraConfig` replaces `allow_anonymous true` when it mentions authentication; `$DIR` in it
    /// names the broker's folder, which `setUp` may fill (password files) before the first start.
    init(extraConfig: String = "", setUp: (String) throws -> Void = { _ in }) throws {
        port = try freeLoopbackPort()
        directory = try temporaryDirectory("broker")
        let user = getuid() == 0 ? "user root\n" : ""
        // The shipped example broker config's essentials: large queues bounded by bytes, a
        // persistent-client expiry, and an in-flight window that does not throttle.
        let conf = """
            listener \(port) 127.0.0.1
            \(extraConfig.contains("allow_anonymous") ? "" : "allow_anonymous true")
            persistence true
            persistence_location \(directory)/
            autosave_interval 1
            max_queued_messages 0
            max_queued_bytes 1073741824
            max_inflight_messages 1000
            persistent_client_expiration 1d
            \(user)
            \(extraConfig.replacingOccurrences(of: "$DIR", with: directory))
            """
        try conf.write(toFile: directory + "/mosquitto.conf", atomically: true, encoding: .utf8)
        try setUp(directory)
        try start()
    }

    /// Starts (or restarts) mosquitto and waits until the port accepts connections.
    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try executable("mosquitto", in: ["/usr/sbin", "/usr/bin"]))
        p.arguments = ["-c", directory + "/mosquitto.conf"]
        let logPath = directory + "/mosquitto.log"
        if !FileManager.default.fileExists(atPath: logPath) { _ = try createFile(logPath) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p
        try waitUntil(timeout: 10, "mosquitto to listen on \(port)") { canConnect(port: port) }
    }

    /// SIGTERM (mosquitto saves its persistence) and wait.
    func stop() {
        guard let p = process else { return }
        stopProcess(p, signal: SIGTERM, grace: 5)
        process = nil
    }

    deinit {
        if let p = process { stopProcess(p, signal: SIGKILL, grace: 0) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// mosquitto's own log (connections, refusals): evidence of what clients did.
    var log: String { (try? String(contentsOfFile: directory + "/mosquitto.log", encoding: .utf8)) ?? "" }

    /// Set when the listener speaks TLS.
    var secure = false

    var url: String { "\(secure ? "mqtts" : "mqtt")://127.0.0.1:\(port)" }
}

/// Sends `signal`, waits up to `grace` seconds, then SIGKILLs and reaps.
func stopProcess(_ p: Process, signal sig: Int32, grace: Double) {
    guard p.isRunning else { return }
    kill(p.processIdentifier, sig)
    let deadline = Date().addingTimeInterval(grace)
    while p.isRunning && Date() < deadline { usleep(20_000) }
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
}

func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { ptr in
        ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
        }
    }
    guard ok else { throw TestFailure("cannot find a free port") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A TCP socket connected to 127.0.0.1:port, or nil; the caller closes it.
func connectLoopback(port: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    let ok = withUnsafePointer(to: &addr) { ptr in
        ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
    if ok { return fd }
    close(fd)
    return nil
}

func canConnect(port: Int) -> Bool {
    guard let fd = connectLoopback(port: port) else { return false }
    close(fd)
    return true
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func waitUntil(timeout: Double, _ what: String, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        usleep(50_000)
    }
    throw TestFailure("timed out after \(timeout) s waiting for \(what)")
}

func temporaryDirectory(_ tag: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zhizao-it-\(tag)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

func createFile(_ path: String) throws -> String {
    guard FileManager.default.createFile(atPath: path, contents: nil) else { throw TestFailure("cannot create \(path)") }
    return path
}

func executable(_ name: String, in dirs: [String]) throws -> String {
    for d in dirs where FileManager.default.isExecutableFile(atPath: d + "/" + name) { return d + "/" + name }
    throw TestFailure("\(name) not found in \(dirs): install it (apt-get install mosquitto mosquitto-clients), or run .ci/run")
}
