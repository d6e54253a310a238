//! The check catalog: which endpoints ECE needs (DESIGN.md section 3), per cloud profile.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One check. [`CheckId::ALL`] is the network catalog every agent runs (and the
/// collector's default columns); the OAuth checks ([`CheckId::OAUTH`]) run only for
/// mailboxes configured with credentials, so they are known by name ([`FromStr`]) without
/// being part of `ALL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    LoginHttps,
    OutlookHttps,
    Imap,
    Pop3,
    Smtp,
    EceUrl,
    /// OAuth: the refresh-token (or client-credentials) grant and the token's claims.
    OauthToken,
    /// OAuth: an XOAUTH2 login to the mailbox over IMAP.
    OauthImap,
    /// OAuth: an XOAUTH2 login to the mailbox over POP3.
    OauthPop3,
    /// OAuth: an XOAUTH2 login to the mailbox over SMTP submission (no mail is sent).
    OauthSmtp,
    /// ECE's configuration from the declared facts (checklist C1-C3; see [`crate::ece`]):
    /// runs without network, only where a fact is declared.
    EceConfig,
    /// ECE's Java runtime (issue 14; see [`crate::java::verdict`]): its trust store against
    /// the roots Microsoft publishes, and the TLS it can speak. Runs without network, only
    /// where a Java runtime or trust store was found or configured.
    EceJava,
}

impl CheckId {
    pub const ALL: [CheckId; 6] = [
        CheckId::LoginHttps,
        CheckId::OutlookHttps,
        CheckId::Imap,
        CheckId::Pop3,
        CheckId::Smtp,
        CheckId::EceUrl,
    ];

    /// The OAuth checks: per mailbox, only where credentials are configured. Not in
    /// [`CheckId::ALL`], which drives the default catalog, policy and dashboard columns.
    pub const OAUTH: [CheckId; 4] = [
        CheckId::OauthToken,
        CheckId::OauthImap,
        CheckId::OauthPop3,
        CheckId::OauthSmtp,
    ];

    /// Every check id this version knows, for parsing names ([`FromStr`]).
    pub fn known() -> impl Iterator<Item = CheckId> {
        CheckId::ALL
            .into_iter()
            .chain(CheckId::OAUTH)
            .chain([CheckId::EceConfig, CheckId::EceJava])
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::LoginHttps => "login-https",
            CheckId::OutlookHttps => "outlook-https",
            CheckId::Imap => "imap",
            CheckId::Pop3 => "pop3",
            CheckId::Smtp => "smtp",
            CheckId::EceUrl => "ece-url",
            CheckId::OauthToken => "oauth-token",
            CheckId::OauthImap => "oauth-imap",
            CheckId::OauthPop3 => "oauth-pop3",
            CheckId::OauthSmtp => "oauth-smtp",
            CheckId::EceConfig => "ece-config",
            CheckId::EceJava => "ece-java",
        }
    }

    /// Whether the check talks to one of Microsoft's hosts (whose chains must end at
    /// Microsoft's roots), rather than ECE's own URL or no host at all.
    pub fn is_microsoft(self) -> bool {
        !matches!(
            self,
            CheckId::EceUrl | CheckId::EceConfig | CheckId::EceJava
        )
    }

    /// The ECE processes that need this endpoint on a server of this role (checklist C8).
    pub fn needed_by(self, role: Role) -> &'static str {
        match (self, role) {
            (CheckId::LoginHttps | CheckId::OauthToken, Role::Services) => {
                "token refresh on the services server (retriever, dispatcher)"
            }
            (CheckId::LoginHttps | CheckId::OauthToken, Role::Application) => {
                "token creation on the application server"
            }
            (CheckId::LoginHttps | CheckId::OauthToken, Role::Both) => "token creation and refresh",
            (CheckId::OutlookHttps, _) => "ECE's OAuth2 mail (the *.office365.com web endpoints)",
            (CheckId::Imap | CheckId::OauthImap, _) => "the retriever (incoming mail over IMAP)",
            (CheckId::Pop3 | CheckId::OauthPop3, _) => "the retriever (incoming mail over POP3)",
            (CheckId::Smtp | CheckId::OauthSmtp, Role::Services) => {
                "the dispatcher (outgoing mail)"
            }
            (CheckId::Smtp | CheckId::OauthSmtp, Role::Application) => {
                "alarm notifications sent by the application server"
            }
            (CheckId::Smtp | CheckId::OauthSmtp, Role::Both) => {
                "the dispatcher and alarm notifications"
            }
            (CheckId::EceUrl, _) => "the OAuth2 redirect back to ECE (External Application URL)",
            (CheckId::EceConfig, _) => {
                "ECE's OAuth2 mail setup (version, External Application URL, Azure app)"
            }
            (CheckId::EceJava, _) => {
                "every TLS connection ECE's Java makes to Microsoft 365 (retriever, dispatcher, token refresh)"
            }
        }
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CheckId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CheckId::known().find(|c| c.as_str() == s).ok_or_else(|| {
            let known: Vec<_> = CheckId::known().map(|c| c.as_str()).collect();
            format!("unknown check '{s}' (known: {})", known.join(", "))
        })
    }
}

