//! The reads behind the latency warnings (`crate::latency`). Pages read what ingest keeps
//! up to date (migration 0010): a check's last results (`stage_recent`) and its 7-day
//! medians (`stage_baseline`), one statement each for a set of servers. An audit, judged as
//! of its own results, reads the results up to them and the hourly samples before them.

use std::collections::BTreeMap;

use super::latency_ingest::{medians, split_medians, split_recent, BASELINE_DAYS};
use super::metrics::split_stages;
use super::rows::column;
use super::web::{push_ids, AGENT_COLUMNS};
use super::{read_error, rows, KnownAgent, Store, StoreError};
use crate::sql::Sql;

/// One result's stage durations: stage name and microseconds, in the order they ran.
pub type Stages = Vec<(String, u64)>;

/// What the store read for one check on one server: the latency judgment's input
/// (`crate::latency`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timings {
    pub agent_id: String,
    pub check: String,
    /// The stage durations of the check's last results that did not fail, newest first.
    pub recent: Vec<Stages>,
    /// Each stage's median over the check's hourly samples of the 7 days before its
    /// newest sample's hour, and how many samples that is.
    pub baseline: BTreeMap<String, (u64, u32)>,
}

const HOUR_MS: i64 = 3_600_000;

/// Servers per statement.
const IDS_PER_READ: usize = 500;

/// One check of one server to read as of one of its results (an audit's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimingKey {
    pub agent_id: String,
    pub check: String,
    pub max_seq: i64,
    pub newest_started_unix_ms: i64,
}

/// The last results of a check up to a seq, newest first.
const SELECT_RECENT_OF: &str = "SELECT seq, outcome, stage_durations FROM results \
     WHERE agent_id = $1 AND check_id = $2 AND seq <= $3 ORDER BY seq DESC LIMIT $4";

/// The hourly samples of a check from $3 (included) to $4 (excluded).
const SELECT_HOURLY: &str = "SELECT stage_durations FROM stage_hourly \
     WHERE agent_id = $1 AND check_id = $2 AND hour_unix_ms >= $3 AND hour_unix_ms < $4";

/// The stage durations of the last results that did not fail, newest first; None when the
/// newest of them failed (a failing check is a gap, its durations are partial).
fn timed(rows: &[(i64, String, String)], recent: usize) -> Option<Vec<Vec<(String, u64)>>> {
    if rows
        .first()
        .is_some_and(|(_, outcome, _)| outcome == "fail")
    {
        return None;
    }
    Some(
        rows.iter()
            .take(recent)
            .filter(|(_, outcome, stages)| outcome != "fail" && !stages.is_empty())
            .map(|(_, _, stages)| split_stages(stages))
            .collect(),
    )
}

impl Store {
    /// The servers in service among `ids` (at most 500 a statement).
    pub async fn agents_in(&self, ids: &[String]) -> Result<Vec<KnownAgent>, StoreError> {
        let mut out = Vec::new();
        for ids in ids.chunks(IDS_PER_READ) {
            let mut q = Sql::new(format!(
                "SELECT {AGENT_COLUMNS} FROM agents WHERE retired_unix_ms IS NULL AND agent_id IN "
            ));
            push_ids(&mut q, ids);
            let rows = q
                .fetch_all(&self.inner.reads)
                .await
                .map_err(|e| read_error("reading servers by id", e))?;
            for row in &rows {
                out.push(rows::agent(row)?);
            }
        }
        Ok(out)
    }

    /// The first `limit` servers in service of a deployment and role, by id (index
    /// `agents_by_deployment`): the peers a comparison reads.
    pub async fn group_agents(
        &self,
        deployment: &str,
        role: &str,
        limit: u32,
    ) -> Result<Vec<KnownAgent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE deployment = $1 AND role = $2 \
             AND retired_unix_ms IS NULL ORDER BY deployment, agent_id LIMIT $3"
        ))
        .bind(deployment)
        .bind(role)
        .bind(i64::from(limit))
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| read_error(format!("reading the servers of deployment {deployment}"), e))?;
        rows.iter().map(rows::agent).collect()
    }

    /// For every check of these servers whose newest result did not fail: the stage
    /// durations of its last `recent` results (at most 10) that did not fail, and its
    /// 7-day medians. Two statements per 500 servers, one short row per check each.
    pub async fn timings(
        &self,
        agent_ids: &[String],
        recent: u32,
    ) -> Result<Vec<Timings>, StoreError> {
        let mut out = Vec::new();
        for ids in agent_ids.chunks(IDS_PER_READ) {
            let mut q =
                Sql::new("SELECT agent_id, check_id, recent FROM stage_recent WHERE agent_id IN ");
            push_ids(&mut q, ids);
            let rows = q
                .fetch_all(&self.inner.reads)
                .await
                .map_err(|e| read_error("reading the recent stage durations of servers", e))?;
            let mut q = Sql::new(
                "SELECT agent_id, check_id, medians FROM stage_baseline WHERE agent_id IN ",
            );
            push_ids(&mut q, ids);
            let medians = q
                .fetch_all(&self.inner.reads)
                .await
                .map_err(|e| read_error("reading the 7-day stage medians of servers", e))?;
            let mut baselines: BTreeMap<(String, String), String> = BTreeMap::new();
            for row in &medians {
                baselines.insert(
                    (
                        column(row, "stage_baseline", "agent_id")?,
                        column(row, "stage_baseline", "check_id")?,
                    ),
                    column(row, "stage_baseline", "medians")?,
                );
            }
            for row in &rows {
                let agent_id: String = column(row, "stage_recent", "agent_id")?;
                let check: String = column(row, "stage_recent", "check_id")?;
                let packed: String = column(row, "stage_recent", "recent")?;
                let Some(recent) = timed(&split_recent(&packed), recent as usize) else {
                    continue;
                };
                let baseline = baselines
                    .remove(&(agent_id.clone(), check.clone()))
                    .map(|m| split_medians(&m))
                    .unwrap_or_default();
                out.push(Timings {
                    agent_id,
                    check,
                    recent,
                    baseline,
                });
            }
        }
        Ok(out)
    }

    /// For each key (an audit's result): the stage durations of the check's last `recent`
    /// results up to its seq, from history, and the medians of its hourly samples of the 7
    /// days before the result's hour. A few statements per key: for reports, not pages.
    pub async fn timings_of(
        &self,
        keys: &[TimingKey],
        recent: u32,
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
            let rows = sqlx::query(SELECT_RECENT_OF)
                .bind(agent)
                .bind(check)
                .bind(key.max_seq)
                .bind(i64::from(recent))
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| read_error(what(), e))?;
            let rows = rows
                .iter()
                .map(|r| {
                    Ok((
                        column(r, "results", "seq")?,
                        column(r, "results", "outcome")?,
                        column(r, "results", "stage_durations")?,
                    ))
                })
                .collect::<Result<Vec<(i64, String, String)>, StoreError>>()?;
            let Some(recent) = timed(&rows, recent as usize) else {
                continue;
            };
            let hour = key.newest_started_unix_ms.div_euclid(HOUR_MS) * HOUR_MS;
            let samples = sqlx::query(SELECT_HOURLY)
                .bind(agent)
                .bind(check)
                .bind(hour - BASELINE_DAYS * 24 * HOUR_MS)
                .bind(hour)
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| read_error(what(), e))?
                .iter()
                .map(|r| column::<String>(r, "stage_hourly", "stage_durations"))
                .map(|s| s.map(|s| split_stages(&s)))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(Timings {
                agent_id: agent.clone(),
                check: check.clone(),
                recent,
                baseline: medians(&samples),
            });
        }
        Ok(out)
    }
}
