//! blackbox_exporter modules equivalent to our checks, and the target each probes.
//!
//! Every module verifies the lab's certificate against the lab CA for the real Microsoft host
//! name (`tls_config.server_name`), as our checks do through resolve overrides.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use eceprobe_checks::catalog::HttpExpect;
use eceprobe_checks::{CheckId, RowDialog};
use eceprobe_testlab::Endpoint;

use crate::lab::LabInfo;

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
        let endpoint = Endpoint::serving(check)
            .ok_or_else(|| anyhow!("the lab serves no endpoint for {check}"))?;
        let (addr, host) = lab.endpoint(endpoint)?;
        let tls =
            format!("      tls_config:\n        ca_file: '{ca}'\n        server_name: '{host}'\n");
        let _ = writeln!(yml, "  {}:", check.as_str());
        let target = match check.row_dialog() {
            RowDialog::Imap | RowDialog::Pop3 | RowDialog::Smtp => {
                yml.push_str("    prober: tcp\n    timeout: 5s\n    tcp:\n");
                yml.push_str("      preferred_ip_protocol: ip4\n");
                yml.push_str(&tls);
                yml.push_str(tcp_dialog(check.row_dialog()));
                addr.to_string()
            }
            RowDialog::Https { path, expect } => {
                yml.push_str("    prober: http\n    timeout: 5s\n    http:\n");
                yml.push_str("      preferred_ip_protocol: ip4\n      method: GET\n");
                // Ours offers http/1.1 only (ALPN); so must theirs.
                yml.push_str("      enable_http2: false\n");
                let _ = writeln!(yml, "      headers:\n        Host: '{host}'");
                yml.push_str(&tls);
                yml.push_str(http_expect(check, expect));
                let path = path.for_tenant("common").unwrap_or_else(|| "/".into());
                format!("https://{addr}{path}")
            }
            // A network check always has a dialog (the catalog's tests hold it).
            RowDialog::None => bail!("{check} has no dialog to give blackbox_exporter"),
        };
        out.push(Module { check, target });
    }
    Ok((out, yml))
}

/// The query/response dialogs, as ours runs them. `send` gets a `\n` appended by the
/// exporter; the `\r` makes it CR LF.
fn tcp_dialog(dialog: RowDialog) -> &'static str {
    match dialog {
        RowDialog::Imap => concat!(
            "      tls: true\n",
            "      query_response:\n",
            "        - expect: '^\\* OK'\n",
            "        - send: \"a1 CAPABILITY\\r\"\n",
            "        - expect: 'AUTH=XOAUTH2'\n",
            "        - send: \"a2 LOGOUT\\r\"\n",
        ),
        RowDialog::Pop3 => concat!(
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
fn http_expect(check: CheckId, expect: HttpExpect) -> &'static str {
    match (check, expect) {
        (_, HttpExpect::OpenidConfiguration) => concat!(
            "      valid_status_codes: [200]\n",
            "      fail_if_body_not_matches_regexp:\n",
            "        - 'token_endpoint'\n",
        ),
        // The lab's outlook answers 302 (as Microsoft's does).
        (CheckId::OutlookHttps, _) => concat!(
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;

    /// The modules as blackbox_exporter reads them, for a lab at fixed addresses.
    #[test]
    fn the_modules_are_the_catalogs_network_checks() {
        let endpoints: BTreeMap<String, (std::net::SocketAddr, String)> = Endpoint::ALL
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let addr = format!("127.0.0.{}:{}", i + 1, 40000 + i).parse().unwrap();
                let host = e.host(&eceprobe_testlab::Hostnames::default()).to_string();
                (e.name().to_string(), (addr, host))
            })
            .collect();
        let lab = LabInfo {
            resolve: vec![],
            endpoints,
            ca_pem_path: PathBuf::from("/lab/ca.pem"),
        };
        let (modules, yml) = modules(&lab, &lab.ca_pem_path).unwrap();
        let checks: Vec<CheckId> = modules.iter().map(|m| m.check).collect();
        assert_eq!(checks, CheckId::ALL);
        let expected = include_str!("../testdata/blackbox.yml");
        assert_eq!(yml, expected);
        let targets: Vec<&str> = modules.iter().map(|m| m.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "https://127.0.0.1:40000/common/v2.0/.well-known/openid-configuration",
                "https://127.0.0.2:40001/",
                "127.0.0.3:40002",
                "127.0.0.4:40003",
                "127.0.0.5:40004",
                "https://127.0.0.6:40005/",
            ]
        );
    }
}
