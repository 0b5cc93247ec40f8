/// A PostgreSQL failure, classified for the caller's decision: retry the batch, reconnect, or
/// stop and tell the user.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// What the caller does about it.
    public enum Code: String, Sendable {
        /// The connection is gone or could not be made (server restart, network): reconnect with backoff.
        case connection
        /// Serialisation failure or deadlock between writers: retry the whole transaction.
        case conflict
        /// A unique or check constraint refused a row.
        case constraint
        /// The server is out of disk or memory.
        case resources
        /// Login refused (password, pg_hba.conf).
        case authentication
        /// The database named in the URL does not exist.
        case noDatabase = "no_database"
        /// Anything else: a bug in a statement, a permission, a schema from elsewhere.
        case other
    }

    public let code: Code
    /// The server's SQLSTATE, when it sent one.
    public let sqlstate: String?
    public let message: String

    public init(code: Code, sqlstate: String?, message: String) {
        self.code = code
        self.sqlstate = sqlstate
        self.message = message
    }

    /// Classifies by SQLSTATE (PostgreSQL's "Appendix A. Error Codes").
    init(sqlstate: String?, message: String) {
        let code: Code
        switch sqlstate {
        case "40001", "40P01": code = .conflict
        case let s? where s.hasPrefix("08") || s == "57P01" || s == "57P02" || s == "57P03": code = .connection
        case let s? where s.hasPrefix("23"): code = .constraint
        case let s? where s.hasPrefix("53"): code = .resources
        case "28000", "28P01": code = .authentication
        case "3D000": code = .noDatabase
        default: code = .other
        }
        self.init(code: code, sqlstate: sqlstate, message: message)
    }

    public var description: String {
        "PostgreSQL \(code.rawValue)\(sqlstate.map { " (\($0))" } ?? ""): \(message)"
    }
}
