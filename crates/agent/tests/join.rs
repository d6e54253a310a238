//! Enrollment with a join token, as an administrator does it: `ca init`, a token, then the
//! real agent binary joins over a real socket (`join`, or `run --join`) and streams. The
//! security cases: an expired, used-up or revoked token refused; a collector with another
//! CA refused by the agent; a second key for an enrolled id refused unless the token allows
//! re-enrollment; the token's secret in no log (the agent's stderr, the collector's tracing
//! output), not in the database file (its hash only) and not in the agent's files (its
//! line in agent.toml is a comment once joined). The review's cases (a revoked agent, the
//! old key of a re-enrolled one, a retry after a lost reply, the token's deployment, a
//! collector that cannot sign) are in `join_review.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;
mod join_common;

use std::sync::{Arc, Mutex};

use e2e::{eventually, Agent, Collector};
use eceprobe_collector::auth::AgentTls;
use eceprobe_collector::store::Store;
use eceprobe_collector::{join, pki};
use eceprobe_testlab::{LabConfig, Testlab};
use join_common::{contains, files, join_once, secret_of, token, NAME};

/// The collector's tracing output (in this process), for the leak check.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> Captured {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    captured
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_joins_with_a_token_streams_and_the_token_leaks_nowhere() {
    let logs = capture_logs();
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let pki_dir = dir.path().join("pki");
    pki::init(&pki_dir, &[NAME.to_string(), "127.0.0.1".to_string()]).unwrap();
    let db = dir.path().join("collector.db");
    let tls = AgentTls::load(&pki_dir).unwrap();
    let collector = Collector::start(&db, "127.0.0.1:0".parse().unwrap(), Some(tls)).await;
    let addr = collector.addr;

    // A collector with another CA: the agent refuses it before sending the token.
    let other_pki = dir.path().join("other-pki");
    pki::init(&other_pki, &[NAME.to_string(), "127.0.0.1".to_string()]).unwrap();
    let other_db = dir.path().join("other.db");
    let other = Collector::start(
        &other_db,
        "127.0.0.1:0".parse().unwrap(),
        Some(AgentTls::load(&other_pki).unwrap()),
    )
    .await;
    let good = token(&db, &pki_dir, 2, false, 3_600_000).await;
    let ours = join::ca_fingerprint(&pki_dir).unwrap();
    let theirs = join::ca_fingerprint(&other_pki).unwrap();
    let stray = dir.path().join("tls-stray");
    let (code, out) = join_once(other.addr, &stray, "svc-join", &good).await;
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("refusing collector") && out.contains(&ours) && out.contains(&theirs),
        "{out}"
    );
    assert!(!stray.join("agent.pem").exists());

    // Refused tokens: expired, used up, revoked; each says so, nothing is written.
    let expired = token(&db, &pki_dir, 5, false, -1).await;
    let (code, out) = join_once(addr, &dir.path().join("tls-x"), "svc-x", &expired).await;
    assert!(code != 0 && out.contains("expired at"), "{out}");
    let once = token(&db, &pki_dir, 1, false, 3_600_000).await;
    let (code, out) = join_once(addr, &dir.path().join("tls-o1"), "svc-o1", &once).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = join_once(addr, &dir.path().join("tls-o2"), "svc-o2", &once).await;
    assert!(code != 0 && out.contains("is used up"), "{out}");
    assert!(!dir.path().join("tls-o2/agent.pem").exists());
    let revoked = token(&db, &pki_dir, 5, false, 3_600_000).await;
    let store = Store::open(&db).await.unwrap();
    let id = revoked.split('.').nth(1).unwrap();
    assert!(store.revoke_join_token(id).await.unwrap());
    store.close().await;
    let (code, out) = join_once(addr, &dir.path().join("tls-r"), "svc-r", &revoked).await;
    assert!(code != 0 && out.contains("was revoked"), "{out}");

    // The good token, in agent.toml as the MSI writes it: `run` joins, then streams its
    // results, and the token's line becomes a comment (every other byte kept).
    let tls_dir = dir.path().join("tls");
    let config = dir.path().join("agent.toml");
    let before = "# written by the installer\r\n[run]\r\n";
    let after = "\r\nspool_max_mb = 64 # kept\r\n";
    std::fs::write(&config, format!("{before}join = \"{good}\"{after}")).unwrap();
    let link = [
        "--collector".to_string(),
        format!("https://127.0.0.1:{}", addr.port()),
        "--tls-dir".to_string(),
        tls_dir.display().to_string(),
        "--config".to_string(),
        config.display().to_string(),
    ];
    let agent = Agent::start_with(
        &lab,
        &ca,
        &link,
        "svc-join",
        &dir.path().join("spool"),
        dir.path().join("agent.log"),
    );
    eventually(60, "results from the joined agent", || async {
        match collector.last_seq("svc-join").await {
            0 => Err(agent.log()),
            _ => Ok(()),
        }
    })
    .await;
    let agent_log = agent.stop().await;
    let rewritten = std::fs::read_to_string(&config).unwrap();
    let line = rewritten
        .strip_prefix(before)
        .and_then(|r| r.strip_suffix(after))
        .unwrap_or_else(|| panic!("more than the token's line changed: {rewritten:?}"));
    let good_id = good.split('.').nth(1).unwrap();
    assert!(
        line.starts_with("# join: used on ")
            && line.contains(&format!("(token id {good_id})"))
            && line.contains(&tls_dir.display().to_string()),
        "{line}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(tls_dir.join("agent.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(&tls_dir).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o700,
            "the directory the agent made for its key"
        );
    }
    // Restarted with the same flags: the bundle is there, the token is not used again.
    let (code, out) = join_once(addr, &tls_dir, "svc-join", &good).await;
    assert!(code == 0 && out.contains("already joined"), "{out}");

    // A second key for the enrolled id: refused, unless the token allows re-enrollment.
    let second = dir.path().join("tls-second");
    let (code, out) = join_once(addr, &second, "svc-join", &good).await;
    assert!(
        code != 0
            && out.contains("already enrolled with another key")
            && out.contains("--allow-reenroll"),
        "{out}"
    );
    let reenroll = token(&db, &pki_dir, 1, true, 3_600_000).await;
    let (code, out) = join_once(addr, &second, "svc-join", &reenroll).await;
    assert_eq!(code, 0, "{out}");
    assert!(second.join("agent.pem").exists());

    // Nowhere: not in the agents' logs or files, the collector's log, the database.
    let mut tokens = vec![good.clone(), expired, once, revoked, reenroll];
    tokens.sort();
    let collector_log = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(collector_log.contains("agent joined"), "{collector_log}");
    collector.crash().await;
    other.crash().await;
    let db_bytes: Vec<u8> = files(dir.path())
        .into_iter()
        .filter(|(p, _)| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("collector.db"))
        })
        .flat_map(|(_, b)| b)
        .collect();
    assert!(!db_bytes.is_empty());
    assert!(
        contains(&db_bytes, &join::secret_sha256(&secret_of(&good))),
        "the hash is stored"
    );
    for t in &tokens {
        let secret = secret_of(t);
        assert!(
            !agent_log.contains(&secret),
            "the secret in the agent's log"
        );
        assert!(
            !collector_log.contains(&secret),
            "the secret in the collector's log"
        );
        assert!(
            !contains(&db_bytes, &secret),
            "the secret in the database file"
        );
        for (path, bytes) in files(dir.path()) {
            if path.ends_with("agent.log") || path.to_string_lossy().contains("collector.db") {
                continue;
            }
            assert!(
                !contains(&bytes, &secret),
                "the secret in {}",
                path.display()
            );
        }
    }
    lab.shutdown().await;
}

#[path = "join_review/mod.rs"]
mod join_review;
