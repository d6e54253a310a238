//! `eceprobe-loadgen ingest --db postgres://...` at a tiny size on the PostgreSQL of
//! `ECEPROBE_TEST_POSTGRES` (`.ci/postgres.sh start` prints one): every phase runs (one
//! collector, two collectors, the INSERT and COPY baselines) and every row is where it
//! should be. Skipped with the reason without it, a failure under
//! `ECEPROBE_REQUIRE_POSTGRES=1`. No figure is judged: they go to docs/BENCHMARKS.md.
//!
//! The collector is the `eceprobe-collector` next to the loadgen's test binary (as the
//! loadgen finds it): `cargo test --workspace` builds it; alone, run
//! `cargo build -p eceprobe-collector` first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

fn test_postgres() -> Option<String> {
    match std::env::var("ECEPROBE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("ECEPROBE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "ECEPROBE_REQUIRE_POSTGRES=1 but ECEPROBE_TEST_POSTGRES is not set: start one with .ci/postgres.sh start"
            );
            eprintln!("skipped: ECEPROBE_TEST_POSTGRES is not set (url=$(.ci/postgres.sh start) gives one)");
            None
        }
    }
}

#[test]
fn ingest_on_postgres_runs_every_phase_and_stores_every_row() {
    let Some(url) = test_postgres() else {
        return;
    };
    let loadgen = Path::new(env!("CARGO_BIN_EXE_eceprobe-loadgen"));
    let collector = loadgen.with_file_name("eceprobe-collector");
    assert!(
        collector.exists(),
        "no {}: build it first (cargo build -p eceprobe-collector; cargo test --workspace does)",
        collector.display()
    );
    // The password in a file, as an operator keeps it, not on the command line.
    let mut url = url::Url::parse(&url).unwrap();
    let password = url
        .password()
        .expect("a password in ECEPROBE_TEST_POSTGRES")
        .to_owned();
    url.set_password(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("pg.pass");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();

    let out = Command::new(loadgen)
        .args(["--json", "ingest", "--agents", "4", "--batch", "5"])
        .args(["--results-per-agent", "20", "--db", url.as_str()])
        .arg("--password-file")
        .arg(&password_file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "loadgen failed: {stderr}");
    assert!(!stderr.contains(&password), "the password reached the log");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for figure in [
        "results_acked",
        "results_stored_in_db",
        "pair_results_acked",
        "pair_results_stored_in_db",
        "insert_rows",
        "copy_rows",
    ] {
        assert_eq!(report[figure], 80, "{figure} in {report:#}");
    }
    assert_eq!(report["notes"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["database"], url.as_str());
    assert!(!out
        .stdout
        .windows(password.len())
        .any(|w| w == password.as_bytes()));
}
