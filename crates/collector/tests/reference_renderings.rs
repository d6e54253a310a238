//! Reference renderings (issue 17): what a real collector process shows, page by page and
//! command by command, for one fixed fleet, compared byte for byte with the files under
//! `tests/testdata/reference/`. A refactoring that was not meant to change what the user
//! sees must leave every one of them identical; a change that was meant to is reviewed as
//! a diff of these files (`ECEPROBE_REGENERATE=1 cargo test -p eceprobe-collector --test
//! reference_renderings` rewrites them).
//!
//! Only what depends on the clock is masked, each by its shape: instants (unix
//! milliseconds, "2026-12-06 14:40Z"), ages ("12 s ago"), how long a gap has been open, the
//! audit's id, and the SVG charts (their geometry is time). Everything else (words, order,
//! markup, JSON field names) is compared as it is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::agent::{failing, SimAgent};
use common::dashboard::{feed_with, get, Dashboard};
use common::{admin, run_audit, wait_closed, wait_for_gaps};
use eceprobe_checks::{CheckId, FailureKind, Role};
use eceprobe_proto::v1::{CheckResult, Finding, Outcome};

/// The hint an agent of this version sends (the mailbox filled in as the agent does).
fn engine_hint(kind: FailureKind, check: CheckId, port: u16) -> String {
    kind.hint(check, Role::Services, "outlook.office365.com", port)
        .replace("<mailbox>", "sales@contoso.com")
}

/// The mailbox checks and warnings svc-1 reports beside its failing IMAP.
fn extra_results() -> Vec<CheckResult> {
    let now = eceprobe_proto::now_ms();
    vec![
        CheckResult {
            seq: 6,
            check: "oauth-token/sales@contoso.com".into(),
            host: "login.microsoftonline.com".into(),
            port: 443,
            started_unix_ms: now,
            outcome: Outcome::Pass as i32,
            duration_us: 180_000,
            ..CheckResult::default()
        },
        CheckResult {
            seq: 7,
            check: "oauth-imap/sales@contoso.com".into(),
            host: "outlook.office365.com".into(),
            port: 993,
            started_unix_ms: now,
            outcome: Outcome::Fail as i32,
            duration_us: 95_000,
            failure: Some(Finding {
                kind: "xoauth2_rejected".into(),
                stage: "login".into(),
                detail: "NO AUTHENTICATE failed.".into(),
                hint: engine_hint(FailureKind::Xoauth2Rejected, CheckId::OauthImap, 993),
                ..Default::default()
            }),
            ..CheckResult::default()
        },
        CheckResult {
            seq: 8,
            check: "ece-config".into(),
            started_unix_ms: now,
            outcome: Outcome::Warn as i32,
            warnings: vec![Finding {
                kind: "ece_version_undeclared".into(),
                stage: "config".into(),
                detail: "ece_version is not declared in agent.toml".into(),
                hint: engine_hint(FailureKind::EceVersionUndeclared, CheckId::EceConfig, 0),
                ..Default::default()
            }],
            ..CheckResult::default()
        },
    ]
}

