//! `eceprobe-agent token`: the real binary gets a refresh token from testlab's device code
//! flow (interval 1 s) and saves it only when the mailbox's own account signed in with the
//! scopes its protocols need.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

use eceprobe_testlab::{LabConfig, OAuthConfig, Testlab, LAB_CLIENT_ID};

const MAILBOX: &str = "ece-mail@contoso.com";
const OTHER: &str = "admin@contoso.com";

async fn agent(args: &[String]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_eceprobe-agent"))
        .args(args)
        .output()
        .await
        .expect("the agent runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `token --config agent.toml --mailbox MAILBOX` against the lab; returns the output and the
/// refresh token file's path.
async fn run_token(lab: &Testlab, dir: &Path, protocols: &str) -> (Output, std::path::PathBuf) {
    let (ca, _) = lab.write_ca_files(dir).unwrap();
    let rt = dir.join("ece-mail.refresh");
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "tenant = \"contoso.com\"\n\n[[mailbox]]\naddress = \"{MAILBOX}\"\nclient_id = \"{LAB_CLIENT_ID}\"\nrefresh_token_file = \"{}\"\nprotocols = {protocols}\n",
            rt.display()
        ),
    )
    .unwrap();
    let mut args = lab.agent_check_args(&ca);
    args[0] = "token".into();
    args.extend([
        "--config".to_string(),
        config.display().to_string(),
        "--mailbox".to_string(),
        MAILBOX.to_string(),
    ]);
    (agent(&args).await, rt)
}

fn lab_config(device_account: &str, other_lacks_smtp: bool) -> LabConfig {
    let mut oauth = OAuthConfig::healthy(MAILBOX);
    let mut other = eceprobe_testlab::Account::healthy(OTHER);
    if other_lacks_smtp {
        other.scopes.retain(|s| !s.ends_with("SMTP.Send"));
        oauth.accounts[0]
            .scopes
            .retain(|s| !s.ends_with("SMTP.Send"));
    }
    oauth.accounts.push(other);
    oauth.device_account = Some(device_account.to_string());
    LabConfig::healthy().oauth(oauth)
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_mailbox_itself_signs_in_and_the_token_is_saved_0600() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Testlab::start(lab_config(MAILBOX, false)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (out, rt) = run_token(&lab, dir.path(), "[\"imap\", \"pop3\", \"smtp\"]").await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("microsoft.com/devicelogin"), "{stdout}");
    assert!(stdout.contains("private"), "{stdout}");
    assert!(
        stdout.contains(&format!("Signed in as: {MAILBOX}")),
        "{stdout}"
    );
    assert!(stdout.contains("SMTP.Send"), "{stdout}");
    let saved = std::fs::read_to_string(&rt).unwrap();
    let token = saved.trim();
    assert!(!token.is_empty());
    assert!(!stdout.contains(token) && !stderr.contains(token));
    let mode = std::fs::metadata(&rt).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(stdout.contains(&rt.display().to_string()), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_account_is_refused_and_nothing_is_written() {
    let lab = Testlab::start(lab_config(OTHER, false)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (out, rt) = run_token(&lab, dir.path(), "[\"imap\", \"smtp\"]").await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("Signed in as: {OTHER}")),
        "{stdout}"
    );
    assert!(stderr.contains("REFUSED"), "{stderr}");
    assert!(stderr.contains("private"), "{stderr}");
    assert!(stderr.contains(MAILBOX), "{stderr}");
    assert!(!rt.exists(), "nothing may be written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_scope_is_refused() {
    let lab = Testlab::start(lab_config(MAILBOX, true)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (out, rt) = run_token(&lab, dir.path(), "[\"imap\", \"smtp\"]").await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("REFUSED"), "{stderr}");
    assert!(stderr.contains("private"), "{stderr}");
    assert!(!rt.exists(), "nothing may be written");
}
