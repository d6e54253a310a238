//! `eceprobe-agent check --report FILE`: the real binary against testlab with three kinds of
//! failure (IMAP's port refused at tcp, POP3's certificate expired at tls, SMTP AUTH off on
//! the mailbox at the OAuth login) and a `[[mailbox]]` whose refresh token and client secret
//! are real for the lab's token endpoint. The HTML and the Markdown report each hold every
//! failure's kind, stage and fix as the same run's `--json` says them, the host, role,
//! cloud, addresses, the certificate chain and the agent's version; and neither holds, as
//! raw bytes, the refresh token, a rotated one, the client secret or an access token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use eceprobe_checks::{CheckId, ChecklistItem, FailureKind};
use eceprobe_testlab::{Endpoint, Fault, LabConfig, OAuthConfig, SmtpAuth, Testlab, LAB_CLIENT_ID};
use serde_json::Value;

const MAILBOX: &str = "ece-mail@contoso.com";
/// Every refresh token testlab rotates in starts with this.
const LAB_ROTATED_PREFIX: &str = "lab-rt-";

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos:x}-{}", std::process::id())
}

fn private_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// The header segment every lab access token starts with (its JWT header, base64url).
fn lab_jwt_header() -> String {
    let header = serde_json::json!({"typ": "JWT", "alg": "HS256", "kid": "ecelab"});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header.to_string())
}

/// Text as the HTML page escapes it.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Text as a Markdown table cell escapes it.
fn markdown(s: &str) -> String {
    s.replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

/// Runs `check --json --report FILE` and returns the JSON it printed and the report.
async fn check(args: &[String], report: &Path) -> (Value, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_eceprobe-agent"))
        .args(args)
        .arg("--json")
        .arg("--report")
        .arg(report)
        .output()
        .await
        .expect("the agent runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "failures exit 1\n{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = std::fs::read_to_string(report).unwrap_or_else(|e| panic!("{e}\n{stderr}"));
    (json, text)
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_run_is_reported_with_kinds_stages_and_fixes_and_no_secret() {
    let refresh_token = unique("0.AXEA-report-refresh-token");
    let client_secret = unique("Cs8Q~report-client-secret");
    let mut oauth = OAuthConfig::healthy(MAILBOX);
    oauth.client_secret = Some(client_secret.clone());
    oauth.accounts[0].refresh_token = refresh_token.clone();
    oauth.accounts[0].mailbox.smtp_auth = SmtpAuth::DisabledForMailbox;
    let config = LabConfig::healthy()
        .oauth(oauth)
        .fault(Endpoint::Imap, Fault::Refuse)
        .fault(Endpoint::Pop3, Fault::ExpiredCert);
    let lab = Testlab::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let rt_file = dir.path().join("ece-mail.refresh");
    let cs_file = dir.path().join("app.secret");
    private_file(&rt_file, &format!("{refresh_token}\n"));
    private_file(&cs_file, &format!("{client_secret}\n"));
    let agent_toml = dir.path().join("agent.toml");
    std::fs::write(
        &agent_toml,
        format!(
            "role = \"services\"\ntenant = \"contoso.com\"\n\n[[mailbox]]\naddress = \"{MAILBOX}\"\nclient_id = \"{LAB_CLIENT_ID}\"\nclient_secret_file = \"app.secret\"\nrefresh_token_file = \"ece-mail.refresh\"\n"
        ),
    )
    .unwrap();
    let mut args = lab.agent_check_args(&ca);
    args.extend(["--config".to_string(), agent_toml.display().to_string()]);

    for (name, escape) in [
        ("report.html", html as fn(&str) -> String),
        ("report.md", markdown),
    ] {
        let path = dir.path().join(name);
        let (json, text) = check(&args, &path).await;
        let checks = json["report"]["checks"].as_array().unwrap();
        // The run failed as the lab was set up: the report cannot pass vacuously.
        let failed: Vec<(&str, &str)> = checks
            .iter()
            .filter_map(|c| {
                let f = c["failure"].as_object()?;
                Some((f["kind"].as_str()?, f["stage"].as_str()?))
            })
            .collect();
        for expected in [
            ("tcp_refused", "tcp"),
            ("tls_expired", "tls"),
            ("smtp_auth_disabled_mailbox", "login"),
        ] {
            assert!(failed.contains(&expected), "{name}: {failed:?}");
        }
        // Every failure and warning: its kind, stage, owner and fix, as the run said them.
        for c in checks {
            for f in c["failure"].as_object().into_iter().chain(
                c["warnings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_object),
            ) {
                // The checklist items its kind breaks on this check, as the report names them.
                let kind: FailureKind = f["kind"].as_str().unwrap().parse().unwrap();
                let id: CheckId = c["check"].as_str().unwrap().parse().unwrap();
                let items = ChecklistItem::join_long(kind.items(id));
                assert!(text.contains(&escape(&items)), "{name}: no {items}");
                for key in ["kind", "stage", "owner", "hint"] {
                    let value = f[key].as_str().unwrap();
                    assert!(
                        text.contains(&escape(value)),
                        "{name}: no {key} {value:?}\n{text}"
                    );
                }
            }
        }
        // What it was run as, where, and the chain the expired certificate came in.
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        assert!(text.contains(&escape(&host)), "{name}: no host {host}");
        for fact in [
            "services",
            "global",
            concat!("eceprobe-agent ", env!("CARGO_PKG_VERSION")),
        ] {
            assert!(text.contains(fact), "{name}: no {fact}\n{text}");
        }
        let pop3 = checks.iter().find(|c| c["check"] == "pop3").unwrap();
        for a in pop3["attempts"].as_array().unwrap() {
            let address = a["address"].as_str().unwrap();
            assert!(text.contains(address), "{name}: no address {address}");
            for cert in a["tls"]["chain"].as_array().unwrap() {
                let sha = cert["sha256"].as_str().unwrap();
                assert!(text.contains(sha), "{name}: no certificate {sha}");
            }
        }
        // No secret, as raw bytes: the configured ones, any rotated refresh token (the file
        // holds the newest now), any access token.
        let rotated = std::fs::read_to_string(&rt_file).unwrap().trim().to_owned();
        for secret in [
            refresh_token.as_str(),
            client_secret.as_str(),
            rotated.as_str(),
            LAB_ROTATED_PREFIX,
            &lab_jwt_header(),
        ] {
            assert!(!text.contains(secret), "{name} holds a secret: {secret}");
        }
        if name.ends_with(".html") {
            // One self-contained page: nothing fetched, no script.
            assert!(text.starts_with("<!DOCTYPE html>"), "{text}");
            assert!(
                !text.contains("<script") && !text.contains("src="),
                "{text}"
            );
            assert!(text.contains("@media print"));
        } else {
            assert!(text.starts_with("# Connectivity check of "), "{text}");
        }
    }
}

/// A report file of another kind is refused before anything runs, naming the choices.
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_report_extension_is_refused_before_probing() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_eceprobe-agent"))
        .args([
            "check",
            "--no-java",
            "--only",
            "ece-config",
            "--ece-version",
            "12.6(1)",
        ])
        .arg("--report")
        .arg(dir.path().join("report.pdf"))
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("report.pdf") && stderr.contains(".html"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing ran");
}
