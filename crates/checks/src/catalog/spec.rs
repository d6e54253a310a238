//! A check ready to run: its host, port and dialog, built from the table for a cloud.

use super::{CheckId, CloudHosts, HostKind, Target};

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// Builds the catalog for a cloud: the table's network checks on the cloud's hosts, in the
/// table's order, with `ece-url` only when an External Application URL is given. `tenant`
/// is a tenant id or domain, or `common`.
pub fn catalog(hosts: &CloudHosts, tenant: &str, ece_url: Option<&str>) -> Vec<CheckSpec> {
    CheckId::ALL
        .into_iter()
        .filter_map(|id| match id.target() {
            Target {
                host: HostKind::EceUrl,
                ..
            } => ece_url.map(super::url::ece_url_spec),
            Target { host, port } => Some(CheckSpec {
                id,
                host: hosts.host(host)?.to_string(),
                port,
                dialog: id.dialog(tenant)?,
                invalid: None,
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::Cloud;
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
        assert_eq!(
            specs[1].dialog,
            Dialog::Https {
                path: "/".into(),
                expect: HttpExpect::AnyResponse
            }
        );
        let dialogs: Vec<_> = specs[2..].iter().map(|s| s.dialog.clone()).collect();
        assert_eq!(dialogs, [Dialog::Imap, Dialog::Pop3, Dialog::Smtp]);
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
