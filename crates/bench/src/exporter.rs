//! The blackbox_exporter process: started on a free loopback port with our modules, asked to
//! probe over plain HTTP/1.0, killed on drop.

use std::fs::File;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where Debian's `prometheus-blackbox-exporter` package installs the binary.
pub const EXPORTER_BIN: &str = "/usr/bin/prometheus-blackbox-exporter";
/// Largest /probe answer read (the metrics of one probe are a few KiB).
const MAX_RESPONSE: u64 = 1024 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// What one /probe answer said.
#[derive(Clone, Debug)]
pub struct ProbeResult {
    pub success: bool,
    pub duration_s: f64,
    pub body: String,
}

pub struct Exporter {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Exporter {
    /// Writes `yml` into `dir` and starts the exporter on it.
    pub async fn start(dir: &Path, yml: &str) -> Result<Exporter> {
        if !Path::new(EXPORTER_BIN).exists() {
            bail!(
                "{EXPORTER_BIN} is absent: install Debian's package first \
                 (apt-get update && apt-get install -y prometheus-blackbox-exporter)"
            );
        }
        let config = dir.join("blackbox.yml");
        std::fs::write(&config, yml).with_context(|| format!("writing {}", config.display()))?;
        let addr = free_loopback_port()?;
        let log = dir.join("blackbox.log");
        let log_file = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(EXPORTER_BIN)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {EXPORTER_BIN}"))?;
        let mut exporter = Exporter { child, addr, log };
        exporter.wait_ready().await?;
        Ok(exporter)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().context("polling the exporter")? {
                bail!(
                    "the exporter exited ({status}) at startup: {}",
                    self.log_tail()
                );
            }
            if let Ok((200, _)) = get(self.addr, "/-/healthy").await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the exporter did not answer on {} in time: {}",
                    self.addr,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines the exporter logged, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Err(e) = self.child.kill() {
            tracing::warn!(error = %e, "killing the exporter");
        }
        let _ = self.child.wait();
    }
}

/// Asks the exporter at `addr` to run `module` against `target`.
pub async fn probe(
    addr: SocketAddr,
    module: &str,
    target: &str,
    debug: bool,
) -> Result<ProbeResult> {
    let debug = if debug { "&debug=true" } else { "" };
    let path = format!("/probe?module={module}&target={target}{debug}");
    let (status, body) = get(addr, &path).await?;
    if status != 200 {
        bail!("GET {path}: HTTP {status}: {}", body.trim());
    }
    let metric = |name: &str| -> Option<f64> {
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    };
    let (success, duration_s) = match (metric("probe_success"), metric("probe_duration_seconds")) {
        (Some(s), Some(d)) => (s == 1.0, d),
        _ if debug.is_empty() => bail!("GET {path}: no probe_success/probe_duration_seconds"),
        // A debug answer is the log followed by the metrics, in text: keep it whole.
        _ => (false, f64::NAN),
    };
    Ok(ProbeResult {
        success,
        duration_s,
        body,
    })
}

/// A bounded HTTP/1.0 GET (HTTP/1.0 so the answer is never chunked): status and body.
async fn get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let exchange = async {
        let mut tcp = TcpStream::connect(addr).await?;
        let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        tcp.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        (&mut tcp).take(MAX_RESPONSE).read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow!("GET {path}: no answer within {REQUEST_TIMEOUT:?}"))?
        .with_context(|| format!("GET {path} from {addr}"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("GET {path}: incomplete HTTP answer"))?;
    let status = head
        .split_ascii_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("GET {path}: bad status line"))?;
    Ok((status, body.to_string()))
}

/// A loopback port nobody listens on right now (the exporter binds it a moment later).
fn free_loopback_port() -> Result<SocketAddr> {
    let l = StdListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    l.local_addr().context("finding a free loopback port")
}
