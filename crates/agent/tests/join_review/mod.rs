//! The join's security review, case by case, through the real agent binary, a collector on
//! a real port and a real database file: a revoked agent comes back only with a token that
//! allows it and a new key; a re-enrolled agent's old key cannot connect; a retry after a
//! lost reply spends nothing; the token's deployment is the agent's; a collector that
//! cannot sign gives way to the next one of the list, a refused token stops; an agent whose
//! collector is down at its first start waits for it. The second review's cases are in
//! `security.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use eceprobe_collector::auth::AgentTls;
use eceprobe_collector::pki;
use eceprobe_collector::store::Store;
use tonic::Code;

use eceprobe_testlab::{LabConfig, Testlab};

use super::e2e::{eventually, Agent, Collector};
use super::join_common::{agent_join, hello, join_once, token, url, uses, NAME};

mod security;

/// A CA, and a collector serving with it on a real database file.
async fn collector(dir: &Path) -> (Collector, std::path::PathBuf, std::path::PathBuf) {
    let pki_dir = dir.join("pki");
    pki::init(&pki_dir, &[NAME.to_string(), "127.0.0.1".to_string()]).unwrap();
    let db = dir.join("collector.db");
    let tls = AgentTls::load(&pki_dir).unwrap();
    let c = Collector::start(&db, "127.0.0.1:0".parse().unwrap(), Some(tls)).await;
    (c, pki_dir, db)
}

