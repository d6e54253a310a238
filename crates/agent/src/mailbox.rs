//! Per-mailbox OAuth checks (issue 7): the `[[mailbox]]` tables of `agent.toml`, resolved
//! and validated, and one mailbox's run: its secrets read from their files (each run, so a
//! renewed file is picked up), the token and a login per protocol, and a rotated refresh
//! token written back so the agent's own token never expires by inactivity.
//!
//! ```toml
//! [[mailbox]]
//! address = "support@contoso.com"
//! client_id = "11111111-2222-3333-4444-555555555555"
//! client_secret_file = "/etc/eceprobe/secrets/app-secret"       # optional (confidential client)
//! refresh_token_file = "/etc/eceprobe/secrets/support.refresh"  # chmod 600
//! # tenant = "contoso.onmicrosoft.com"   # default: the top-level tenant
//! # grant = "refresh_token"              # or "client_credentials" (app-only)
//! # protocols = ["imap", "pop3", "smtp"]
//! # shared = true                        # a shared mailbox reached with FullAccess
//! # account = "ece-mail@contoso.com"     # the account holding that FullAccess
//! ```
//!
//! Secrets never leave the agent: they go from their file into a [`Secret`] (redacted in
//! Debug and Display) and to Microsoft; reports, logs, the spool and the wire carry
//! verdicts and non-secret claims only.

use std::path::{Path, PathBuf};

use eceprobe_checks::{
    CheckReport, CloudHosts, FailureKind, Grant, MailboxSpec, Prober, Protocol, Secret,
};
use serde::Deserialize;

use crate::config_error::{invalid, ConfigError};
use crate::secret_file::{self, SecretFileError};

/// One `[[mailbox]]` table as written. Unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxConfig {
    pub address: Option<String>,
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub refresh_token_file: Option<PathBuf>,
    pub grant: Option<String>,
    pub protocols: Option<Vec<String>>,
    pub shared: Option<bool>,
    pub account: Option<String>,
}

impl MailboxConfig {
    /// Relative secret paths are relative to the configuration file's directory.
    pub(crate) fn anchor_paths(&mut self, base: &Path) {
        for p in [&mut self.client_secret_file, &mut self.refresh_token_file]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

/// Which grant the agent runs for a mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantKind {
    /// Delegated, as ECE refreshes: needs `refresh_token_file`.
    RefreshToken,
    /// App-only: needs `client_secret_file` and a real tenant.
    ClientCredentials,
}

impl GrantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantKind::RefreshToken => "refresh_token",
            GrantKind::ClientCredentials => "client_credentials",
        }
    }
}

/// A validated mailbox: where its secrets are, not the secrets themselves.
#[derive(Clone, Debug)]
pub struct Mailbox {
    pub address: String,
    pub tenant: String,
    pub client_id: String,
    pub client_secret_file: Option<PathBuf>,
    pub refresh_token_file: Option<PathBuf>,
    pub grant: GrantKind,
    pub protocols: Vec<Protocol>,
    pub shared: bool,
    pub account: Option<String>,
    pub hosts: CloudHosts,
}

