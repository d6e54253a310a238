//! One join decided (issue 19), in the writer's transaction: the token's secret, then the
//! key and the id against what the CA issued before (a revoked key never again; a revoked
//! id only with a token allowing re-enrollment; a retry of the join that enrolled the id
//! spends nothing), then the token's one conditional UPDATE, the enrolled key recorded, and
//! the earlier keys' certificates revoked with the same commit.

use sqlx::{AnyConnection, Row};

use super::join_tokens::{
    db_error, now_expr, token, IssuedCertificate, JoinRefusal, JoinRequest, Joined, COLUMNS,
};
use super::{read_error, Backend, Store, StoreError};

/// A free retry (same token, id and key) gets a certificate again at most so many times in
/// all: each is a line in `issued.log`, so an agent that keeps losing its `agent.pem` (or a
/// holder of its key and token) cannot grow the file without bound.
pub const MAX_CERTIFICATES_PER_KEY: usize = 3;

impl Store {
    /// Whether the token could allow this join, read only (no use spent, no write): what the
    /// collector checks before it reads its CA key and files, so a junk request costs one
    /// read of the database. `use_join_token` decides again, in the writer's transaction.
    pub async fn check_join_token(
        &self,
        token_id: &str,
        secret_sha256: &str,
        agent_id: &str,
        key_sha256: &str,
    ) -> Result<Result<(), JoinRefusal>, StoreError> {
        let now = now_expr(self.database().backend());
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, {now} AS now_unix_ms, \
             (SELECT COUNT(*) FROM enrolled_agents WHERE agent_id = $3 AND key_sha256 = $4 \
              AND token_id = $1) AS retry FROM join_tokens \
             WHERE id = $1 AND secret_sha256 = $2"
        ))
        .bind(token_id)
        .bind(secret_sha256)
        .bind(agent_id)
        .bind(key_sha256)
        .fetch_optional(&self.inner.reads)
        .await
        .map_err(|e| read_error("reading the join token", e))?;
        let Some(row) = row else {
            return Ok(Err(JoinRefusal::Unknown));
        };
        let read = |e| read_error("reading the join token", e);
        let now_unix_ms: i64 = row.try_get("now_unix_ms").map_err(read)?;
        let retry: i64 = row.try_get("retry").map_err(read)?;
        let t = token(&row, now_unix_ms).map_err(read)?;
        Ok(if t.revoked_unix_ms != 0 {
            Err(JoinRefusal::Revoked)
        } else if t.expires_unix_ms <= now_unix_ms {
            Err(JoinRefusal::Expired {
                expires_unix_ms: t.expires_unix_ms,
            })
        } else if t.uses >= t.max_uses && retry == 0 {
            Err(JoinRefusal::UsedUp {
                max_uses: t.max_uses,
            })
        } else {
            Ok(())
        })
    }

    /// Which of these certificates (SHA-256, lowercase hex) the database lists as revoked.
    pub async fn revoked_among(&self, sha256s: &[String]) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for sha in sha256s {
            let found: Option<String> =
                sqlx::query_scalar("SELECT sha256 FROM revoked_certificates WHERE sha256 = $1")
                    .bind(sha.to_ascii_lowercase())
                    .fetch_optional(&self.inner.reads)
                    .await
                    .map_err(|e| read_error("reading the revoked certificates", e))?;
            out.extend(found);
        }
        Ok(out)
    }
}

/// An issued certificate, and whether it is revoked (in `revoked.txt` or the database).
struct Known<'a> {
    cert: &'a IssuedCertificate,
    revoked: bool,
}

async fn known<'a>(
    conn: &mut AnyConnection,
    issued: &'a [IssuedCertificate],
) -> Result<Vec<Known<'a>>, StoreError> {
    let mut out = Vec::with_capacity(issued.len());
    for cert in issued {
        let in_db: Option<String> =
            sqlx::query_scalar("SELECT sha256 FROM revoked_certificates WHERE sha256 = $1")
                .bind(cert.sha256.to_ascii_lowercase())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_error("reading the revoked certificates"))?;
        out.push(Known {
            cert,
            revoked: cert.revoked_in_file || in_db.is_some(),
        });
    }
    Ok(out)
}