const HOUR_MS: i64 = 3_600_000;

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_agent_comes_back_only_with_a_reenroll_token_and_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let (c, pki_dir, db) = collector(dir.path()).await;
    let plain = token(&db, &pki_dir, 10, false, HOUR_MS).await;
    let again = token(&db, &pki_dir, 10, true, HOUR_MS).await;
    let a = dir.path().join("tls-a");
    let (code, out) = join_once(c.addr, &a, "svc-r", &plain).await;
    assert_eq!(code, 0, "{out}");
    hello(c.addr, &a, "svc-r", "prod").await.unwrap();

    // `eceprobe-collector revoke svc-r`: refused, and told to get a new join token.
    pki::revoke_listing(&pki_dir, "svc-r").unwrap();
    let refused = hello(c.addr, &a, "svc-r", "prod").await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("is revoked")
            && refused.message().contains("token create")
            && refused.message().contains("--allow-reenroll")
            && !refused.message().contains("install the new bundle"),
        "{}",
        refused.message()
    );
    // And the agent says it so, not "enroll the agent again".
    let words = eceprobe_agent::run::link_error(&refused, &url(c.addr));
    assert!(
        words.starts_with(
            "the collector refused this agent: the certificate of agent 'svc-r' is revoked"
        ) && words.contains("--allow-reenroll")
            && !words.contains("enroll the agent again"),
        "{words}"
    );

    // The same key (the certificate deleted, agent.key kept): never again, whatever the
    // token or the id.
    std::fs::remove_file(a.join("agent.pem")).unwrap();
    for (id, t) in [("svc-r", &plain), ("svc-r", &again), ("svc-other", &plain)] {
        let (code, out) = join_once(c.addr, &a, id, t).await;
        assert!(
            code != 0 && out.contains("never accepted again") && out.contains("agent.key"),
            "{id}: {out}"
        );
    }
    assert!(!a.join("agent.pem").exists());

    // A new key for the revoked id: only with a token allowing re-enrollment.
    let b = dir.path().join("tls-b");
    let (code, out) = join_once(c.addr, &b, "svc-r", &plain).await;
    assert!(
        code != 0 && out.contains("was revoked") && out.contains("--allow-reenroll"),
        "{out}"
    );
    let (code, out) = join_once(c.addr, &b, "svc-r", &again).await;
    assert_eq!(code, 0, "{out}");
    hello(c.addr, &b, "svc-r", "prod").await.unwrap();
    assert_eq!(uses(&db, &plain).await, 1, "refusals spend nothing");
    c.crash().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_reply_is_retried_for_free_and_reenrolling_revokes_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let (c, pki_dir, db) = collector(dir.path()).await;
    let once = token(&db, &pki_dir, 1, false, HOUR_MS).await;
    let a = dir.path().join("tls-a");
    let (code, out) = join_once(c.addr, &a, "svc-q", &once).await;
    assert_eq!(code, 0, "{out}");

    // The reply was lost: the agent has its key, not its certificate, and asks again with
    // the same token: a certificate again, and the token's one use is still the only one.
    std::fs::remove_file(a.join("agent.pem")).unwrap();
    let (code, out) = join_once(c.addr, &a, "svc-q", &once).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(uses(&db, &once).await, 1);
    hello(c.addr, &a, "svc-q", "prod").await.unwrap();

    // Re-enrolled with a new key: the old key's certificate is revoked with it.
    let again = token(&db, &pki_dir, 1, true, HOUR_MS).await;
    let b = dir.path().join("tls-b");
    let (code, out) = join_once(c.addr, &b, "svc-q", &again).await;
    assert_eq!(code, 0, "{out}");
    hello(c.addr, &b, "svc-q", "prod").await.unwrap();
    let old = hello(c.addr, &a, "svc-q", "prod").await.unwrap_err();
    assert!(
        old.code() == Code::PermissionDenied && old.message().contains("is revoked"),
        "{old:?}"
    );
    let store = Store::open(&db).await.unwrap();
    let revoked = store.revocations().await.unwrap();
    store.close().await;
    // Both certificates of the old key: the first join's and the retry's.
    assert_eq!(revoked.len(), 2, "{revoked:?}");
    let listed = std::fs::read_to_string(pki_dir.join(pki::REVOKED)).unwrap();
    for r in &revoked {
        assert!(
            r.agent_id == "svc-q" && listed.contains(&r.sha256),
            "{listed}"
        );
    }
    c.crash().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tokens_deployment_is_the_agents() {
    let dir = tempfile::tempdir().unwrap();
    let (c, pki_dir, db) = collector(dir.path()).await;
    let prod = token(&db, &pki_dir, 5, false, HOUR_MS).await;
    let a = dir.path().join("tls-a");
    let args = |deployment: Option<&str>| {
        let mut args: Vec<String> = ["--collector", &url(c.addr), "--tls-dir"]
            .map(String::from)
            .to_vec();
        args.push(a.display().to_string());
        args.extend(["--agent-id", "svc-d", "--join", &prod].map(String::from));
        if let Some(d) = deployment {
            args.extend(["--deployment".to_string(), d.to_string()]);
        }
        args
    };
    // Configured for another deployment: joined (the token is spent), then a
    // configuration error in words.
    let (code, out) = agent_join(&args(Some("lab"))).await;
    assert!(
        code != 0
            && out.contains("run.deployment: 'lab', but this agent joined deployment 'prod'")
            && out.contains("remove deployment from [run]"),
        "{out}"
    );
    assert!(a.join("agent.pem").exists());
    let (code, out) = agent_join(&args(Some("lab"))).await;
    assert!(code != 0 && out.contains("run.deployment"), "{out}");
    let (code, out) = agent_join(&args(None)).await;
    assert!(code == 0 && out.contains("already joined"), "{out}");

    // The collector: the certificate says prod, a Hello saying another is refused.
    let refused = hello(c.addr, &a, "svc-d", "lab").await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("joined deployment 'prod'")
            && refused.message().contains("says deployment 'lab'")
            && refused.message().contains("deployment.txt"),
        "{}",
        refused.message()
    );
    hello(c.addr, &a, "svc-d", "prod").await.unwrap();
    c.crash().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collector_that_cannot_sign_gives_way_to_the_next_and_a_refusal_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (c, pki_dir, db) = collector(dir.path()).await;
    // Another collector of the same CA without its key (as a second collector is).
    let keyless = dir.path().join("pki-keyless");
    std::fs::create_dir_all(&keyless).unwrap();
    for f in [pki::CA_CERT, pki::SERVER_CERT, pki::SERVER_KEY] {
        std::fs::copy(pki_dir.join(f), keyless.join(f)).unwrap();
    }
    let tls = AgentTls::load(&keyless).unwrap();
    // Of the same database: a collector of another would not know the token.
    let n = Collector::start(&db, "127.0.0.1:0".parse().unwrap(), Some(tls)).await;
    let good = token(&db, &pki_dir, 5, false, HOUR_MS).await;
    let expired = token(&db, &pki_dir, 5, false, -1).await;
    let join = |list: String, t: &str, tls: &str, id: &str| {
        let args: Vec<String> = [
            "--collector",
            &list,
            "--tls-dir",
            &dir.path().join(tls).display().to_string(),
            "--agent-id",
            id,
            "--join",
            t,
        ]
        .map(String::from)
        .to_vec();
        async move { agent_join(&args).await }
    };
    let (code, out) = join(
        format!("{},{}", url(n.addr), url(c.addr)),
        &good,
        "tls-a",
        "svc-f",
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "collector {} could not take the join",
            url(n.addr)
        )) && out.contains("ca.key"),
        "{out}"
    );
    // A refused token is refused by every collector of the database: the next is not asked.
    let (code, out) = join(
        format!("{},{}", url(c.addr), url(n.addr)),
        &expired,
        "tls-b",
        "svc-g",
    )
    .await;
    assert!(
        code != 0 && out.contains("refused the join") && out.contains("expired at"),
        "{out}"
    );
    assert!(!out.contains("could not take the join"), "{out}");
    n.crash().await;
    c.crash().await;
}

