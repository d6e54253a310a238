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

    /// The revoked certificates, oldest first: every one, or the newest
    /// [`MAX_REVOCATIONS`] when the table holds more (a cap never drops the newest).
    pub async fn revocations(&self) -> Result<Vec<Revocation>, StoreError> {
        self.newest_revocations(MAX_REVOCATIONS).await
    }

    /// The newest `limit` revocations, oldest first.
    pub(crate) async fn newest_revocations(
        &self,
        limit: i64,
    ) -> Result<Vec<Revocation>, StoreError> {
        let mut rows = self
            .read_revocations(
                "SELECT sha256, agent_id, revoked_unix_ms FROM revoked_certificates \
                 ORDER BY revoked_unix_ms DESC, sha256 DESC LIMIT $1",
                None,
                limit.min(MAX_REVOCATIONS),
            )
            .await?;
        rows.reverse();
        Ok(rows)
    }

    /// The revocations made at or after `from_unix_ms`, oldest first, at most `limit`
    /// (and [`MAX_REVOCATIONS`]): what a collector that read the set before reads next.
    pub async fn revocations_from(
        &self,
        from_unix_ms: i64,
        limit: u32,
    ) -> Result<Vec<Revocation>, StoreError> {
        self.read_revocations(
            "SELECT sha256, agent_id, revoked_unix_ms FROM revoked_certificates \
             WHERE revoked_unix_ms >= $2 ORDER BY revoked_unix_ms, sha256 LIMIT $1",
            Some(from_unix_ms),
            i64::from(limit).min(MAX_REVOCATIONS),
        )
        .await
    }

    /// How many certificates are revoked.
    pub async fn revocations_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM revoked_certificates")
            .fetch_one(&self.inner.reads)
            .await
            .map_err(|e| read_error("counting the revoked certificates", e))?;
        super::rows::unsigned_from_db("revoked_certificates", count)
    }

    async fn read_revocations(
        &self,
        sql: &str,
        from_unix_ms: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Revocation>, StoreError> {
        let mut query = sqlx::query_as(sql).bind(limit);
        if let Some(from) = from_unix_ms {
            query = query.bind(from);
        }
        let rows: Vec<(String, String, i64)> = query
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

    on_both! {
        async fn the_newest_revocations_are_read_from_a_time_and_a_cap_keeps_the_newest() {
            let (_db, store) = open_temp().await;
            store
                .record_revocations(vec![
                    revoked("aa", "svc-1", 10),
                    revoked("bb", "svc-2", 20),
                    revoked("cc", "svc-3", 20),
                    revoked("dd", "svc-4", 30),
                ])
                .await
                .unwrap();
            assert_eq!(store.revocations_count().await.unwrap(), 4);
            let from: Vec<_> = store
                .revocations_from(20, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.sha256)
                .collect();
            assert_eq!(from, ["bb", "cc", "dd"]);
            // A page: the oldest of those first, so the caller reads on from the last.
            let page: Vec<_> = store
                .revocations_from(20, 2)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.sha256)
                .collect();
            assert_eq!(page, ["bb", "cc"]);
            // Over a cap, the oldest are left out, never the newest.
            let newest: Vec<_> = store
                .newest_revocations(2)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.sha256)
                .collect();
            assert_eq!(newest, ["cc", "dd"]);
            store.close().await;
        }
    }
}
