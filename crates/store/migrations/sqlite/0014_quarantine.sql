-- eceprobe collector store, version 14: results set aside (issue 17). A result that cannot
-- be stored truthfully (not a check name, no outcome, a kind that is not an identifier) is
-- kept here instead of walling off its agent's later results: acked, counted, shown.
--
-- One row per (agent, seq), so a resend is not set aside twice. `reason` is the words of
-- what was wrong, `summary` what the result claimed (check, outcome, kind, size), both
-- bounded by the collector; never the result's contents. At most 1000 rows: the oldest go
-- first, and `agents.quarantined` keeps counting every result ever set aside.
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    reason TEXT NOT NULL,
    summary TEXT NOT NULL,
    received_unix_ms INTEGER NOT NULL,
    UNIQUE (agent_id, seq)
);
ALTER TABLE agents ADD COLUMN quarantined INTEGER NOT NULL DEFAULT 0;
