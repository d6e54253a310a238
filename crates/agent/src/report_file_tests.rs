//! The report's document from a run with hostile text in it: escaped in both formats, the
//! page well-formed, the format by extension, and a text holding a secret never written.
#![allow(clippy::unwrap_used)]

use super::*;
use eceprobe_checks::{
    AddressAttempt, AddressSource, CertInfo, CheckId, CheckReport, DnsReport, FailureKind, Finding,
    Stage, StageReport, TlsInfo,
};

fn failing_imap() -> CheckReport {
    let address = "52.97.1.1:993".parse().unwrap();
    let finding = Finding {
        kind: FailureKind::TlsExpired,
        stage: Stage::Tls,
        detail: "certificate expired </td><script>x|y</script>".into(),
        hint: FailureKind::TlsExpired.hint(
            CheckId::Imap,
            Role::Services,
            "outlook.office365.com",
            993,
        ),
        device: None,
    };
    CheckReport {
        check: CheckId::Imap,
        host: "outlook.office365.com".into(),
        port: 993,
        outcome: Outcome::Fail,
        failure: Some(finding.clone()),
        warnings: Vec::new(),
        duration_us: 12_000,
        dns: Some(DnsReport {
            source: AddressSource::System,
            duration_us: 900,
            addresses: vec![address],
            families: Vec::new(),
        }),
        via_proxy: None,
        attempts: vec![AddressAttempt {
            address,
            stages: vec![
                StageReport {
                    stage: Stage::Tcp,
                    ok: true,
                    duration_us: 2_000,
                },
                StageReport {
                    stage: Stage::Tls,
                    ok: false,
                    duration_us: 9_000,
                },
            ],
            tls: Some(TlsInfo {
                version: Some("TLSv1.3".into()),
                chain: vec![CertInfo {
                    subject: "CN=outlook.office365.com".into(),
                    issuer: "CN=Lab & <Co>".into(),
                    dns_names: vec!["outlook.office365.com".into()],
                    not_after: "2020-01-01T00:00:00Z".into(),
                    not_after_unix: 1_577_836_800,
                    sha256: "ab".repeat(32),
                }],
                ..TlsInfo::default()
            }),
            protocol: None,
            failure: Some(finding),
            warnings: Vec::new(),
            tcp_info: None,
            path: None,
            source: Some("10.0.0.5".parse().unwrap()),
        }],
        used_address: Some(address),
        oauth: None,
    }
}

fn facts() -> RunFacts<'static> {
    RunFacts {
        host: "ece-svc-01<b>".into(),
        role: Role::Services,
        cloud: Cloud::Global,
        java: "ECE's Java: not looked for (--no-java)",
        java_runtime: None,
        config: None,
    }
}

fn suite() -> SuiteReport {
    SuiteReport {
        started_unix: 1_795_879_397,
        duration_us: 15_000,
        checks: vec![failing_imap()],
    }
}

#[test]
fn the_format_is_the_extension() {
    for (name, format) in [
        ("r.html", ReportFormat::Html),
        ("r.HTM", ReportFormat::Html),
        ("r.md", ReportFormat::Markdown),
        ("r.markdown", ReportFormat::Markdown),
    ] {
        assert_eq!(ReportFormat::of(Path::new(name)).unwrap(), format);
    }
    for name in ["r.pdf", "report", "r.html.txt"] {
        let err = ReportFormat::of(Path::new(name)).unwrap_err().to_string();
        assert!(
            err.contains(name) && err.contains(".html") && err.contains(".md"),
            "{err}"
        );
    }
}

#[test]
fn the_page_is_well_formed_and_escapes_what_servers_said() {
    let page = render(&facts(), &suite(), ReportFormat::Html);
    let xml = page.strip_prefix("<!DOCTYPE html>\n").unwrap();
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}\n{page}"));
    assert!(
        !page.contains("<script>") && !page.contains("<b>"),
        "{page}"
    );
    let cells: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("td"))
        .filter_map(|n| n.text().map(str::to_owned))
        .collect();
    for expected in [
        "tls_expired",
        "tls",
        "certificate expired </td><script>x|y</script>",
        "CN=Lab & <Co>",
        "tcp 2 ms, tls 9 ms FAILED",
        "10.0.0.5",
        "ece-svc-01<b>",
    ] {
        assert!(
            cells.iter().any(|c| c == expected),
            "no cell {expected:?} in {cells:?}"
        );
    }
    let suite = suite();
    let hint = &suite.checks[0].failure.as_ref().unwrap().hint;
    assert!(cells.iter().any(|c| c == hint), "the fix: {hint}");
    let items = ChecklistItem::join_long(FailureKind::TlsExpired.items(CheckId::Imap));
    assert!(cells.contains(&items), "{items}");
    assert!(cells.iter().any(|c| c.starts_with("host: ")), "the owner");
}

#[test]
fn markdown_cells_cannot_break_their_table() {
    let md = render(&facts(), &suite(), ReportFormat::Markdown);
    assert!(
        md.starts_with("# Connectivity check of ece-svc-01&lt;b&gt;\n"),
        "{md}"
    );
    assert!(md.contains("x\\|y"), "{md}");
    assert!(!md.contains("<script>"), "{md}");
    assert!(
        md.contains("| FAIL | imap | tls_expired | tls | host: "),
        "{md}"
    );
}

#[test]
fn a_text_holding_a_mailbox_secret_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("support.refresh");
    std::fs::write(&secret, "0.AX-never-in-a-report\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mailbox = Mailbox {
        address: "support@contoso.com".into(),
        tenant: "contoso.com".into(),
        client_id: "app".into(),
        client_secret_file: None,
        refresh_token_file: Some(secret.clone()),
        grant: crate::mailbox::GrantKind::RefreshToken,
        protocols: vec![eceprobe_checks::Protocol::Imap],
        shared: false,
        account: None,
        hosts: Cloud::Global.hosts(),
    };
    let out = dir.path().join("report.md");
    let err = write(
        &out,
        "a token: 0.AX-never-in-a-report",
        std::slice::from_ref(&mailbox),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains(&secret.display().to_string()), "{err}");
    assert!(!err.contains("0.AX-never"), "{err}");
    assert!(!out.exists(), "nothing written");
    write(&out, "no secret here", &[mailbox]).unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "no secret here");
}
