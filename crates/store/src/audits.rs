//! Audits as recorded: the audit, the servers in its scope (ordered or not, answered when),
//! and reads of the results tagged with an audit (one scan of the partial index on
//! `results.audit_id`). Writes go through the writer task like every other write.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use super::request::{settle, Pending, Reply};
use super::rows::{self, column};
use super::{
    read_error, AuditProgress, AuditRecord, AuditServerRecord, Store, StoreError, StoredResult,
};

/// An audit's write requests (one writer `Op` variant holds them all).
pub(super) enum AuditOp {
    Create {
        audit: AuditRecord,
        servers: Vec<AuditServerRecord>,
        /// The ordered servers had their orders already (a lone collector queues them
        /// itself): recorded as delivered at the start.
        delivered: bool,
        reply: Reply<()>,
    },
    /// Claims (`at` Some) or gives back (None) the delivery of an audit's order to a server.
    Delivery {
        audit_id: String,
        agent_id: String,
        at_unix_ms: Option<i64>,
        reply: Reply<bool>,
    },
    Answered {
        audit_id: String,
        agent_id: String,
        at_unix_ms: i64,
        reply: Reply<bool>,
    },
    Close {
        audit_id: String,
        at_unix_ms: i64,
        reply: Reply<bool>,
    },
    /// The oldest audit closed before the cutoff, with its servers and tagged results.
    PruneOne {
        cutoff_unix_ms: i64,
        reply: Reply<u64>,
    },
}

impl AuditOp {
    pub(super) fn rows(&self) -> usize {
        match self {
            AuditOp::Create { servers, .. } => servers.len() + 1,
            AuditOp::Answered { .. } | AuditOp::Close { .. } | AuditOp::Delivery { .. } => 1,
            // One audit's tagged results: up to a suite per server in scope.
            AuditOp::PruneOne { .. } => super::MAX_BATCH_ROWS,
        }
    }

