//! What ingest keeps for the latency warnings (migration 0010), inside the request's
//! savepoint: each result's stage durations in `stage_recent` (the last
//! [`RECENT_KEPT`] per check), the hour's first passing sample in `stage_hourly`, and, when
//! a check gets a new hourly sample, each stage's median over the 7 days before it in
//! `stage_baseline`. Pages then read a few rows per check, never history.

use std::collections::BTreeMap;

use sqlx::SqliteConnection;

use super::metrics::split_stages;
use super::rows::column;
use super::{NewResult, StoreError};
use crate::latency::median;

/// Results kept per (agent, check) in `stage_recent`: the most a server's figure may be
/// the median of (`[latency] recent`).
pub const RECENT_KEPT: u32 = 10;

/// The window of the 7-day median.
pub const BASELINE_DAYS: i64 = 7;

const HOUR_MS: i64 = 3_600_000;

fn db_error(what: String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| StoreError::Database { what, error }
}

const INSERT_RECENT: &str = "INSERT INTO stage_recent (agent_id, check_id, seq, outcome, \
     stage_durations) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING";

/// The hour's timing sample of a check: the earliest passing (or warning) result that
/// started in that hour, whatever order results arrive in.
const UPSERT_HOURLY: &str = "INSERT INTO stage_hourly (agent_id, check_id, hour_unix_ms, \
     started_unix_ms, seq, stage_durations) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
     ON CONFLICT (agent_id, check_id, hour_unix_ms) DO UPDATE SET \
     started_unix_ms = excluded.started_unix_ms, seq = excluded.seq, \
     stage_durations = excluded.stage_durations \
     WHERE excluded.started_unix_ms < stage_hourly.started_unix_ms";

/// Keeps the newest [`RECENT_KEPT`] rows of a check.
const TRIM_RECENT: &str = "DELETE FROM stage_recent WHERE agent_id = ?1 AND check_id = ?2 \
     AND seq < (SELECT seq FROM stage_recent WHERE agent_id = ?1 AND check_id = ?2 \
     ORDER BY seq DESC LIMIT 1 OFFSET ?3)";

/// Records one stored result; true when it changed the check's hourly samples.
pub(super) async fn record(
    conn: &mut SqliteConnection,
    agent_id: &str,
    seq: i64,
    r: &NewResult,
    stages: &str,
) -> Result<bool, StoreError> {
    let what = || {
        format!(
            "keeping the stage durations of seq {seq} ({}) of agent {agent_id}",
            r.check
        )
    };
    sqlx::query(INSERT_RECENT)
        .bind(agent_id)
        .bind(&r.check)
        .bind(seq)
        .bind(&r.outcome)
        .bind(stages)
        .execute(&mut *conn)
        .await
        .map_err(db_error(what()))?;
    if r.outcome == "fail" || stages.is_empty() {
        return Ok(false);
    }
    let done = sqlx::query(UPSERT_HOURLY)
        .bind(agent_id)
        .bind(&r.check)
        .bind(r.started_unix_ms.div_euclid(HOUR_MS) * HOUR_MS)
        .bind(r.started_unix_ms)
        .bind(seq)
        .bind(stages)
        .execute(&mut *conn)
        .await
        .map_err(db_error(what()))?;
    Ok(done.rows_affected() > 0)
}

/// After a request's results of one check: trims its recent rows and, when its hourly
/// samples changed, recomputes its 7-day medians.
pub(super) async fn settle(
    conn: &mut SqliteConnection,
    agent_id: &str,
    check: &str,
    hourly_changed: bool,
) -> Result<(), StoreError> {
    let what = || format!("updating the stage durations kept for {check} of agent {agent_id}");
    sqlx::query(TRIM_RECENT)
        .bind(agent_id)
        .bind(check)
        .bind(RECENT_KEPT - 1)
        .execute(&mut *conn)
        .await
        .map_err(db_error(what()))?;
    if !hourly_changed {
        return Ok(());
    }
    let newest: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(hour_unix_ms) FROM stage_hourly WHERE agent_id = ?1 AND check_id = ?2",
    )
    .bind(agent_id)
    .bind(check)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error(what()))?;
    let Some(hour) = newest else {
        return Ok(());
    };
    let rows = sqlx::query(
        "SELECT stage_durations FROM stage_hourly WHERE agent_id = ?1 AND check_id = ?2 \
         AND hour_unix_ms >= ?3 AND hour_unix_ms < ?4",
    )
    .bind(agent_id)
    .bind(check)
    .bind(hour - BASELINE_DAYS * 24 * HOUR_MS)
    .bind(hour)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error(what()))?;
    let mut by_stage: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for row in &rows {
        let stages: String = column(row, "stage_hourly", "stage_durations")?;
        for (stage, us) in split_stages(&stages) {
            by_stage.entry(stage).or_default().push(us);
        }
    }
    sqlx::query("DELETE FROM stage_baseline WHERE agent_id = ?1 AND check_id = ?2")
        .bind(agent_id)
        .bind(check)
        .execute(&mut *conn)
        .await
        .map_err(db_error(what()))?;
    for (stage, values) in by_stage {
        let samples = values.len() as i64;
        let Some(m) = median(values) else { continue };
        sqlx::query(
            "INSERT INTO stage_baseline (agent_id, check_id, stage, median_us, samples, \
             hour_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(agent_id)
        .bind(check)
        .bind(&stage)
        .bind(i64::try_from(m).unwrap_or(i64::MAX))
        .bind(samples)
        .bind(hour)
        .execute(&mut *conn)
        .await
        .map_err(db_error(what()))?;
    }
    Ok(())
}
