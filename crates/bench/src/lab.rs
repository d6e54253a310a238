//! The testlab in its own process, so that its CPU time is not counted as the prober's.
//!
//! The bench re-executes itself as `eceprobe-bench lab-child DIR`: the child starts a healthy
//! [`Testlab`], writes the lab CA into DIR, prints one JSON line describing the lab and serves
//! until its stdin closes. The parent keeps a [`LabProcess`] handle.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use eceprobe_testlab::{Endpoint, LabConfig, Testlab};
use serde_json::{json, Value};

/// The hidden subcommand that runs the child.
pub const CHILD_MODE: &str = "lab-child";

/// What the parent learns about the lab.
#[derive(Clone, Debug)]
pub struct LabInfo {
    /// `HOST:PORT:ADDR:PORT` overrides, as `Testlab::resolve_args`.
    pub resolve: Vec<String>,
    /// Per endpoint name (`Endpoint::name`): its first address and the host it impersonates.
    pub endpoints: BTreeMap<String, (SocketAddr, String)>,
    pub ca_pem_path: PathBuf,
}

impl LabInfo {
    pub fn endpoint(&self, ep: Endpoint) -> Result<(SocketAddr, &str)> {
        self.endpoints
            .get(ep.name())
            .map(|(addr, host)| (*addr, host.as_str()))
            .ok_or_else(|| anyhow!("the lab did not report endpoint {ep}"))
    }

    pub fn ca_pem(&self) -> Result<String> {
        std::fs::read_to_string(&self.ca_pem_path)
            .with_context(|| format!("reading {}", self.ca_pem_path.display()))
    }

    fn from_json(line: &str) -> Result<LabInfo> {
        let v: Value = serde_json::from_str(line).context("the lab child's JSON line")?;
        let resolve = v["resolve"]
            .as_array()
            .ok_or_else(|| anyhow!("lab line lacks 'resolve'"))?
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect();
        let mut endpoints = BTreeMap::new();
        let eps = v["endpoints"]
            .as_object()
            .ok_or_else(|| anyhow!("lab line lacks 'endpoints'"))?;
        for (name, ep) in eps {
            let addr = ep["addr"].as_str().unwrap_or_default();
            let addr: SocketAddr = addr
                .parse()
                .with_context(|| format!("endpoint {name}: address '{addr}'"))?;
            let host = ep["host"].as_str().unwrap_or_default().to_string();
            endpoints.insert(name.clone(), (addr, host));
        }
        let ca = v["ca_pem_path"]
            .as_str()
            .ok_or_else(|| anyhow!("lab line lacks 'ca_pem_path'"))?;
        Ok(LabInfo {
            resolve,
            endpoints,
            ca_pem_path: PathBuf::from(ca),
        })
    }
}

/// The child side: start the lab, announce it, serve until stdin closes.
pub fn run_child(dir: &Path) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the lab's runtime")?;
    let lab = runtime
        .block_on(Testlab::start(LabConfig::healthy()))
        .context("starting the testlab")?;
    let (ca, _) = lab.write_ca_files(dir).context("writing the lab CA")?;
    let mut endpoints = serde_json::Map::new();
    for ep in Endpoint::ALL {
        let addr = lab
            .addrs(ep)
            .first()
            .copied()
            .ok_or_else(|| anyhow!("lab endpoint {ep} has no address"))?;
        let host = ep.host(lab.hostnames()).to_string();
        endpoints.insert(
            ep.name().into(),
            json!({"addr": addr.to_string(), "host": host}),
        );
    }
    let line = json!({
        "resolve": lab.resolve_args(),
        "endpoints": endpoints,
        "ca_pem_path": ca.display().to_string(),
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").context("writing the lab line")?;
    out.flush().context("flushing the lab line")?;
    drop(out);
    // The runtime's workers serve the lab while this thread waits for the parent to go away.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    runtime.block_on(lab.shutdown());
    Ok(())
}

/// The parent's handle on the child. Dropping it closes the child's stdin and reaps it.
pub struct LabProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    pub info: LabInfo,
}

impl LabProcess {
    pub fn spawn(dir: &Path) -> Result<LabProcess> {
        let exe = std::env::current_exe().context("locating the bench binary")?;
        let mut child = Command::new(exe)
            .arg(CHILD_MODE)
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the lab child process")?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("the lab child has no stdout"))?;
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let mut lab = LabProcess {
            child,
            stdin,
            info: LabInfo {
                resolve: Vec::new(),
                endpoints: BTreeMap::new(),
                ca_pem_path: PathBuf::new(),
            },
        };
        match read {
            Ok(0) => bail!("the lab child exited before describing the lab"),
            Ok(_) => lab.info = LabInfo::from_json(line.trim())?,
            Err(e) => return Err(e).context("reading the lab child's line"),
        }
        Ok(lab)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Err(e) = self.child.wait() {
            tracing::warn!(error = %e, "waiting for the lab child");
        }
    }
}