pub(super) async fn use_token(
    conn: &mut AnyConnection,
    r: &JoinRequest,
    backend: Backend,
) -> Result<Result<Joined, JoinRefusal>, StoreError> {
    let now = now_expr(backend);
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, {now} AS now_unix_ms FROM join_tokens \
         WHERE id = $1 AND secret_sha256 = $2"
    ))
    .bind(&r.token_id)
    .bind(&r.secret_sha256)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error("reading the join token"))?;
    let Some(row) = row else {
        return Ok(Err(JoinRefusal::Unknown));
    };
    let now_unix_ms: i64 = row
        .try_get("now_unix_ms")
        .map_err(db_error("reading the join token"))?;
    let t = token(&row, now_unix_ms).map_err(db_error("reading the join token"))?;
    let certs = known(conn, &r.issued).await?;
    // A key once revoked never gets a certificate again, whatever the token or the id.
    if let Some(k) = certs
        .iter()
        .find(|k| k.revoked && k.cert.key_sha256.as_deref() == Some(r.key_sha256.as_str()))
    {
        return Ok(Err(JoinRefusal::KeyRevoked {
            agent_id: k.cert.agent_id.clone(),
            cert_sha256: k.cert.sha256.clone(),
        }));
    }
    let enrolled: Option<(String, String)> =
        sqlx::query_as("SELECT key_sha256, token_id FROM enrolled_agents WHERE agent_id = $1")
            .bind(&r.agent_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error("reading the enrolled agents"))?;
    let ours: Vec<&Known<'_>> = certs
        .iter()
        .filter(|k| k.cert.agent_id == r.agent_id)
        .collect();
    // The reply of the join that enrolled this id with this key and this token was lost:
    // the agent asks again. Its certificate again, no use spent (a token still standing).
    if enrolled
        .as_ref()
        .is_some_and(|(key, token)| *key == r.key_sha256 && *token == r.token_id)
    {
        if t.revoked_unix_ms != 0 {
            return Ok(Err(JoinRefusal::Revoked));
        }
        if t.expires_unix_ms <= now_unix_ms {
            return Ok(Err(JoinRefusal::Expired {
                expires_unix_ms: t.expires_unix_ms,
            }));
        }
        let certificates = ours
            .iter()
            .filter(|k| k.cert.key_sha256.as_deref() == Some(r.key_sha256.as_str()))
            .count();
        if certificates >= MAX_CERTIFICATES_PER_KEY {
            return Ok(Err(JoinRefusal::RetriesSpent { certificates }));
        }
        return Ok(Ok(Joined {
            deployment: t.deployment,
            reenrolled: false,
            retry: true,
            superseded: Vec::new(),
        }));
    }
    // The id's deployment is its last joined certificate's: a token of another deployment
    // (re-enrollment allowed or not) would take the id from it and revoke its certificates.
    if let Some(current) = ours.iter().rev().find_map(|k| k.cert.deployment.as_ref()) {
        if *current != t.deployment {
            return Ok(Err(JoinRefusal::OtherDeployment {
                current: current.clone(),
                token: t.deployment,
            }));
        }
    }
    // The id's certificates of other keys (a bundle's, an earlier join's) still standing.
    let standing_other: Vec<&Known<'_>> = ours
        .iter()
        .copied()
        .filter(|k| !k.revoked && k.cert.key_sha256.as_deref() != Some(r.key_sha256.as_str()))
        .collect();
    let enrolled_key = enrolled.as_ref().map(|(key, _)| key.clone());
    if !t.allow_reenroll {
        if let Some(last) = ours.last().filter(|_| ours.iter().all(|k| k.revoked)) {
            return Ok(Err(JoinRefusal::AgentRevoked {
                cert_sha256: last.cert.sha256.clone(),
            }));
        }
        if let Some(key_sha256) = enrolled_key.as_ref().filter(|k| **k != r.key_sha256) {
            let key_sha256 = key_sha256.clone();
            return Ok(Err(JoinRefusal::AlreadyEnrolled { key_sha256 }));
        }
        if let Some(bundle) = standing_other.iter().find(|k| k.cert.bundle) {
            return Ok(Err(JoinRefusal::BundleEnrolled {
                cert_sha256: bundle.cert.sha256.clone(),
            }));
        }
    }
    let reenrolled = enrolled_key.as_ref().is_some_and(|k| *k != r.key_sha256)
        || !standing_other.is_empty()
        || !ours.is_empty() && ours.iter().all(|k| k.revoked);
    // The one decision: every condition is re-checked by the UPDATE itself, against the
    // row as it is now (another collector may have used it since the SELECT).
    let used = sqlx::query(&format!(
        "UPDATE join_tokens SET uses = uses + 1 \
         WHERE id = $1 AND secret_sha256 = $2 AND revoked_unix_ms = 0 \
         AND uses < max_uses AND expires_unix_ms > {now}"
    ))
    .bind(&r.token_id)
    .bind(&r.secret_sha256)
    .execute(&mut *conn)
    .await
    .map_err(db_error("using the join token"))?
    .rows_affected();
    if used == 0 {
        return refusal(conn, r, backend).await.map(Err);
    }
    // Another join may have enrolled the id with another key since the SELECT (two
    // collectors): then the row is left as it is, and the use is given back.
    let recorded = sqlx::query(&format!(
        "INSERT INTO enrolled_agents (agent_id, key_sha256, token_id, enrolled_unix_ms) \
         VALUES ($1, $2, $3, {now}) ON CONFLICT (agent_id) DO UPDATE SET \
         key_sha256 = excluded.key_sha256, token_id = excluded.token_id, \
         enrolled_unix_ms = excluded.enrolled_unix_ms \
         WHERE enrolled_agents.key_sha256 = excluded.key_sha256 OR $4 = 1"
    ))
    .bind(&r.agent_id)
    .bind(&r.key_sha256)
    .bind(&r.token_id)
    .bind(i64::from(t.allow_reenroll))
    .execute(&mut *conn)
    .await
    .map_err(db_error("recording the enrolled agent"))?
    .rows_affected();
    if recorded == 0 {
        sqlx::query("UPDATE join_tokens SET uses = uses - 1 WHERE id = $1")
            .bind(&r.token_id)
            .execute(&mut *conn)
            .await
            .map_err(db_error("giving back the join token's use"))?;
        let key_sha256: String =
            sqlx::query_scalar("SELECT key_sha256 FROM enrolled_agents WHERE agent_id = $1")
                .bind(&r.agent_id)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_error("reading the enrolled agents"))?;
        return Ok(Err(JoinRefusal::AlreadyEnrolled { key_sha256 }));
    }
    // Re-enrolled: the earlier keys' certificates are revoked with this same commit, so
    // every collector of the database refuses the old key from its next read of the list.
    let mut superseded = Vec::with_capacity(standing_other.len());
    for k in &standing_other {
        let sha256 = k.cert.sha256.to_ascii_lowercase();
        sqlx::query(&format!(
            "INSERT INTO revoked_certificates (sha256, agent_id, revoked_unix_ms) \
             VALUES ($1, $2, {now}) ON CONFLICT (sha256) DO NOTHING"
        ))
        .bind(&sha256)
        .bind(&r.agent_id)
        .execute(&mut *conn)
        .await
        .map_err(db_error(
            "revoking the re-enrolled agent's earlier certificate",
        ))?;
        superseded.push(sha256);
    }
    Ok(Ok(Joined {
        deployment: t.deployment,
        reenrolled,
        retry: false,
        superseded,
    }))
}

/// Why the UPDATE found no usable token, read after it (the row as it is now).
async fn refusal(
    conn: &mut AnyConnection,
    r: &JoinRequest,
    backend: Backend,
) -> Result<JoinRefusal, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, {} AS now_unix_ms FROM join_tokens WHERE id = $1",
        now_expr(backend)
    ))
    .bind(&r.token_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error("reading the join token"))?;
    let Some(row) = row else {
        return Ok(JoinRefusal::Unknown);
    };
    let now: i64 = row
        .try_get("now_unix_ms")
        .map_err(db_error("reading the join token"))?;
    let t = token(&row, now).map_err(db_error("reading the join token"))?;
    Ok(if t.revoked_unix_ms != 0 {
        JoinRefusal::Revoked
    } else if t.expires_unix_ms <= now {
        JoinRefusal::Expired {
            expires_unix_ms: t.expires_unix_ms,
        }
    } else {
        JoinRefusal::UsedUp {
            max_uses: t.max_uses,
        }
    })
}