    pub(super) fn fail(self, error: StoreError) {
        match self {
            AuditOp::Create { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            AuditOp::Answered { reply, .. }
            | AuditOp::Close { reply, .. }
            | AuditOp::Delivery { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            AuditOp::PruneOne { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

fn db_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database {
        what: what.to_owned(),
        error: source,
    }
}

/// Deletes the oldest audit closed before the cutoff (its servers go by cascade) and its
/// tagged results; returns 1, or 0 when none is that old.
async fn prune_one(conn: &mut AnyConnection, cutoff_unix_ms: i64) -> Result<u64, StoreError> {
    let oldest: Option<String> = sqlx::query_scalar(
        "SELECT audit_id FROM audits WHERE state = 'closed' AND closed_unix_ms < $1 \
         ORDER BY closed_unix_ms LIMIT 1",
    )
    .bind(cutoff_unix_ms)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error("finding an audit past its retention"))?;
    let Some(audit_id) = oldest else {
        return Ok(0);
    };
    sqlx::query("DELETE FROM results WHERE audit_id = $1 AND audit_id <> ''")
        .bind(&audit_id)
        .execute(&mut *conn)
        .await
        .map_err(db_error("deleting an old audit's results"))?;
    sqlx::query("DELETE FROM audits WHERE audit_id = $1")
        .bind(&audit_id)
        .execute(&mut *conn)
        .await
        .map_err(db_error("deleting an old audit"))?;
    Ok(1)
}

pub(super) async fn apply(conn: &mut AnyConnection, op: AuditOp) -> (Pending, bool) {
    match op {
        AuditOp::PruneOne {
            cutoff_unix_ms,
            reply,
        } => settle(reply, prune_one(conn, cutoff_unix_ms).await),
        AuditOp::Create {
            audit,
            servers,
            delivered,
            reply,
        } => settle(reply, create(conn, &audit, &servers, delivered).await),
        AuditOp::Delivery {
            audit_id,
            agent_id,
            at_unix_ms,
            reply,
        } => settle(
            reply,
            super::audit_orders::delivery(conn, &audit_id, &agent_id, at_unix_ms).await,
        ),
        AuditOp::Answered {
            audit_id,
            agent_id,
            at_unix_ms,
            reply,
        } => {
            let done = sqlx::query(
                "UPDATE audit_servers SET answered_unix_ms = $3 \
                 WHERE audit_id = $1 AND agent_id = $2 AND answered_unix_ms IS NULL",
            )
            .bind(&audit_id)
            .bind(&agent_id)
            .bind(at_unix_ms)
            .execute(&mut *conn)
            .await
            .map(|d| d.rows_affected() > 0)
            .map_err(db_error("marking a server as answered"));
            settle(reply, done)
        }
        AuditOp::Close {
            audit_id,
            at_unix_ms,
            reply,
        } => {
            let done = sqlx::query(
                "UPDATE audits SET state = 'closed', closed_unix_ms = $2 \
                 WHERE audit_id = $1 AND state = 'running'",
            )
            .bind(&audit_id)
            .bind(at_unix_ms)
            .execute(&mut *conn)
            .await
            .map(|d| d.rows_affected() > 0)
            .map_err(db_error("closing an audit"));
            settle(reply, done)
        }
    }
}

async fn create(
    conn: &mut AnyConnection,
    audit: &AuditRecord,
    servers: &[AuditServerRecord],
    delivered: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audits (audit_id, deployment, started_unix_ms, deadline_unix_ms, \
         closed_unix_ms, state, policy) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&audit.audit_id)
    .bind(&audit.deployment)
    .bind(audit.started_unix_ms)
    .bind(audit.deadline_unix_ms)
    .bind(audit.closed_unix_ms)
    .bind(match audit.closed_unix_ms {
        Some(_) => "closed",
        None => "running",
    })
    .bind(&audit.policy)
    .execute(&mut *conn)
    .await
    .map_err(db_error("recording an audit"))?;
    for s in servers {
        sqlx::query(
            "INSERT INTO audit_servers (audit_id, agent_id, ordered, answered_unix_ms, \
             delivered_unix_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&audit.audit_id)
        .bind(&s.agent_id)
        .bind(i64::from(s.ordered))
        .bind(s.answered_unix_ms)
        .bind((delivered && s.ordered).then_some(audit.started_unix_ms))
        .execute(&mut *conn)
        .await
        .map_err(db_error("recording a server of an audit"))?;
    }
    Ok(())
}

/// `audit_id <> ''` lets SQLite use the partial index `results_by_audit`.
pub(super) const SELECT_AUDIT_RESULTS: &str = "SELECT agent_id, seq, check_id, \
     started_unix_ms, received_unix_ms, outcome, failure_kind, failure_stage, duration_us, \
     warning_kinds, detail FROM results WHERE audit_id = $1 AND audit_id <> '' \
     ORDER BY agent_id, seq";

const AUDIT_COLUMNS: &str =
    "audit_id, deployment, started_unix_ms, deadline_unix_ms, closed_unix_ms, policy";

fn audit(row: &AnyRow) -> Result<AuditRecord, StoreError> {
    const T: &str = "audits";
    Ok(AuditRecord {
        audit_id: column(row, T, "audit_id")?,
        deployment: column(row, T, "deployment")?,
        started_unix_ms: column(row, T, "started_unix_ms")?,
        deadline_unix_ms: column(row, T, "deadline_unix_ms")?,
        closed_unix_ms: column(row, T, "closed_unix_ms")?,
        policy: column(row, T, "policy")?,
    })
}

impl Store {
    /// Records a new audit and the servers in its scope, in one transaction.
    pub async fn create_audit(
        &self,
        audit: AuditRecord,
        servers: Vec<AuditServerRecord>,
    ) -> Result<(), StoreError> {
        self.write(|reply| AuditOp::Create {
            audit,
            servers,
            delivered: true,
            reply,
        })
        .await
    }

    /// Marks a server as having answered an audit; false if it already had (or is not in
    /// the audit).
    pub async fn mark_audit_answered(
        &self,
        audit_id: &str,
        agent_id: &str,
        at_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        let (audit_id, agent_id) = (audit_id.to_owned(), agent_id.to_owned());
        self.write(|reply| AuditOp::Answered {
            audit_id,
            agent_id,
            at_unix_ms,
            reply,
        })
        .await
    }

    /// Closes a running audit; false if it was already closed (or does not exist).
    pub async fn close_audit(&self, audit_id: &str, at_unix_ms: i64) -> Result<bool, StoreError> {
        let audit_id = audit_id.to_owned();
        self.write(|reply| AuditOp::Close {
            audit_id,
            at_unix_ms,
            reply,
        })
        .await
    }

    /// Deletes audits closed before the cutoff, with their tagged results, one audit per
    /// write request so agents' inserts go on in between; returns how many.
    pub async fn prune_audits_before(&self, cutoff_unix_ms: i64) -> Result<u64, StoreError> {
        self.in_steps(1, |reply| AuditOp::PruneOne {
            cutoff_unix_ms,
            reply,
        })
        .await
    }

    pub async fn audit(&self, audit_id: &str) -> Result<Option<AuditRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audits WHERE audit_id = $1"
        ))
        .bind(audit_id)
        .fetch_optional(&self.inner.reads)
        .await
        .map_err(|e| read_error(format!("reading audit {audit_id}"), e))?;
        row.as_ref().map(audit).transpose()
    }

    /// Audits newest started first, of one scope (`Some("")`: every deployment) or all.
    pub async fn audits(
        &self,
        deployment: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audits WHERE $1 IS NULL OR deployment = $1 \
             ORDER BY started_unix_ms DESC, audit_id DESC LIMIT $2"
        ))
        .bind(deployment)
        .bind(i64::from(limit))
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| read_error("listing audits", e))?;
        rows.iter().map(audit).collect()
    }

    /// The audits still running (to watch again after a restart).
    pub async fn running_audits(&self) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audits WHERE state = 'running'"
        ))
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| read_error("listing running audits", e))?;
        rows.iter().map(audit).collect()
    }

    /// The latest closed audit of the same scope started before `before_unix_ms`.
    pub async fn previous_closed_audit(
        &self,
        deployment: &str,
        before: &AuditRecord,
    ) -> Result<Option<AuditRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audits WHERE deployment = $1 AND state = 'closed' \
             AND (started_unix_ms, audit_id) < ($2, $3) \
             ORDER BY started_unix_ms DESC, audit_id DESC LIMIT 1"
        ))
        .bind(deployment)
        .bind(before.started_unix_ms)
        .bind(&before.audit_id)
        .fetch_optional(&self.inner.reads)
        .await
        .map_err(|e| read_error("finding the previous audit", e))?;
        row.as_ref().map(audit).transpose()
    }

    /// The servers in an audit's scope, by agent id.
    pub async fn audit_servers(
        &self,
        audit_id: &str,
    ) -> Result<Vec<AuditServerRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT agent_id, ordered, answered_unix_ms FROM audit_servers \
             WHERE audit_id = $1 ORDER BY agent_id",
        )
        .bind(audit_id)
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| read_error(format!("reading the servers of audit {audit_id}"), e))?;
        rows.iter()
            .map(|row| {
                const T: &str = "audit_servers";
                Ok(AuditServerRecord {
                    agent_id: column(row, T, "agent_id")?,
                    ordered: column::<i64>(row, T, "ordered")? != 0,
                    answered_unix_ms: column(row, T, "answered_unix_ms")?,
                })
            })
            .collect()
    }

    /// Every result tagged with the audit, by agent then seq.
    pub async fn audit_results(&self, audit_id: &str) -> Result<Vec<StoredResult>, StoreError> {
        let rows = sqlx::query(SELECT_AUDIT_RESULTS)
            .bind(audit_id)
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| read_error(format!("reading the results of audit {audit_id}"), e))?;
        rows.iter().map(|r| rows::result(r, "results")).collect()
    }

    /// Per server, what has arrived for the audit so far (no detail blobs).
    pub async fn audit_progress(&self, audit_id: &str) -> Result<Vec<AuditProgress>, StoreError> {
        let rows = sqlx::query(
            "SELECT agent_id, COUNT(DISTINCT check_id) AS checks, \
             MAX(received_unix_ms) AS last_received_unix_ms FROM results \
             WHERE audit_id = $1 AND audit_id <> '' GROUP BY agent_id",
        )
        .bind(audit_id)
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| read_error(format!("reading the progress of audit {audit_id}"), e))?;
        rows.iter()
            .map(|row| {
                const T: &str = "results";
                Ok(AuditProgress {
                    agent_id: column(row, T, "agent_id")?,
                    checks: rows::unsigned_from_db(T, column(row, T, "checks")?)?,
                    last_received_unix_ms: column(row, T, "last_received_unix_ms")?,
                })
            })
            .collect()
    }

    /// How many checks each agent has ever reported (its rows in the latest-state table):
    /// the size of its catalog, as far as the collector knows.
    pub async fn reported_checks(&self) -> Result<HashMap<String, u64>, StoreError> {
        let rows = sqlx::query("SELECT agent_id, COUNT(*) AS checks FROM latest GROUP BY agent_id")
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| read_error("counting the checks of each agent", e))?;
        rows.iter()
            .map(|row| {
                const T: &str = "latest";
                Ok((
                    column(row, T, "agent_id")?,
                    rows::unsigned_from_db(T, column(row, T, "checks")?)?,
                ))
            })
            .collect()
    }
}
