//! The reads behind the latency warnings (`crate::latency`): for each check of some
//! servers, the stage durations of its last results and its hourly samples of the window
//! before them. Neither touches a detail blob: the last results come from the covering
//! index `results_by_check_timed`, the samples from `stage_hourly` (migration 0010), at
//! most one per hour.

use super::metrics::split_stages;
use super::rows::column;
use super::{read_error, Store, StoreError};
use crate::latency::Timings;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The checks of one server with their newest result, from `latest` (the columns before
/// the detail blob only).
const SELECT_CHECKS: &str = "SELECT check_id, started_unix_ms FROM latest \
     WHERE agent_id = ?1 AND outcome <> 'fail' ORDER BY check_id";

/// The last results of a check, newest first, from the covering index.
const SELECT_RECENT: &str = "SELECT seq, outcome, stage_durations FROM results \
     INDEXED BY results_by_check_timed WHERE agent_id = ?1 AND check_id = ?2 \
     ORDER BY seq DESC LIMIT ?3";

/// The hourly samples of a check started from ?6 (its hour ?3) to ?4, older than seq ?5.
const SELECT_HOURLY: &str = "SELECT stage_durations FROM stage_hourly \
     WHERE agent_id = ?1 AND check_id = ?2 AND hour_unix_ms >= ?3 AND hour_unix_ms <= ?4 \
     AND started_unix_ms >= ?6 AND seq < ?5";

impl Store {
    /// For every check of these servers whose latest result did not fail: the stage
    /// durations of its last `recent` results that did not fail (newest first), and its
    /// hourly samples of the `window_days` before its newest result, older than those
    /// results (by the results' own start times, so the window needs no waiting).
    pub async fn timings(
        &self,
        agent_ids: &[String],
        recent: u32,
        window_days: u32,
    ) -> Result<Vec<Timings>, StoreError> {
        let what = |agent: &str| format!("reading the recent stage durations of {agent}");
        let mut conn = self
            .inner
            .reads
            .acquire()
            .await
            .map_err(|e| read_error("reading stage durations", e))?;
        let mut out = Vec::new();
        for agent in agent_ids {
            let checks = sqlx::query(SELECT_CHECKS)
                .bind(agent)
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| read_error(what(agent), e))?;
            for row in checks {
                let check: String = column(&row, "latest", "check_id")?;
                let newest: i64 = column(&row, "latest", "started_unix_ms")?;
                let rows = sqlx::query(SELECT_RECENT)
                    .bind(agent)
                    .bind(&check)
                    .bind(recent)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(|e| read_error(what(agent), e))?;
                let mut oldest_seq = i64::MAX;
                let mut timed = Vec::new();
                for r in &rows {
                    let seq: i64 = column(r, "results", "seq")?;
                    oldest_seq = oldest_seq.min(seq);
                    let outcome: String = column(r, "results", "outcome")?;
                    let stages: String = column(r, "results", "stage_durations")?;
                    if outcome != "fail" && !stages.is_empty() {
                        timed.push(split_stages(&stages));
                    }
                }
                let from = newest.saturating_sub(i64::from(window_days) * DAY_MS);
                let baseline = sqlx::query(SELECT_HOURLY)
                    .bind(agent)
                    .bind(&check)
                    .bind(from.div_euclid(HOUR_MS) * HOUR_MS)
                    .bind(newest)
                    .bind(oldest_seq)
                    .bind(from)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(|e| read_error(what(agent), e))?;
                let baseline = baseline
                    .iter()
                    .map(|r| column::<String>(r, "stage_hourly", "stage_durations"))
                    .map(|s| s.map(|s| split_stages(&s)))
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(Timings {
                    agent_id: agent.clone(),
                    check,
                    recent: timed,
                    baseline,
                });
            }
        }
        Ok(out)
    }
}
