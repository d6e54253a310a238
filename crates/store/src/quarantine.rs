//! The quarantine (migration 0014): results an agent sent that cannot be stored truthfully,
//! set aside inside the same transaction as the rest of their batch, so the ack that covers
//! them is as true as any other.

use sqlx::AnyConnection;

use super::rows::{column, unsigned_from_db};
use super::{read_error, Quarantine, SetAside, Store, StoreError};

/// Rows kept, all agents together; beyond this the oldest go (`agents.quarantined` still
/// counts them).
pub const MAX_QUARANTINE_ROWS: i64 = 1_000;

/// Sets the results aside, each once per (agent, seq); counts the new ones on the agent and
/// drops the oldest rows beyond [`MAX_QUARANTINE_ROWS`]. Returns how many were new.
pub(super) async fn set_aside(
    conn: &mut AnyConnection,
    agent_id: &str,
    results: &[SetAside],
    received_unix_ms: i64,
) -> Result<u64, StoreError> {
    let db = |what: String| {
        move |error| StoreError::Database {
            what: what.clone(),
            error,
        }
    };
    let mut new = 0u64;
    for r in results {
        let seq = i64::try_from(r.seq).map_err(|_| StoreError::OutOfRange {
            agent_id: agent_id.to_owned(),
            field: "seq",
            value: r.seq,
        })?;
        let done = sqlx::query(
            "INSERT INTO quarantine (agent_id, seq, reason, summary, received_unix_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent_id, seq) DO NOTHING",
        )
        .bind(agent_id)
        .bind(seq)
        .bind(&r.reason)
        .bind(&r.summary)
        .bind(received_unix_ms)
        .execute(&mut *conn)
        .await
        .map_err(db(format!(
            "setting aside result seq {} of agent {agent_id}",
            r.seq
        )))?;
        new += done.rows_affected();
    }
    if new == 0 {
        return Ok(0);
    }
    sqlx::query("UPDATE agents SET quarantined = quarantined + $2 WHERE agent_id = $1")
        .bind(agent_id)
        .bind(i64::try_from(new).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await
        .map_err(db(format!("counting agent {agent_id}'s set-aside results")))?;
    // The newest MAX_QUARANTINE_ROWS by position, not by id arithmetic: ids have holes
    // (an insert that met ON CONFLICT DO NOTHING, or was rolled back, spent one).
    sqlx::query(
        "DELETE FROM quarantine WHERE id <= \
         (SELECT id FROM quarantine ORDER BY id DESC LIMIT 1 OFFSET $1)",
    )
    .bind(MAX_QUARANTINE_ROWS)
    .execute(&mut *conn)
    .await
    .map_err(db("dropping the oldest set-aside results".to_owned()))?;
    Ok(new)
}

impl Store {
    /// An agent's set-aside results: how many ever, and the last one still kept; None when
    /// none was ever set aside.
    pub async fn quarantine(&self, agent_id: &str) -> Result<Option<Quarantine>, StoreError> {
        const T: &str = "quarantine";
        let count: Option<i64> =
            sqlx::query_scalar("SELECT quarantined FROM agents WHERE agent_id = $1")
                .bind(agent_id)
                .fetch_optional(&self.inner.reads)
                .await
                .map_err(|e| read_error(format!("counting {agent_id}'s set-aside results"), e))?;
        let count = unsigned_from_db("agents", count.unwrap_or(0))?;
        if count == 0 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT seq, reason, summary, received_unix_ms FROM quarantine \
             WHERE agent_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(agent_id)
        .fetch_optional(&self.inner.reads)
        .await
        .map_err(|e| read_error(format!("reading {agent_id}'s last set-aside result"), e))?;
        let mut q = Quarantine {
            count,
            last_seq: 0,
            last_reason: String::new(),
            last_summary: String::new(),
            last_unix_ms: 0,
        };
        if let Some(row) = row {
            q.last_seq = unsigned_from_db(T, column(&row, T, "seq")?)?;
            q.last_reason = column(&row, T, "reason")?;
            q.last_summary = column(&row, T, "summary")?;
            q.last_unix_ms = column(&row, T, "received_unix_ms")?;
        }
        Ok(Some(q))
    }
}
