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
//! Secrets never leave the agent: they go from their file into a
//! [`Secret`](eceprobe_checks::Secret) (redacted in Debug and Display) and to Microsoft;
//! reports, logs, the spool and the wire carry verdicts and non-secret claims only.

use std::path::{Path, PathBuf};

use eceprobe_checks::{CloudHosts, Protocol};
use serde::Deserialize;

use crate::config_error::{invalid, ConfigError};
use crate::secret_file;

mod run;

pub use run::{probe, probe_all};

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

#[cfg(test)]
mod tests {
    use super::*;
    use eceprobe_checks::Cloud;

    pub(super) fn private(dir: &Path, name: &str, value: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, value).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        p
    }

    pub(super) fn parse(text: &str) -> Result<Vec<Mailbox>, String> {
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
}
