//! One mailbox's run: its secrets read, its checks, a rotated refresh token written back.

use std::path::Path;

use eceprobe_checks::{CheckReport, FailureKind, Grant, MailboxSpec, Prober, Secret};

use super::{GrantKind, Mailbox};
use crate::secret_file::{self, SecretFileError};

/// A secret file that could not be used at run time, and which kind of failure it makes.
struct Unusable {
    kind: FailureKind,
    error: SecretFileError,
}

impl Mailbox {
    /// The probe engine's spec, with the secrets read now. When a file cannot be used the
    /// spec is made unusable (no grant is sent) and the reason comes back.
    fn spec(&self) -> (MailboxSpec, Option<Unusable>) {
        let mut unusable = None;
        let client_secret = match &self.client_secret_file {
            None => None,
            Some(path) => match secret_file::read(path) {
                Ok(s) => Some(s),
                Err(error) => {
                    unusable = Some(Unusable {
                        kind: FailureKind::OauthClientSecretInvalid,
                        error,
                    });
                    None
                }
            },
        };
        let grant = match (&unusable, self.grant, &self.refresh_token_file) {
            // Without its secret a confidential client's grant is bound to fail: do not send it.
            (Some(_), _, _) | (None, GrantKind::ClientCredentials, _) => Grant::ClientCredentials,
            (None, GrantKind::RefreshToken, Some(path)) => match secret_file::read(path) {
                Ok(rt) => Grant::RefreshToken(rt),
                Err(error) => {
                    unusable = Some(Unusable {
                        kind: FailureKind::OauthRefreshTokenInvalid,
                        error,
                    });
                    Grant::RefreshToken(Secret::default())
                }
            },
            (None, GrantKind::RefreshToken, None) => Grant::RefreshToken(Secret::default()),
        };
        let mut spec = MailboxSpec::new(
            &self.address,
            self.hosts.clone(),
            &self.tenant,
            &self.client_id,
            grant,
        );
        spec.client_secret = client_secret;
        spec.protocols = self.protocols.clone();
        spec.shared = self.shared;
        spec.account = self.account.clone();
        (spec, unusable)
    }
}

/// The checks of every mailbox, one after the other (each runs its logins concurrently).
pub async fn probe_all(prober: &Prober, mailboxes: &[Mailbox]) -> Vec<CheckReport> {
    let mut out = Vec::new();
    for m in mailboxes {
        out.extend(probe(prober, m).await);
    }
    out
}

/// One mailbox's checks: `oauth-token`, then `oauth-imap` / `oauth-pop3` / `oauth-smtp`
/// when a token was granted. A rotated refresh token is written back to its file.
pub async fn probe(prober: &Prober, m: &Mailbox) -> Vec<CheckReport> {
    let (spec, unusable) = m.spec();
    let result = prober.oauth_mailbox(&spec).await;
    let mut token_report = result.token.report;
    if let Some(u) = unusable {
        tracing::error!(
            mailbox = %m.address,
            error = %u.error,
            "a secret file of this mailbox cannot be used; its OAuth checks fail"
        );
        if let Some(oauth) = token_report.oauth.as_mut() {
            oauth.grant = m.grant.as_str().to_owned();
        }
        match token_report.failure.as_mut() {
            Some(f) => {
                f.kind = u.kind;
                f.detail = u.error.to_string();
                f.hint = u.error.hint();
            }
            None => tracing::error!(mailbox = %m.address, "an unusable mailbox spec passed"),
        }
    }
    if let (GrantKind::RefreshToken, Some(path), Some(new)) = (
        m.grant,
        &m.refresh_token_file,
        result.token.token.and_then(|t| t.refresh_token),
    ) {
        persist_rotated(&m.address, path, new).await;
    }
    let mut reports = vec![token_report];
    reports.extend(result.logins);
    reports
}

/// Writes a rotated refresh token back (off the async thread). A failure is a warning: the
/// old token keeps working until it expires, and the check itself passed.
async fn persist_rotated(mailbox: &str, path: &Path, new: Secret) {
    let file = path.to_path_buf();
    let written = tokio::task::spawn_blocking(move || {
        let unchanged = secret_file::read(&file).is_ok_and(|old| old.expose() == new.expose());
        if unchanged {
            return Ok(false);
        }
        secret_file::write_atomic(&file, &new).map(|()| true)
    })
    .await;
    match written {
        Ok(Ok(true)) => tracing::debug!(
            mailbox,
            file = %path.display(),
            "rotated refresh token saved"
        ),
        Ok(Ok(false)) => {}
        Ok(Err(e)) => tracing::warn!(
            mailbox,
            file = %path.display(),
            error = %e,
            "cannot save the rotated refresh token; the old one is used until it expires"
        ),
        Err(e) => tracing::warn!(
            mailbox,
            error = %e,
            "saving the rotated refresh token failed"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::tests::{parse, private};

    #[test]
    fn an_unreadable_secret_at_run_time_makes_the_spec_unusable() {
        let dir = tempfile::tempdir().unwrap();
        let rt = private(dir.path(), "rt", "0.AX-refresh");
        let cs = private(dir.path(), "cs", "s3cr3t");
        let mut m = parse(&format!(
            "[[mailbox]]\naddress = \"a@contoso.com\"\nclient_id = \"app\"\nrefresh_token_file = \"{}\"\nclient_secret_file = \"{}\"",
            rt.display(),
            cs.display()
        ))
        .unwrap()
        .remove(0);
        let (spec, unusable) = m.spec();
        assert!(unusable.is_none());
        assert!(matches!(&spec.grant, Grant::RefreshToken(s) if s.expose() == "0.AX-refresh"));
        assert_eq!(
            spec.client_secret.as_ref().map(Secret::expose),
            Some("s3cr3t")
        );
        m.refresh_token_file = Some(dir.path().join("gone"));
        let (spec, unusable) = m.spec();
        assert!(matches!(&spec.grant, Grant::RefreshToken(s) if s.is_empty()));
        assert_eq!(
            unusable.unwrap().kind,
            FailureKind::OauthRefreshTokenInvalid
        );
        m.client_secret_file = Some(dir.path().join("gone"));
        let (spec, unusable) = m.spec();
        assert!(matches!(spec.grant, Grant::ClientCredentials));
        assert!(spec.client_secret.is_none());
        assert_eq!(
            unusable.unwrap().kind,
            FailureKind::OauthClientSecretInvalid
        );
    }
}
