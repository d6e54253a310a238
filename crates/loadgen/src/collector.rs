//! The collector under test: a child process on a loopback port, its memory, its stop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::procfs::{self, ProcStatus};

/// How the collector is started, for every scenario.
#[derive(Clone, Debug)]
pub struct Launch {
    pub bin: PathBuf,
    /// The collector's --log-level.
    pub log_level: String,
    /// Where its stderr files go (the run's work directory).
    pub dir: PathBuf,
    pub flags: ServeFlags,
    /// `--keep-work-dir`: keep what the run made (a PostgreSQL run's schemas too).
    pub keep: bool,
}

/// What this collector's `serve` accepts: versions differ (a separate Query listener and
/// an explicit `--plaintext` came with agent TLS).
#[derive(Clone, Copy, Debug, Default)]
pub struct ServeFlags {
    /// `--plaintext`: agents without TLS, on loopback.
    pub plaintext: bool,
    /// `--query-listen`: the Query API on its own port, announced as `query on ADDR`.
    pub query_listen: bool,
}

impl ServeFlags {
    /// Reads `<bin> serve --help`.
    pub fn probe(bin: &Path) -> Result<ServeFlags> {
        let out = std::process::Command::new(bin)
            .args(["serve", "--help"])
            .output()
            .with_context(|| {
                format!(
                    "running {} serve --help (build it: cargo build --release -p eceprobe-collector, or pass --collector-bin)",
                    bin.display()
                )
            })?;
        let help = String::from_utf8_lossy(&out.stdout);
        Ok(ServeFlags {
            plaintext: help.contains("--plaintext"),
            query_listen: help.contains("--query-listen"),
        })
    }
}

/// `ADDR` from a line `<prefix> ADDR`.
fn announced(line: Option<String>, prefix: &str) -> Option<SocketAddr> {
    line?.trim().strip_prefix(prefix)?.trim().parse().ok()
}

/// How long the collector may take to print its address, and to exit after SIGINT.
const START_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Collector {
    child: Child,
    pid: u32,
    /// Where agents connect.
    pub addr: SocketAddr,
    /// Where the Query API answers (the same as `addr` for older collectors).
    pub query_addr: SocketAddr,
    pub stderr_path: PathBuf,
}

/// How a stop went.
#[derive(Debug)]
pub struct Stopped {
    pub elapsed: Duration,
    /// False when it did not exit within the timeout after SIGINT and was killed.
    pub clean: bool,
    pub status: String,
}

impl Launch {
    /// `serve --listen 127.0.0.1:0 --db <db>` plus `extra`; waits for `listening on ADDR`.
    /// `name` names its stderr file. `db` is a SQLite file or a PostgreSQL URL without its
    /// password (it is logged).
    pub async fn start(
        &self,
        name: &str,
        db: impl AsRef<std::ffi::OsStr>,
        extra: &[String],
    ) -> Result<Collector> {
        let db = Path::new(db.as_ref());
        let stderr_path = self.dir.join(format!("{name}.stderr"));
        let stderr = std::fs::File::create(&stderr_path)
            .with_context(|| format!("creating {}", stderr_path.display()))?;
        let mut child = Command::new(&self.bin)
            .arg("--log-level")
            .arg(&self.log_level)
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .args(self.flags.plaintext.then_some("--plaintext"))
            .args(
                self.flags
                    .query_listen
                    .then_some(["--query-listen", "127.0.0.1:0"])
                    .into_iter()
                    .flatten(),
            )
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting the collector {} (build it: cargo build --release -p eceprobe-collector, or pass --collector-bin)",
                    self.bin.display()
                )
            })?;
        let pid = child.id().context("the collector exited at once")?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let mut lines = BufReader::new(stdout).lines();
        let query_listen = self.flags.query_listen;
        let read = async {
            let addr = announced(lines.next_line().await.ok().flatten(), "listening on")?;
            let query_addr = match query_listen {
                true => announced(lines.next_line().await.ok().flatten(), "query on")?,
                false => addr,
            };
            Some((addr, query_addr))
        };
        let Ok(Some((addr, query_addr))) = tokio::time::timeout(START_TIMEOUT, read).await else {
            let _ = child.start_kill();
            bail!(
                "the collector did not print 'listening on ADDR'{} within {} s; its stderr is in {}",
                if query_listen { " and 'query on ADDR'" } else { "" },
                START_TIMEOUT.as_secs(),
                stderr_path.display()
            );
        };
        // The collector prints nothing more on stdout; drain it anyway so it never blocks.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        tracing::info!(%addr, %query_addr, pid, db = %db.display(), stderr = %stderr_path.display(), "collector started");
        Ok(Collector {
            child,
            pid,
            addr,
            query_addr,
            stderr_path,
        })
    }
}

impl Collector {
    /// The Query API's URL.
    pub fn query_url(&self) -> String {
        format!("http://{}", self.query_addr)
    }

    /// Its memory, threads and open files now.
    pub fn status(&self) -> Result<ProcStatus> {
        procfs::status(&self.pid.to_string()).with_context(|| {
            format!(
                "the collector's stderr is in {}",
                self.stderr_path.display()
            )
        })
    }

    /// CPU seconds it has used so far.
    pub fn cpu_s(&self) -> Result<f64> {
        procfs::cpu_s(&self.pid.to_string())
    }

    /// SIGINT (through `kill -INT`, as the workspace forbids unsafe), then waits for it to
    /// exit; kills it if it has not within the timeout.
    pub async fn stop(mut self) -> Result<Stopped> {
        let started = Instant::now();
        let sent = std::process::Command::new("kill")
            .args(["-INT", &self.pid.to_string()])
            .status()
            .context("running kill -INT")?;
        if !sent.success() {
            tracing::warn!(
                pid = self.pid,
                "kill -INT failed; the collector may be gone"
            );
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                let status = status.context("waiting for the collector")?;
                Ok(Stopped {
                    elapsed: started.elapsed(),
                    clean: status.success(),
                    status: status.to_string(),
                })
            }
            Err(_) => {
                tracing::warn!(
                    pid = self.pid,
                    stderr = %self.stderr_path.display(),
                    "the collector did not exit within {} s of SIGINT; killing it",
                    STOP_TIMEOUT.as_secs()
                );
                self.child.kill().await.context("killing the collector")?;
                Ok(Stopped {
                    elapsed: started.elapsed(),
                    clean: false,
                    status: "killed after SIGINT timeout".into(),
                })
            }
        }
    }
}
