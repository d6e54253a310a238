//! What the single-client path tests (`mtu_netns.rs`, `slow_netns.rs`,
//! `path_trace_netns.rs`) share: the testlab binary beside the agent, and one check read out
//! of `check --json`.
// Each test binary uses some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

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
