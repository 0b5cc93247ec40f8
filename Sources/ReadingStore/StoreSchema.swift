import GRDB

/// The newest schema each backend migrates to, for `zhizao --version`.
public enum SchemaVersions {
    /// The last SQLite migration's name.
    public static var sqlite: String { StoreSchema.migrator.migrations.last ?? "none" }
    /// The last PostgreSQL migration's name.
    public static var postgres: String { PostgresSchema.migrations.last?.name ?? "none" }
}

/// The database schema as named, ordered migrations; `Schemas/database.sql` mirrors the SQL.
enum StoreSchema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-readings") { db in
            try db.execute(sql: v1)
        }
        m.registerMigration("v2-rollups") { db in
            try db.execute(sql: v2)
        }
        m.registerMigration("v3-value-added") { db in
            try db.execute(sql: v3)
        }
        m.registerMigration("v4-device-state") { db in
            try db.execute(sql: v4)
        }
        m.registerMigration("v5-metering") { db in
            try db.execute(sql: v5)
        }
        m.registerMigration("v6-audit") { db in
            try db.execute(sql: v6)
        }
        m.registerMigration("v7-retention") { db in
            try db.execute(sql: v7)
        }
        m.registerMigration("v8-periods") { db in
            try db.execute(sql: v8)
        }
        m.registerMigration("v9-footprint") { db in
            try db.execute(sql: v9)
        }
        m.registerMigration("v10-footprint") { db in
            try db.execute(sql: v10)
        }
        return m
    }

    /// Readings are keyed (ts, series_id): new rows land at the right edge of the B-tree, which
    /// measured ~8x faster than (device, metric, ts) uniqueness at 1,000-row commits.
    static let v1 = """
        CREATE TABLE series (
            id      INTEGER PRIMARY KEY,
            device  TEXT NOT NULL,
            metric  TEXT NOT NULL,
            UNIQUE (device, metric)
        );
        CREATE TABLE readings (
            ts          INTEGER NOT NULL,          -- event time, ms since epoch (UTC)
            series_id   INTEGER NOT NULL REFERENCES series(id),
            value       REAL,                      -- numeric readings (scaled)
            state       TEXT,                      -- canonical state words
            error_code  INTEGER,                   -- gateway error code instead of a value
            seq         INTEGER,                   -- publisher sequence number, when sent
            PRIMARY KEY (ts, series_id)
        ) WITHOUT ROWID;
        CREATE TABLE quarantine (
            id             INTEGER PRIMARY KEY,
            received_at    INTEGER NOT NULL,       -- ms since epoch (UTC)
            topic          TEXT NOT NULL,
            reason         TEXT NOT NULL,          -- QuarantineReason raw value
            detail         TEXT NOT NULL,
            payload        BLOB NOT NULL,          -- truncated
            payload_bytes  INTEGER NOT NULL        -- the full payload's size
        );
        CREATE INDEX quarantine_by_reason ON quarantine(reason, received_at);
        CREATE TABLE ingest_counters (
            name   TEXT PRIMARY KEY,
            value  INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE device_last_seen (
            device            TEXT PRIMARY KEY,
            last_reading_ts   INTEGER NOT NULL,    -- newest event time stored
            last_received_at  INTEGER NOT NULL     -- when its last reading was committed
        ) WITHOUT ROWID;
        CREATE TABLE ingest_seconds (
            second    INTEGER PRIMARY KEY,         -- commit time, s since epoch
            readings  INTEGER NOT NULL,
            messages  INTEGER NOT NULL
        );
        """

    /// Rollups, updated in the same transaction as the readings they summarise.
    static let v2 = """
        CREATE INDEX readings_by_series ON readings(series_id, ts);  -- neighbours of late readings
        CREATE TABLE rollup_minute (
            series_id    INTEGER NOT NULL,
            minute       INTEGER NOT NULL,            -- UTC minute start, ms
            n            INTEGER NOT NULL,            -- numeric readings in the minute
            sum          REAL NOT NULL,
            min          REAL,
            max          REAL,
            last_ts      INTEGER,
            last         REAL,
            consumption  REAL NOT NULL,               -- counters: usage attributed to this minute
            PRIMARY KEY (series_id, minute)
        ) WITHOUT ROWID;
        CREATE TABLE state_minute (
            series_id  INTEGER NOT NULL,
            minute     INTEGER NOT NULL,
            state      TEXT NOT NULL,
            ms         INTEGER NOT NULL,              -- time in the state within the minute
            PRIMARY KEY (series_id, minute, state)
        ) WITHOUT ROWID;
        CREATE TABLE machine_minute (
            device           TEXT NOT NULL,           -- a key-process machine
            minute           INTEGER NOT NULL,
            producing_ms     INTEGER NOT NULL,
            nc_producing_ms  REAL NOT NULL,           -- producing under NC/automatic control
            PRIMARY KEY (device, minute)
        ) WITHOUT ROWID;
        CREATE TABLE scope_rollup (
            scope     TEXT NOT NULL,                  -- site:<id>, workshop:<id>, line:<id>
            quantity  TEXT NOT NULL,                  -- consumption.<carrier>, good, scrap, producing_ms, nc_producing_ms
            period    TEXT NOT NULL,                  -- hour | day (local to the site)
            start     INTEGER NOT NULL,               -- local period start, ms since epoch
            value     REAL NOT NULL,
            PRIMARY KEY (scope, period, start, quantity)
        ) WITHOUT ROWID;
        """

    /// Industrial value added per scope and local month, entered by the user.
    static let v3 = """
        CREATE TABLE value_added (
            scope  TEXT NOT NULL,                     -- site:<id>, workshop:<id>, line:<id>
            month  INTEGER NOT NULL,                  -- local month start, ms since epoch
            yuan   REAL NOT NULL,
            PRIMARY KEY (scope, month)
        ) WITHOUT ROWID;
        """

    /// Online/offline of devices whose gateways say so (Sparkplug births and deaths).
    static let v4 = """
        CREATE TABLE device_state (
            device      TEXT PRIMARY KEY,
            online      INTEGER NOT NULL,             -- 1 after a birth, 0 after a death (its metrics stale)
            changed_at  INTEGER NOT NULL,             -- ms since epoch
            reason      TEXT NOT NULL                 -- NBIRTH, DBIRTH, NDEATH, DDEATH
        ) WITHOUT ROWID;
        """
    /// Metering semantics: the estimated part of a minute's use, unknown machine time, and the
    /// data-quality events (register drops, estimated gaps, unknown states). Rollups written
    /// before it follow the older booking: `zhizao rebuild` books them anew.
    static let v5 = """
        ALTER TABLE rollup_minute ADD COLUMN estimated REAL NOT NULL DEFAULT 0;  -- use spread over a gap
        ALTER TABLE machine_minute ADD COLUMN unknown_ms INTEGER NOT NULL DEFAULT 0;  -- state unknown (silent or offline)
        CREATE TABLE quality_event (
            series_id  INTEGER NOT NULL,
            kind       TEXT NOT NULL,                 -- rollover | reset | anomaly | estimated | stale | offline
            start_ts   INTEGER NOT NULL,              -- the interval (start, end] it concerns, ms
            end_ts     INTEGER NOT NULL,
            n          INTEGER NOT NULL,              -- 1 (0 rows are deleted)
            amount     REAL NOT NULL,                 -- use booked, or ms unknown
            PRIMARY KEY (series_id, kind, start_ts, end_ts)
        ) WITHOUT ROWID;
        CREATE INDEX quality_by_end ON quality_event(end_ts);
        """

    /// The audit trail: every change that is not ingest (value added, rebuilds, registry reloads).
    static let v6 = """
        CREATE TABLE audit (
            id       INTEGER PRIMARY KEY,
            at       INTEGER NOT NULL,                -- ms since epoch (UTC)
            command  TEXT NOT NULL,                   -- value-added, rebuild, reload, ...
            user     TEXT NOT NULL,                   -- the host user who ran it
            subject  TEXT NOT NULL,                   -- what changed
            before   TEXT,                            -- its value before, if any
            after    TEXT                             -- its value after, or what was done
        );
        CREATE INDEX audit_by_time ON audit(at);
        """

    /// Retention tiers: per-series hour rollups written from the minutes being pruned (so
    /// windows of an hour and more stay whole), and how far each tier has been pruned.
    static let v7 = """
        CREATE TABLE rollup_hour (
            series_id    INTEGER NOT NULL,
            hour         INTEGER NOT NULL,            -- local hour start (site time), ms
            n            INTEGER NOT NULL,
            sum          REAL NOT NULL,
            min          REAL,
            max          REAL,
            last_ts      INTEGER,
            last         REAL,
            consumption  REAL NOT NULL,
            estimated    REAL NOT NULL,
            PRIMARY KEY (series_id, hour)
        ) WITHOUT ROWID;
        CREATE TABLE state_hour (
            series_id  INTEGER NOT NULL,
            hour       INTEGER NOT NULL,
            state      TEXT NOT NULL,
            ms         INTEGER NOT NULL,
            PRIMARY KEY (series_id, hour, state)
        ) WITHOUT ROWID;
        CREATE TABLE retention_mark (
            tier    TEXT PRIMARY KEY,                 -- raw | minute
            before  INTEGER NOT NULL                  -- the tier holds nothing older (ms); raw keeps 2 guard reads per series
        ) WITHOUT ROWID;
        """

    /// A smaller file at the same figures (issue 15): readings keyed (series_id, ts), so the
    /// per-series index that duplicated every key goes; state words stored once in `state_word`
    /// and referenced by a small code; a minute rollup of one reading keeps only `sum` (its min,
    /// max and last are the same value, NULL in the row), its last reading's time as ms after the
    /// minute start, and a state held for the whole minute leaves `ms` NULL (60,000). Readers
    /// decode through `SQLiteStore.minuteStats` and `stateMs`; results are unchanged.
    static let v9 = """
        CREATE TABLE state_word (
            code  INTEGER PRIMARY KEY,
            word  TEXT NOT NULL UNIQUE                -- canonical state word
        );
        INSERT INTO state_word(word)
            SELECT state FROM readings WHERE state IS NOT NULL UNION SELECT state FROM state_minute ORDER BY 1;
        CREATE TABLE readings_v9 (
            series_id   INTEGER NOT NULL REFERENCES series(id),
            ts          INTEGER NOT NULL,          -- event time, ms since epoch (UTC)
            value       REAL,                      -- numeric readings (scaled)
            state_code  INTEGER,                   -- state_word.code of a state reading
            error_code  INTEGER,                   -- gateway error code instead of a value
            seq         INTEGER,                   -- publisher sequence number, when sent
            PRIMARY KEY (series_id, ts)
        ) WITHOUT ROWID;
        INSERT INTO readings_v9(series_id, ts, value, state_code, error_code, seq)
            SELECT r.series_id, r.ts, r.value, w.code, r.error_code, r.seq
            FROM readings r LEFT JOIN state_word w ON w.word = r.state ORDER BY r.series_id, r.ts;
        DROP TABLE readings;
        ALTER TABLE readings_v9 RENAME TO readings;
        CREATE TABLE rollup_minute_v9 (
            series_id    INTEGER NOT NULL,
            minute       INTEGER NOT NULL,            -- UTC minute start, ms
            n            INTEGER NOT NULL,            -- numeric readings in the minute
            sum          REAL NOT NULL,
            min          REAL,                        -- NULL when n = 1 (then min = max = last = sum)
            max          REAL,
            last_ms      INTEGER,                     -- the last numeric reading, ms after the minute start
            last         REAL,
            consumption  REAL NOT NULL,               -- counters: usage attributed to this minute
            estimated    REAL NOT NULL,               -- use spread over a gap
            PRIMARY KEY (series_id, minute)
        ) WITHOUT ROWID;
        INSERT INTO rollup_minute_v9(series_id, minute, n, sum, min, max, last_ms, last, consumption, estimated)
            SELECT series_id, minute, n, sum, iif(n = 1, NULL, min), iif(n = 1, NULL, max), last_ts - minute,
                iif(n = 1, NULL, last), consumption, estimated
            FROM rollup_minute ORDER BY series_id, minute;
        DROP TABLE rollup_minute;
        ALTER TABLE rollup_minute_v9 RENAME TO rollup_minute;
        CREATE TABLE state_minute_v9 (
            series_id   INTEGER NOT NULL,
            minute      INTEGER NOT NULL,
            state_code  INTEGER NOT NULL,             -- state_word.code
            ms          INTEGER,                      -- time in the state within the minute; NULL: all 60,000
            PRIMARY KEY (series_id, minute, state_code)
        ) WITHOUT ROWID;
        INSERT INTO state_minute_v9(series_id, minute, state_code, ms)
            SELECT m.series_id, m.minute, w.code, nullif(m.ms, 60000)
            FROM state_minute m JOIN state_word w ON w.word = m.state ORDER BY m.series_id, m.minute, w.code;
        DROP TABLE state_minute;
        ALTER TABLE state_minute_v9 RENAME TO state_minute;
        """

    /// Minutes of one reading are not stored (issue 15): a minute holding one numeric reading
    /// and no use or estimate is that reading (n = 1, sum = min = max = last = its value), so its
    /// `rollup_minute` row goes and the reading stands for it; the row is written again when a
    /// second reading, a use or an estimate joins the minute (`SQLiteStore.apply`), or before
    /// retention prunes the reading (`SQLiteStore.materialiseMinutes`). `minute_floor` says per
    /// series from where readings stand for their minutes (below it every minute is a row, or
    /// folded into hours); without a row, from the start. Readers read `minute_rollup`, the
    /// union decoded, whose `at` is the minute start of a row and the reading's time otherwise
    /// (both in the same minute), so a range on `at` with minute-aligned bounds searches both
    /// keys. Existing rows of one reading matching it are removed; results are unchanged.
    static let v10 = """
        CREATE TABLE minute_floor (
            series_id  INTEGER PRIMARY KEY,           -- series.id
            before     INTEGER NOT NULL               -- a minute start: older minutes are all rows (or folded into hours)
        );
        INSERT INTO minute_floor(series_id, before)
            SELECT id, (SELECT max(before) FROM retention_mark) FROM series WHERE EXISTS (SELECT 1 FROM retention_mark);
        DELETE FROM rollup_minute AS m
            WHERE n = 1 AND consumption = 0 AND estimated = 0
            AND minute >= ifnull((SELECT before FROM minute_floor f WHERE f.series_id = m.series_id), minute)
            AND EXISTS (SELECT 1 FROM readings r WHERE r.series_id = m.series_id AND r.ts = m.minute + m.last_ms AND r.value = m.sum
                AND r.state_code IS NULL AND r.error_code IS NULL)
            AND (SELECT count(*) FROM readings r WHERE r.series_id = m.series_id AND r.ts >= m.minute AND r.ts < m.minute + 60000
                AND r.value IS NOT NULL AND r.state_code IS NULL AND r.error_code IS NULL) = 1;
        CREATE VIEW minute_rollup(series_id, minute, at, n, sum, min, max, last_ts, last, consumption, estimated) AS
            SELECT series_id, minute, minute, n, sum, iif(n = 1, sum, min), iif(n = 1, sum, max), minute + last_ms,
                iif(n = 1, sum, last), consumption, estimated
            FROM rollup_minute
            UNION ALL
            SELECT r.series_id, r.ts - r.ts % 60000, r.ts, 1, r.value, r.value, r.value, r.ts, r.value, 0.0, 0.0
            FROM readings r
            WHERE r.value IS NOT NULL AND r.state_code IS NULL AND r.error_code IS NULL
            AND r.ts >= ifnull((SELECT before FROM minute_floor f WHERE f.series_id = r.series_id), r.ts)
            AND NOT EXISTS (SELECT 1 FROM rollup_minute m WHERE m.series_id = r.series_id AND m.minute = r.ts - r.ts % 60000);
        """

    /// Closed periods: reported figures frozen per scope and whole local days, and the late
    /// adjustments held beside them (keyed like `scope_rollup`) until the period is reopened.
    static let v8 = """
        CREATE TABLE closed_period (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: (count, max id) versions the table
            label      TEXT NOT NULL,                 -- as given: 2026-11, 2026-11-05, 2026-11-01..2026-11-16
            scope      TEXT NOT NULL,                 -- the scope closed: site:<id>, workshop:<id>, line:<id>
            frozen     TEXT NOT NULL,                 -- it and the scopes within it, space-separated
            devices    TEXT NOT NULL,                 -- the devices in those scopes (their own rollups), space-separated
            start      INTEGER NOT NULL,              -- local day start, ms since epoch
            end        INTEGER NOT NULL,              -- exclusive, a local day start
            closed_at  INTEGER NOT NULL,              -- ms since epoch (UTC)
            user       TEXT NOT NULL
        );
        CREATE TABLE scope_adjustment (
            scope     TEXT NOT NULL,                  -- a frozen scope
            quantity  TEXT NOT NULL,                  -- as in scope_rollup
            period    TEXT NOT NULL,                  -- hour | day
            start     INTEGER NOT NULL,               -- inside a closed period
            value     REAL NOT NULL,                  -- change held back from scope_rollup
            PRIMARY KEY (scope, period, start, quantity)
        ) WITHOUT ROWID;
        CREATE TABLE series_adjustment (              -- what late readings added to a frozen device's minutes
            period_id    INTEGER NOT NULL,            -- closed_period.id
            series_id    INTEGER NOT NULL,
            minute       INTEGER NOT NULL,            -- inside the closed period
            n            INTEGER NOT NULL,
            sum          REAL NOT NULL,
            consumption  REAL NOT NULL,
            estimated    REAL NOT NULL,
            PRIMARY KEY (period_id, series_id, minute)
        ) WITHOUT ROWID;
        CREATE TABLE state_adjustment (               -- and to its state minutes
            period_id  INTEGER NOT NULL,
            series_id  INTEGER NOT NULL,
            minute     INTEGER NOT NULL,
            state      TEXT NOT NULL,
            ms         INTEGER NOT NULL,
            PRIMARY KEY (period_id, series_id, minute, state)
        ) WITHOUT ROWID;
        """
}