/// The role of the ECE server the probe runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Services,
    Application,
    #[default]
    Both,
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "services" => Ok(Role::Services),
            "application" => Ok(Role::Application),
            "both" => Ok(Role::Both),
            _ => Err(format!(
                "unknown role '{s}' (use services, application or both)"
            )),
        }
    }
}

/// A Microsoft cloud, each with its own host names (M365-FACTS.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    #[default]
    Global,
    GccHigh,
    Dod,
    China,
}

impl FromStr for Cloud {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "global" => Ok(Cloud::Global),
            "gcc-high" => Ok(Cloud::GccHigh),
            "dod" => Ok(Cloud::Dod),
            "china" => Ok(Cloud::China),
            _ => Err(format!(
                "unknown cloud '{s}' (use global, gcc-high, dod or china)"
            )),
        }
    }
}

/// The host names of a cloud. Operators can override each one in the configuration, since
/// the sovereign mail host names come from third-party sources.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudHosts {
    pub login: String,
    pub outlook: String,
    pub smtp: String,
}

impl Cloud {
    pub fn hosts(self) -> CloudHosts {
        let (login, outlook, smtp) = match self {
            Cloud::Global => (
                "login.microsoftonline.com",
                "outlook.office365.com",
                "smtp.office365.com",
            ),
            Cloud::GccHigh => (
                "login.microsoftonline.us",
                "outlook.office365.us",
                "smtp.office365.us",
            ),
            Cloud::Dod => (
                "login.microsoftonline.us",
                "outlook-dod.office365.us",
                "outlook-dod.office365.us",
            ),
            Cloud::China => (
                "login.partner.microsoftonline.cn",
                "partner.outlook.cn",
                "smtp.partner.outlook.cn",
            ),
        };
        CloudHosts {
            login: login.into(),
            outlook: outlook.into(),
            smtp: smtp.into(),
        }
    }
}

/// The dialog a check runs once the transport is up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dialog {
    /// IMAP over implicit TLS: greeting + CAPABILITY with AUTH=XOAUTH2.
    Imap,
    /// POP3 over implicit TLS: greeting + CAPA with SASL XOAUTH2.
    Pop3,
    /// SMTP submission: greeting, EHLO, STARTTLS, TLS, EHLO with AUTH XOAUTH2.
    Smtp,
    /// HTTPS GET of `path`; `expect` says what passes.
    Https { path: String, expect: HttpExpect },
}

/// What an HTTPS check requires of the response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpExpect {
    /// Any HTTP response proves the path works.
    AnyResponse,
    /// 200 with an OpenID configuration JSON carrying `token_endpoint`.
    OpenidConfiguration,
}

/// One check, ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSpec {
    pub id: CheckId,
    pub host: String,
    pub port: u16,
    pub dialog: Dialog,
    /// Set when the spec cannot run as configured (e.g. an http:// ECE URL): the check fails
    /// at once with this kind and detail instead of probing.
    pub invalid: Option<(crate::FailureKind, String)>,
}

