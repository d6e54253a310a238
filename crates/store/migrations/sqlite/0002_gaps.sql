-- eceprobe collector store, version 2: gaps that open and close, warnings as a column,
-- dropped-result counts.

-- A result's warning kinds ("tls_intercepted,cert_expiring_soon"; '' for none), so the gap
-- engine reads the latest state without decoding detail blobs.
ALTER TABLE results ADD COLUMN warning_kinds TEXT NOT NULL DEFAULT '';
ALTER TABLE latest ADD COLUMN warning_kinds TEXT NOT NULL DEFAULT '';

-- Results an agent's spool had to drop (full disk budget), as last reported.
ALTER TABLE agents ADD COLUMN spool_dropped INTEGER NOT NULL DEFAULT 0 CHECK (spool_dropped >= 0);

-- Every gap and warning the engine found, with when it opened and closed. A finding is the
-- same gap while its key (agent, check, kind, severity) stays found; its detail may change
-- meanwhile. Open gaps have closed_unix_ms NULL, at most one per key.
CREATE TABLE gaps (
    gap_id         INTEGER PRIMARY KEY,
    deployment     TEXT    NOT NULL,
    agent_id       TEXT    NOT NULL,
    check_id       TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    severity       TEXT    NOT NULL CHECK (severity IN ('gap', 'warning')),
    detail         TEXT    NOT NULL,
    opened_unix_ms INTEGER NOT NULL,
    closed_unix_ms INTEGER CHECK (closed_unix_ms IS NULL OR closed_unix_ms >= opened_unix_ms)
);

-- Current gaps: a small partial index, so "what is wrong now" never reads closed history.
CREATE UNIQUE INDEX gaps_open ON gaps (agent_id, check_id, kind, severity)
    WHERE closed_unix_ms IS NULL;

-- Gap history, newest first, for a server or for everything.
CREATE INDEX gaps_by_agent ON gaps (agent_id, opened_unix_ms DESC);
CREATE INDEX gaps_by_opened ON gaps (opened_unix_ms DESC);

-- Pruning closed gaps by age.
CREATE INDEX gaps_by_closed ON gaps (closed_unix_ms) WHERE closed_unix_ms IS NOT NULL;
