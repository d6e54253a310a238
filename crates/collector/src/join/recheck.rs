//! A join races `eceprobe-collector revoke`: the id (or the key) may be revoked after the
//! join was decided and before its certificate is in `issued.log`, and `revoke` lists only
//! what `issued.log` held when it ran, so the new certificate would stand. Hence, after
//! signing, the id's and the key's certificates are read again: any revoked since the join
//! began (other than those the join itself superseded) revokes the new certificate too,
//! and the agent is told so instead of getting it.

use std::collections::HashSet;
use std::path::Path;

use tonic::Status;

use crate::pki;
use crate::store::{IssuedCertificate, Revocation, Store};

/// The certificates among `certs` revoked now, in `revoked.txt` or the database.
pub(super) async fn revoked_now(
    store: &Store,
    certs: &[IssuedCertificate],
) -> Result<HashSet<String>, Status> {
    let shas: Vec<String> = certs.iter().map(|c| c.sha256.clone()).collect();
    let in_db = store
        .revoked_among(&shas)
        .await
        .map_err(|e| Status::unavailable(format!("the collector's database: {e}; try again")))?;
    Ok(certs
        .iter()
        .filter(|c| c.revoked_in_file)
        .map(|c| c.sha256.clone())
        .chain(in_db)
        .collect())
}

/// What the join saw revoked when it began; what it revoked itself; the id's and the key's
/// certificates now (the new one among them).
pub(super) struct Seen<'a> {
    pub before: &'a HashSet<String>,
    pub superseded: &'a [String],
    pub after: Vec<IssuedCertificate>,
}

/// Err (the new certificate revoked, in words) when the id or key was revoked meanwhile.
pub(super) async fn revoked_meanwhile(
    store: &Store,
    ca_dir: &Path,
    agent: &str,
    seen: Seen<'_>,
    new_sha256: &str,
) -> Result<(), Status> {
    let now = revoked_now(store, &seen.after).await?;
    let Some(cause) = seen.after.iter().find(|c| {
        now.contains(&c.sha256)
            && !seen.before.contains(&c.sha256)
            && !seen.superseded.contains(&c.sha256)
    }) else {
        return Ok(());
    };
    let new = new_sha256.to_ascii_lowercase();
    if !now.contains(&new) {
        if let Err(e) = pki::append_line(&ca_dir.join(pki::REVOKED), &format!("{new} {agent}")) {
            tracing::warn!(%agent, error = %e, "the certificate just issued could not be added to revoked.txt (it is revoked in the database): add it with `eceprobe-collector revoke`, or fix the file's permissions");
        }
        let revocation = Revocation {
            sha256: new.clone(),
            agent_id: agent.to_owned(),
            revoked_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        };
        store
            .record_revocations(vec![revocation])
            .await
            .map_err(|e| {
                Status::unavailable(format!(
                    "the collector's database: {e}; the certificate just issued to '{agent}' (SHA-256 {new}) is listed in revoked.txt only: run `eceprobe-collector revoke {agent}` again"
                ))
            })?;
    }
    tracing::warn!(%agent, revoked = %cause.sha256, issued = %new, "agent revoked while it joined: the certificate just issued is revoked too");
    Err(Status::permission_denied(format!(
        "agent id '{agent}' was revoked while it joined (certificate SHA-256 {} of agent '{}' is now on the revocation list), so the certificate just made for it is revoked too: it joins again only with a token made with `eceprobe-collector token create --allow-reenroll`, and with a new key (delete agent.key and agent.pem in the agent's tls_dir first)",
        cause.sha256,
        cause.agent_id.escape_default()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(sha: &str) -> IssuedCertificate {
        IssuedCertificate {
            agent_id: "svc-1".into(),
            sha256: sha.into(),
            key_sha256: Some("k1".into()),
            bundle: false,
            revoked_in_file: false,
            deployment: Some("prod".into()),
        }
    }

    #[tokio::test]
    async fn a_revocation_racing_the_join_revokes_what_it_issued() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).await.unwrap();
        let ca = dir.path().join("pki");
        std::fs::create_dir_all(&ca).unwrap();
        // Standing when the join began; revoked (by `revoke --db`) before it answered.
        let before = revoked_now(&store, &[cert("aa")]).await.unwrap();
        assert!(before.is_empty());
        let revoked = Revocation {
            sha256: "aa".into(),
            agent_id: "svc-1".into(),
            revoked_unix_ms: 1,
        };
        store.record_revocations(vec![revoked]).await.unwrap();
        let seen = |before| Seen {
            before,
            superseded: &[],
            after: vec![cert("aa"), cert("nn")],
        };
        let refused = revoked_meanwhile(&store, &ca, "svc-1", seen(&before), "nn")
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert!(
            refused.message().contains("was revoked while it joined")
                && refused.message().contains("--allow-reenroll"),
            "{}",
            refused.message()
        );
        assert_eq!(store.revoked_among(&["nn".into()]).await.unwrap(), ["nn"]);
        let listed = std::fs::read_to_string(ca.join(pki::REVOKED)).unwrap();
        assert!(listed.contains("nn svc-1"), "{listed}");
        // Revoked before the join began (or superseded by it): the join stands.
        let known: HashSet<String> = ["aa".to_string()].into();
        let other = Seen {
            after: vec![cert("aa"), cert("mm")],
            ..seen(&known)
        };
        revoked_meanwhile(&store, &ca, "svc-1", other, "mm")
            .await
            .unwrap();
        store.close().await;
    }
}
