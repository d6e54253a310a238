//! The machinery of the namespace tests (the fleet's, and the single-client path tests'): what it needs to run (root, iproute2,
//! a firewall tool, the binaries), and a [`Fleet`] of network namespaces on one bridge with
//! the processes started in them. Nothing touches the host's own namespace: every link lives
//! in a namespace made here, and dropping the fleet removes every namespace and process, on
//! failure too.

// Each test binary uses some of it.
#![allow(dead_code)]

pub mod dns;
pub mod lab;
pub mod path;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binaries the test runs, or None (with the reason printed).
pub struct Binaries {
    pub agent: PathBuf,
    pub collector: PathBuf,
    pub testlab: PathBuf,
}

impl Binaries {
    pub fn find() -> Option<Binaries> {
        let agent = PathBuf::from(env!("CARGO_BIN_EXE_eceprobe-agent"));
        let collector = agent.with_file_name("eceprobe-collector");
        let testlab = agent.with_file_name("eceprobe-testlab");
        for bin in [&collector, &testlab] {
            if !bin.exists() {
                eprintln!(
                    "SKIPPED: {} is not built (cargo build -p eceprobe-collector -p \
                     eceprobe-testlab, or cargo test --workspace, builds it)",
                    bin.display()
                );
                return None;
            }
        }
        Some(Binaries {
            agent,
            collector,
            testlab,
        })
    }
}

/// The effective uid, from /proc (no libc needed).
fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// How the application server's firewall is set up.
#[derive(Clone, Copy, Debug)]
pub enum Firewall {
    Nft,
    Iptables,
}

/// Root, iproute2 and a firewall tool, or None (with the reason printed).
pub fn preconditions() -> Option<Firewall> {
    match euid() {
        Some(0) => {}
        Some(uid) => {
            eprintln!("SKIPPED: network namespaces need root (running as uid {uid})");
            return None;
        }
        None => {
            eprintln!("SKIPPED: cannot tell the uid from /proc/self/status (not Linux?)");
            return None;
        }
    }
    if !works("ip", &["-V"]) {
        eprintln!("SKIPPED: `ip` (iproute2) is not available");
        return None;
    }
    if works("nft", &["--version"]) {
        Some(Firewall::Nft)
    } else if works("iptables", &["--version"]) {
        Some(Firewall::Iptables)
    } else {
        eprintln!("SKIPPED: neither `nft` (nftables) nor `iptables` is available");
        None
    }
}

/// A process started in a namespace, its stderr in a file.
struct Proc {
    what: &'static str,
    child: Child,
    log: PathBuf,
}

/// The namespaces and processes of one run. Dropping it kills the processes, then deletes
/// the namespaces (which deletes the veths and the bridge in them).
pub struct Fleet {
    prefix: String,
    namespaces: Vec<String>,
    procs: Vec<Proc>,
}

impl Fleet {
    pub fn new() -> Fleet {
        Fleet::named("ecefleet")
    }

    /// A fleet whose namespaces are named `<prefix><pid>-<role>`.
    pub fn named(prefix: &str) -> Fleet {
        Fleet {
            prefix: format!("{prefix}{}", std::process::id()),
            namespaces: Vec::new(),
            procs: Vec::new(),
        }
    }

    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    /// Creates the namespace `role` with its loopback up.
    pub fn add_namespace(&mut self, role: &str) {
        let name = self.ns(role);
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        self.namespaces.push(name);
        self.ip(role, &["link", "set", "lo", "up"]);
    }

    /// `ip -n <namespace> ARGS`, which must succeed.
    pub fn ip(&self, role: &str, args: &[&str]) {
        run_ok(Command::new("ip").arg("-n").arg(self.ns(role)).args(args));
    }

    /// The switch: a bridge in its own namespace.
    pub fn add_switch(&mut self) {
        self.add_namespace("sw");
        self.ip("sw", &["link", "add", "br0", "type", "bridge"]);
        self.ip("sw", &["link", "set", "br0", "up"]);
    }

    /// Plugs namespace `role` into the switch: a veth pair made inside the switch's
    /// namespace (never the host's), its far end moved to `role` as eth0 with `ips`.
    pub fn plug(&mut self, role: &str, ips: &[&str]) {
        self.add_namespace(role);
        let port = format!("p-{role}");
        let target = self.ns(role);
        self.ip(
            "sw",
            &[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &target,
            ],
        );
        self.ip("sw", &["link", "set", &port, "master", "br0", "up"]);
        for ip in ips {
            self.ip(role, &["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
        }
        self.ip(role, &["link", "set", "eth0", "up"]);
    }

    /// `ip netns exec <namespace> PROGRAM` (which execs PROGRAM: killing the child kills it).
    pub fn exec(&self, role: &str, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(role)]).arg(program);
        c
    }

    /// A one-shot command in a namespace, bounded by coreutils' `timeout`.
    pub fn run(&self, role: &str, program: &Path, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(role), "timeout", "20"])
            .arg(program)
            .args(args)
            .output()
            .unwrap()
    }

    /// Starts a long-running process; its stderr goes to `log`. Returns its stdout when
    /// `stdout` is piped.
    pub fn spawn(
        &mut self,
        what: &'static str,
        mut cmd: Command,
        stdout: Stdio,
        log: PathBuf,
    ) -> Option<ChildStdout> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let out = child.stdout.take();
        self.procs.push(Proc { what, child, log });
        out
    }

    /// SIGKILL to the process started as `what` (the program itself: `ip netns exec`
    /// execs it), and waits for it.
    pub fn kill(&mut self, what: &str) {
        for p in self.procs.iter_mut().filter(|p| p.what == what) {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }

    /// Waits up to `limit` for the process started as `what` to exit on its own; its exit
    /// status, or None if it still runs.
    pub fn wait_exit(&mut self, what: &str, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            for p in self.procs.iter_mut().filter(|p| p.what == what) {
                if let Ok(Some(status)) = p.child.try_wait() {
                    return Some(status);
                }
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The log of the process started as `what`.
    pub fn log_of(&self, what: &str) -> String {
        self.procs
            .iter()
            .filter(|p| p.what == what)
            .map(|p| std::fs::read_to_string(&p.log).unwrap_or_default())
            .collect()
    }

    /// Every process's state and the end of its log, for failure messages.
    pub fn logs(&mut self) -> String {
        let mut out = String::new();
        for p in &mut self.procs {
            let state = match p.child.try_wait() {
                Ok(Some(status)) => format!("exited: {status}"),
                Ok(None) => "running".to_string(),
                Err(e) => format!("unknown: {e}"),
            };
            let log = std::fs::read_to_string(&p.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            out.push_str(&format!("--- {} ({state}), last log lines:\n", p.what));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        for name in self.namespaces.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", name])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs a setup command that must succeed.
pub fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

pub fn stdout_of(out: &Output, what: &str) -> Result<String, String> {
    match out.status.success() {
        true => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        false => Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}
