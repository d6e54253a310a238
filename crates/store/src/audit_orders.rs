//! The delivery of running audits' orders when several collectors share the database: an
//! audit records as ordered every server connected to any of them, and each collector
//! queues the order on the streams of its own agents, once per server (a claim in
//! `audit_servers.delivered_unix_ms`, migration 0018), so a reconnecting agent or one that
//! moved to another collector mid-audit is ordered once, where it is now.

use sqlx::AnyConnection;

use super::audits::AuditOp;
use super::rows::column;
use super::{read_error, AuditRecord, AuditServerRecord, Store, StoreError};

/// An audit's order still to go to a server (see [`Store::undelivered_orders`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndeliveredOrder {
    pub audit_id: String,
    pub deadline_unix_ms: i64,
    pub agent_id: String,
}

/// A claim (`at` Some) succeeds only on an ordered server of a running audit not delivered
/// yet, so one order goes out however many collectors look; a give-back (None) undoes the
/// caller's claim when the order could not be queued after all.
pub(super) async fn delivery(
    conn: &mut AnyConnection,
    audit_id: &str,
    agent_id: &str,
    at_unix_ms: Option<i64>,
) -> Result<bool, StoreError> {
    let query = match at_unix_ms {
        Some(at) => sqlx::query(
            "UPDATE audit_servers SET delivered_unix_ms = $3 WHERE audit_id = $1 \
             AND agent_id = $2 AND ordered = 1 AND delivered_unix_ms IS NULL \
             AND audit_id IN (SELECT audit_id FROM audits WHERE state = 'running')",
        )
        .bind(audit_id)
        .bind(agent_id)
        .bind(at),
        None => sqlx::query(
            "UPDATE audit_servers SET delivered_unix_ms = NULL WHERE audit_id = $1 \
             AND agent_id = $2",
        )
        .bind(audit_id)
        .bind(agent_id),
    };
    query
        .execute(&mut *conn)
        .await
        .map(|d| d.rows_affected() > 0)
        .map_err(|source| StoreError::Database {
            what: "recording the delivery of an audit's order".to_owned(),
            error: source,
        })
}

impl Store {
    /// Records a new audit whose orders are still to be delivered: each collector sharing
    /// the database delivers them to the ordered servers connected to it
    /// ([`Store::undelivered_orders`], [`Store::claim_delivery`]).
    pub async fn create_audit_undelivered(
        &self,
        audit: AuditRecord,
        servers: Vec<AuditServerRecord>,
    ) -> Result<(), StoreError> {
        self.write(|reply| AuditOp::Create {
            audit,
            servers,
            delivered: false,
            reply,
        })
        .await
    }

    /// Claims the delivery of the audit's order to the server: true for the one caller
    /// that should queue it (the server is ordered, the audit running, the order not
    /// delivered yet).
    pub async fn claim_delivery(
        &self,
        audit_id: &str,
        agent_id: &str,
        at_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        let (audit_id, agent_id) = (audit_id.to_owned(), agent_id.to_owned());
        self.write(|reply| AuditOp::Delivery {
            audit_id,
            agent_id,
            at_unix_ms: Some(at_unix_ms),
            reply,
        })
        .await
    }

    /// Gives back a claim whose order could not be queued (the stream ended, its queue was
    /// full): a later look delivers it.
    pub async fn unclaim_delivery(
        &self,
        audit_id: &str,
        agent_id: &str,
    ) -> Result<bool, StoreError> {
        let (audit_id, agent_id) = (audit_id.to_owned(), agent_id.to_owned());
        self.write(|reply| AuditOp::Delivery {
            audit_id,
            agent_id,
            at_unix_ms: None,
            reply,
        })
        .await
    }

    /// The orders of running audits not delivered yet and not past their deadline, oldest
    /// audit first.
    pub async fn undelivered_orders(
        &self,
        now_unix_ms: i64,
    ) -> Result<Vec<UndeliveredOrder>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.audit_id, a.deadline_unix_ms, s.agent_id FROM audits AS a \
             JOIN audit_servers AS s ON s.audit_id = a.audit_id \
             WHERE a.state = 'running' AND a.deadline_unix_ms > $1 AND s.ordered = 1 \
             AND s.delivered_unix_ms IS NULL ORDER BY a.started_unix_ms, a.audit_id, s.agent_id",
        )
        .bind(now_unix_ms)
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| read_error("listing the audits' orders not delivered yet", e))?;
        const T: &str = "audit_servers";
        rows.iter()
            .map(|row| {
                Ok(UndeliveredOrder {
                    audit_id: column(row, T, "audit_id")?,
                    deadline_unix_ms: column(row, T, "deadline_unix_ms")?,
                    agent_id: column(row, T, "agent_id")?,
                })
            })
            .collect()
    }
}
