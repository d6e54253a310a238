//! The operating system's own resolver and routing, driven into failure inside a network
//! namespace made for the test: its resolv.conf points at testlab's DNS stub on the
//! namespace's loopback, and it has no route anywhere. Needs root and `ip`; skips (saying
//! why) without them. No packet leaves the namespace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

struct Namespace {
    name: String,
    stub: Option<Child>,
}

impl Namespace {
    /// None (with the reason printed) when namespaces cannot be made here.
    fn create() -> Option<Namespace> {
        let name = format!("eceprobe-t{}", std::process::id());
        let made = Command::new("ip").args(["netns", "add", &name]).output();
        match made {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot create a network namespace (needs root): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                return None;
            }
            Err(e) => {
                eprintln!("SKIPPED: `ip` (iproute2) is not available: {e}");
                return None;
            }
        }
        let ns = Namespace { name, stub: None };
        ns.ip(&["link", "set", "lo", "up"]);
        let etc = ns.etc_dir();
        std::fs::create_dir_all(&etc).unwrap();
        // `ip netns exec` mounts this file over /etc/resolv.conf inside the namespace.
        std::fs::write(
            etc.join("resolv.conf"),
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        )
        .unwrap();
        Some(ns)
    }

    fn etc_dir(&self) -> PathBuf {
        Path::new("/etc/netns").join(&self.name)
    }

    fn ip(&self, args: &[&str]) {
        let status = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "ip -n {} {args:?}", self.name);
    }

    fn exec(&self, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Starts testlab's DNS stub on the namespace's 127.0.0.1:53 and waits until it listens.
    fn start_dns_stub(&mut self, testlab: &Path, rules: &[&str]) {
        let mut cmd = self.exec(testlab);
        cmd.args(["dns-stub", "--listen", "127.0.0.1:53"]);
        for r in rules {
            cmd.args(["--rule", r]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("listening"), "dns stub said {line:?}");
        self.stub = Some(child);
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Some(mut stub) = self.stub.take() {
            drop(stub.stdin.take());
            let _ = stub.kill();
            let _ = stub.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(self.etc_dir());
    }
}

fn testlab_binary() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_BIN_EXE_eceprobe-agent")).with_file_name("eceprobe-testlab");
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} is not built (cargo test --workspace builds it)",
            path.display()
        );
        None
    }
}

fn run_json(ns: &Namespace, args: &[&str]) -> serde_json::Value {
    let out = ns
        .exec(Path::new(env!("CARGO_BIN_EXE_eceprobe-agent")))
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn failure<'a>(doc: &'a serde_json::Value, check: &str) -> &'a serde_json::Value {
    let checks = doc["report"]["checks"].as_array().unwrap();
    let c = checks.iter().find(|c| c["check"] == check).unwrap();
    &c["failure"]
}

#[test]
fn os_resolver_failures_and_missing_routes_get_their_kinds() {
    let Some(testlab) = testlab_binary() else {
        return;
    };
    let Some(mut ns) = Namespace::create() else {
        return;
    };
    ns.start_dns_stub(
        &testlab,
        &[
            "nx.lab.test=nxdomain",
            "fail.lab.test=servfail",
            "quiet.lab.test=silent",
            "ok.lab.test=127.0.0.1",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        r#"
ece_url = "https://ece.ok.lab.test/"
[hosts]
login = "login.nx.lab.test"
outlook = "outlook.fail.lab.test"
smtp = "smtp.quiet.lab.test"
[timeouts]
dns_ms = 700
"#,
    )
    .unwrap();
    let doc = run_json(&ns, &["check", "--config", cfg.to_str().unwrap()]);
    let kind = |check| {
        failure(&doc, check)["kind"]
            .as_str()
            .unwrap_or("none")
            .to_string()
    };
    let stage = |check| {
        failure(&doc, check)["stage"]
            .as_str()
            .unwrap_or("none")
            .to_string()
    };
    assert_eq!(kind("login-https"), "dns_nxdomain");
    for check in ["outlook-https", "imap", "pop3"] {
        assert_eq!(kind(check), "dns_failure", "{check}");
    }
    assert_eq!(kind("smtp"), "dns_timeout");
    for check in ["login-https", "outlook-https", "imap", "pop3", "smtp"] {
        assert_eq!(stage(check), "dns", "{check}");
    }
    // A name the OS resolves: the probe goes on to TCP, where nothing listens.
    assert_eq!(kind("ece-url"), "tcp_refused");
    let checks = doc["report"]["checks"].as_array().unwrap();
    let ece = checks.iter().find(|c| c["check"] == "ece-url").unwrap();
    assert_eq!(ece["dns"]["source"], "system");
    assert_eq!(ece["dns"]["addresses"][0], "127.0.0.1:443");

    // The namespace has no route beyond loopback: connecting is refused locally.
    let doc = run_json(
        &ns,
        &[
            "check",
            "--only",
            "imap",
            "--resolve",
            "outlook.office365.com:993:192.0.2.1",
        ],
    );
    assert_eq!(failure(&doc, "imap")["kind"], "tcp_unreachable");
    assert_eq!(failure(&doc, "imap")["stage"], "tcp");
}
