import PostgresClient

/// The PostgreSQL schema as named, ordered migrations; `Schemas/database.postgres.sql` mirrors
/// the SQL (a test compares them). Applied under an advisory lock, so daemons starting together
/// migrate once.
public enum PostgresSchema {
    /// Each migration's name and SQL, in order.
    public static let migrations: [(name: String, sql: String)] = [
        (
            "pg1-readings",
            """
            CREATE TABLE series (
                id      bigserial PRIMARY KEY,
                site    text NOT NULL,
                device  text NOT NULL,
                metric  text NOT NULL,
                UNIQUE (site, device, metric)
            );
            CREATE TABLE readings (
                series_id   bigint NOT NULL,
                ts          bigint NOT NULL,                -- event time, ms since epoch (UTC)
                value       double precision,
                state       text,
                error_code  bigint,
                seq         bigint,
                PRIMARY KEY (series_id, ts)
            ) PARTITION BY RANGE (ts);                      -- partitions readings_YYYYMM, created by the daemon
            CREATE TABLE quarantine (
                id             bigserial PRIMARY KEY,
                received_at    bigint NOT NULL,
                topic          text NOT NULL,
                reason         text NOT NULL,
                detail         text NOT NULL,
                payload        bytea NOT NULL,
                payload_bytes  integer NOT NULL
            );
            CREATE INDEX quarantine_by_reason ON quarantine (reason, received_at);
            CREATE TABLE ingest_counters (
                name   text PRIMARY KEY,
                value  bigint NOT NULL
            );
            CREATE TABLE device_last_seen (
                site              text NOT NULL,
                device            text NOT NULL,
                last_reading_ts   bigint NOT NULL,
                last_received_at  bigint NOT NULL,
                PRIMARY KEY (site, device)
            );
            CREATE TABLE ingest_seconds (
                second    bigint PRIMARY KEY,
                readings  bigint NOT NULL,
                messages  bigint NOT NULL
            );
            CREATE TABLE rollup_minute (
                series_id    bigint NOT NULL,
                minute       bigint NOT NULL,
                n            integer NOT NULL,
                sum          double precision NOT NULL,
                min          double precision,
                max          double precision,
                last_ts      bigint,
                last         double precision,
                consumption  double precision NOT NULL,
                estimated    double precision NOT NULL,
                PRIMARY KEY (series_id, minute)
            );
            CREATE TABLE state_minute (
                series_id  bigint NOT NULL,
                minute     bigint NOT NULL,
                state      text NOT NULL,
                ms         bigint NOT NULL,
                PRIMARY KEY (series_id, minute, state)
            );
            CREATE TABLE machine_minute (
                site             text NOT NULL,
                device           text NOT NULL,
                minute           bigint NOT NULL,
                producing_ms     bigint NOT NULL,
                nc_producing_ms  double precision NOT NULL,
                unknown_ms       bigint NOT NULL,
                PRIMARY KEY (site, device, minute)
            );
            CREATE TABLE scope_rollup (
                site      text NOT NULL,                    -- the site the scope belongs to
                scope     text NOT NULL,                    -- site:<id>, workshop:<id>, line:<id>
                quantity  text NOT NULL,
                period    text NOT NULL,                    -- hour | day (local to the site)
                start     bigint NOT NULL,
                value     double precision NOT NULL,
                PRIMARY KEY (site, scope, period, start, quantity)
            );
            CREATE TABLE value_added (
                site   text NOT NULL,
                scope  text NOT NULL,
                month  bigint NOT NULL,
                yuan   double precision NOT NULL,
                PRIMARY KEY (site, scope, month)
            );
            CREATE TABLE device_state (
                site        text NOT NULL,
                device      text NOT NULL,
                online      boolean NOT NULL,
                changed_at  bigint NOT NULL,
                reason      text NOT NULL,
                PRIMARY KEY (site, device)
            );
            CREATE TABLE quality_event (
                series_id  bigint NOT NULL,
                kind       text NOT NULL,
                start_ts   bigint NOT NULL,
                end_ts     bigint NOT NULL,
                n          integer NOT NULL,
                amount     double precision NOT NULL,
                PRIMARY KEY (series_id, kind, start_ts, end_ts)
            );
            CREATE INDEX quality_by_end ON quality_event (end_ts);
            CREATE TABLE audit (
                id       bigserial PRIMARY KEY,
                at       bigint NOT NULL,
                command  text NOT NULL,
                "user"   text NOT NULL,
                subject  text NOT NULL,
                before   text,
                after    text
            );
            CREATE INDEX audit_by_time ON audit (at);
            """
        ),
        (
            "pg3-periods",
            """
            CREATE TABLE closed_period (
                id         bigserial PRIMARY KEY,           -- never reused: (count, max id) versions a site's closures
                site       text NOT NULL,                   -- the site whose scope was closed
                label      text NOT NULL,                   -- as given: 2026-11, 2026-11-05, 2026-11-01..2026-11-16
                scope      text NOT NULL,                   -- the scope closed: site:<id>, workshop:<id>, line:<id>
                frozen     text NOT NULL,                   -- it and the scopes within it, space-separated
                devices    text NOT NULL,                   -- the devices in those scopes (their own rollups), space-separated
                start      bigint NOT NULL,                 -- local day start, ms since epoch
                "end"      bigint NOT NULL,                 -- exclusive, a local day start
                closed_at  bigint NOT NULL,                 -- ms since epoch (UTC)
                "user"     text NOT NULL
            );
            CREATE INDEX closed_period_by_site ON closed_period (site, start);
            CREATE TABLE scope_adjustment (
                site      text NOT NULL,
                scope     text NOT NULL,                    -- a frozen scope
                quantity  text NOT NULL,                    -- as in scope_rollup
                period    text NOT NULL,                    -- hour | day
                start     bigint NOT NULL,                  -- inside a closed period
                value     double precision NOT NULL,        -- change held back from scope_rollup
                PRIMARY KEY (site, scope, period, start, quantity)
            );
            CREATE TABLE series_adjustment (                -- what late readings added to a frozen device's minutes
                period_id    bigint NOT NULL,               -- closed_period.id
                series_id    bigint NOT NULL,
                minute       bigint NOT NULL,               -- inside the closed period
                n            integer NOT NULL,
                sum          double precision NOT NULL,
                consumption  double precision NOT NULL,
                estimated    double precision NOT NULL,
                PRIMARY KEY (period_id, series_id, minute)
            );
            CREATE TABLE state_adjustment (                 -- and to its state minutes
                period_id  bigint NOT NULL,
                series_id  bigint NOT NULL,
                minute     bigint NOT NULL,
                state      text NOT NULL,
                ms         bigint NOT NULL,
                PRIMARY KEY (period_id, series_id, minute, state)
            );
            CREATE TABLE retention_mark (                   -- what retention removed: nothing older is stored again
                tier    text PRIMARY KEY,                   -- raw (a UTC month start: whole partitions go) | minute
                before  bigint NOT NULL
            );
            CREATE TABLE rollup_hour (                      -- minute rollups older than the minute horizon, per site hour
                series_id    bigint NOT NULL,
                hour         bigint NOT NULL,
                n            integer NOT NULL,
                sum          double precision NOT NULL,
                min          double precision,
                max          double precision,
                last_ts      bigint,
                last         double precision,
                consumption  double precision NOT NULL,
                estimated    double precision NOT NULL,
                PRIMARY KEY (series_id, hour)
            );
            CREATE TABLE state_hour (
                series_id  bigint NOT NULL,
                hour       bigint NOT NULL,
                state      text NOT NULL,
                ms         bigint NOT NULL,
                PRIMARY KEY (series_id, hour, state)
            );
            """
        ),
    ]

    /// A fixed advisory-lock key for schema changes and partition creation (any 64-bit value
    /// not used for a device; devices use hashes of `site/device` in another key space).
    static let schemaLockKey: Int64 = 0x7A68_697A_616F

    /// A fixed advisory-lock key every batch transaction holds shared, before its device locks,
    /// and that changes to what a commit consults (closing and reopening periods, moving the
    /// retention horizon) hold exclusively: such a change waits for the commits in flight, and
    /// the next commits read it. Taken first everywhere, so it adds no deadlock.
    static let writersLockKey: Int64 = 0x7A68_697A_6170

    /// Creates the migrations table and applies the missing migrations, each in a transaction.
    static func migrate(_ db: PostgresConnection) throws {
        try db.transaction {
            try db.execute("SELECT pg_advisory_xact_lock($1)", [.int(schemaLockKey)])
            try db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at bigint NOT NULL)")
            let applied = Set(try db.execute("SELECT name FROM schema_migrations").rows.compactMap { $0[0] })
            for m in migrations where !applied.contains(m.name) {
                try db.executeScript(m.sql)
                try db.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES ($1, (extract(epoch from now()) * 1000)::bigint)",
                    [.text(m.name)])
            }
        }
    }
}
