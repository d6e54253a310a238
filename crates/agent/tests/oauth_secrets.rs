//! Issue 7: secrets never leave the agent. The real agent binary runs at trace log level
//! with a `[[mailbox]]` whose refresh token and client secret are real (for testlab's token
//! endpoint), streams to a collector (in this process, real port, real SQLite file, its logs
//! at trace into a file), and then the agent's stderr, the collector's log, every spool file
//! and the collector's database (main file and WAL) are searched, as raw bytes, for the
//! refresh token, every rotated refresh token, the client secret and any access token.
//! None may be there, while the OAuth results must be (so the test cannot pass vacuously).
//! SMTP AUTH is off on the mailbox, so the change requests the collector generates from the
//! gaps (the tenant admin's PowerShell among them) hold something, and are searched too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use e2e::{eventually, Collector};
use eceprobe_proto::v1::{ChangeRequestRequest, CheckHistoryRequest, Outcome};
use eceprobe_testlab::{LabConfig, OAuthConfig, SmtpAuth, Testlab, LAB_CLIENT_ID};

const MAILBOX: &str = "ece-mail@contoso.com";
const AGENT: &str = "svc-oauth";
/// Every refresh token testlab rotates in starts with this.
const LAB_ROTATED_PREFIX: &str = "lab-rt-";

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos:x}-{}", std::process::id())
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn private_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    chmod(path, 0o600);
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The header segment every lab access token starts with (its JWT header, base64url).
fn lab_jwt_header() -> String {
    let header = serde_json::json!({"typ": "JWT", "alg": "HS256", "kid": "ecelab"});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header.to_string())
}

