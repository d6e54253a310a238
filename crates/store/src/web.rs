//! Reads for the dashboard and its JSON API: a page at a time, so a request costs the same
//! at 10 servers and at 10,000. Every query here is bounded by a LIMIT or by the ids of one
//! page, and walks an index (see `migrations/sqlite/0007_dashboard.sql`; the test below checks the
//! query plans).

use super::gaps::{gap, push_kind_match, COLUMNS as GAP_COLUMNS};
use crate::sql::Sql;
use sqlx::any::AnyRow;

use super::rows::{self, column};
use super::{
    read_error, CheckState, GapRecord, KindMatch, KnownAgent, Store, StoreError, StoredResult,
};

/// At most this many ids in one `IN (...)` list: far below SQLite's limit on bound
/// parameters, and above the largest page the API serves.
pub const MAX_IDS_PER_READ: usize = 1000;

/// Servers and open findings of one deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentCounts {
    pub deployment: String,
    pub servers: u64,
    pub open_gaps: u64,
    pub open_warnings: u64,
}

/// One point of a check's history, without the detail blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPoint {
    pub seq: u64,
    pub started_unix_ms: i64,
    pub received_unix_ms: i64,
    pub outcome: String,
    pub failure_kind: Option<String>,
    pub duration_us: u64,
}

/// How many times a gap (its key) opened since some time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapOpenings {
    pub agent_id: String,
    pub check: String,
    pub kind: String,
    pub severity: String,
    pub times: u64,
}

/// Which open gaps a page shows; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenGapQuery {
    pub deployment: Option<String>,
    pub agent_id: Option<String>,
    pub check: Option<String>,
    pub severity: Option<String>,
    /// One owner's gaps (see [`KindMatch`]).
    pub kinds: Option<KindMatch>,
    pub offset: u32,
    pub limit: u32,
}

pub(super) const AGENT_COLUMNS: &str = "agent_id, hostname, role, deployment, agent_version, os, \
     ece_version, ece_es, probe_interval_s, seen_unix_ms, max_seq, spool_dropped, \
     first_seen_unix_ms, java_runtime, java_truststore, quarantined";

fn too_many(what: &str, n: usize) -> StoreError {
    StoreError::Corrupt {
        table: "request",
        what: format!("{n} ids in one {what} read: at most {MAX_IDS_PER_READ}"),
    }
}

/// `($1, $2, ...)` with the ids bound.
pub(super) fn push_ids(q: &mut Sql, ids: &[String]) {
    q.push_list(ids.iter().cloned());
}

fn unsigned(table: &'static str, row: &AnyRow, name: &str) -> Result<u64, StoreError> {
    rows::unsigned_from_db(table, column(row, table, name)?)
}

