-- eceprobe collector store, version 3: connectivity audits.

-- The audit a result was produced for ('' for the continuous schedule), so an audit's
-- results are one scan of a small partial index (queries must say audit_id <> '' too).
ALTER TABLE results ADD COLUMN audit_id TEXT NOT NULL DEFAULT '';
CREATE INDEX results_by_audit ON results (audit_id) WHERE audit_id <> '';

-- One row per audit; deployment '' means every deployment.
CREATE TABLE audits (
    audit_id         TEXT    NOT NULL PRIMARY KEY,
    deployment       TEXT    NOT NULL,
    started_unix_ms  INTEGER NOT NULL,
    deadline_unix_ms INTEGER NOT NULL,
    closed_unix_ms   INTEGER,
    state            TEXT    NOT NULL CHECK (state IN ('running', 'closed'))
);

-- Audits newest first, per scope; and the running ones after a restart.
CREATE INDEX audits_by_scope ON audits (deployment, started_unix_ms DESC);
CREATE INDEX audits_running ON audits (state) WHERE state = 'running';

-- The servers in an audit's scope when it started: ordered (connected, sent the order) or
-- not (known but not connected), and when each answered (NULL: not, or not yet).
CREATE TABLE audit_servers (
    audit_id         TEXT    NOT NULL REFERENCES audits (audit_id) ON DELETE CASCADE,
    agent_id         TEXT    NOT NULL,
    ordered          INTEGER NOT NULL CHECK (ordered IN (0, 1)),
    answered_unix_ms INTEGER,
    PRIMARY KEY (audit_id, agent_id)
);
