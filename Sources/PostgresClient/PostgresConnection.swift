import CLibPQ
import Glibc

/// A value sent as a statement parameter (text format; PostgreSQL casts it to the column's type).
public enum PostgresValue: Sendable, Equatable {
    case int(Int64)
    case double(Double)
    case text(String)
    case null

    fileprivate var wireText: String? {
        switch self {
        case .int(let v): return String(v)
        case .double(let v):
            // PostgreSQL spells the special values this way; finite values round-trip exactly.
            if v.isNaN { return "NaN" }
            if v.isInfinite { return v > 0 ? "Infinity" : "-Infinity" }
            return "\(v)"
        case .text(let s): return s
        case .null: return nil
        }
    }
}

/// One result set, copied out of libpq (text format), so no C memory outlives the call.
public struct PostgresRows: Sendable {
    public let columns: [String]
    public let rows: [[String?]]
    /// The number of rows an INSERT, UPDATE or DELETE touched.
    public let affected: Int

    public var count: Int { rows.count }

    public func string(_ row: Int, _ column: Int) -> String? { rows[row][column] }
    public func int(_ row: Int, _ column: Int) -> Int64? { rows[row][column].flatMap { Int64($0) } }
    public func double(_ row: Int, _ column: Int) -> Double? { rows[row][column].flatMap { Double($0) } }
}

/// A synchronous connection to PostgreSQL through libpq.
///
/// libpq rather than postgres-nio: the ingest loop is one thread that blocks on its commit
/// before it acknowledges (as with libmosquitto and SQLite), so a blocking client fits it
/// without an event loop, and libpq brings the conventions libpq users expect (PGPASSFILE,
/// PGPASSWORD, sslmode, service files) for free. Not thread-safe: one owner at a time.
public final class PostgresConnection {
    private var conn: OpaquePointer?
    /// The URL or key=value string it was opened with, with any password removed (for logs).
    public let redactedTarget: String

    /// Connects. `target` is a `postgresql://user@host:port/dbname?sslmode=...` URL or a libpq
    /// key=value string; `passwordFile` names a libpq password file (the password never travels
    /// in `target`). Everything libpq reads from the environment (PGPASSWORD, PGPASSFILE,
    /// PGSSLMODE, ...) applies.
    public init(target: String, passwordFile: String? = nil, applicationName: String = "zhizao") throws(PostgresError) {
        redactedTarget = PostgresTarget.redacted(target)
        var keys = ["dbname", "application_name", "connect_timeout"]
        var values = [target, applicationName, "10"]
        if let passwordFile {
            keys.append("passfile")
            values.append(passwordFile)
        }
        conn = Self.connect(keys: keys, values: values)
        guard let conn, PQstatus(conn) == CONNECTION_OK else {
            let message = conn.map { Self.lastError($0) } ?? "out of memory"
            if let conn { PQfinish(conn) }
            self.conn = nil
            throw Self.classifyConnectFailure(message)
        }
        // Notices (e.g. "relation already exists, skipping") are not errors: keep them off stderr.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
    }

    deinit {
        if let conn { PQfinish(conn) }
    }

