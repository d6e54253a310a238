//! `eceprobe-testlab mailbox-demo`: a mailbox's OAuth path through a real agent binary,
//! secret files included. It is how CI proves the Windows agent's DPAPI secret files under
//! Wine, and it runs the Linux agent the same way.
//!
//! 1. The lab serves a healthy tenant with one mailbox; its refresh token goes into a file
//!    in plain text, as an administrator would paste it.
//! 2. `eceprobe-agent secret check FILE` refuses it as it is, naming the fix;
//!    `eceprobe-agent secret protect FILE` (Windows: DPAPI for this machine; Unix: 0600).
//! 3. `eceprobe-agent check --only oauth-token --json` twice: the token grant and the
//!    XOAUTH2 logins must pass, and the second run reads the rotated refresh token the
//!    first one wrote back.
//! 4. The file must still be protected, and never hold a token in plain text on Windows.

use std::path::{Path, PathBuf};
use std::process::Output;

use anyhow::{bail, Context};
use eceprobe_testlab::oauth::{OAuthConfig, LAB_CLIENT_ID};
use eceprobe_testlab::{LabConfig, Testlab};

const MAILBOX: &str = "ece-mail@contoso.com";
/// What starts a DPAPI-protected secret file (the agent's `secret_file::PROTECTED_PREFIX`).
const PROTECTED_PREFIX: &str = "eceprobe-dpapi:v1:";
/// How every refresh token the lab rotates in starts (`oauth::authority`).
const ROTATED_PREFIX: &str = "lab-rt-";

pub async fn run(agent: PathBuf, via: Option<PathBuf>) -> anyhow::Result<u8> {
    let windows = agent
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("exe"));
    let oauth = OAuthConfig::healthy(MAILBOX);
    let first_token = oauth
        .accounts
        .first()
        .map(|a| a.refresh_token.clone())
        .context("the lab's tenant has no account")?;
    let lab = Testlab::start(LabConfig::healthy().oauth(oauth))
        .await
        .context("starting the lab")?;
    // A new directory of our own (create_dir fails on one that exists): it holds a token.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!("eceprobe-testlab-mailbox-{}-{nanos}", std::process::id());
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = steps(&lab, &dir, &agent, via.as_deref(), windows, &first_token).await;
    lab.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|()| 0)
}