/// The agent's `[[mailbox]]` configuration, the lab's token endpoint as Microsoft's.
fn agent_toml(rt: &Path, cs: &Path) -> String {
    format!(
        "tenant = \"contoso.com\"\n\n[[mailbox]]\naddress = \"{MAILBOX}\"\nclient_id = \"{LAB_CLIENT_ID}\"\nclient_secret_file = \"{}\"\nrefresh_token_file = \"{}\"\nprotocols = [\"imap\", \"pop3\", \"smtp\"]\n",
        cs.display(),
        rt.display()
    )
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_logs_spool_wire_or_database() {
    let refresh_token = unique("0.AXEA-test-refresh-token");
    let client_secret = unique("Cs8Q~test-client-secret");
    let mut oauth = OAuthConfig::healthy(MAILBOX);
    oauth.client_secret = Some(client_secret.clone());
    oauth.accounts[0].refresh_token = refresh_token.clone();
    oauth.accounts[0].mailbox.smtp_auth = SmtpAuth::DisabledForMailbox;
    let lab = Testlab::start(LabConfig::healthy().oauth(oauth))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();

    // The collector's log: everything it says at trace level, in a file.
    let collector_log = dir.path().join("collector.log");
    let log_file = std::fs::File::create(&collector_log).unwrap();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "eceprobe_collector=trace,eceprobe_proto=trace,tonic=trace,warn",
        ))
        .with_writer(std::sync::Mutex::new(log_file))
        .with_ansi(false)
        .try_init()
        .unwrap();
    let db = dir.path().join("collector.db");
    let collector = Collector::start(&db, "127.0.0.1:0".parse().unwrap(), None).await;

    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let rt_file = secrets.join("ece-mail.refresh");
    let cs_file = secrets.join("app.secret");
    private_file(&rt_file, &format!("{refresh_token}\n"));
    private_file(&cs_file, &format!("  {client_secret}  \n"));
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, agent_toml(&rt_file, &cs_file)).unwrap();

    let spool = dir.path().join("spool");
    let agent_log = dir.path().join("agent.log");
    let mut args = lab.agent_check_args(&ca);
    args[0] = "run".into();
    args.extend([
        "--config".to_string(),
        config.display().to_string(),
        "--collector".to_string(),
        format!("http://{}", collector.addr),
        "--plaintext".to_string(),
        "--agent-id".to_string(),
        AGENT.to_string(),
        "--role".to_string(),
        "services".to_string(),
        "--deployment".to_string(),
        "prod".to_string(),
        "--interval".to_string(),
        "5".to_string(),
        "--spool-dir".to_string(),
        spool.display().to_string(),
    ]);
    let mut agent = tokio::process::Command::new(env!("CARGO_BIN_EXE_eceprobe-agent"))
        .arg("--log-level")
        .arg("trace")
        .args(&args)
        .env("ECEPROBE_LOG", "trace")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&agent_log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // Two cycles: the second one refreshes with the token the first one rotated in.
    let token_check = format!("oauth-token/{MAILBOX}");
    eventually(60, "two passing oauth-token results", || async {
        let results = collector
            .query()
            .await
            .check_history(CheckHistoryRequest {
                agent_id: AGENT.into(),
                check: token_check.clone(),
                limit: 100,
            })
            .await
            .map(|r| r.into_inner().results)
            .map_err(|e| format!("{e:?}"))?;
        let passed = results
            .iter()
            .filter(|r| r.outcome == Outcome::Pass as i32)
            .count();
        match passed >= 2 {
            true => Ok(()),
            false => Err(format!("{} results, {passed} passed", results.len())),
        }
    })
    .await;
    // Stopped as the service manager stops it.
    let pid = agent.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = tokio::time::timeout(std::time::Duration::from_secs(10), agent.wait())
        .await
        .expect("the agent stops within 10 s of SIGTERM")
        .unwrap();
    let log = std::fs::read_to_string(&agent_log).unwrap();
    assert_eq!(exit.code(), Some(0), "{log}");

    // The results arrived: the OAuth rows per mailbox, with their non-secret claims.
    let mut query = collector.query().await;
    for check in ["oauth-token", "oauth-imap", "oauth-pop3", "oauth-smtp"] {
        let name = format!("{check}/{MAILBOX}");
        let results = query
            .check_history(CheckHistoryRequest {
                agent_id: AGENT.into(),
                check: name.clone(),
                limit: 100,
            })
            .await
            .unwrap()
            .into_inner()
            .results;
        assert!(!results.is_empty(), "no {name} results\n{log}");
        let last = results.iter().max_by_key(|r| r.seq).unwrap();
        // SMTP AUTH is off on the mailbox: its login is refused, the others pass.
        let expected = match check {
            "oauth-smtp" => Outcome::Fail,
            _ => Outcome::Pass,
        };
        assert_eq!(last.outcome, expected as i32, "{name}: {last:#?}");
        assert_eq!(last.check, name);
    }
    let token = query
        .check_history(CheckHistoryRequest {
            agent_id: AGENT.into(),
            check: token_check.clone(),
            limit: 1,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    let info = token
        .first()
        .and_then(|r| r.oauth.as_ref())
        .expect("the token result carries its OAuthInfo");
    assert_eq!(info.mailbox, MAILBOX);
    assert_eq!(info.grant, "refresh_token");
    assert_eq!(info.token_user, MAILBOX);
    assert_eq!(info.token_lifetime_s, 3600);
    assert!(info
        .token_scopes
        .iter()
        .any(|s| s == "IMAP.AccessAsUser.All"));
    assert!(info.refresh_token_issued);
    assert!(lab.issued_tokens() >= 2);

    // The rotated refresh token was written back, privately, and used.
    let rotated = std::fs::read_to_string(&rt_file).unwrap().trim().to_owned();
    assert!(
        rotated.starts_with(LAB_ROTATED_PREFIX),
        "the rotated token replaced the configured one"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&rt_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(log.contains("rotated refresh token saved"), "{log}");
    assert!(log.contains("TRACE"), "the agent logged at trace level");

    // Now search everything the secrets could have leaked into.
    let mut places: Vec<(String, Vec<u8>)> = vec![
        ("agent stderr".into(), log.clone().into_bytes()),
        (
            "collector log".into(),
            std::fs::read(&collector_log).unwrap(),
        ),
    ];
    let spool_files = files_under(&spool);
    assert!(!spool_files.is_empty(), "the agent spooled");
    for f in spool_files {
        places.push((f.display().to_string(), std::fs::read(&f).unwrap()));
    }
    // The database while the collector runs (WAL included), then after it closed.
    let read_db = |places: &mut Vec<(String, Vec<u8>)>, when: &str| {
        for suffix in ["", "-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{suffix}", db.display()));
            if let Ok(bytes) = std::fs::read(&p) {
                places.push((format!("{} ({when})", p.display()), bytes));
            }
        }
    };
    read_db(&mut places, "running");
    // The change requests of every team, once the tracker has the SMTP gap open.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let ps1 = loop {
        let answer = query
            .change_request(ChangeRequestRequest {
                deployment: "prod".into(),
                owner: "m365".into(),
                format: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        if answer.items > 0 {
            break answer.document;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no m365 change request within 20 s:\n{}",
            answer.document
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(
        ps1.contains(&format!(
            "Set-CASMailbox -Identity '{MAILBOX}' -SmtpClientAuthenticationDisabled $false"
        )),
        "{ps1}"
    );
    places.push(("the m365 change request".into(), ps1.into_bytes()));
    for (owner, format) in [("network", "csv"), ("network", "md"), ("ece", "md")] {
        let doc = query
            .change_request(ChangeRequestRequest {
                deployment: "prod".into(),
                owner: owner.into(),
                format: format.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .document;
        places.push((
            format!("the {owner} change request ({format})"),
            doc.into_bytes(),
        ));
    }
    collector.crash().await;
    read_db(&mut places, "closed");
    let db_bytes: Vec<u8> = places
        .iter()
        .filter(|(name, _)| name.contains("collector.db"))
        .flat_map(|(_, b)| b.clone())
        .collect();
    assert!(
        find(&db_bytes, format!("oauth-imap/{MAILBOX}").as_bytes()),
        "the database holds the OAuth results"
    );

    let header = lab_jwt_header();
    assert!(header.starts_with("eyJ"));
    let needles: Vec<(&str, String)> = vec![
        ("the configured refresh token", refresh_token.clone()),
        ("the rotated refresh token", rotated.clone()),
        ("a rotated refresh token", LAB_ROTATED_PREFIX.to_string()),
        ("the client secret", client_secret.clone()),
        ("an access token (lab JWT header)", header),
    ];
    for (place, bytes) in &places {
        for (what, needle) in &needles {
            assert!(!find(bytes, needle.as_bytes()), "{what} found in {place}");
        }
    }
    // Text logs and the change requests: no JWT of any kind.
    for (place, bytes) in places
        .iter()
        .filter(|(name, _)| !name.contains("spool") && !name.contains("collector.db"))
    {
        assert!(!find(bytes, b"eyJ"), "a JWT-looking string in {place}");
    }
    lab.shutdown().await;
}

#[cfg(unix)]
#[test]
fn a_refresh_token_file_others_can_read_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let rt = dir.path().join("ece-mail.refresh");
    std::fs::write(&rt, "0.AXEA-never-printed\n").unwrap();
    chmod(&rt, 0o644);
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "tenant = \"contoso.com\"\n[[mailbox]]\naddress = \"{MAILBOX}\"\nclient_id = \"{LAB_CLIENT_ID}\"\nrefresh_token_file = \"ece-mail.refresh\"\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eceprobe-agent"))
        .args(["--log-level", "trace", "check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // Relative to the configuration file, named in full, with the fix.
    assert!(
        stderr.contains(&format!("chmod 600 {}", rt.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("mailbox[ece-mail@contoso.com].refresh_token_file"),
        "{stderr}"
    );
    assert!(!stderr.contains("0.AXEA-never-printed"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// `check` with a `[[mailbox]]`: the OAuth rows after the others, what the token says, the
/// JSON, and exit code 1 when the token endpoint refuses (with the fix in "What to do").
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn check_shows_the_mailbox_rows_and_fails_on_a_refusal() {
    use eceprobe_testlab::TokenFault;
    let client_secret = unique("Cs8Q~check-secret");
    let refresh_token = unique("0.AXEA-check-refresh");
    for fault in [None, Some(TokenFault::aadsts(70008))] {
        let mut oauth = OAuthConfig::healthy(MAILBOX);
        oauth.client_secret = Some(client_secret.clone());
        oauth.accounts[0].refresh_token = refresh_token.clone();
        oauth.token_fault = fault.clone();
        let lab = Testlab::start(LabConfig::healthy().oauth(oauth))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
        let rt_file = dir.path().join("rt");
        let cs_file = dir.path().join("cs");
        private_file(&rt_file, &refresh_token);
        private_file(&cs_file, &client_secret);
        let config = dir.path().join("agent.toml");
        std::fs::write(&config, agent_toml(&rt_file, &cs_file)).unwrap();
        for json in [false, true] {
            let mut args = lab.agent_check_args(&ca);
            args.extend(["--config".into(), config.display().to_string()]);
            args.extend(["--mailbox".into(), MAILBOX.to_uppercase()]);
            if json {
                args.push("--json".into());
            }
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_eceprobe-agent"))
                .args(&args)
                .env("ECEPROBE_LOG", "trace")
                .output()
                .await
                .unwrap();
            let stdout = String::from_utf8(out.stdout).unwrap();
            let stderr = String::from_utf8(out.stderr).unwrap();
            for text in [&stdout, &stderr] {
                assert!(!text.contains(&refresh_token) && !text.contains(&client_secret));
                assert!(!text.contains("lab-rt-") && !text.contains("eyJ"), "{text}");
            }
            let expected = if fault.is_some() { 1 } else { 0 };
            assert_eq!(out.status.code(), Some(expected), "{stdout}\n{stderr}");
            if json {
                let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                let checks = doc["report"]["checks"].as_array().unwrap();
                let oauth: Vec<_> = checks.iter().filter(|c| c["oauth"].is_object()).collect();
                assert!(!oauth.is_empty(), "{stdout}");
                assert_eq!(oauth[0]["check"], "oauth-token");
                assert_eq!(oauth[0]["oauth"]["mailbox"], MAILBOX);
                continue;
            }
            let rows: Vec<&str> = stdout.lines().collect();
            let first_oauth = rows.iter().position(|l| l.starts_with("oauth-")).unwrap();
            let last_other = rows
                .iter()
                .rposition(|l| {
                    ["login-https", "imap ", "smtp ", "ece-url"]
                        .iter()
                        .any(|c| l.starts_with(c))
                })
                .unwrap();
            assert!(first_oauth > last_other, "OAuth rows come last:\n{stdout}");
            if fault.is_none() {
                let token_row = rows[first_oauth];
                assert!(token_row.starts_with("oauth-token"), "{stdout}");
                assert!(token_row.contains(MAILBOX), "{stdout}");
                assert!(
                    token_row.contains(&format!("token user {MAILBOX}")),
                    "{stdout}"
                );
                assert!(token_row.contains("lifetime 3600 s"), "{stdout}");
                for p in ["oauth-imap", "oauth-pop3", "oauth-smtp"] {
                    let row = rows.iter().find(|l| l.starts_with(p)).expect(p);
                    assert!(
                        row.contains("PASS") && row.contains("XOAUTH2 login OK"),
                        "{row}"
                    );
                }
                // The rotated refresh token replaced the configured one.
                let now = std::fs::read_to_string(&rt_file).unwrap();
                assert!(now.starts_with(LAB_ROTATED_PREFIX));
                private_file(&rt_file, &refresh_token);
            } else {
                assert!(stdout.contains("oauth_refresh_token_expired"), "{stdout}");
                assert!(
                    stdout.contains(&format!(
                        "oauth-token {MAILBOX} (oauth_refresh_token_expired)"
                    )),
                    "the fix names the mailbox:\n{stdout}"
                );
            }
        }
        lab.shutdown().await;
    }
}
