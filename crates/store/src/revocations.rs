//! Revoked agent certificates (migration 0016 / PostgreSQL 0002): the set every collector
//! of one database refuses (issue 18). `eceprobe-collector revoke --db` records here; each
//! serving collector re-reads the set every few seconds (collector/src/auth.rs), so a
//! revocation made through one collector ends the agent's stream on every other.

use sqlx::AnyConnection;

use super::request::{settle, Pending, Reply};
use super::{read_error, Store, StoreError};

/// The most revocations read at once: far beyond any fleet's enrollments, so a table grown
/// by a mistake cannot take the collector's memory.
pub const MAX_REVOCATIONS: i64 = 1_000_000;

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The certificate's SHA-256 fingerprint, lowercase hex (as `revoked.txt` lists it).
    pub sha256: String,
    pub agent_id: String,
    pub revoked_unix_ms: i64,
}

pub(super) struct RevokeOp {
    pub(super) revoked: Vec<Revocation>,
    pub(super) reply: Reply<u64>,
}

impl RevokeOp {
    pub(super) fn rows(&self) -> usize {
        self.revoked.len().max(1)
    }

    pub(super) fn fail(self, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

/// Records each revocation once (a certificate revoked again keeps its first time);
/// returns how many were new.
pub(super) async fn apply(conn: &mut AnyConnection, op: RevokeOp) -> (Pending, bool) {
    settle(op.reply, record(conn, &op.revoked).await)
}

async fn record(conn: &mut AnyConnection, revoked: &[Revocation]) -> Result<u64, StoreError> {
    let mut new = 0;
    for r in revoked {
        let done = sqlx::query(
            "INSERT INTO revoked_certificates (sha256, agent_id, revoked_unix_ms) \
             VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(r.sha256.to_ascii_lowercase())
        .bind(&r.agent_id)
        .bind(r.revoked_unix_ms)
        .execute(&mut *conn)
        .await
        .map_err(|error| StoreError::Database {
            what: format!(
                "recording the revocation of agent {}'s certificate",
                r.agent_id
            ),
            error,
        })?;
        new += done.rows_affected();
    }
    Ok(new)
}

impl Store {
    /// Records revoked certificates, each once; returns how many were new.
    pub async fn record_revocations(&self, revoked: Vec<Revocation>) -> Result<u64, StoreError> {
        self.write(|reply| RevokeOp { revoked, reply }).await
    }

    /// Every revoked certificate, oldest first (at most [`MAX_REVOCATIONS`]).
    pub async fn revocations(&self) -> Result<Vec<Revocation>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT sha256, agent_id, revoked_unix_ms FROM revoked_certificates \
             ORDER BY revoked_unix_ms, sha256 LIMIT $1",
        )
        .bind(MAX_REVOCATIONS)
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| read_error("reading the revoked certificates", e))?;
        Ok(rows
            .into_iter()
            .map(|(sha256, agent_id, revoked_unix_ms)| Revocation {
                sha256,
                agent_id,
                revoked_unix_ms,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{on_both, open_temp};
    use super::*;

    fn revoked(sha: &str, agent: &str, at: i64) -> Revocation {
        Revocation {
            sha256: sha.to_owned(),
            agent_id: agent.to_owned(),
            revoked_unix_ms: at,
        }
    }

    on_both! {
        async fn revocations_are_recorded_once_and_read_back_by_another_store() {
            let (db, store) = open_temp().await;
            assert!(store.revocations().await.unwrap().is_empty());
            let new = store
                .record_revocations(vec![revoked("AB01", "svc-1", 10), revoked("cd02", "svc-1", 10)])
                .await
                .unwrap();
            assert_eq!(new, 2);
            // Revoked again (a second `revoke`): nothing new, the first time kept.
            let new = store
                .record_revocations(vec![revoked("ab01", "svc-1", 20), revoked("ef03", "app-1", 30)])
                .await
                .unwrap();
            assert_eq!(new, 1);
            // Another collector on the same database sees them.
            let other = db.reopen().await;
            assert_eq!(
                other.revocations().await.unwrap(),
                vec![
                    revoked("ab01", "svc-1", 10),
                    revoked("cd02", "svc-1", 10),
                    revoked("ef03", "app-1", 30),
                ]
            );
            other.close().await;
            store.close().await;
        }
    }
}
