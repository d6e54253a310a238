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

/// The last results of a check up to a seq, newest first, from the covering index.
const SELECT_RECENT: &str = "SELECT seq, outcome, stage_durations FROM results \
     INDEXED BY results_by_check_timed WHERE agent_id = ?1 AND check_id = ?2 \
     AND seq <= ?4 ORDER BY seq DESC LIMIT ?3";

/// The hourly samples of a check started from ?6 (its hour ?3) to ?4, older than seq ?5.
const SELECT_HOURLY: &str = "SELECT stage_durations FROM stage_hourly \
     WHERE agent_id = ?1 AND check_id = ?2 AND hour_unix_ms >= ?3 AND hour_unix_ms <= ?4 \
     AND started_unix_ms >= ?6 AND seq < ?5";

/// One check of one server to read, as of one of its results: the last results up to
/// `max_seq`, and the window before `newest_started_unix_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimingKey {
    pub agent_id: String,
    pub check: String,
    pub max_seq: i64,
    pub newest_started_unix_ms: i64,
}

impl Store {
    /// For every check of these servers whose latest result did not fail: its timings as
    /// of that latest result ([`Store::timings_of`]).
    pub async fn timings(
        &self,
        agent_ids: &[String],
        recent: u32,
        window_days: u32,
    ) -> Result<Vec<Timings>, StoreError> {
        let mut keys = Vec::new();
        for agent in agent_ids {
            let checks = sqlx::query(SELECT_CHECKS)
                .bind(agent)
                .fetch_all(&self.inner.reads)
                .await
                .map_err(|e| read_error(format!("reading the checks of {agent}"), e))?;
            for row in checks {
                keys.push(TimingKey {
                    agent_id: agent.clone(),
                    check: column(&row, "latest", "check_id")?,
                    max_seq: i64::MAX,
                    newest_started_unix_ms: column(&row, "latest", "started_unix_ms")?,
                });
            }
        }
        self.timings_of(&keys, recent, window_days).await
    }

    /// For each key: the stage durations of the check's last `recent` results up to its
    /// seq that did not fail (newest first), and its hourly samples of the `window_days`
    /// before its newest start, older than those results (by the results' own start
    /// times, so the window needs no waiting).
    pub async fn timings_of(
        &self,
        keys: &[TimingKey],
        recent: u32,
        window_days: u32,
    ) -> Result<Vec<Timings>, StoreError> {
        let mut conn = self
            .inner
            .reads
            .acquire()
            .await
            .map_err(|e| read_error("reading stage durations", e))?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let (agent, check) = (&key.agent_id, &key.check);
            let what = || format!("reading the stage durations of {check} on {agent}");
            let rows = sqlx::query(SELECT_RECENT)
                .bind(agent)
                .bind(check)
                .bind(recent)
                .bind(key.max_seq)
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| read_error(what(), e))?;
            let mut oldest_seq = key.max_seq;
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
            let newest = key.newest_started_unix_ms;
            let from = newest.saturating_sub(i64::from(window_days) * DAY_MS);
            let baseline = sqlx::query(SELECT_HOURLY)
                .bind(agent)
                .bind(check)
                .bind(from.div_euclid(HOUR_MS) * HOUR_MS)
                .bind(newest)
                .bind(oldest_seq)
                .bind(from)
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| read_error(what(), e))?;
            let baseline = baseline
                .iter()
                .map(|r| column::<String>(r, "stage_hourly", "stage_durations"))
                .map(|s| s.map(|s| split_stages(&s)))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(Timings {
                agent_id: agent.clone(),
                check: check.clone(),
                recent: timed,
                baseline,
            });
        }
        Ok(out)
    }
}
