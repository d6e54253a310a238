//! Join tokens and the agents they enrolled (migration 0020 / PostgreSQL 0006, issue 19).
//!
//! A token is stored by its id and the SHA-256 of its secret, never the secret. Using one
//! is a single conditional UPDATE (the token's secret matches, it is not revoked, not
//! expired by the database's clock, and has uses left), inside the writer's transaction:
//! on PostgreSQL a second collector's UPDATE waits for the first's row lock and then sees
//! the uses it left; on SQLite the writers are serialised by the file lock. So two agents
//! racing for the last use cannot both have it.

use sqlx::{AnyConnection, Row};

use super::request::{settle, Pending, Reply};
use super::{read_error, Backend, Store, StoreError};

/// The most tokens listed at once.
pub const MAX_JOIN_TOKENS: i64 = 10_000;

/// A token to record; the secret itself stays with the caller.
#[derive(Debug, Clone)]
pub struct NewJoinToken {
    pub id: String,
    /// SHA-256 of the secret, lowercase hex.
    pub secret_sha256: String,
    pub deployment: String,
    /// From now (the database's clock).
    pub valid_for_ms: i64,
    pub max_uses: i64,
    pub allow_reenroll: bool,
}

/// A token as recorded (without its hash), with the database's clock when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinToken {
    pub id: String,
    pub deployment: String,
    pub created_unix_ms: i64,
    pub expires_unix_ms: i64,
    pub max_uses: i64,
    pub uses: i64,
    /// 0 while the token stands.
    pub revoked_unix_ms: i64,
    pub allow_reenroll: bool,
    pub now_unix_ms: i64,
}

/// What a join asks: the token, and who joins with which key.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub token_id: String,
    pub secret_sha256: String,
    pub agent_id: String,
    /// SHA-256 of the agent's public key, lowercase hex.
    pub key_sha256: String,
    /// The certificates the CA issued before (`issued.log`) to this agent id, or to this
    /// key under any id: what decides a revoked id, a revoked key, a bundle, a re-enrollment.
    pub issued: Vec<IssuedCertificate>,
}

/// A certificate the CA issued, as `issued.log` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    pub agent_id: String,
    /// The certificate's SHA-256, lowercase hex.
    pub sha256: String,
    /// Its key's SHA-256 when recorded (joins; bundles made since issue 19), else None.
    pub key_sha256: Option<String>,
    /// Bundles (`enroll`) make the key on the collector; a join's key is the agent's own.
    pub bundle: bool,
    /// Listed in the CA directory's `revoked.txt` (the database's list is read here).
    pub revoked_in_file: bool,
    /// The deployment a join issued it for (the token's; its subject's unit), when
    /// `issued.log` records it; None for a bundle's and a join's from before.
    pub deployment: Option<String>,
}

/// A join the token allowed (one of its uses is spent, unless it is a retry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub deployment: String,
    /// The id was enrolled before with another key (the token allowed re-enrollment).
    pub reenrolled: bool,
    /// The same token, id and key as the join that enrolled the id (its reply was lost):
    /// a certificate again, and no use spent.
    pub retry: bool,
    /// The certificates of the id's earlier keys, revoked in the same transaction
    /// (`revoked_certificates`): the old key can no longer connect.
    pub superseded: Vec<String>,
}

/// Why a token did not allow a join; nothing was spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinRefusal {
    /// No token of this id, or its secret differs (not told apart: a guess learns nothing).
    Unknown,
    Revoked,
    Expired {
        expires_unix_ms: i64,
    },
    UsedUp {
        max_uses: i64,
    },
    /// The id is enrolled with another key, and the token does not allow re-enrollment.
    AlreadyEnrolled {
        key_sha256: String,
    },
    /// The id has a bundle's certificate, and the token does not allow re-enrollment.
    BundleEnrolled {
        cert_sha256: String,
    },
    /// Every certificate of the id is revoked, and the token does not allow re-enrollment.
    AgentRevoked {
        cert_sha256: String,
    },
    /// The key belongs to a revoked certificate (of this id or another): never again.
    KeyRevoked {
        agent_id: String,
        cert_sha256: String,
    },
    /// The id was joined for another deployment than the token's: a token of one
    /// deployment cannot take (and revoke) another's agent, re-enrollment or not.
    OtherDeployment {
        current: String,
        token: String,
    },
    /// The free retry of this token, id and key gave its certificates already.
    RetriesSpent {
        certificates: usize,
    },
}

pub(super) enum JoinOp {
    Create {
        token: NewJoinToken,
        backend: Backend,
        reply: Reply<JoinToken>,
    },
    Revoke {
        id: String,
        backend: Backend,
        reply: Reply<bool>,
    },
    Use {
        request: JoinRequest,
        backend: Backend,
        reply: Reply<Result<Joined, JoinRefusal>>,
    },
}

impl JoinOp {
    pub(super) fn rows(&self) -> usize {
        2
    }

