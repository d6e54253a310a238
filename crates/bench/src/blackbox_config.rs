//! blackbox_exporter modules equivalent to our checks, and the target each probes.
//!
//! Every module verifies the lab's certificate against the lab CA for the real Microsoft host
//! name (`tls_config.server_name`), as our checks do through resolve overrides.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use eceprobe_checks::CheckId;
use eceprobe_testlab::Endpoint;

use crate::lab::LabInfo;

/// The lab endpoint a check probes.
pub fn endpoint_of(check: CheckId) -> Endpoint {
    match check {
        CheckId::LoginHttps | CheckId::OauthToken => Endpoint::Login,
        CheckId::OutlookHttps => Endpoint::OutlookHttps,
        CheckId::Imap | CheckId::OauthImap => Endpoint::Imap,
        CheckId::Pop3 | CheckId::OauthPop3 => Endpoint::Pop3,
        CheckId::Smtp | CheckId::OauthSmtp => Endpoint::Smtp,
        // ece-config and ece-java probe nothing; they are about ECE's own configuration.
        CheckId::EceUrl | CheckId::EceConfig | CheckId::EceJava => Endpoint::EceWeb,
    }
}

/// One module: its name is the check's id.
#[derive(Clone, Debug)]
pub struct Module {
    pub check: CheckId,
    /// The `target` query parameter: `ip:port`, or a URL for the http prober.
    pub target: String,
}

/// The modules (one per check, in catalog order) and the blackbox.yml text defining them.
pub fn modules(lab: &LabInfo, ca_file: &Path) -> Result<(Vec<Module>, String)> {
    let ca = ca_file.display().to_string().replace('\'', "''");
    let mut yml = String::from("modules:\n");
    let mut out = Vec::new();
    for check in CheckId::ALL {
        let (addr, host) = lab.endpoint(endpoint_of(check))?;
        let tls =
            format!("      tls_config:\n        ca_file: '{ca}'\n        server_name: '{host}'\n");
        let _ = writeln!(yml, "  {}:", check.as_str());
        let target = match check {
            // The OAuth checks are not in `CheckId::ALL` (they need credentials): never here.
            CheckId::Imap
            | CheckId::Pop3
            | CheckId::Smtp
            | CheckId::OauthImap
            | CheckId::OauthPop3
            | CheckId::OauthSmtp => {
                yml.push_str("    prober: tcp\n    timeout: 5s\n    tcp:\n");
                yml.push_str("      preferred_ip_protocol: ip4\n");
                yml.push_str(&tls);
                yml.push_str(tcp_dialog(check));
                addr.to_string()
            }
            // ece-config and ece-java are not in `CheckId::ALL` either (they probe nothing).
            CheckId::LoginHttps
            | CheckId::OutlookHttps
            | CheckId::EceUrl
            | CheckId::OauthToken
            | CheckId::EceConfig
            | CheckId::EceJava => {
                yml.push_str("    prober: http\n    timeout: 5s\n    http:\n");
                yml.push_str("      preferred_ip_protocol: ip4\n      method: GET\n");
                // Ours offers http/1.1 only (ALPN); so must theirs.
                yml.push_str("      enable_http2: false\n");
                let _ = writeln!(yml, "      headers:\n        Host: '{host}'");
                yml.push_str(&tls);
                yml.push_str(http_expect(check));
                let path = match check {
                    CheckId::LoginHttps => "/common/v2.0/.well-known/openid-configuration",
                    _ => "/",
                };
                format!("https://{addr}{path}")
            }
        };
        out.push(Module { check, target });
    }
    Ok((out, yml))
}

/// The query/response dialogs, as ours runs them. `send` gets a `\n` appended by the
/// exporter; the `\r` makes it CR LF.
fn tcp_dialog(check: CheckId) -> &'static str {
    match check {
        CheckId::Imap => concat!(
            "      tls: true\n",
            "      query_response:\n",
            "        - expect: '^\\* OK'\n",
            "        - send: \"a1 CAPABILITY\\r\"\n",
            "        - expect: 'AUTH=XOAUTH2'\n",
            "        - send: \"a2 LOGOUT\\r\"\n",
        ),
        CheckId::Pop3 => concat!(
            "      tls: true\n",
            "      query_response:\n",
            "        - expect: '^\\+OK'\n",
            "        - send: \"CAPA\\r\"\n",
            "        - expect: 'XOAUTH2'\n",
            "        - send: \"QUIT\\r\"\n",
        ),
        _ => concat!(
            "      query_response:\n",
            "        - expect: '^220 '\n",
            "        - send: \"EHLO bench\\r\"\n",
            "        - expect: '^250-STARTTLS'\n",
            "        - expect: '^250 '\n",
            "        - send: \"STARTTLS\\r\"\n",
            "        - expect: '^220'\n",
            "        - starttls: true\n",
            "        - send: \"EHLO bench\\r\"\n",
            "        - expect: 'XOAUTH2'\n",
            "        - send: \"QUIT\\r\"\n",
        ),
    }
}

/// What passes, as ours decides it.
fn http_expect(check: CheckId) -> &'static str {
    match check {
        CheckId::LoginHttps => concat!(
            "      valid_status_codes: [200]\n",
            "      fail_if_body_not_matches_regexp:\n",
            "        - 'token_endpoint'\n",
        ),
        CheckId::OutlookHttps => concat!(
            "      follow_redirects: false\n",
            "      valid_status_codes: [302]\n",
        ),
        // Ours takes any HTTP answer from the ECE web server; here: any 2xx or 3xx.
        _ => concat!(
            "      follow_redirects: false\n",
            "      valid_status_codes: [200, 201, 202, 203, 204, 206, 301, 302, 303, 307, 308]\n",
        ),
    }
}