async fn steps(
    lab: &Testlab,
    dir: &Path,
    agent: &Path,
    via: Option<&Path>,
    windows: bool,
    first_token: &str,
) -> anyhow::Result<()> {
    let (ca, _) = lab.write_ca_files(dir).context("writing the CA files")?;
    let rt = dir.join("ece-mail.refresh");
    std::fs::write(&rt, format!("{first_token}\n"))
        .with_context(|| format!("writing {}", rt.display()))?;
    // As an editor leaves it under the usual umask, whatever this process's umask is.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&rt, std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("chmod 644 {}", rt.display()))?;
    }
    let config = dir.join("agent.toml");
    let toml = format!(
        "tenant = \"contoso.com\"\n\n[[mailbox]]\naddress = \"{MAILBOX}\"\nclient_id = \"{LAB_CLIENT_ID}\"\nrefresh_token_file = {}\nprotocols = [\"imap\", \"pop3\", \"smtp\"]\n",
        toml_string(&rt)
    );
    std::fs::write(&config, toml).with_context(|| format!("writing {}", config.display()))?;

    println!(
        "testlab: a healthy tenant; {MAILBOX}'s refresh token in {} (plain text)",
        rt.display()
    );
    // As pasted, the agent refuses it (Windows: plain text; Unix: readable by others under
    // the usual umask) and says how to fix it.
    let refused = agent_output(
        agent,
        via,
        &["secret".into(), "check".into(), path_arg(&rt)],
    )
    .await?;
    let said = String::from_utf8_lossy(&refused.stderr);
    if refused.status.code() != Some(1) || !said.contains("secret protect") {
        bail!(
            "eceprobe-agent secret check accepted an unprotected file (exit {:?}): {said}",
            refused.status.code()
        );
    }
    print!("{said}");
    let protect = agent_output(
        agent,
        via,
        &["secret".into(), "protect".into(), path_arg(&rt)],
    )
    .await?;
    print!("{}", String::from_utf8_lossy(&protect.stdout));
    if !protect.status.success() {
        bail!(
            "eceprobe-agent secret protect failed: {}",
            String::from_utf8_lossy(&protect.stderr)
        );
    }
    expect_protected(&rt, windows, &[first_token.to_string()])?;

    let mut args = lab.agent_check_args(&ca);
    args.extend([
        "--config".into(),
        path_arg(&config),
        "--only".into(),
        "oauth-token".into(),
        "--json".into(),
    ]);
    let tokens = [first_token.to_string(), ROTATED_PREFIX.to_string()];
    for round in 1..=2 {
        let out = agent_output(agent, via, &args).await?;
        let verdicts = verdicts(&out).with_context(|| {
            format!(
                "run {round}: eceprobe-agent check printed no report; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        for (name, outcome) in &verdicts {
            println!("run {round}: {name}: {outcome}");
        }
        let expected = ["oauth-token", "oauth-imap", "oauth-pop3", "oauth-smtp"];
        for check in expected {
            if !verdicts
                .iter()
                .any(|(n, o)| n.starts_with(check) && o == "pass")
            {
                bail!(
                    "run {round}: {check} for {MAILBOX} did not pass; stderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        expect_protected(&rt, windows, &tokens)?;
    }
    println!(
        "mailbox-demo: the agent read its {} refresh token file, refreshed, logged in over IMAP, POP3 and SMTP, and wrote the rotated token back protected",
        if windows { "DPAPI-protected" } else { "owner-only" }
    );
    Ok(())
}

/// The file must be protected the platform's way and hold none of `tokens` in plain text
/// (Windows; on Unix the protection is the mode, checked by the agent itself).
fn expect_protected(path: &Path, windows: bool, tokens: &[String]) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if !windows {
        return Ok(());
    }
    if !text.trim_start().starts_with(PROTECTED_PREFIX) {
        bail!(
            "{} is not DPAPI-protected after the agent wrote it",
            path.display()
        );
    }
    if let Some(t) = tokens
        .iter()
        .find(|t| !t.is_empty() && text.contains(t.as_str()))
    {
        bail!(
            "{} holds a refresh token in plain text ({} characters)",
            path.display(),
            t.len()
        );
    }
    Ok(())
}

/// (check name, outcome) for every check of the `--json` report.
fn verdicts(out: &Output) -> Option<Vec<(String, String)>> {
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let checks = doc.get("report")?.get("checks")?.as_array()?;
    checks
        .iter()
        .map(|c| {
            let name = c
                .get("name")
                .or_else(|| c.get("check"))?
                .as_str()?
                .to_string();
            let outcome = c.get("outcome")?.as_str()?.to_string();
            Some((name, outcome))
        })
        .collect()
}

async fn agent_output(agent: &Path, via: Option<&Path>, args: &[String]) -> anyhow::Result<Output> {
    let mut command = match via {
        Some(runner) => {
            let mut c = tokio::process::Command::new(runner);
            c.arg(agent);
            c
        }
        None => tokio::process::Command::new(agent),
    };
    let run = command.args(args).kill_on_drop(true).output();
    // Five runs stay under the 600 s CI gives the whole demo, so it cleans up after itself.
    tokio::time::timeout(std::time::Duration::from_secs(100), run)
        .await
        .with_context(|| format!("{} did not finish within 100 s", agent.display()))?
        .with_context(|| format!("running {}", agent.display()))
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

/// A TOML basic string for a path (Windows paths have backslashes).
fn toml_string(p: &Path) -> String {
    serde_json::Value::from(p.display().to_string()).to_string()
}
