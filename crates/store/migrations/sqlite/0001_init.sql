-- eceprobe collector store, version 1.
--
-- One writer (the store's writer task) and many readers (WAL). Timestamps are Unix
-- milliseconds (INTEGER); sequences and durations are u64 in Rust, stored as INTEGER and
-- bounded to i64::MAX by the store. `detail` is an opaque blob: the protobuf-encoded result.

-- One row per agent (an ECE server). max_seq is the agent's high-water mark: the highest
-- result seq ever stored, kept here so it survives pruning of history.
CREATE TABLE agents (
    agent_id           TEXT    NOT NULL PRIMARY KEY,
    hostname           TEXT    NOT NULL,
    role               TEXT    NOT NULL,
    deployment         TEXT    NOT NULL,
    agent_version      TEXT    NOT NULL,
    os                 TEXT    NOT NULL,
    ece_version        TEXT    NOT NULL,
    ece_es             TEXT    NOT NULL,
    probe_interval_s   INTEGER NOT NULL CHECK (probe_interval_s >= 0),
    first_seen_unix_ms INTEGER NOT NULL,
    seen_unix_ms       INTEGER NOT NULL,
    max_seq            INTEGER NOT NULL DEFAULT 0 CHECK (max_seq >= 0)
);

-- Every result ever received (until pruned), idempotent on (agent_id, seq).
-- Rowid tables (here and in latest) rather than WITHOUT ROWID: rows carry a detail blob of a
-- few KiB, and SQLite advises WITHOUT ROWID only for rows well under a page.
CREATE TABLE results (
    agent_id         TEXT    NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL CHECK (seq >= 0),
    check_id         TEXT    NOT NULL,
    started_unix_ms  INTEGER NOT NULL,
    received_unix_ms INTEGER NOT NULL,
    outcome          TEXT    NOT NULL CHECK (outcome IN ('pass', 'warn', 'fail')),
    failure_kind     TEXT,
    failure_stage    TEXT,
    duration_us      INTEGER NOT NULL CHECK (duration_us >= 0),
    detail           BLOB    NOT NULL,
    PRIMARY KEY (agent_id, seq)
);

-- History of one check on one agent, newest first: an index range scan, no sort.
CREATE INDEX results_by_check ON results (agent_id, check_id, seq DESC);

-- Pruning by age walks this index instead of the whole table.
CREATE INDEX results_by_received ON results (received_unix_ms);

-- Current state: one row per (agent, check), replaced only by a result with a higher seq,
-- in the same transaction as the insert into results. Never pruned, so current-state
-- queries (dashboard, gap engine) never scan history.
CREATE TABLE latest (
    agent_id         TEXT    NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
    check_id         TEXT    NOT NULL,
    seq              INTEGER NOT NULL CHECK (seq >= 0),
    started_unix_ms  INTEGER NOT NULL,
    received_unix_ms INTEGER NOT NULL,
    outcome          TEXT    NOT NULL CHECK (outcome IN ('pass', 'warn', 'fail')),
    failure_kind     TEXT,
    failure_stage    TEXT,
    duration_us      INTEGER NOT NULL CHECK (duration_us >= 0),
    detail           BLOB    NOT NULL,
    PRIMARY KEY (agent_id, check_id)
);
