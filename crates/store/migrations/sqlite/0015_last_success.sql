-- eceprobe collector store, version 15: when each check last passed (issue 20), for
-- /metrics/detail's `eceprobe_check_last_success_timestamp_seconds`: the started time of the
-- newest result that passed (with or without warnings), 0 when none has since it was kept.
-- Kept by the upsert of `latest` (store/results.rs), so no scrape reads history.
ALTER TABLE latest ADD COLUMN last_success_unix_ms INTEGER NOT NULL DEFAULT 0;

-- The rows already there: a passing latest result is its own last success; a failing one
-- looks back in the history still kept (results_by_check: one seek per failing check).
UPDATE latest SET last_success_unix_ms = started_unix_ms WHERE outcome IN ('pass', 'warn');
UPDATE latest SET last_success_unix_ms = COALESCE((SELECT MAX(r.started_unix_ms) FROM results AS r
    WHERE r.agent_id = latest.agent_id AND r.check_id = latest.check_id
    AND r.outcome IN ('pass', 'warn')), 0)
    WHERE outcome = 'fail';

-- The whole-fleet reads stay one pass over the covering index (see 0006).
DROP INDEX latest_state;
CREATE INDEX latest_state ON latest (agent_id, check_id, seq, outcome, failure_kind,
    warning_kinds, duration_us, received_unix_ms, stage_durations, system_dns,
    last_success_unix_ms);
