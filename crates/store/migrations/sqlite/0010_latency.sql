-- eceprobe collector store, version 10: what the latency warnings (`slower_than_peers`,
-- `latency_regression`) read, kept up to date at ingest so a page never decodes a detail
-- blob nor walks a week of history.

-- A check's last results (at most 10, newest first), one row per (agent, check) so a
-- page reads one short row per check: `recent` is "seq/outcome/stage_durations" per
-- result, joined by ';' ("812/pass/dns:1200,tcp:30500,tls:98000;806/pass/..."). Each
-- server's figure is the median of a stage over these. Rewritten at ingest, once per check
-- per request.
CREATE TABLE stage_recent (
    agent_id TEXT NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
    check_id TEXT NOT NULL,
    recent   TEXT NOT NULL,
    PRIMARY KEY (agent_id, check_id)
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
-- (about once an hour): the reference of `latency_regression`. `medians` is
-- "stage:median_us:samples" per stage, joined by ',' ("dns:1180:168,tcp:30200:168").
CREATE TABLE stage_baseline (
    agent_id     TEXT    NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
    check_id     TEXT    NOT NULL,
    hour_unix_ms INTEGER NOT NULL,
    medians      TEXT    NOT NULL,
    PRIMARY KEY (agent_id, check_id)
) WITHOUT ROWID;