impl Store {
    /// One agent by id, or None.
    pub async fn agent(&self, agent_id: &str) -> Result<Option<KnownAgent>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE agent_id = $1"
        ))
        .bind(agent_id)
        .fetch_optional(&self.inner.reads)
        .await
        .map_err(|e| read_error(format!("reading agent {agent_id}"), e))?;
        row.as_ref().map(rows::agent).transpose()
    }

    /// A page of agents ordered by deployment then id (index `agents_by_deployment`), and
    /// how many agents match in all.
    pub async fn agents_page(
        &self,
        deployment: Option<&str>,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<KnownAgent>, u64), StoreError> {
        // Retired servers are out of the matrix.
        let filter = |q: &mut Sql| {
            q.push(" WHERE retired_unix_ms IS NULL");
            if let Some(d) = deployment {
                q.push(" AND deployment = ").push_bind(d.to_owned());
            }
        };
        let mut q = Sql::new(format!("SELECT {AGENT_COLUMNS} FROM agents"));
        filter(&mut q);
        q.push(" ORDER BY deployment, agent_id LIMIT ")
            .push_bind(i64::from(limit));
        q.push(" OFFSET ").push_bind(i64::from(offset));
        let rows = q
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| read_error("reading a page of agents", e))?;
        let agents = rows
            .iter()
            .map(rows::agent)
            .collect::<Result<Vec<_>, _>>()?;
        let mut count = Sql::new("SELECT COUNT(*) FROM agents");
        filter(&mut count);
        let total: i64 = count
            .fetch_scalar(&self.inner.reads)
            .await
            .map_err(|e| read_error("counting agents", e))?;
        Ok((agents, rows::unsigned_from_db("agents", total)?))
    }

    /// Every deployment with its servers and open gaps and warnings, by name.
    pub async fn deployment_counts(&self) -> Result<Vec<DeploymentCounts>, StoreError> {
        let servers = sqlx::query(
            "SELECT deployment, COUNT(*) AS n FROM agents WHERE retired_unix_ms IS NULL \
             GROUP BY deployment ORDER BY deployment",
        )
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| read_error("counting agents per deployment", e))?;
        let mut out = Vec::with_capacity(servers.len());
        for row in &servers {
            out.push(DeploymentCounts {
                deployment: column(row, "agents", "deployment")?,
                servers: unsigned("agents", row, "n")?,
                ..DeploymentCounts::default()
            });
        }
        let open = sqlx::query(
            "SELECT deployment, severity, COUNT(*) AS n FROM gaps \
             WHERE closed_unix_ms IS NULL GROUP BY deployment, severity",
        )
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| read_error("counting open gaps per deployment", e))?;
        for row in &open {
            let deployment: String = column(row, "gaps", "deployment")?;
            let severity: String = column(row, "gaps", "severity")?;
            let n = unsigned("gaps", row, "n")?;
            // A gap of a deployment no agent declares any more is still counted, and shown.
            let at = match out.binary_search_by(|d| d.deployment.cmp(&deployment)) {
                Ok(at) => at,
                Err(at) => {
                    out.insert(
                        at,
                        DeploymentCounts {
                            deployment,
                            ..DeploymentCounts::default()
                        },
                    );
                    at
                }
            };
            match severity.as_str() {
                "gap" => out[at].open_gaps += n,
                _ => out[at].open_warnings += n,
            }
        }
        Ok(out)
    }

    /// The latest state of every check of the given agents (one page), by agent then check.
    pub async fn latest_states_of(&self, ids: &[String]) -> Result<Vec<CheckState>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if ids.len() > MAX_IDS_PER_READ {
            return Err(too_many("latest state", ids.len()));
        }
        let mut q = Sql::new(
            "SELECT agent_id, check_id, seq, outcome, failure_kind, warning_kinds, \
             duration_us, received_unix_ms, system_dns FROM latest WHERE agent_id IN ",
        );
        push_ids(&mut q, ids);
        q.push(" ORDER BY agent_id, check_id");
        let rows = q
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| read_error("reading the latest state of a page of agents", e))?;
        rows.iter().map(rows::state).collect()
    }

    /// The open gaps and warnings of the given agents (one page), from the partial index
    /// of open gaps.
    pub async fn open_gaps_of(&self, ids: &[String]) -> Result<Vec<GapRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if ids.len() > MAX_IDS_PER_READ {
            return Err(too_many("open gap", ids.len()));
        }
        let mut q = Sql::new(format!(
            "SELECT {GAP_COLUMNS} FROM gaps WHERE closed_unix_ms IS NULL AND agent_id IN "
        ));
        push_ids(&mut q, ids);
        q.push(" ORDER BY agent_id, check_id, kind, severity");
        let rows = q
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| read_error("reading the open gaps of a page of agents", e))?;
        rows.iter().map(gap).collect()
    }

    /// A page of open gaps, newest opened first, and how many match in all.
    pub async fn open_gaps_page(
        &self,
        query: &OpenGapQuery,
    ) -> Result<(Vec<GapRecord>, u64), StoreError> {
        let filters = |q: &mut Sql| {
            q.push(" WHERE closed_unix_ms IS NULL");
            for (name, value) in [
                ("deployment", &query.deployment),
                ("agent_id", &query.agent_id),
                ("check_id", &query.check),
                ("severity", &query.severity),
            ] {
                if let Some(value) = value {
                    q.push(" AND ").push(name).push(" = ");
                    q.push_bind(value.clone());
                }
            }
            if let Some(kinds) = &query.kinds {
                q.push(" AND ");
                push_kind_match(q, kinds);
            }
        };
        let mut q = Sql::new(format!("SELECT {GAP_COLUMNS} FROM gaps"));
        filters(&mut q);
        q.push(" ORDER BY opened_unix_ms DESC, gap_id DESC LIMIT ");
        q.push_bind(i64::from(query.limit));
        q.push(" OFFSET ");
        q.push_bind(i64::from(query.offset));
        let rows = q
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| read_error("reading a page of open gaps", e))?;
        let gaps = rows.iter().map(gap).collect::<Result<Vec<_>, _>>()?;
        let mut count = Sql::new("SELECT COUNT(*) FROM gaps");
        filters(&mut count);
        let total: i64 = count
            .fetch_scalar(&self.inner.reads)
            .await
            .map_err(|e| read_error("counting open gaps", e))?;
        Ok((gaps, rows::unsigned_from_db("gaps", total)?))
    }

    /// How many times each gap key of the given agents opened at or after `since` (index
    /// `gaps_by_agent`).
    pub async fn gap_openings_since(
        &self,
        ids: &[String],
        since_unix_ms: i64,
    ) -> Result<Vec<GapOpenings>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if ids.len() > MAX_IDS_PER_READ {
            return Err(too_many("gap history", ids.len()));
        }
        let mut q = Sql::new(
            "SELECT agent_id, check_id, kind, severity, COUNT(*) AS n FROM gaps \
             WHERE agent_id IN ",
        );
        push_ids(&mut q, ids);
        q.push(" AND opened_unix_ms >= ");
        q.push_bind(since_unix_ms);
        q.push(" GROUP BY agent_id, check_id, kind, severity");
        let rows = q
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| read_error("counting gap openings", e))?;
        rows.iter()
            .map(|row| {
                Ok(GapOpenings {
                    agent_id: column(row, "gaps", "agent_id")?,
                    check: column(row, "gaps", "check_id")?,
                    kind: column(row, "gaps", "kind")?,
                    severity: column(row, "gaps", "severity")?,
                    times: unsigned("gaps", row, "n")?,
                })
            })
            .collect()
    }

    /// The latest result, detail included, of each (agent, check) given (one page's gaps),
    /// from the latest-state table's primary key.
    pub async fn latest_of_checks(
        &self,
        pairs: &[(String, String)],
    ) -> Result<Vec<StoredResult>, StoreError> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        if pairs.len() > MAX_IDS_PER_READ / 2 {
            return Err(too_many("latest result", pairs.len()));
        }
        let mut q = Sql::new(
            "SELECT agent_id, seq, check_id, started_unix_ms, received_unix_ms, outcome, \
             failure_kind, failure_stage, duration_us, warning_kinds, detail FROM latest \
             WHERE (agent_id, check_id) IN (VALUES ",
        );
        for (i, (agent, check)) in pairs.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" })
                .push_bind(agent.clone())
                .push(", ")
                .push_bind(check.clone())
                .push(")");
        }
        q.push(")");
        let rows = q
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| read_error("reading the latest results of a page of gaps", e))?;
        rows.iter().map(|r| rows::result(r, "latest")).collect()
    }

    /// The last `limit` results of one check on one agent, oldest first, without detail
    /// blobs (index `results_by_check`).
    pub async fn history_points(
        &self,
        agent_id: &str,
        check: &str,
        limit: u32,
    ) -> Result<Vec<HistoryPoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, started_unix_ms, received_unix_ms, outcome, failure_kind, \
             duration_us FROM results WHERE agent_id = $1 AND check_id = $2 \
             ORDER BY seq DESC LIMIT $3",
        )
        .bind(agent_id)
        .bind(check)
        .bind(i64::from(limit.min(super::MAX_HISTORY_LIMIT)))
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| read_error(format!("reading the history of {check} on {agent_id}"), e))?;
        let mut points = rows
            .iter()
            .map(|row| {
                const T: &str = "results";
                Ok(HistoryPoint {
                    seq: unsigned(T, row, "seq")?,
                    started_unix_ms: column(row, T, "started_unix_ms")?,
                    received_unix_ms: column(row, T, "received_unix_ms")?,
                    outcome: column(row, T, "outcome")?,
                    failure_kind: column(row, T, "failure_kind")?,
                    duration_us: unsigned(T, row, "duration_us")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        points.reverse();
        Ok(points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of each dashboard read names an index: none scans a whole table.
    #[tokio::test]
    async fn dashboard_reads_use_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).await.unwrap();
        for (sql, index) in [
            (
                "SELECT * FROM agents WHERE retired_unix_ms IS NULL \
                 ORDER BY deployment, agent_id LIMIT 100 OFFSET 100",
                "agents_by_deployment",
            ),
            (
                "SELECT * FROM agents WHERE retired_unix_ms IS NULL AND deployment = 'p' \
                 ORDER BY deployment, agent_id LIMIT 9",
                "agents_by_deployment",
            ),
            (
                "SELECT deployment, COUNT(*) FROM agents WHERE retired_unix_ms IS NULL \
                 GROUP BY deployment ORDER BY deployment",
                "agents_by_deployment",
            ),
            (
                "SELECT deployment, severity, COUNT(*) FROM gaps WHERE closed_unix_ms IS NULL \
                 GROUP BY deployment, severity",
                "gaps_open_by_deployment",
            ),
            (
                "SELECT * FROM gaps WHERE closed_unix_ms IS NULL \
                 ORDER BY opened_unix_ms DESC, gap_id DESC LIMIT 100",
                "gaps_open_by_opened",
            ),
            (
                "SELECT * FROM gaps WHERE closed_unix_ms IS NULL AND agent_id IN ('a', 'b') \
                 ORDER BY agent_id, check_id, kind, severity",
                "gaps_open",
            ),
            (
                "SELECT * FROM latest WHERE agent_id IN ('a', 'b') ORDER BY agent_id, check_id",
                "sqlite_autoindex_latest_1",
            ),
            (
                "SELECT agent_id, COUNT(*) FROM gaps WHERE agent_id IN ('a') \
                 AND opened_unix_ms >= 5 GROUP BY agent_id, check_id, kind, severity",
                "gaps_by_agent",
            ),
            // The gaps page's fixes: the latest result of each of its (agent, check).
            (
                "SELECT * FROM latest WHERE (agent_id, check_id) IN \
                 (VALUES ('a', 'imap'), ('b', 'pop3'))",
                "sqlite_autoindex_latest_1",
            ),
            // An owner's page: the open gaps' index, the kind condition checked per row.
            (
                "SELECT * FROM gaps WHERE closed_unix_ms IS NULL AND NOT (kind IN ('stale') \
                 OR (kind = 'failing' AND (detail = 'tcp_refused' \
                 OR substr(detail, 1, 12) = 'tcp_refused '))) \
                 ORDER BY opened_unix_ms DESC, gap_id DESC LIMIT 100",
                "gaps_open_by_opened",
            ),
        ] {
            let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&store.inner.reads)
                .await
                .unwrap();
            let plan: Vec<String> = rows
                .iter()
                .map(|r| sqlx::Row::get::<String, _>(r, "detail"))
                .collect();
            assert!(plan.iter().any(|p| p.contains(index)), "{sql}: {plan:?}");
            // Scanning the request's own VALUES list is no table scan.
            assert!(
                !plan.iter().any(|p| p.starts_with("SCAN")
                    && !p.contains("INDEX")
                    && !p.contains("VALUES CLAUSE")),
                "{sql}: {plan:?}"
            );
        }
        store.close().await;
    }
}
