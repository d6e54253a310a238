//! The reads behind `/metrics` and `/metrics/detail`: the fleet's latest state, and the open
//! gaps counted by deployment, severity, kind and cause. They read the current-state tables
//! only (never history) and no detail blob: a scrape of 10,000 servers must stay cheap.

use std::collections::HashMap;

use super::rows::{column, unsigned_from_db};
use super::{read_error, CheckState, KnownAgent, Store, StoreError};

/// One server's checks as `/metrics` needs them by default: whether each one's latest
/// result passed (a warning passes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerChecks {
    pub agent_id: String,
    pub deployment: String,
    pub role: String,
    /// Check name and whether it is up, by check name.
    pub checks: Vec<(String, bool)>,
}

impl ServerChecks {
    /// The fleet from what the gap tracker reads anyway (agents in service, by id, and the
    /// latest states by agent then check): the same rows [`Store::server_checks`] reads,
    /// without a second read. States of an agent not among `agents` (retired) are left out.
    pub fn of_fleet(agents: &[KnownAgent], states: &[CheckState]) -> Vec<ServerChecks> {
        let by_id: HashMap<&str, &KnownAgent> = agents
            .iter()
            .map(|a| (a.record.agent_id.as_str(), a))
            .collect();
        let mut out: Vec<ServerChecks> = Vec::with_capacity(agents.len());
        for s in states {
            let Some(agent) = by_id.get(s.agent_id.as_str()) else {
                continue;
            };
            if out.last().is_none_or(|last| last.agent_id != s.agent_id) {
                out.push(ServerChecks {
                    agent_id: s.agent_id.clone(),
                    deployment: agent.record.deployment.clone(),
                    role: agent.record.role.clone(),
                    checks: Vec::new(),
                });
            }
            if let Some(last) = out.last_mut() {
                last.checks.push((s.check.clone(), s.outcome != "fail"));
            }
        }
        out
    }
}

/// The latest result of one check on one server, as `/metrics/detail` measures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckMetric {
    pub agent_id: String,
    pub check: String,
    /// `pass`, `warn` or `fail`.
    pub outcome: String,
    pub duration_us: u64,
    /// When the check last passed (with or without warnings); 0: not since it was kept.
    pub last_success_unix_ms: i64,
    /// Stage name and microseconds, in the order the stages ran (empty for results stored
    /// before the store kept them).
    pub stage_durations: Vec<(String, u64)>,
}

/// How many gaps are open now with these labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenGapCount {
    pub deployment: String,
    /// `gap` or `warning`.
    pub severity: String,
    pub kind: String,
    /// A `failing` gap's probe failure kind (the first word of its detail, as the owner is
    /// derived from it); '' for the other kinds.
    pub cause: String,
    pub count: u64,
}

/// One pass over the covering index `latest_state` (migration 0015), in key order so the
/// grouping needs no sort, each server joined to its agent by primary key; the detail
/// blobs are never read. Named: with the join, SQLite's planner would otherwise walk the
/// primary key and read every row (blobs' overflow pages included). Retired servers have
/// no series. The outcome is packed first because it is always four letters.
const SELECT_SERVER_CHECKS: &str = "SELECT l.agent_id, a.deployment, a.role, \
     group_concat(l.outcome || l.check_id, char(10)) AS packed \
     FROM latest AS l INDEXED BY latest_state \
     JOIN agents AS a ON a.agent_id = l.agent_id WHERE a.retired_unix_ms IS NULL \
     GROUP BY l.agent_id ORDER BY l.agent_id";

/// As [`SELECT_SERVER_CHECKS`], a row per server and check, with what the detail adds.
const SELECT_CHECK_METRICS: &str = "SELECT l.agent_id, l.check_id, l.outcome, \
     l.duration_us, l.last_success_unix_ms, l.stage_durations \
     FROM latest AS l INDEXED BY latest_state \
     JOIN agents AS a ON a.agent_id = l.agent_id WHERE a.retired_unix_ms IS NULL \
     ORDER BY l.agent_id, l.check_id";