impl CheckSpec {
    pub fn target(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Builds the catalog for a cloud: the five Microsoft checks plus `ece-url` when an
/// External Application URL is given. `tenant` is a tenant id or domain, or `common`.
pub fn catalog(hosts: &CloudHosts, tenant: &str, ece_url: Option<&str>) -> Vec<CheckSpec> {
    let mut specs = vec![
        CheckSpec {
            id: CheckId::LoginHttps,
            host: hosts.login.clone(),
            port: 443,
            dialog: Dialog::Https {
                path: format!("/{tenant}/v2.0/.well-known/openid-configuration"),
                expect: HttpExpect::OpenidConfiguration,
            },
            invalid: None,
        },
        CheckSpec {
            id: CheckId::OutlookHttps,
            host: hosts.outlook.clone(),
            port: 443,
            dialog: Dialog::Https {
                path: "/".into(),
                expect: HttpExpect::AnyResponse,
            },
            invalid: None,
        },
        CheckSpec {
            id: CheckId::Imap,
            host: hosts.outlook.clone(),
            port: 993,
            dialog: Dialog::Imap,
            invalid: None,
        },
        CheckSpec {
            id: CheckId::Pop3,
            host: hosts.outlook.clone(),
            port: 995,
            dialog: Dialog::Pop3,
            invalid: None,
        },
        CheckSpec {
            id: CheckId::Smtp,
            host: hosts.smtp.clone(),
            port: 587,
            dialog: Dialog::Smtp,
            invalid: None,
        },
    ];
    if let Some(url) = ece_url {
        specs.push(ece_url_spec(url));
    }
    specs
}

/// The `ece-url` check for an External Application URL. A URL that is not https:// is a
/// finding (checklist C2), not a configuration error: the probe reports it.
fn ece_url_spec(url: &str) -> CheckSpec {
    let parsed = parse_https_url(url);
    let (host, port, path, invalid) = match parsed {
        Ok((host, port, path)) => (host, port, path, None),
        Err(UrlProblem::NotHttps { host, port, path }) => (
            host,
            port,
            path,
            Some((
                crate::FailureKind::EceUrlNotHttps,
                format!("External Application URL is '{url}'"),
            )),
        ),
    };
    CheckSpec {
        id: CheckId::EceUrl,
        host,
        port,
        dialog: Dialog::Https {
            path,
            expect: HttpExpect::AnyResponse,
        },
        invalid,
    }
}

enum UrlProblem {
    NotHttps {
        host: String,
        port: u16,
        path: String,
    },
}

/// Splits `scheme://host[:port][/path]`. Validation of the text itself (empty host, bad
/// port) happens in [`validate_ece_url`], which configuration loading calls first.
fn parse_https_url(url: &str) -> Result<(String, u16, String), UrlProblem> {
    let (https, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.eq_ignore_ascii_case("https"), rest),
        None => (false, url),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let default_port = if https { 443 } else { 80 };
    let (host, port) = split_host_port(authority).unwrap_or((authority.to_string(), None));
    let port = port.unwrap_or(default_port);
    if https {
        Ok((host, port, path))
    } else {
        Err(UrlProblem::NotHttps { host, port, path })
    }
}

/// Checks that an External Application URL is a URL with a host, so a typo is reported as
/// a configuration error naming the value rather than as a DNS failure.
pub fn validate_ece_url(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "'{url}' is not a URL: write it as ECE shows it, e.g. https://ece.example.com/"
        ));
    };
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return Err(format!("'{url}' has scheme '{scheme}': use https://"));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    match split_host_port(authority) {
        Some((host, _)) if !host.is_empty() => Ok(()),
        _ => Err(format!(
            "'{url}' has no valid host[:port] ('{authority}'): e.g. https://ece.example.com/"
        )),
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`. None when the port is not a number.
pub(crate) fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(p) => Some((host.to_string(), Some(p.parse().ok()?))),
            None if after.is_empty() => Some((host.to_string(), None)),
            None => None,
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), Some(p.parse().ok()?))),
        None => Some((s.to_string(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_catalog_has_the_checklist_ports() {
        let specs = catalog(&Cloud::Global.hosts(), "common", None);
        let got: Vec<_> = specs.iter().map(|s| (s.id, s.target())).collect();
        assert_eq!(
            got,
            vec![
                (
                    CheckId::LoginHttps,
                    "login.microsoftonline.com:443".to_string()
                ),
                (
                    CheckId::OutlookHttps,
                    "outlook.office365.com:443".to_string()
                ),
                (CheckId::Imap, "outlook.office365.com:993".to_string()),
                (CheckId::Pop3, "outlook.office365.com:995".to_string()),
                (CheckId::Smtp, "smtp.office365.com:587".to_string()),
            ]
        );
    }

    #[test]
    fn oauth_ids_parse_but_stay_out_of_the_default_catalog() {
        for id in CheckId::OAUTH {
            assert_eq!(id.as_str().parse::<CheckId>(), Ok(id));
            assert_eq!(
                serde_json::to_string(&id).unwrap(),
                format!("\"{}\"", id.as_str())
            );
            assert!(!CheckId::ALL.contains(&id));
        }
        let names: Vec<_> = CheckId::OAUTH.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            ["oauth-token", "oauth-imap", "oauth-pop3", "oauth-smtp"]
        );
        let specs = catalog(
            &Cloud::Global.hosts(),
            "common",
            Some("https://ece.example.com/"),
        );
        assert!(specs.iter().all(|s| CheckId::ALL.contains(&s.id)));
    }

    #[test]
    fn ece_url_parsing() {
        let specs = catalog(
            &Cloud::Global.hosts(),
            "contoso.com",
            Some("https://ece.example.com:8443/system"),
        );
        let ece = specs.last().unwrap();
        assert_eq!((ece.host.as_str(), ece.port), ("ece.example.com", 8443));
        assert_eq!(
            ece.dialog,
            Dialog::Https {
                path: "/system".into(),
                expect: HttpExpect::AnyResponse
            }
        );
        assert!(ece.invalid.is_none());
        let plain = ece_url_spec("http://ece.example.com/");
        assert_eq!(plain.port, 80);
        assert_eq!(plain.invalid.unwrap().0, crate::FailureKind::EceUrlNotHttps);
        assert!(validate_ece_url("ece.example.com").is_err());
        assert!(validate_ece_url("https://:443/").is_err());
        assert!(validate_ece_url("https://ece.example.com:x/").is_err());
        assert!(validate_ece_url("https://[::1]:8443/").is_ok());
    }

    #[test]
    fn login_path_carries_the_tenant() {
        let specs = catalog(&Cloud::GccHigh.hosts(), "contoso.onmicrosoft.us", None);
        assert_eq!(specs[0].host, "login.microsoftonline.us");
        assert_eq!(
            specs[0].dialog,
            Dialog::Https {
                path: "/contoso.onmicrosoft.us/v2.0/.well-known/openid-configuration".into(),
                expect: HttpExpect::OpenidConfiguration
            }
        );
    }
}
