-- Zhizao SQLite schema, as the migrations in Sources/ReadingStore/StoreSchema.swift create it.
-- Migration "v1-readings". The database runs in WAL mode; the daemon is its only writer.
-- A reading's identity is (device, metric, ts): series ids are local to one database file.

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
