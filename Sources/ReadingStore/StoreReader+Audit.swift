import GRDB

extension StoreReader {
    /// The audit trail in [from, to) (either end open when nil), oldest first.
    public func audit(from: Int64? = nil, to: Int64? = nil) throws -> [AuditEntry] {
        try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT at, command, user, subject, before, after FROM audit
                    WHERE at >= ? AND at < ? ORDER BY at, id
                    """, arguments: [from ?? Int64.min, to ?? Int64.max]
            ).map {
                AuditEntry(
                    atMs: $0["at"], command: $0["command"], user: $0["user"], subject: $0["subject"],
                    before: $0["before"], after: $0["after"])
            }
        }
    }
}
