//! The audit every format is tested over: a services server failing IMAP and POP3
//! (dropped by a firewall) with a slow sign-in, an application server that did not answer,
//! a diff with one new and one resolved gap, and agent-supplied strings written to hurt.

use eceprobe_checks::{CheckId, FailureKind, Role};
use eceprobe_proto::v1::{
    Attempt, Audit, AuditDiff, AuditReport, AuditServer, AuditVerdict, CheckResult, Dns, Finding,
    Gap, NetworkChangeRequest,
};

pub(super) const STARTED: i64 = 1_795_879_397_000; // 2026-11-28 15:23Z
pub(super) const ID: &str = "a-1795879397000-3f2a";
pub(super) const PREVIOUS: &str = "a-1795793000000-0b1c";
pub(super) const HOSTILE_HOST: &str = "ece-svc01.contoso.local<script>alert('x')</script>";
pub(super) const FORMULA: &str = "=cmd|' /C calc'!A0";
pub(super) const IMAP_DETAIL: &str = "no answer within 5 s | a,b\"c\nfrom 2 of 2 addresses";
pub(super) const POLICY: &str = "stale_after_intervals = 3\nslow_ms = 2000\n\n[roles]\nservices = [\"imap\", \"pop3\"]\napplication = [\"smtp\"]\n";

pub(super) fn hint(check: CheckId, port: u16) -> String {
    FailureKind::TcpTimeout.hint(check, Role::Services, "outlook.office365.com", port)
}

fn verdict(check: &str, port: u16, fail: Option<(CheckId, &str)>) -> AuditVerdict {
    let mut v = AuditVerdict {
        check: check.into(),
        outcome: "pass".into(),
        seq: 40,
        target: format!("outlook.office365.com:{port}"),
        ..AuditVerdict::default()
    };
    if let Some((id, detail)) = fail {
        v.outcome = "fail".into();
        v.failure_kind = "tcp_timeout".into();
        v.stage = "tcp".into();
        v.detail = detail.into();
        v.hint = hint(id, port);
    }
    v
}

fn gap(agent: &str, check: &str, severity: &str, kind: &str, detail: &str) -> Gap {
    Gap {
        deployment: "prod".into(),
        agent_id: agent.into(),
        check: check.into(),
        severity: severity.into(),
        kind: kind.into(),
        detail: detail.into(),
        ..Gap::default()
    }
}

fn not_answered() -> Gap {
    let detail = "ordered, but sent no result for the audit before its deadline";
    gap("app-1", "", "gap", "not_answered", detail)
}

pub(crate) fn sample() -> AuditReport {
    let mut login = verdict("login-https", 443, None);
    login.target = "login.microsoftonline.com:443".into();
    let svc = AuditServer {
        agent_id: "svc-1".into(),
        hostname: HOSTILE_HOST.into(),
        role: "services".into(),
        deployment: "prod".into(),
        ordered: true,
        answered_unix_ms: STARTED + 12_000,
        verdicts: vec![
            login,
            verdict("outlook-https", 443, None),
            verdict("imap", 993, Some((CheckId::Imap, IMAP_DETAIL))),
            verdict("pop3", 995, Some((CheckId::Pop3, "no answer within 5 s"))),
            verdict("smtp", 587, None),
        ],
    };
    let app = AuditServer {
        agent_id: "app-1".into(),
        hostname: FORMULA.into(),
        role: "application".into(),
        deployment: "prod".into(),
        ordered: true,
        answered_unix_ms: 0,
        verdicts: Vec::new(),
    };
    AuditReport {
        audit: Some(Audit {
            audit_id: ID.into(),
            deployment: "prod".into(),
            started_unix_ms: STARTED,
            deadline_unix_ms: STARTED + 120_000,
            closed_unix_ms: STARTED + 120_500,
            state: "closed".into(),
            servers: 2,
            ordered: 2,
            answered: 1,
        }),
        servers: vec![svc, app],
        gaps: vec![
            not_answered(),
            gap("svc-1", "imap", "gap", "failing", "tcp_timeout"),
            gap("svc-1", "pop3", "gap", "failing", "tcp_timeout"),
            gap("svc-1", "login-https", "warning", "slow", "2300 ms"),
        ],
        diff: Some(AuditDiff {
            from_audit_id: PREVIOUS.into(),
            to_audit_id: ID.into(),
            new_gaps: vec![not_answered()],
            resolved_gaps: vec![gap("svc-1", "smtp", "gap", "failing", "tcp_refused")],
            unchanged_gaps: vec![
                gap("svc-1", "imap", "gap", "failing", "tcp_timeout"),
                gap("svc-1", "pop3", "gap", "failing", "tcp_timeout"),
            ],
        }),
        policy: POLICY.into(),
        change_request: Some(change_request()),
    }
}

/// The firewall rules of the sample's dropped IMAP and POP3, made by the generator from
/// results as the agent sent them (the hostile host name included).
fn change_request() -> NetworkChangeRequest {
    use crate::change_request::{network, Inputs, ServerFacts};
    let result = |check: &str, port: u32| CheckResult {
        check: check.into(),
        host: "outlook.office365.com".into(),
        port,
        attempts: vec![Attempt {
            address: format!("52.97.1.1:{port}"),
            source_address: "10.1.2.3".into(),
            failure: Some(Finding {
                kind: "tcp_timeout".into(),
                stage: "tcp".into(),
                ..Finding::default()
            }),
            ..Attempt::default()
        }],
        dns: Some(Dns {
            addresses: vec!["52.97.1.1".into()],
            ..Dns::default()
        }),
        ..CheckResult::default()
    };
    let inputs = Inputs {
        deployment: "prod".into(),
        gaps: vec![
            gap("svc-1", "imap", "gap", "failing", "tcp_timeout"),
            gap("svc-1", "pop3", "gap", "failing", "tcp_timeout"),
        ],
        servers: vec![ServerFacts {
            agent_id: "svc-1".into(),
            hostname: HOSTILE_HOST.into(),
            role: "services".into(),
            ..ServerFacts::default()
        }],
        results: [("imap", 993), ("pop3", 995)]
            .into_iter()
            .map(|(c, p)| (("svc-1".to_owned(), c.to_owned()), result(c, p)))
            .collect(),
        gaps_cut_at: None,
    };
    network::request(&inputs, &crate::endpoints::EndpointList::snapshot())
}