/// The collector down when the agent first starts (a rollout before the firewall opens):
/// `run` waits and tries again instead of stopping, spends nothing meanwhile, stops at once
/// when asked, and joins and streams once the collector is back.
#[tokio::test(flavor = "multi_thread")]
async fn run_waits_for_an_unreachable_collector_then_joins() {
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let (c, pki_dir, db) = collector(dir.path()).await;
    let addr = c.addr;
    let good = token(&db, &pki_dir, 1, false, HOUR_MS).await;
    c.crash().await;
    let tls_dir = dir.path().join("tls");
    let link = [
        "--collector".to_string(),
        url(addr),
        "--tls-dir".to_string(),
        tls_dir.display().to_string(),
        "--join".to_string(),
        good.clone(),
    ];
    let start = |n: u32| {
        Agent::start_with(
            &lab,
            &ca,
            &link,
            "svc-wait",
            &dir.path().join("spool"),
            dir.path().join(format!("agent-{n}.log")),
        )
    };
    let waits = |agent: &Agent| {
        let log = agent.log();
        match log.contains("cannot join yet") && log.contains(&url(addr)) {
            true => Ok(()),
            false => Err(log),
        }
    };

    // Asked to stop while it waits: it exits 0 at once, nothing joined, nothing spent.
    let first = start(1);
    eventually(30, "the agent saying it waits to join", || async {
        waits(&first)
    })
    .await;
    let log = first.stop().await;
    assert!(!tls_dir.join("agent.pem").exists(), "{log}");
    assert_eq!(uses(&db, &good).await, 0);

    // Waiting when the collector comes back: it joins and streams.
    let mut second = start(2);
    eventually(30, "the agent saying it waits to join", || async {
        waits(&second)
    })
    .await;
    assert_eq!(second.exited(1).await, None, "{}", second.log());
    let c = Collector::start(&db, addr, Some(AgentTls::load(&pki_dir).unwrap())).await;
    eventually(90, "results from the agent that waited", || async {
        match c.last_seq("svc-wait").await {
            0 => Err(second.log()),
            _ => Ok(()),
        }
    })
    .await;
    assert_eq!(uses(&db, &good).await, 1);
    second.stop().await;
    c.crash().await;
}
