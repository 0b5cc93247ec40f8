import Foundation
import Glibc

/// One change that is not ingest, as the `audit` table keeps it: who changed what, when, and
/// the value before and after.
///
/// Figures reported to a programme must be traceable: a value added entered, rollups rebuilt, a
/// registry reloaded with other coefficients all change them without a single reading arriving.
/// Every command that changes stored figures or what they are computed from records entries
/// through `SQLiteStore.recordAudit` (or inside its own transaction, as `setValueAdded` and
/// `rebuildRollups` do); later commands (prune, close, reopen) record the same way.
public struct AuditEntry: Codable, Sendable, Equatable {
    /// When the change was made, ms since epoch (UTC).
    public var atMs: Int64
    /// The command that made it: `value-added`, `rebuild`, `reload`, ...
    public var command: String
    /// The host user who ran the command (the daemon's user for a reload).
    public var user: String
    /// What changed: `value_added site:sz-baoan 2026-11`, `rollups`, `registry`,
    /// `site sz-baoan energy_coefficients.electricity`, ...
    public var subject: String
    /// The value before, when there was one.
    public var before: String?
    /// The value after, or what the command did.
    public var after: String?

    public init(atMs: Int64, command: String, user: String, subject: String, before: String?, after: String?) {
        self.atMs = atMs
        self.command = command
        self.user = user
        self.subject = subject
        self.before = before
        self.after = after
    }

    enum CodingKeys: String, CodingKey {
        case command, user, subject, before, after
        case atMs = "at_ms"
    }
}

/// Who is changing something now: the command and the host user running it.
public struct AuditActor: Sendable, Equatable {
    public var command: String
    public var user: String

    public init(command: String, user: String) {
        self.command = command
        self.user = user
    }

    /// The current process's user (by effective uid; `sudo` is named with who called it).
    public static func current(command: String) -> AuditActor {
        var name = "uid \(geteuid())"
        if let pw = getpwuid(geteuid()), let n = pw.pointee.pw_name { name = String(cString: n) }
        if let sudo = ProcessInfo.processInfo.environment["SUDO_USER"], !sudo.isEmpty, sudo != name {
            name += " (sudo by \(sudo))"
        }
        return AuditActor(command: command, user: name)
    }

    /// An entry made by this actor now.
    public func entry(
        _ subject: String, before: String?, after: String?,
        atMs: Int64 = Int64(Date().timeIntervalSince1970 * 1000)
    ) -> AuditEntry {
        AuditEntry(atMs: atMs, command: command, user: user, subject: subject, before: before, after: after)
    }
}
