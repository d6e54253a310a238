//! What the single-client path tests (`mtu_netns.rs`, `slow_netns.rs`,
//! `path_trace_netns.rs`, `dns_netns.rs`) share: the testlab binary beside the agent, a
//! command in a namespace, `check --json` run and read.
// Each test binary uses some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{run_ok, Fleet};

/// The testlab binary built beside the agent, or None with the reason printed.
pub fn testlab_binary() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_BIN_EXE_eceprobe-agent")).with_file_name("eceprobe-testlab");
    if path.exists() {
        return Some(path);
    }
    eprintln!(
        "SKIPPED: {} is not built (cargo build -p eceprobe-testlab, or cargo test --workspace, \
         builds it)",
        path.display()
    );
    None
}

/// The report of `check` in `check --json`'s document.
pub fn check_of<'a>(doc: &'a serde_json::Value, check: &str) -> &'a serde_json::Value {
    let checks = doc["report"]["checks"].as_array().unwrap();
    checks.iter().find(|c| c["check"] == check).unwrap()
}

/// Runs `program args` inside the namespace; it must succeed.
pub fn in_ns(ns: &str, program: &str, args: &[&str]) {
    run_ok(
        Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args),
    );
}

/// `eceprobe-agent check --json` in namespace `role`.
pub fn check_json(
    fleet: &mut Fleet,
    role: &str,
    args: &[String],
    config: &Path,
    checks: &[&str],
) -> serde_json::Value {
    let mut cmd = fleet.exec(role, Path::new(env!("CARGO_BIN_EXE_eceprobe-agent")));
    cmd.args(args).arg("--config").arg(config);
    for c in checks {
        cmd.args(["--only", c]);
    }
    let out = cmd.arg("--json").output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            fleet.logs()
        )
    })
}

/// The warning of this kind on a check, if any.
pub fn warning<'a>(c: &'a serde_json::Value, kind: &str) -> Option<&'a serde_json::Value> {
    c["warnings"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["kind"] == kind))
}
