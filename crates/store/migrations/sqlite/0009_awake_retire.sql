-- eceprobe collector store, version 9: what the collector itself was doing, so its own
-- downtime is never blamed on agents, and servers an operator retired.

-- One row per collector start: from when it accepted agents until it was last known alive
-- (moved forward at every gap evaluation). An agent's silence is measured only over these
-- spans: time the collector was down is nobody's silence. Before the first row (a store
-- from before version 9) the collector counts as awake, as it always did.
CREATE TABLE collector_runs (
    run_id          INTEGER PRIMARY KEY,
    started_unix_ms INTEGER NOT NULL,
    alive_unix_ms   INTEGER NOT NULL CHECK (alive_unix_ms >= started_unix_ms)
);

-- A retired server (`eceprobe-collector retire`) leaves the matrix, the policy and every
-- fleet-wide read; its history and closed gaps stay. NULL: in service. It comes back when
-- the agent is accepted again (its Hello after a re-enrollment).
ALTER TABLE agents ADD COLUMN retired_unix_ms INTEGER;

-- Why a gap closed: NULL for "no longer found" (fixed), 'retired' when its server was
-- retired.
ALTER TABLE gaps ADD COLUMN close_reason TEXT;