pub(crate) fn valid_tenant(t: &str) -> bool {
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// What the collector accepts in a check name (`oauth-imap/<mailbox>`, lower case): a local
/// part of letters, digits and `._%+-`, a domain of letters, digits, `.` and `-`, at most 254
/// characters. Anything else would get every batch of this agent refused.
fn valid_address(a: &str) -> bool {
    let Some((local, domain)) = a.split_once('@') else {
        return false;
    };
    a.len() <= 254
        && !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-'))
        && domain.contains('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
}

/// Validates the `[[mailbox]]` tables. `tenant` is the top-level tenant (the default);
/// the secret files are checked now (readable, private, not empty) so a mistake stops the
/// agent at start-up, and read again at each run.
pub fn resolve(
    tables: Vec<MailboxConfig>,
    tenant: &str,
    hosts: &CloudHosts,
) -> Result<Vec<Mailbox>, ConfigError> {
    let mut out: Vec<Mailbox> = Vec::new();
    for (i, t) in tables.into_iter().enumerate() {
        let Some(address) = t.address.map(|a| a.trim().to_owned()) else {
            return Err(invalid(
                format!("mailbox[{}].address", i + 1),
                "required: the mailbox's address, e.g. address = \"support@contoso.com\"",
            ));
        };
        if !valid_address(&address) {
            return Err(invalid(
                format!("mailbox[{}].address", i + 1),
                format!("'{address}' is not a mailbox address the collector accepts: letters, digits and ._%+- before the @, letters, digits, '.' and '-' after it (e.g. support@contoso.com)"),
            ));
        }
        let key = |k: &str| format!("mailbox[{address}].{k}");
        if out.iter().any(|m| m.address.eq_ignore_ascii_case(&address)) {
            return Err(invalid(
                key("address"),
                "configured twice: one [[mailbox]] table per mailbox",
            ));
        }
        let grant = match t.grant.as_deref() {
            None | Some("refresh_token") => GrantKind::RefreshToken,
            Some("client_credentials") => GrantKind::ClientCredentials,
            Some(other) => {
                return Err(invalid(
                    key("grant"),
                    format!("'{other}': use \"refresh_token\" (delegated, as ECE) or \"client_credentials\" (app-only)"),
                ))
            }
        };
        let tenant = t.tenant.unwrap_or_else(|| tenant.to_owned());
        if !valid_tenant(&tenant) {
            return Err(invalid(
                key("tenant"),
                format!("'{tenant}' is not a tenant id or domain (e.g. contoso.onmicrosoft.com or a GUID)"),
            ));
        }
        if grant == GrantKind::ClientCredentials
            && ["common", "organizations", "consumers"].contains(&tenant.as_str())
        {
            return Err(invalid(
                key("tenant"),
                format!("the client-credentials grant needs the tenant id or domain, not '{tenant}': set tenant here or at the top level"),
            ));
        }
        let client_id = t.client_id.unwrap_or_default();
        if client_id.is_empty() || client_id.contains(|c: char| c.is_whitespace() || c == '&') {
            return Err(invalid(
                key("client_id"),
                "required: the Application (client) ID of the app registration ECE uses",
            ));
        }
        let refresh_token_file = match (grant, t.refresh_token_file) {
            (GrantKind::RefreshToken, None) => {
                return Err(invalid(
                    key("refresh_token_file"),
                    "required with grant = \"refresh_token\": a file (chmod 600) holding a refresh token for the mailbox (or the account with FullAccess)",
                ))
            }
            (GrantKind::ClientCredentials, Some(_)) => {
                return Err(invalid(
                    key("refresh_token_file"),
                    "not used with grant = \"client_credentials\": remove it",
                ))
            }
            (_, file) => file,
        };
        if grant == GrantKind::ClientCredentials && t.client_secret_file.is_none() {
            return Err(invalid(
                key("client_secret_file"),
                "required with grant = \"client_credentials\": a file (chmod 600) holding the client secret's Value",
            ));
        }
        for (k, file) in [
            ("refresh_token_file", &refresh_token_file),
            ("client_secret_file", &t.client_secret_file),
        ] {
            if let Some(path) = file {
                secret_file::read(path).map_err(|e| invalid(key(k), e.to_string()))?;
            }
        }
        let mut protocols = Vec::new();
        for p in t
            .protocols
            .unwrap_or_else(|| vec!["imap".into(), "pop3".into(), "smtp".into()])
        {
            let protocol = match p.to_ascii_lowercase().as_str() {
                "imap" => Protocol::Imap,
                "pop3" | "pop" => Protocol::Pop3,
                "smtp" => Protocol::Smtp,
                _ => {
                    return Err(invalid(
                        key("protocols"),
                        format!("'{p}': use \"imap\", \"pop3\" and/or \"smtp\""),
                    ))
                }
            };
            if !protocols.contains(&protocol) {
                protocols.push(protocol);
            }
        }
        if protocols.is_empty() {
            return Err(invalid(
                key("protocols"),
                "empty: list the protocols ECE uses on this mailbox (\"imap\", \"pop3\", \"smtp\")",
            ));
        }
        let shared = t.shared.unwrap_or(false);
        let account = t.account.map(|a| a.trim().to_owned());
        if let Some(a) = &account {
            if !shared {
                return Err(invalid(
                    key("account"),
                    "is for a shared mailbox (the account holding FullAccess): set shared = true, or remove it",
                ));
            }
            if !valid_address(a) {
                return Err(invalid(
                    key("account"),
                    format!("'{a}' is not an account's address"),
                ));
            }
        }
        out.push(Mailbox {
            address,
            tenant,
            client_id,
            client_secret_file: t.client_secret_file,
            refresh_token_file,
            grant,
            protocols,
            shared,
            account,
            hosts: hosts.clone(),
        });
    }
    Ok(out)
}

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
    use eceprobe_checks::Cloud;

    fn private(dir: &Path, name: &str, value: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, value).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        p
    }

    fn parse(text: &str) -> Result<Vec<Mailbox>, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct F {
            mailbox: Vec<MailboxConfig>,
        }
        let f: F = toml::from_str(text).map_err(|e| e.to_string())?;
        resolve(f.mailbox, "contoso.com", &Cloud::Global.hosts()).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let rt = private(dir.path(), "rt", "0.AX-refresh\n");
        let cs = private(dir.path(), "cs", "s3cr3t");
        let rt = rt.display();
        let cs = cs.display();
        let ok = parse(&format!(
            "[[mailbox]]\naddress = \"Support@Contoso.com\"\nclient_id = \"app\"\nrefresh_token_file = \"{rt}\""
        ))
        .unwrap();
        assert_eq!(ok[0].tenant, "contoso.com");
        assert_eq!(ok[0].protocols, Protocol::ALL);
        assert_eq!(ok[0].grant, GrantKind::RefreshToken);
        let app = parse(&format!(
            "[[mailbox]]\naddress = \"a@contoso.com\"\nclient_id = \"app\"\ngrant = \"client_credentials\"\nclient_secret_file = \"{cs}\"\nprotocols = [\"imap\"]"
        ))
        .unwrap();
        assert_eq!(app[0].grant, GrantKind::ClientCredentials);
        assert_eq!(app[0].protocols, [Protocol::Imap]);

        let base = format!("[[mailbox]]\naddress = \"a@contoso.com\"\nclient_id = \"app\"\nrefresh_token_file = \"{rt}\"\n");
        let cases = [
            (format!("{base}colour = \"red\""), "colour"),
            ("[[mailbox]]\nclient_id = \"x\"".to_string(), "mailbox[1].address"),
            (format!("{base}grant = \"password\""), "mailbox[a@contoso.com].grant"),
            (format!("{base}protocols = [\"ews\"]"), "mailbox[a@contoso.com].protocols"),
            (format!("{base}protocols = []"), "mailbox[a@contoso.com].protocols"),
            (format!("{base}account = \"x@contoso.com\""), "mailbox[a@contoso.com].account"),
            (format!("{base}tenant = \"a/b\""), "mailbox[a@contoso.com].tenant"),
            (
                "[[mailbox]]\naddress = \"o'brien@contoso.com\"".to_string(),
                "mailbox[1].address",
            ),
            (format!("{base}{base}"), "configured twice"),
            (
                "[[mailbox]]\naddress = \"a@contoso.com\"\nclient_id = \"app\"".to_string(),
                "mailbox[a@contoso.com].refresh_token_file: required",
            ),
            (
                "[[mailbox]]\naddress = \"a@contoso.com\"\nclient_id = \"app\"\ngrant = \"client_credentials\"".to_string(),
                "mailbox[a@contoso.com].client_secret_file: required",
            ),
            (
                format!("[[mailbox]]\naddress = \"a@contoso.com\"\nclient_id = \"app\"\ngrant = \"client_credentials\"\nclient_secret_file = \"{cs}\"\ntenant = \"common\""),
                "mailbox[a@contoso.com].tenant",
            ),
            (
                format!("[[mailbox]]\naddress = \"a@contoso.com\"\nclient_id = \"app\"\nrefresh_token_file = \"{}/missing\"", dir.path().display()),
                "mailbox[a@contoso.com].refresh_token_file: cannot read",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(&text).unwrap_err();
            assert!(err.contains(expected), "{text:?} gave {err:?}");
            assert!(
                !err.contains("0.AX-refresh") && !err.contains("s3cr3t"),
                "{err}"
            );
        }
    }

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