    private static func connect(keys: [String], values: [String]) -> OpaquePointer? {
        // libpq wants NULL-terminated arrays of C strings; expand_dbname=1 lets `dbname` hold a URL.
        let cKeys: [UnsafeMutablePointer<CChar>?] = keys.map { strdup($0) } + [nil]
        let cValues: [UnsafeMutablePointer<CChar>?] = values.map { strdup($0) } + [nil]
        defer { for pointer in cKeys + cValues { free(pointer) } }
        return cKeys.withUnsafeBufferPointer { k in
            cValues.withUnsafeBufferPointer { v in
                k.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: k.count) { kp in
                    v.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: v.count) { vp in
                        PQconnectdbParams(kp, vp, 1)
                    }
                }
            }
        }
    }

    private static func lastError(_ conn: OpaquePointer) -> String {
        String(cString: PQerrorMessage(conn)).trimmingTrailingNewlines()
    }

    private static func classifyConnectFailure(_ message: String) -> PostgresError {
        if message.contains("password authentication failed") || message.contains("no password supplied")
            || message.contains("pg_hba.conf")
        {
            return PostgresError(code: .authentication, sqlstate: "28P01", message: message)
        }
        if message.contains("does not exist") && message.contains("database") {
            return PostgresError(code: .noDatabase, sqlstate: "3D000", message: message)
        }
        return PostgresError(code: .connection, sqlstate: nil, message: message)
    }

    /// Whether the connection is still usable (false after the server went away).
    public var isOpen: Bool { conn.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// The server's version as a number (150018 for 15.18).
    public var serverVersion: Int { conn.map { Int(PQserverVersion($0)) } ?? 0 }

    /// Runs one statement with `$1…$n` parameters and returns its rows.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [PostgresValue] = []) throws(PostgresError) -> PostgresRows {
        guard let conn else { throw PostgresError(code: .connection, sqlstate: nil, message: "connection closed") }
        let texts: [UnsafeMutablePointer<CChar>?] = parameters.map { $0.wireText.flatMap { strdup($0) } }
        defer { for text in texts { free(text) } }
        let result: OpaquePointer? = texts.withUnsafeBufferPointer { buffer in
            buffer.baseAddress.map { base in
                base.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) { values in
                    PQexecParams(conn, sql, Int32(texts.count), nil, values, nil, nil, 0)
                }
            } ?? PQexecParams(conn, sql, 0, nil, nil, nil, nil, 0)
        }
        return try Self.collect(result, conn: conn)
    }

    /// Runs several statements separated by semicolons, without parameters (migrations).
    public func executeScript(_ sql: String) throws(PostgresError) {
        guard let conn else { throw PostgresError(code: .connection, sqlstate: nil, message: "connection closed") }
        _ = try Self.collect(PQexec(conn, sql), conn: conn)
    }

    private static func collect(_ result: OpaquePointer?, conn: OpaquePointer) throws(PostgresError) -> PostgresRows {
        guard let result else {
            throw PostgresError(code: .connection, sqlstate: nil, message: lastError(conn))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            break
        default:
            let sqlstate = PQresultErrorField(result, zhizao_pg_diag_sqlstate()).map { String(cString: $0) }
            let message = PQresultErrorMessage(result).map { String(cString: $0) } ?? ""
            let text = message.isEmpty ? lastError(conn) : message.trimmingTrailingNewlines()
            if sqlstate == nil && PQstatus(conn) != CONNECTION_OK {
                throw PostgresError(code: .connection, sqlstate: nil, message: text)
            }
            throw PostgresError(sqlstate: sqlstate, message: text)
        }
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        var columns: [String] = []
        columns.reserveCapacity(columnCount)
        for c in 0..<columnCount { columns.append(String(cString: PQfname(result, Int32(c)))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            var row: [String?] = []
            row.reserveCapacity(columnCount)
            for c in 0..<columnCount {
                if PQgetisnull(result, Int32(r), Int32(c)) != 0 {
                    row.append(nil)
                } else {
                    row.append(String(cString: PQgetvalue(result, Int32(r), Int32(c))))
                }
            }
            rows.append(row)
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresRows(columns: columns, rows: rows, affected: affected)
    }

    /// Runs `body` in one transaction (BEGIN … COMMIT), rolling back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            if isOpen { _ = try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Closes the connection now (instead of at deinit).
    public func close() {
        if let conn { PQfinish(conn) }
        conn = nil
    }
}

/// Helpers for a store target (`--db`): tell a PostgreSQL URL from a SQLite path, and print it
/// without a password.
public enum PostgresTarget {
    /// Whether `target` names a PostgreSQL database rather than a SQLite file.
    public static func isPostgres(_ target: String) -> Bool {
        target.hasPrefix("postgresql://") || target.hasPrefix("postgres://")
    }

    /// Whether the URL carries a password (`user:password@`), which Zhizao refuses: a password
    /// in a URL ends up in argv, shell history and logs.
    public static func hasPassword(_ target: String) -> Bool {
        guard let userInfo = userInfo(target) else { return false }
        return userInfo.contains(":")
    }

    /// The URL with any password replaced by `***`.
    public static func redacted(_ target: String) -> String {
        guard let userInfo = userInfoRange(target), let colon = target[userInfo].firstIndex(of: ":") else { return target }
        return String(target[..<colon]) + ":***" + String(target[userInfo.upperBound...])
    }

    private static func userInfo(_ target: String) -> Substring? {
        userInfoRange(target).map { target[$0] }
    }

    private static func userInfoRange(_ target: String) -> Range<String.Index>? {
        guard isPostgres(target), let slashes = target.firstIndex(of: "/") else { return nil }
        let start = target.index(slashes, offsetBy: 2)
        let authority = target[start...].prefix { $0 != "/" && $0 != "?" }
        guard let at = authority.lastIndex(of: "@") else { return nil }
        return start..<at
    }
}

extension String {
    fileprivate func trimmingTrailingNewlines() -> String {
        var s = Substring(self)
        while s.last == "\n" || s.last == "\r" || s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
