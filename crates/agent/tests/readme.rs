//! The README's sample output is the real output: the Quick start demo's scenario is run
//! and compared line by line, with numbers (ports, timings) and column padding set aside.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use eceprobe_testlab::{Endpoint, Fault, LabConfig, Testlab};

/// Numbers become `N`, timings `T`, runs of spaces one space: what remains is what a
/// reader sees.
fn shape(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            let mut out = String::new();
            let mut prev = ' ';
            for c in line.trim().chars() {
                let c = if c.is_ascii_digit() { 'N' } else { c };
                let repeat = c == prev && (c == ' ' || c == 'N');
                if !repeat {
                    out.push(c);
                }
                prev = c;
            }
            // A timing may print as "N ms" or "N.N s" depending on the machine's load.
            out.replace("N.N s", "T").replace("N ms", "T")
        })
        .collect()
}

fn readme_sample() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme
        .split("## What `check` prints")
        .nth(1)
        .expect("README has the section");
    let block = section.split("```").nth(1).expect("a code block");
    block.trim_start_matches('\n').to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn readme_sample_output_matches_the_demo() {
    let cfg = LabConfig::healthy()
        .fault(Endpoint::Imap, Fault::Refuse)
        .fault(Endpoint::Pop3, Fault::BlackHole);
    let lab = Testlab::start(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let mut args = lab.agent_check_args(&ca);
    args.extend(["--role".into(), "application".into()]);
    // As on a host without Java (the sample's second line).
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_eceprobe-agent"))
        .args(&args)
        .env_remove("JAVA_HOME")
        .env("ECEPROBE_JAVA_CANDIDATES", "")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let actual = String::from_utf8(out.stdout).unwrap();
    let expected = readme_sample();
    assert_eq!(
        shape(&expected),
        shape(&actual)[..shape(&expected).len()],
        "README.md's sample drifted from the real output; paste this:\n{actual}"
    );
}
