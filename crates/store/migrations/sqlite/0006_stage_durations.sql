-- eceprobe collector store, version 6: each result's stage durations as a column, and a
-- covering index of the latest state, so /metrics and the gap engine read the fleet's
-- current state without touching detail blobs.
--
-- stage_durations: "dns:1234,tcp:560,tls:48211,protocol:9031": stage name, ':',
-- microseconds, in the order the stages ran; the DNS lookup, then the stages of the
-- representative address (the one the check's details describe). '' for none (and for
-- rows stored before this version).
ALTER TABLE results ADD COLUMN stage_durations TEXT NOT NULL DEFAULT '';
ALTER TABLE latest ADD COLUMN stage_durations TEXT NOT NULL DEFAULT '';

-- Columns added by ALTER TABLE sit after the detail blob in each row, and a blob of a few
-- KiB spills into overflow pages that SQLite must walk to reach them: reading the latest
-- state of 10,000 servers x 6 checks this way took 0.6-0.9 s, about as long as reading
-- every blob. This index holds every column of the whole-fleet reads (the gap engine's
-- and /metrics'), in their order, so both are one pass over it (a few MiB).
CREATE INDEX latest_state ON latest (agent_id, check_id, seq, outcome, failure_kind,
    warning_kinds, duration_us, received_unix_ms, stage_durations);
