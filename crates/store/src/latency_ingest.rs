//! What ingest keeps for the latency warnings (migration 0010), inside the request's
//! savepoint: each check's last [`RECENT_KEPT`] results' stage durations in one
//! `stage_recent` row, the hour's first passing sample in `stage_hourly`, and, when a check
//! gets a new hourly sample, each stage's median over the 7 days before it in one
//! `stage_baseline` row. Pages then read one short row of each per check, never history.

use std::collections::BTreeMap;

use sqlx::AnyConnection;

use super::metrics::split_stages;
use super::rows::column;
use super::{NewResult, StoreError};

/// The median (the mean of the two middle values for an even count); None when empty. The
/// one definition: the 7-day medians kept here and the latency judgment's figures.
pub fn median(mut values: Vec<u64>) -> Option<u64> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some(
            values[n / 2 - 1] / 2
                + values[n / 2] / 2
                + (values[n / 2 - 1] % 2 + values[n / 2] % 2) / 2,
        ),
    }
}

/// Results kept per (agent, check) in `stage_recent`: the most a server's figure may be
/// the median of (`[latency] recent`).
pub const RECENT_KEPT: usize = 10;

/// The window of the 7-day median.
pub const BASELINE_DAYS: i64 = 7;

const HOUR_MS: i64 = 3_600_000;

/// One result as `stage_recent` keeps it: seq, outcome, "dns:1200,tcp:30500".
pub type Recent = (i64, String, String);

fn db_error(what: String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| StoreError::Database { what, error }
}

/// The hour's timing sample of a check: the earliest passing (or warning) result that
/// started in that hour, whatever order results arrive in.
const UPSERT_HOURLY: &str = "INSERT INTO stage_hourly (agent_id, check_id, hour_unix_ms, \
     started_unix_ms, seq, stage_durations) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (agent_id, check_id, hour_unix_ms) DO UPDATE SET \
     started_unix_ms = excluded.started_unix_ms, seq = excluded.seq, \
     stage_durations = excluded.stage_durations \
     WHERE excluded.started_unix_ms < stage_hourly.started_unix_ms";

/// `stage_recent.recent` read back, newest first; a malformed entry is skipped (one
/// timing is not worth failing a page).
pub fn split_recent(stored: &str) -> Vec<Recent> {
    stored
        .split(';')
        .filter_map(|entry| {
            let mut parts = entry.splitn(3, '/');
            let seq = parts.next()?.parse().ok()?;
            let outcome = parts.next()?.to_owned();
            let stages = parts.next()?.to_owned();
            Some((seq, outcome, stages))
        })
        .collect()
}

fn join_recent(entries: &[Recent]) -> String {
    let parts: Vec<String> = entries
        .iter()
        .map(|(seq, outcome, stages)| format!("{seq}/{outcome}/{stages}"))
        .collect();
    parts.join(";")
}

/// `stage_baseline.medians` read back: stage -> (median microseconds, samples).
pub fn split_medians(stored: &str) -> BTreeMap<String, (u64, u32)> {
    stored
        .split(',')
        .filter_map(|entry| {
            let mut parts = entry.splitn(3, ':');
            let stage = parts.next()?.to_owned();
            let median = parts.next()?.parse().ok()?;
            let samples = parts.next()?.parse().ok()?;
            (!stage.is_empty()).then_some((stage, (median, samples)))
        })
        .collect()
}

/// Records the hourly sample of one stored result; true when it changed the check's hourly
/// samples.
pub(super) async fn record(
    conn: &mut AnyConnection,
    agent_id: &str,
    seq: i64,
    r: &NewResult,
    stages: &str,
) -> Result<bool, StoreError> {
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
        .map_err(db_error(format!(
            "keeping the hourly timing sample of seq {seq} ({}) of agent {agent_id}",
            r.check
        )))?;
    Ok(done.rows_affected() > 0)
}

