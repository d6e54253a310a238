//! `eceprobe-agent check` with declared ECE facts: the `ece-config` check (C1-C3) runs
//! without network and names what is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eceprobe-agent"))
        .args(args)
        .output()
        .expect("the agent runs")
}

fn config(dir: &std::path::Path) -> String {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        "ece_url = \"https://ece.example.com/\"\n\
         redirect_uri = \"https://ece-old.example.com/system/oauth\"\n\
         [run]\nece_version = \"12.6(1)\"\nece_es = \"ES1\"\n",
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn declared_facts_that_fail_are_reported_with_kind_and_hint_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    // The flags override [run]: 12.5(1) ES2 is below the C1 minimum (ES3).
    let out = agent(&[
        "check",
        "--config",
        &cfg,
        "--only",
        "ece-config",
        "--ece-version",
        "12.5(1)",
        "--ece-es",
        "ES 2",
        "--json",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let checks = doc["report"]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1, "only ece-config: {text}");
    let c = &checks[0];
    assert_eq!(c["check"], "ece-config");
    assert_eq!(c["outcome"], "fail");
    assert_eq!(c["failure"]["kind"], "ece_es_too_old");
    assert_eq!(c["failure"]["stage"], "config");
    assert!(c["failure"]["hint"].as_str().unwrap().contains("(C1)"));
    assert_eq!(c["warnings"][0]["kind"], "redirect_uri_mismatch");

    // The table, from the file's facts: only the redirect URI is wrong.
    let out = agent(&["check", "--config", &cfg, "--only", "ece-config"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("ece-config"))
        .unwrap_or_else(|| panic!("no ece-config row:\n{text}"));
    assert!(row.contains("FAIL"), "{row}");
    assert!(text.contains("redirect_uri_mismatch"), "{text}");
    assert!(text.contains("ece-old.example.com"), "{text}");
}

#[test]
fn ece_config_without_any_fact_is_a_configuration_error() {
    let out = agent(&["check", "--only", "ece-config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ece-config"));
}