/// Open gaps only: the partial index `gaps_open` holds exactly those rows. The cause is the
/// detail's first word, as `gaps::failure_kind` cuts it; `POSITION` stands for the
/// dialect's "where is the first space" (SQLite's `instr`, PostgreSQL's `strpos`: neither
/// has the other's, see POSTGRES-NOTES.md).
const SELECT_OPEN_GAP_COUNTS: &str = "SELECT deployment, severity, kind, \
     CASE WHEN kind = 'failing' THEN substr(detail, 1, POSITION(detail || ' ', ' ') - 1) \
     ELSE '' END AS cause, COUNT(*) AS n \
     FROM gaps WHERE closed_unix_ms IS NULL \
     GROUP BY deployment, severity, kind, cause ORDER BY deployment, severity, kind, cause";

/// [`SELECT_OPEN_GAP_COUNTS`] in the dialect of `backend`.
fn open_gap_counts_sql(backend: crate::Backend) -> String {
    let position = match backend {
        crate::Backend::Sqlite => "instr",
        crate::Backend::Postgres => "strpos",
    };
    SELECT_OPEN_GAP_COUNTS.replace("POSITION(", &format!("{position}("))
}

impl Store {
    /// Every server's checks and whether each passed, with the server's deployment and
    /// role, by server; no detail blobs. What `/metrics` reads before the gap tracker's
    /// first evaluation ([`crate::gaps::Tracker::fleet_checks`]).
    pub async fn server_checks(&self) -> Result<Vec<ServerChecks>, StoreError> {
        const T: &str = "latest";
        if self.inner.database.backend() == crate::Backend::Postgres {
            // No group_concat nor index hints there: the two reads the gap tracker makes,
            // grouped here (a scrape before the first evaluation, a follower once per
            // leader's evaluation).
            let (agents, states) = tokio::try_join!(self.agents(), self.latest_states())?;
            return Ok(ServerChecks::of_fleet(&agents, &states));
        }
        let rows = sqlx::query(SELECT_SERVER_CHECKS)
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| read_error("reading the latest state for metrics", e))?;
        rows.iter()
            .map(|row| {
                let packed: String = column(row, T, "packed")?;
                Ok(ServerChecks {
                    agent_id: column(row, T, "agent_id")?,
                    deployment: column(row, T, "deployment")?,
                    role: column(row, T, "role")?,
                    checks: unpack_checks(&packed),
                })
            })
            .collect()
    }

    /// The latest result of every check on every server, by server then check; no detail
    /// blobs.
    pub async fn check_metrics(&self) -> Result<Vec<CheckMetric>, StoreError> {
        const T: &str = "latest";
        // PostgreSQL has no index hints (its planner needs none here).
        let sql = match self.inner.database.backend() {
            crate::Backend::Sqlite => SELECT_CHECK_METRICS.to_owned(),
            crate::Backend::Postgres => {
                SELECT_CHECK_METRICS.replace(" INDEXED BY latest_state", "")
            }
        };
        let rows = sqlx::query(&sql)
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| read_error("reading the latest state for metrics", e))?;
        rows.iter()
            .map(|row| {
                Ok(CheckMetric {
                    agent_id: column(row, T, "agent_id")?,
                    check: column(row, T, "check_id")?,
                    outcome: column(row, T, "outcome")?,
                    duration_us: unsigned_from_db(T, column(row, T, "duration_us")?)?,
                    last_success_unix_ms: column(row, T, "last_success_unix_ms")?,
                    stage_durations: split_stages(&column::<String>(row, T, "stage_durations")?),
                })
            })
            .collect()
    }

    /// The gaps open now, counted by deployment, severity, kind and cause.
    pub async fn open_gap_counts(&self) -> Result<Vec<OpenGapCount>, StoreError> {
        const T: &str = "gaps";
        let sql = open_gap_counts_sql(self.inner.database.backend());
        let rows = sqlx::query(&sql)
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| read_error("counting the open gaps", e))?;
        rows.iter()
            .map(|row| {
                Ok(OpenGapCount {
                    deployment: column(row, T, "deployment")?,
                    severity: column(row, T, "severity")?,
                    kind: column(row, T, "kind")?,
                    cause: column(row, T, "cause")?,
                    count: unsigned_from_db(T, column(row, T, "n")?)?,
                })
            })
            .collect()
    }
}

