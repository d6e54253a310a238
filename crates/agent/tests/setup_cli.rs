//! `eceprobe-agent setup configure`, the real binary as the MSI runs it (every property
//! passed, empty ones as ""): the file it writes, its refusal in words with exit 2 and the
//! same words in `logs/setup.log` (only when the data directory is there: a refused first
//! install creates nothing), and the join token's secret in none of its output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

const SECRET: &str = "0123456789abcdef0123456789abcdef01234567";

fn token() -> String {
    format!("ej1.3f9a2c10b7d4.{SECRET}.sha256:{}", "b".repeat(64))
}

fn configure(dir: &Path, collector: &str, role: &str, deployment: &str) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_eceprobe-agent"))
        .args(["setup", "configure", "--data-dir"])
        .arg(dir)
        .args(["--collector", collector, "--role", role])
        .args(["--deployment", deployment, "--join", &token()])
        .output()
        .expect("the agent runs")
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_msi_step_writes_agent_toml_once_and_refuses_in_words() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("eceprobe");

    let bad = configure(&dir, "https://c.example:7443", "database", "");
    let text = said(&bad);
    assert_eq!(bad.status.code(), Some(2), "{text}");
    assert!(
        text.contains("ROLE: unknown role 'database' (use services, application or both)")
            && text.contains("the install is rolled back"),
        "{text}"
    );
    // A refused first install creates nothing, not even logs\setup.log (the event log and
    // the console have the words).
    assert!(!dir.exists(), "a refused install made {}", dir.display());
    // Into a data directory that is there, the refusal is recorded.
    std::fs::create_dir(&dir).unwrap();
    let bad = configure(&dir, "https://c.example:7443", "database", "");
    assert_eq!(bad.status.code(), Some(2), "{}", said(&bad));
    let log = std::fs::read_to_string(dir.join("logs/setup.log")).unwrap();
    assert!(
        log.contains("setup configure refused: ROLE: unknown role 'database'"),
        "{log}"
    );
    assert!(!dir.join("agent.toml").exists());

    let good = configure(&dir, "https://c.example:7443", "services", "");
    let text = said(&good);
    assert_eq!(good.status.code(), Some(0), "{text}");
    assert!(
        text.contains("wrote ") && text.contains("agent.toml"),
        "{text}"
    );
    let toml = std::fs::read_to_string(dir.join("agent.toml")).unwrap();
    assert!(toml.contains(&format!("join = '{}'", token())), "{toml}");

    let again = configure(&dir, "https://other.example:7443", "both", "prod");
    assert_eq!(again.status.code(), Some(0));
    assert!(
        said(&again).contains("kept ") && said(&again).contains("as it was before this install"),
        "{}",
        said(&again)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("agent.toml")).unwrap(),
        toml
    );

    let log = std::fs::read_to_string(dir.join("logs/setup.log")).unwrap();
    for text in [said(&bad), said(&good), said(&again), log] {
        assert!(!text.contains(SECRET), "{text}");
    }
}
