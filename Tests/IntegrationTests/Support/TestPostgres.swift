import Foundation
import Glibc
import PostgresClient
import Testing

/// A private PostgreSQL server (Debian's `postgresql` package) on a free loopback port, in its
/// own data folder, with one database `zhizao` owned by the login role `zhizao` (trust auth on
/// loopback only).
///
/// Started and stopped through `pg_ctl -w`, which returns once the server accepts connections
/// (or has shut down): a signal, not a pause. PostgreSQL refuses to run as root, so as root the
/// server runs as the `postgres` system user the package creates.
final class TestPostgres: @unchecked Sendable {
    let port: Int
    let directory: String
    private var running = false

    init() throws {
        port = try freeLoopbackPort()
        directory = try temporaryDirectory("postgres")
        let bin = try Self.binDirectory()
        if getuid() == 0 {
            try Self.run("/usr/bin/chown", ["-R", "postgres:postgres", directory])
        }
        // --no-sync and fsync=off: a test server's files need not survive a power cut, only a
        // server restart, which the page cache covers; this halves start-up on slow disks.
        try asServerUser(bin + "/initdb", ["-D", directory + "/data", "-U", "zhizao", "--auth=trust", "--no-sync", "-E", "UTF8"])
        let conf = """
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(directory)'
            fsync = off
            max_connections = 50
            """
        let confPath = directory + "/data/postgresql.conf"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: confPath))
        handle.seekToEndOfFile()
        handle.write(Data(("\n" + conf + "\n").utf8))
        try handle.close()
        try start()
        try asServerUser(bin + "/createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", "zhizao", "zhizao"])
    }

    /// The URL a `--db` flag takes.
    var url: String { "postgresql://zhizao@127.0.0.1:\(port)/zhizao" }

    /// Starts (or restarts) the server and returns once it accepts connections.
    func start() throws {
        try asServerUser(
            try Self.binDirectory() + "/pg_ctl", ["-D", directory + "/data", "-l", directory + "/server.log", "-w", "-t", "60", "start"])
        running = true
    }

    /// Stops the server: `fast` disconnects clients and shuts down cleanly; `immediate` is a crash
    /// (recovery runs at the next start).
    func stop(mode: String = "fast") throws {
        guard running else { return }
        try asServerUser(try Self.binDirectory() + "/pg_ctl", ["-D", directory + "/data", "-m", mode, "-w", "-t", "60", "stop"])
        running = false
    }

    deinit {
        try? stop(mode: "immediate")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The server's own log: evidence of what clients did.
    var log: String { (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? "" }

    private func asServerUser(_ program: String, _ arguments: [String]) throws {
        if getuid() == 0 {
            // setpriv execs in place (no PAM session, no extra process), keeping pg_ctl's exit status.
            try Self.run("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", program] + arguments)
        } else {
            try Self.run(program, arguments)
        }
    }

    private static func binDirectory() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        guard let newest = versions.compactMap(Int.init).max() else {
            throw TestFailure("PostgreSQL server binaries not found under \(root): apt-get install postgresql, or run .ci/install-deps")
        }
        return "\(root)/\(newest)/bin"
    }

    /// Runs a program to completion with posix_spawn and waitpid. Not `Foundation.Process`: its
    /// waitUntilExit never returned for pg_ctl run through setpriv (the child stayed a zombie,
    /// seen twice on Swift 6.3.1), while a plain waitpid reaps it.
    private static func run(_ program: String, _ arguments: [String]) throws {
        let dir = try temporaryDirectory("pgctl")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outPath = dir + "/out"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([program] + arguments).map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestFailure("cannot start \(program): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
            throw TestFailure("\(program) \(arguments.joined(separator: " ")) failed (status \(status)): \(text)")
        }
    }
}

/// One PostgreSQL server for the whole test process, started when a test first asks for it and
/// stopped at exit: each test takes a database of its own on it (`TestPostgres.newDatabase`).
private let sharedServer = Result { try TestPostgres() }

extension TestPostgres {
    /// The process's shared server, started on first use and stopped when the process exits.
    static func shared() throws -> TestPostgres {
        let server = try sharedServer.get()
        registerStopAtExit
        return server
    }

    /// A new empty database on this server, its `--db` URL.
    func newDatabase() throws -> String {
        let name = "t" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        try PostgresConnection(target: url).execute("CREATE DATABASE \(name)")
        return "postgresql://zhizao@127.0.0.1:\(port)/\(name)"
    }
}

private let registerStopAtExit: Void = {
    atexit {
        guard case .success(let server) = sharedServer else { return }
        try? server.stop(mode: "immediate")
        try? FileManager.default.removeItem(atPath: server.directory)
    }
}()

/// The store a test runs on: the same test body checks both.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// A fresh store: a SQLite path in `dir`, or a new database on the shared PostgreSQL server.
    func newStore(in dir: String) throws -> String {
        switch self {
        case .sqlite: dir + "/z.sqlite"
        case .postgres: try TestPostgres.shared().newDatabase()
        }
    }
}
