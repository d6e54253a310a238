-- eceprobe collector store, version 10: what the latency warnings (`slower_than_peers`,
-- `latency_regression`) read, without decoding a detail blob nor walking 7 days of history.

-- A check's last results with their outcome and stage durations: the same walk as
-- results_by_check (newest seq first), covering the two columns the comparison reads, so
-- "the last 5 results of each check" never touches a row (stage_durations sits after the
-- detail blob, in its overflow pages). It replaces results_by_check, its prefix.
DROP INDEX results_by_check;
CREATE INDEX results_by_check_timed ON results (agent_id, check_id, seq DESC, outcome,
    stage_durations);

-- One sample per hour per (agent, check): the stage durations of the first passing result
-- that started in that hour (by the agent's started_unix_ms), written at ingest (INSERT OR
-- IGNORE). The 7-day median reads at most 168 of these per check instead of every result
-- (2,016 a week at a 5-minute interval). Pruned with history. Results stored before this
-- version have none: a server's baseline starts with the upgrade.
CREATE TABLE stage_hourly (
    agent_id        TEXT    NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
    check_id        TEXT    NOT NULL,
    hour_unix_ms    INTEGER NOT NULL,
    started_unix_ms INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    stage_durations TEXT    NOT NULL,
    PRIMARY KEY (agent_id, check_id, hour_unix_ms)
) WITHOUT ROWID;

-- Pruning by age.
CREATE INDEX stage_hourly_by_started ON stage_hourly (started_unix_ms);
