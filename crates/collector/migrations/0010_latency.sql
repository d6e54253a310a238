-- eceprobe collector store, version 10: what the latency warnings (`slower_than_peers`,
-- `latency_regression`) read, kept up to date at ingest so a page never decodes a detail
-- blob nor walks a week of history.

-- A check's last results (at most 10, the newest by seq), with their outcome and stage
-- durations: each server's figure is the median of a stage over these. Written at ingest,
-- trimmed to 10 per (agent, check) in the same transaction.
CREATE TABLE stage_recent (
    agent_id        TEXT    NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
    check_id        TEXT    NOT NULL,
    seq             INTEGER NOT NULL,
    outcome         TEXT    NOT NULL,
    stage_durations TEXT    NOT NULL,
    PRIMARY KEY (agent_id, check_id, seq)
) WITHOUT ROWID;

-- One sample per hour per (agent, check): the stage durations of the earliest passing (or
-- warning) result that started in that hour (by the agent's started_unix_ms). Pruned with
-- history. Results stored before this version have none: a server's baseline starts with
-- the upgrade.
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

-- Each stage's median over the hourly samples of the 7 days before the newest sample's
-- hour (that hour left out), recomputed at ingest when a check gets a new hourly sample
-- (about once an hour): the reference of `latency_regression`.
CREATE TABLE stage_baseline (
    agent_id     TEXT    NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
    check_id     TEXT    NOT NULL,
    stage        TEXT    NOT NULL,
    median_us    INTEGER NOT NULL,
    samples      INTEGER NOT NULL,
    hour_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (agent_id, check_id, stage)
) WITHOUT ROWID;