/// Each check as its outcome's four letters (`pass`, `warn`, `fail`) then its name, one
/// per line (SQLite's `group_concat`; check names hold no line break, convert.rs).
fn unpack_checks(packed: &str) -> Vec<(String, bool)> {
    packed
        .split('\n')
        .filter_map(|entry| {
            let outcome = entry.get(..4)?;
            let check = entry.get(4..)?;
            (!check.is_empty()).then(|| (check.to_owned(), outcome != "fail"))
        })
        .collect()
}

/// Stage durations as stored: `dns:1234,tcp:560` ('' for none). Names are plain identifiers
/// (convert.rs keeps only those), so ',' and ':' cannot occur in them.
pub(super) fn join_stages(stages: &[(String, u64)]) -> String {
    let mut out = String::new();
    for (i, (stage, us)) in stages.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(stage);
        out.push(':');
        out.push_str(&us.to_string());
    }
    out
}

/// The inverse of [`join_stages`]. A malformed entry is skipped, not an error: it is one
/// timing, and failing the whole scrape over it would hide every other metric.
pub(super) fn split_stages(stored: &str) -> Vec<(String, u64)> {
    stored
        .split(',')
        .filter_map(|entry| {
            let (stage, us) = entry.split_once(':')?;
            let us = us.parse().ok()?;
            (!stage.is_empty()).then(|| (stage.to_owned(), us))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use sqlx::Row;

    #[test]
    fn stages_round_trip_and_bad_entries_are_skipped() {
        let stages = vec![("dns".to_owned(), 12), ("tls".to_owned(), 0)];
        assert_eq!(join_stages(&stages), "dns:12,tls:0");
        assert_eq!(split_stages(&join_stages(&stages)), stages);
        assert!(split_stages("").is_empty());
        assert_eq!(
            split_stages("dns:x,:5,tcp:7,junk"),
            vec![("tcp".to_owned(), 7)]
        );
    }

    #[tokio::test]
    async fn the_metric_reads_use_the_current_state_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).await.unwrap();
        let plan = |sql: &str| {
            let sql = format!("EXPLAIN QUERY PLAN {sql}");
            let store = store.clone();
            async move {
                let rows = sqlx::query(&sql)
                    .fetch_all(&store.inner.reads)
                    .await
                    .unwrap();
                rows.iter()
                    .map(|r| r.get::<String, _>("detail"))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        };
        for sql in [SELECT_SERVER_CHECKS, SELECT_CHECK_METRICS] {
            let checks = plan(sql).await;
            // The covering index in key order (no sort, no blob), agents looked up by key.
            assert!(
                checks.contains("USING COVERING INDEX latest_state"),
                "{checks}"
            );
            assert!(!checks.contains("TEMP B-TREE"), "{checks}");
            assert!(
                checks.contains("USING INDEX sqlite_autoindex_agents_1")
                    || checks.contains("USING PRIMARY KEY"),
                "{checks}"
            );
        }
        // The gap engine's whole-fleet read takes the same index.
        let states = plan(super::super::rows::SELECT_STATES).await;
        assert!(
            states.contains("USING COVERING INDEX latest_state"),
            "{states}"
        );
        let gaps = plan(&open_gap_counts_sql(crate::Backend::Sqlite)).await;
        // Open gaps only, through a partial index of them (never closed history).
        assert!(gaps.contains("USING INDEX gaps_open"), "{gaps}");
        store.close().await;
    }
}
