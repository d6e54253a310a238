//! `eceprobe-demo --once`: the newcomer's first command, run as they would run it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::demo_once as demo;

fn reports(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    found.sort();
    found
}

/// Runs of spaces as one (column widths follow the data), each line trimmed.
fn shape(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The README's sample of the demo's summary: its first code block after the Quick start's.
fn readme_sample() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let after = readme
        .split("The demo ends with the audit's gaps")
        .nth(1)
        .expect("README has the demo's sample");
    let block = after.split("```").nth(1).expect("a code block");
    block.trim_start_matches('\n').to_string()
}

#[test]
fn demo_once_finds_the_blocked_ports_and_writes_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = demo(dir.path());
    assert_eq!(code, 1, "gaps found is exit 1; output:\n{out}");
    for line in [
        "ece-app-01 (application) cannot reach outlook.office365.com:993 for imap: tcp_refused",
        "ece-app-01 (application) cannot reach outlook.office365.com:995 for pop3: tcp_timeout",
        "ece-svc-01 (services) reaches smtp.office365.com:587 but sales@contoso.com is refused for oauth-smtp: smtp_auth_disabled_mailbox at the login stage",
        "2 servers in scope, 2 ordered, 2 answered",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    // The table's rows (the fixes under "What to do" are indented).
    let gap_rows: Vec<Vec<&str>> = out
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains(" GAP "))
        .map(|l| l.split_whitespace().take(2).collect())
        .collect();
    assert_eq!(
        gap_rows,
        vec![
            vec!["ece-app-01", "imap"],
            vec!["ece-app-01", "pop3"],
            vec!["ece-svc-01", "oauth-smtp/sales@contoso.com"],
        ],
        "the firewalled server's 993 and 995, and the mailbox with SMTP AUTH off; the healthy mailbox passes:\n{out}"
    );
    let fixes = out
        .split("What to do, by team:\n")
        .nth(1)
        .unwrap_or_default();
    assert!(
        fixes.starts_with(
            "  network: the network team (firewall, proxy, DNS)\n    GAP ece-app-01 imap (failing): TCP 993 to outlook.office365.com is rejected"
        ),
        "the fix of each gap under its team, in the table's order:\n{out}"
    );
    assert!(
        fixes.contains(
            "\n  m365: the Microsoft 365 / Entra administrator\n    GAP ece-svc-01 oauth-smtp/sales@contoso.com (failing): "
        ),
        "the mailbox's fix is the Microsoft 365 administrator's:\n{out}"
    );

    // The README's sample is this run's summary, from the gap table to what each server
    // cannot do.
    let summary = out
        .split_once("\nSERVER ")
        .map(|(_, rest)| format!("SERVER {}", rest.split("\nreport: ").next().unwrap_or("")))
        .unwrap_or_default();
    assert_eq!(
        shape(&readme_sample()),
        shape(summary.trim_end()),
        "README.md's demo sample drifted from the real output; paste this:\n{summary}"
    );

    let md = reports(dir.path(), "md");
    let html = reports(dir.path(), "html");
    assert_eq!((md.len(), html.len()), (1, 1), "one report in each format");
    assert!(
        out.contains(&format!("report: {}", html[0].display())),
        "the report's path is printed:\n{out}"
    );
    let text = std::fs::read_to_string(&md[0]).unwrap();
    assert!(
        text.contains("ece-svc-01") && text.contains("C10"),
        "{text}"
    );
    // The mailbox's finding carries its checklist item and the exact fix.
    assert!(
        text.contains(
            "Set-CASMailbox -Identity sales@contoso.com -SmtpClientAuthenticationDisabled $false"
        ),
        "{text}"
    );
    // The demo's agent configuration keeps the refresh tokens in owner-only files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let rt = dir.path().join("ece-svc-01-sales.refresh");
        let mode = std::fs::metadata(&rt).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", rt.display());
    }

    // Again in the same directory: the new audit is compared with the first one.
    let (code, out) = demo(dir.path());
    assert_eq!(code, 1, "{out}");
    let md = reports(dir.path(), "md");
    assert_eq!(md.len(), 2, "a second report");
    let second = std::fs::read_to_string(&md[1]).unwrap();
    assert!(
        !second.contains("first audit of this scope"),
        "the second audit has a previous one:\n{second}"
    );
}

/// The collector that is deployed carries no demo; asked for one, it says where it went.
#[test]
fn the_collector_says_the_demo_is_a_program_of_its_own() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eceprobe-collector"))
        .args(["demo", "--once"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("run ./target/release/eceprobe-demo"),
        "stderr: {err}"
    );
}
