//! Shared by the join tests: tokens in the collector's database, the real agent binary's
//! `join`, and a Hello over TLS with a joined agent's files.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use eceprobe_collector::join;
use eceprobe_collector::store::Store;
use eceprobe_proto::v1::agent_link_client::AgentLinkClient;
use eceprobe_proto::v1::{agent_message, collector_message, AgentMessage, Hello};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic::Status;

pub const NAME: &str = "collector.contoso.local";

/// A token for "prod" recorded in the collector's database; its text.
pub async fn token(db: &Path, pki_dir: &Path, uses: u32, reenroll: bool, valid_ms: i64) -> String {
    let mut minted = join::mint(pki_dir, "prod", Duration::from_secs(3600), uses, reenroll)
        .expect("mint a token");
    minted.record.valid_for_ms = valid_ms;
    let store = Store::open(db).await.unwrap();
    store.create_join_token(minted.record).await.unwrap();
    store.close().await;
    minted.token.to_text()
}

/// The uses spent of the token `text`.
pub async fn uses(db: &Path, text: &str) -> i64 {
    let id = text.split('.').nth(1).unwrap();
    let store = Store::open(db).await.unwrap();
    let tokens = store.join_tokens().await.unwrap();
    store.close().await;
    tokens.iter().find(|t| t.id == id).unwrap().uses
}

pub fn url(addr: SocketAddr) -> String {
    format!("https://127.0.0.1:{}", addr.port())
}

/// `eceprobe-agent join` with these arguments after the usual ones: exit code and output.
pub async fn agent_join(args: &[String]) -> (i32, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_eceprobe-agent"))
        .args(["join", "--role", "services", "--log-level", "debug"])
        .args(args)
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// `eceprobe-agent join` at one collector: exit code and output (which never holds the
/// token's secret, refused or not).
pub async fn join_once(addr: SocketAddr, dir: &Path, agent: &str, token: &str) -> (i32, String) {
    let args = [
        "--collector".to_string(),
        url(addr),
        "--tls-dir".to_string(),
        dir.display().to_string(),
        "--agent-id".to_string(),
        agent.to_string(),
        "--join".to_string(),
        token.to_string(),
    ];
    let (code, text) = agent_join(&args).await;
    assert!(!text.contains(&secret_of(token)), "the secret in: {text}");
    (code, text)
}

pub fn secret_of(token: &str) -> String {
    token.split('.').nth(2).unwrap().to_owned()
}

/// Every file under `dir`, its bytes.
pub fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

pub fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A Hello as `id` of `deployment` with the key and certificate in `dir`, as the agent's
/// uplink sends it: Ok once welcomed, else the collector's refusal.
pub async fn hello(addr: SocketAddr, dir: &Path, id: &str, deployment: &str) -> Result<(), Status> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.pem")))
        .identity(Identity::from_pem(read("agent.pem"), read("agent.key")))
        .domain_name("127.0.0.1");
    let channel = Endpoint::from_shared(url(addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let hello = Hello {
        agent_id: id.into(),
        hostname: format!("{id}.contoso.local"),
        deployment: deployment.into(),
        agent_version: "0.1.0".into(),
        probe_interval_s: 60,
        ..Hello::default()
    };
    tx.send(AgentMessage {
        body: Some(agent_message::Body::Hello(hello)),
    })
    .await
    .unwrap();
    let mut inbound = AgentLinkClient::new(channel)
        .connect(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    match inbound.message().await? {
        Some(m) if matches!(m.body, Some(collector_message::Body::Welcome(_))) => Ok(()),
        other => panic!("expected a welcome, got {other:?}"),
    }
}