/// Masks what depends on the clock (see the module doc); `audit` is the audit's id.
fn mask(text: &str, audit: &str) -> String {
    let text = text.replace(audit, "<audit-id>");
    let text = strip_svg(&text);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some(len) = instant_at(&chars[i..]) {
            out.push_str("<time>");
            i += len;
            continue;
        }
        let digits = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let after_digit = i > 0 && (chars[i - 1].is_ascii_alphanumeric());
        if digits > 0 && !after_digit {
            let rest: String = chars[i + digits..].iter().take(12).collect();
            if digits >= 10 {
                out.push_str("<ms>");
                i += digits;
                continue;
            }
            if let Some(unit) = ["s ago", "min ago", "h ago", "days ago"]
                .iter()
                .find(|u| rest.starts_with(&format!(" {u}")))
            {
                out.push_str("<ago>");
                i += digits + 1 + unit.len();
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// "2026-12-06 14:40Z", "2026-12-06T14:40:01Z", "2026-12-06 14:40:01 UTC": its length.
fn instant_at(c: &[char]) -> Option<usize> {
    let shape = "dddd-dd-dd";
    if c.len() < 16 || !shape.chars().zip(c).all(|(s, c)| matches(s, *c)) {
        return None;
    }
    if c[10] != ' ' && c[10] != 'T' {
        return None;
    }
    if !"dd:dd".chars().zip(&c[11..16]).all(|(s, c)| matches(s, *c)) {
        return None;
    }
    let mut n = 16;
    if c.len() >= n + 3 && c[n] == ':' && c[n + 1].is_ascii_digit() && c[n + 2].is_ascii_digit() {
        n += 3;
        while n < c.len() && (c[n] == '.' || c[n].is_ascii_digit()) {
            n += 1;
        }
    }
    if n < c.len() && c[n] == 'Z' {
        n += 1;
    } else if c[n..].iter().take(4).collect::<String>() == " UTC" {
        n += 4;
    }
    Some(n)
}

fn matches(shape: char, c: char) -> bool {
    match shape {
        'd' => c.is_ascii_digit(),
        s => s == c,
    }
}

/// Every `<svg ...>...</svg>` as `<svg/>`.
fn strip_svg(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<svg") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</svg>") {
            Some(end) => {
                out.push_str("<svg/>");
                rest = &rest[start + end + "</svg>".len()..];
            }
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/reference")
}

/// Compares (or, with ECEPROBE_REGENERATE=1, rewrites) every rendering; lists all that
/// differ before failing.
fn compare(renderings: &[(String, String)]) {
    let dir = reference_dir();
    if std::env::var_os("ECEPROBE_REGENERATE").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in renderings {
            std::fs::write(dir.join(name), text).unwrap();
        }
        return;
    }
    let mut differ = Vec::new();
    for (name, text) in renderings {
        let path = dir.join(name);
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run with ECEPROBE_REGENERATE=1", path.display()));
        if &expected != text {
            let line = expected
                .lines()
                .zip(text.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(expected.lines().count().min(text.lines().count()));
            let got = text.lines().nth(line).unwrap_or("<end>");
            let want = expected.lines().nth(line).unwrap_or("<end>");
            differ.push(format!(
                "{name}, line {}:\n  expected: {want}\n  got:      {got}",
                line + 1
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} rendering(s) differ from tests/testdata/reference (rewrite them with \
         ECEPROBE_REGENERATE=1 only if the change was meant):\n{}",
        differ.len(),
        differ.join("\n")
    );
}

#[tokio::test]
async fn every_page_and_command_renders_as_its_reference() {
    // A fixed name: the default is the host's, which differs between machines.
    let d = Dashboard::start_with_config("[store]\ncollector_name = \"ece-mon-1\"");
    let _svc1 = feed_with(d.agents, extra_results()).await;
    let _svc2 = SimAgent::answering(d.agents, "svc-2", "prod", failing(&["pop3"])).await;
    wait_for_gaps(d.query, "svc-1's gaps", |gaps| {
        gaps.iter().any(|g| g.check == "imap")
            && gaps.iter().any(|g| g.check.starts_with("oauth-imap/"))
    })
    .await;
    let audit = run_audit(d.query, "prod", 10).await;
    wait_closed(d.query, &audit).await;
    // The audit's results reach the tracker too: let it settle so the gaps are final.
    wait_for_gaps(d.query, "svc-2's pop3 gap", |gaps| {
        gaps.iter()
            .any(|g| g.agent_id == "svc-2" && g.check == "pop3")
    })
    .await;

    let pages = [
        ("overview.html", "/".to_owned()),
        ("overview.json", "/api/overview".to_owned()),
        ("server.html", "/servers/svc-1".to_owned()),
        ("server.json", "/api/servers/svc-1".to_owned()),
        (
            "history.json",
            "/api/servers/svc-1/checks/imap/history?limit=10".to_owned(),
        ),
        ("gaps.html", "/gaps".to_owned()),
        ("gaps.json", "/api/gaps".to_owned()),
        ("gaps-network.html", "/gaps?owner=network".to_owned()),
        ("timeline.json", "/api/timeline".to_owned()),
        ("audits.html", "/audits".to_owned()),
        ("audits.json", "/api/audits".to_owned()),
        ("audit.html", format!("/audits/{audit}")),
        ("audit.json", format!("/api/audits/{audit}")),
        (
            "change-request.md",
            "/gaps/change-request.md?deployment=prod".to_owned(),
        ),
        (
            "change-request.csv",
            "/gaps/change-request.csv?deployment=prod".to_owned(),
        ),
    ];
    let mut renderings = Vec::new();
    for (name, target) in pages {
        let r = get(d.web, &target).await;
        assert_eq!(r.status, 200, "{target}: {}", r.body);
        renderings.push((name.to_owned(), mask(&r.body, &audit)));
    }
    let commands: [(&str, Vec<&str>); 6] = [
        ("cli-servers.txt", vec!["servers"]),
        ("cli-gaps.txt", vec!["gaps"]),
        ("cli-gaps-by-owner.txt", vec!["gaps", "--by-owner"]),
        ("cli-show.txt", vec!["show", "svc-1"]),
        ("cli-audit-show.txt", vec!["audit", "show", &audit]),
        (
            "cli-audit-report.md",
            vec!["audit", "report", &audit, "--format", "md"],
        ),
    ];
    for (name, args) in commands {
        let (code, out, err) = admin(d.query, &args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        renderings.push((name.to_owned(), mask(&out, &audit)));
    }
    compare(&renderings);
}

#[test]
fn the_mask_hides_the_clock_and_nothing_else() {
    let text = "seen 2026-12-06 14:40Z, 12 s ago, at 1765032000123 on port 993 (C10); \
                <svg width=\"3\"><rect x=\"17\"/></svg> 2026-12-06T14:40:01.5Z 3 min ago";
    assert_eq!(
        mask(text, "a-1"),
        "seen <time>, <ago>, at <ms> on port 993 (C10); <svg/> <time> <ago>"
    );
}