/// After a request's results of one check (`new`): its recent row takes them in (the
/// newest [`RECENT_KEPT`] kept) and, when its hourly samples changed, its 7-day medians
/// are recomputed.
pub(super) async fn settle(
    conn: &mut AnyConnection,
    agent_id: &str,
    check: &str,
    new: Vec<Recent>,
    hourly_changed: bool,
) -> Result<(), StoreError> {
    let what = || format!("updating the stage durations kept for {check} of agent {agent_id}");
    let stored: Option<String> =
        sqlx::query_scalar("SELECT recent FROM stage_recent WHERE agent_id = $1 AND check_id = $2")
            .bind(agent_id)
            .bind(check)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error(what()))?;
    let mut recent = stored.as_deref().map(split_recent).unwrap_or_default();
    recent.extend(new);
    recent.sort_by_key(|r| std::cmp::Reverse(r.0));
    recent.dedup_by_key(|r| r.0);
    recent.truncate(RECENT_KEPT);
    sqlx::query(
        "INSERT INTO stage_recent (agent_id, check_id, recent) VALUES ($1, $2, $3) \
         ON CONFLICT (agent_id, check_id) DO UPDATE SET recent = excluded.recent",
    )
    .bind(agent_id)
    .bind(check)
    .bind(join_recent(&recent))
    .execute(&mut *conn)
    .await
    .map_err(db_error(what()))?;
    if hourly_changed {
        baseline(conn, agent_id, check).await?;
    }
    Ok(())
}

/// Each stage's median over the hourly samples of the 7 days before the newest sample's
/// hour.
async fn baseline(conn: &mut AnyConnection, agent_id: &str, check: &str) -> Result<(), StoreError> {
    let what = || format!("updating the 7-day stage medians of {check} of agent {agent_id}");
    let newest: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(hour_unix_ms) FROM stage_hourly WHERE agent_id = $1 AND check_id = $2",
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
        "SELECT stage_durations FROM stage_hourly WHERE agent_id = $1 AND check_id = $2 \
         AND hour_unix_ms >= $3 AND hour_unix_ms < $4",
    )
    .bind(agent_id)
    .bind(check)
    .bind(hour - BASELINE_DAYS * 24 * HOUR_MS)
    .bind(hour)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error(what()))?;
    let mut samples = Vec::with_capacity(rows.len());
    for row in &rows {
        let stages: String = column(row, "stage_hourly", "stage_durations")?;
        samples.push(split_stages(&stages));
    }
    let medians: Vec<String> = medians(&samples)
        .into_iter()
        .map(|(stage, (m, n))| format!("{stage}:{m}:{n}"))
        .collect();
    sqlx::query(
        "INSERT INTO stage_baseline (agent_id, check_id, hour_unix_ms, medians) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (agent_id, check_id) DO UPDATE SET \
         hour_unix_ms = excluded.hour_unix_ms, medians = excluded.medians",
    )
    .bind(agent_id)
    .bind(check)
    .bind(hour)
    .bind(medians.join(","))
    .execute(&mut *conn)
    .await
    .map_err(db_error(what()))?;
    Ok(())
}

/// Each stage's median and sample count over some results.
pub fn medians(samples: &[Vec<(String, u64)>]) -> BTreeMap<String, (u64, u32)> {
    let mut by_stage: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for s in samples {
        for (stage, us) in s {
            by_stage.entry(stage.as_str()).or_default().push(*us);
        }
    }
    by_stage
        .into_iter()
        .filter_map(|(stage, v)| {
            let n = v.len() as u32;
            median(v).map(|m| (stage.to_owned(), (m, n)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_rows_round_trip_and_bad_entries_are_skipped() {
        let recent = vec![
            (12, "pass".to_owned(), "dns:1200,tcp:30500".to_owned()),
            (6, "fail".to_owned(), String::new()),
        ];
        assert_eq!(split_recent(&join_recent(&recent)), recent);
        assert_eq!(split_recent("x/pass/dns:1;7/warn/tcp:2").len(), 1);
        assert_eq!(
            split_medians("dns:1180:168,bad,tcp:30200:168")["tcp"],
            (30_200, 168)
        );
    }
}
