import PostgresClient

/// What a `--db` value names: a SQLite file or a PostgreSQL database, and how to print it.
public enum StoreTarget {
    /// Whether `target` is a `postgresql://` (or `postgres://`) URL rather than a SQLite path.
    public static func isPostgres(_ target: String) -> Bool { PostgresTarget.isPostgres(target) }

    /// `target` with any password in it replaced by `***`, for logs and messages.
    public static func redacted(_ target: String) -> String { PostgresTarget.redacted(target) }
}
