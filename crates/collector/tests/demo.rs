//! `eceprobe-collector demo --once`: the newcomer's first command, run as they would run it.
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
    let fixes = out.split("What to do:\n").nth(1).unwrap_or_default();
    assert!(
        fixes.starts_with(
            "  GAP ece-app-01 imap (failing): TCP 993 to outlook.office365.com is rejected"
        ),
        "the fix of each gap, in the table's order:\n{out}"
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