    pub(super) fn fail(self, error: StoreError) {
        match self {
            JoinOp::Create { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            JoinOp::Revoke { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            JoinOp::Use { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// The database's clock in Unix ms, as an expression (a scalar subquery) of each dialect.
pub(super) fn now_expr(backend: Backend) -> String {
    format!("({})", super::lease::now_sql(backend))
}

pub(super) fn db_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| StoreError::Database {
        what: what.to_owned(),
        error,
    }
}

pub(super) const COLUMNS: &str =
    "id, deployment, created_unix_ms, expires_unix_ms, max_uses, uses, \
                       revoked_unix_ms, allow_reenroll";

pub(super) fn token(row: &sqlx::any::AnyRow, now_unix_ms: i64) -> Result<JoinToken, sqlx::Error> {
    Ok(JoinToken {
        id: row.try_get("id")?,
        deployment: row.try_get("deployment")?,
        created_unix_ms: row.try_get("created_unix_ms")?,
        expires_unix_ms: row.try_get("expires_unix_ms")?,
        max_uses: row.try_get("max_uses")?,
        uses: row.try_get("uses")?,
        revoked_unix_ms: row.try_get("revoked_unix_ms")?,
        allow_reenroll: row.try_get::<i64, _>("allow_reenroll")? != 0,
        now_unix_ms,
    })
}

pub(super) async fn apply(conn: &mut AnyConnection, op: JoinOp) -> (Pending, bool) {
    match op {
        JoinOp::Create {
            token,
            backend,
            reply,
        } => settle(reply, create(conn, &token, backend).await),
        JoinOp::Revoke { id, backend, reply } => {
            let done = sqlx::query(&format!(
                "UPDATE join_tokens SET revoked_unix_ms = {} \
                 WHERE id = $1 AND revoked_unix_ms = 0",
                now_expr(backend)
            ))
            .bind(id)
            .execute(&mut *conn)
            .await
            .map(|d| d.rows_affected() > 0)
            .map_err(db_error("revoking the join token"));
            settle(reply, done)
        }
        JoinOp::Use {
            request,
            backend,
            reply,
        } => settle(
            reply,
            super::join_use::use_token(conn, &request, backend).await,
        ),
    }
}

async fn create(
    conn: &mut AnyConnection,
    t: &NewJoinToken,
    backend: Backend,
) -> Result<JoinToken, StoreError> {
    // The clock read once for both times: PostgreSQL's is clock_timestamp(), which moves
    // between two reads in one statement (a token of 1 h lasting 1 h and 1 ms).
    let now = now_expr(backend);
    let row = sqlx::query(&format!(
        "INSERT INTO join_tokens (id, secret_sha256, deployment, created_unix_ms, \
         expires_unix_ms, max_uses, uses, revoked_unix_ms, allow_reenroll) \
         SELECT $1, $2, $3, clock.at_ms, clock.at_ms + $4, $5, 0, 0, $6 FROM (SELECT {now} AS at_ms) AS clock \
         RETURNING {COLUMNS}, {now} AS now_unix_ms"
    ))
    .bind(&t.id)
    .bind(&t.secret_sha256)
    .bind(&t.deployment)
    .bind(t.valid_for_ms)
    .bind(t.max_uses)
    .bind(i64::from(t.allow_reenroll))
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error("recording the join token"))?;
    let now_unix_ms = row
        .try_get("now_unix_ms")
        .map_err(db_error("reading the join token"))?;
    token(&row, now_unix_ms).map_err(db_error("reading the join token"))
}

impl Store {
    /// Records a new join token; returns it as stored (its times by the database's clock).
    pub async fn create_join_token(&self, token: NewJoinToken) -> Result<JoinToken, StoreError> {
        let backend = self.database().backend();
        self.write(|reply| JoinOp::Create {
            token,
            backend,
            reply,
        })
        .await
    }

    /// Revokes a token; false when there is none of this id or it was revoked already.
    pub async fn revoke_join_token(&self, id: &str) -> Result<bool, StoreError> {
        let backend = self.database().backend();
        let id = id.to_owned();
        self.write(|reply| JoinOp::Revoke { id, backend, reply })
            .await
    }

    /// Spends one use of the token for this agent and key, or says why not (spending
    /// nothing). Once Ok, the agent id is recorded as enrolled with this key, and its other
    /// keys' standing certificates are revoked in the same transaction. A retry of the join
    /// that enrolled the id (same token, id and key) is allowed again without a use.
    pub async fn use_join_token(
        &self,
        request: JoinRequest,
    ) -> Result<Result<Joined, JoinRefusal>, StoreError> {
        let backend = self.database().backend();
        self.write(|reply| JoinOp::Use {
            request,
            backend,
            reply,
        })
        .await
    }

    /// Every token, newest first (at most [`MAX_JOIN_TOKENS`]).
    pub async fn join_tokens(&self) -> Result<Vec<JoinToken>, StoreError> {
        let backend = self.database().backend();
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, {} AS now_unix_ms FROM join_tokens \
             ORDER BY created_unix_ms DESC, id LIMIT $1",
            now_expr(backend)
        ))
        .bind(MAX_JOIN_TOKENS)
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| read_error("reading the join tokens", e))?;
        rows.iter()
            .map(|row| {
                let now = row.try_get("now_unix_ms")?;
                token(row, now)
            })
            .collect::<Result<_, _>>()
            .map_err(|e| read_error("reading the join tokens", e))
    }
}

#[cfg(test)]
#[path = "join_tokens_tests.rs"]
pub(crate) mod tests;
