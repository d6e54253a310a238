//! From the wire to storage rows, validating what an agent sent. Every rejection says what
//! was wrong in terms the agent's operator can act on.

use eceprobe_proto::bounds;
use eceprobe_proto::v1::{CheckResult, Hello, Outcome, Role};
use prost::Message;

use crate::checkname::{self, CheckName, CheckNameError};
use crate::endpoints::EndpointList;
use crate::gaps::{AgentView, CheckView};
use crate::newer::well_formed_kind;
use crate::store::{
    AgentRecord, CheckState, JavaReport, KnownAgent, NewResult, SetAside, SystemDns,
};

/// Results accepted in one batch.
pub const MAX_BATCH: usize = 500;
const MAX_ID: usize = 128;
const MAX_TEXT: usize = 256;

/// Why an agent's message was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidInput {
    #[error("hello: agent_id '{0}' must be 1-128 characters of letters, digits, '.', '-', '_'")]
    AgentId(String),
    #[error("hello: {field} is longer than {MAX_TEXT} characters")]
    TooLong { field: &'static str },
    #[error("batch: {0} results, at most {MAX_BATCH} per batch")]
    BatchTooLarge(usize),
    #[error("batch: result {index} has sequence 0; sequences start at 1")]
    ZeroSeq { index: usize },
    #[error("batch: sequence goes backwards or repeats at result {index} ({seq} after {previous}); results must be in increasing order")]
    SeqOrder {
        index: usize,
        seq: u64,
        previous: u64,
    },
}

/// Why one result cannot be stored truthfully: it is set aside (the quarantine), the rest
/// of its batch stored. A check or kind this collector merely does not know is not here:
/// [`crate::newer`] says what is well-formed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Malformed {
    /// Not a check name at all, or a known check with the wrong mailbox shape.
    #[error("{0}")]
    CheckName(CheckNameError),
    #[error("it has no outcome (pass, warn or fail)")]
    NoOutcome,
    #[error("its warning kind '{0}' is not 1-64 characters of a-z, 0-9 and '_'")]
    WarningKind(String),
    #[error("its failure kind '{0}' is not 1-64 characters of a-z, 0-9 and '_'")]
    FailureKind(String),
}

/// A batch turned into rows: what is stored, and what is set aside (in seq order each).
#[derive(Debug, Default)]
pub struct BatchRows {
    pub rows: Vec<NewResult>,
    pub set_aside: Vec<SetAside>,
}

/// A kind as shown in a message: at most 64 characters, escaped.
fn shown_kind(kind: &str) -> String {
    kind.chars().take(64).flat_map(char::escape_debug).collect()
}

/// A set-aside result in a few words: what it claimed, never its contents (which an agent
/// never fills with a secret, but a broken one might with anything).
fn summary(r: &CheckResult) -> String {
    let check: String = checkname::shown(&r.check).chars().take(200).collect();
    format!(
        "check '{check}', outcome {}, failure kind '{}', {} warnings, {} bytes",
        r.outcome,
        r.failure
            .as_ref()
            .map(|f| shown_kind(&f.kind))
            .unwrap_or_default(),
        r.warnings.len(),
        r.encoded_len()
    )
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn role_name(role: i32) -> &'static str {
    match Role::try_from(role) {
        Ok(Role::Services) => "services",
        Ok(Role::Application) => "application",
        Ok(Role::Both) => "both",
        _ => "unspecified",
    }
}

/// Checks a Hello and turns it into the agent's record.
pub fn agent_record(hello: &Hello, now_unix_ms: i64) -> Result<AgentRecord, InvalidInput> {
    if !valid_id(&hello.agent_id) {
        return Err(InvalidInput::AgentId(
            hello.agent_id.chars().take(MAX_ID).collect(),
        ));
    }
    for (field, value) in [
        ("hostname", &hello.hostname),
        ("deployment", &hello.deployment),
        ("agent_version", &hello.agent_version),
        ("os", &hello.os),
        ("ece_version", &hello.ece_version),
        ("ece_es", &hello.ece_es),
    ] {
        if value.len() > MAX_TEXT {
            return Err(InvalidInput::TooLong { field });
        }
    }
    Ok(AgentRecord {
        agent_id: hello.agent_id.clone(),
        hostname: hello.hostname.clone(),
        role: role_name(hello.role).to_string(),
        deployment: hello.deployment.clone(),
        agent_version: hello.agent_version.clone(),
        os: hello.os.clone(),
        ece_version: hello.ece_version.clone(),
        ece_es: hello.ece_es.clone(),
        probe_interval_s: hello.probe_interval_s,
        seen_unix_ms: now_unix_ms,
        java: java_report(hello),
    })
}

/// ECE's Java from a Hello. An empty trust store line is an agent that predates the report
/// (one that reports always sends a line): "not reported", never "no Java". Each text is
/// cut to [`bounds::JAVA_TEXT`] bytes rather than refused: a diagnostic line (paths and a
/// reason, from a newer agent perhaps) must never cost an agent its link.
fn java_report(hello: &Hello) -> Option<JavaReport> {
    let truststore = hello.java_truststore.trim();
    if truststore.is_empty() {
        return None;
    }
    Some(JavaReport {
        runtime: bounds::cut(hello.java_runtime.trim(), bounds::JAVA_TEXT),
        truststore: bounds::cut(truststore, bounds::JAVA_TEXT),
    })
}

/// Checks a batch and turns it into rows. Size and order are the batch's: a problem there
/// refuses it whole (a real agent never sends one; acking past it would break "acked means
/// stored"). A result that cannot be stored truthfully ([`Malformed`]) is set aside with
/// its reason and the rest stored: one bad result never walls off an agent's later ones. A
/// check or kind this version does not know but that is well-formed is stored.
pub fn batch_rows(results: &[CheckResult]) -> Result<BatchRows, InvalidInput> {
    if results.len() > MAX_BATCH {
        return Err(InvalidInput::BatchTooLarge(results.len()));
    }
    let mut previous = 0u64;
    let mut out = BatchRows::default();
    for (index, r) in results.iter().enumerate() {
        if r.seq == 0 {
            return Err(InvalidInput::ZeroSeq { index });
        }
        if r.seq <= previous {
            return Err(InvalidInput::SeqOrder {
                index,
                seq: r.seq,
                previous,
            });
        }
        previous = r.seq;
        match result_row(r) {
            Ok(row) => out.rows.push(row),
            Err(problem) => out.set_aside.push(SetAside {
                seq: r.seq,
                reason: problem.to_string(),
                summary: summary(r),
            }),
        }
    }
    Ok(out)
}

/// One result as a row, or why it cannot be one.
fn result_row(r: &CheckResult) -> Result<NewResult, Malformed> {
    CheckName::reported(&r.check).map_err(Malformed::CheckName)?;
    let outcome = match Outcome::try_from(r.outcome) {
        Ok(Outcome::Pass) => "pass",
        Ok(Outcome::Warn) => "warn",
        Ok(Outcome::Fail) => "fail",
        _ => return Err(Malformed::NoOutcome),
    };
    if let Some(f) = r.failure.as_ref().filter(|f| !well_formed_kind(&f.kind)) {
        return Err(Malformed::FailureKind(shown_kind(&f.kind)));
    }
    let mut warning_kinds = Vec::with_capacity(r.warnings.len());
    for w in &r.warnings {
        if !well_formed_kind(&w.kind) {
            return Err(Malformed::WarningKind(shown_kind(&w.kind)));
        }
        warning_kinds.push(w.kind.clone());
    }
    Ok(NewResult {
        seq: r.seq,
        check: r.check.clone(),
        started_unix_ms: r.started_unix_ms,
        outcome: outcome.to_string(),
        failure_kind: r.failure.as_ref().map(|f| f.kind.clone()),
        failure_stage: r.failure.as_ref().map(|f| f.stage.clone()),
        duration_us: r.duration_us,
        warning_kinds,
        stage_durations: stage_durations(r),
        detail: r.encode_to_vec(),
        audit_id: r.audit_id.clone(),
        system_dns: system_dns(r),
    })
}

/// Addresses kept per result's DNS answer (more is an agent gone wrong; the rest is dropped).
const MAX_ADDRESSES: usize = 64;

/// What the agent's OS resolver gave for the check's host: only `source == "system"` (an
/// override is eceprobe's own `resolve` pin, and through a proxy the agent resolved
/// nothing). Only addresses that parse are kept, as bare IP addresses (no port), so the
/// stored text never carries anything else.
pub fn system_dns(r: &CheckResult) -> Option<SystemDns> {
    let dns = r.dns.as_ref().filter(|d| d.source == "system")?;
    let host = r.host.trim_end_matches('.').to_ascii_lowercase();
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    // Agents send "ip:port" (a socket address); a bare address is read too.
    let mut addresses: Vec<String> = Vec::new();
    for a in &dns.addresses {
        let ip = a
            .parse::<std::net::SocketAddr>()
            .map(|s| s.ip())
            .or_else(|_| a.parse::<std::net::IpAddr>());
        if let Ok(ip) = ip {
            let ip = ip.to_string();
            if !addresses.contains(&ip) && addresses.len() < MAX_ADDRESSES {
                addresses.push(ip);
            }
        }
    }
    (host_ok && !addresses.is_empty()).then_some(SystemDns { host, addresses })
}

/// [`system_dns`] of a stored result's detail (the server page and audits read those).
pub fn system_dns_of_detail(detail: &[u8]) -> Option<SystemDns> {
    system_dns(&CheckResult::decode(detail).ok()?)
}

/// Stage durations kept per result (more is an agent gone wrong; the rest is dropped).
const MAX_STAGES: usize = 16;

/// A result's stage durations for `/metrics`: the DNS lookup, then the stages of the
/// representative attempt (`used_address`, else the first), a repeated stage summed. Names
/// that are not plain identifiers are skipped rather than refused: a newer agent's stages
/// are stored, and a timing is not worth refusing a batch (the detail keeps everything).
fn stage_durations(r: &CheckResult) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    let mut add = |stage: &str, us: u64| {
        if !well_formed_kind(stage) {
            return;
        }
        if let Some((_, total)) = out.iter_mut().find(|(s, _)| s == stage) {
            *total = total.saturating_add(us);
        } else if out.len() < MAX_STAGES {
            out.push((stage.to_owned(), us));
        }
    };
    if let Some(dns) = &r.dns {
        add("dns", dns.duration_us);
    }
    let used = r
        .attempts
        .iter()
        .find(|a| !r.used_address.is_empty() && a.address == r.used_address)
        .or_else(|| r.attempts.first());
    for s in used.map(|a| a.stages.as_slice()).unwrap_or_default() {
        add(&s.stage, s.duration_us);
    }
    out
}

/// An agent as the gap engine sees it.
pub fn agent_view(known: &KnownAgent) -> AgentView {
    let a = &known.record;
    let role = match a.role.as_str() {
        "services" => eceprobe_checks::Role::Services,
        "application" => eceprobe_checks::Role::Application,
        // Undeclared means the server may do either: it needs both sets of checks.
        _ => eceprobe_checks::Role::Both,
    };
    AgentView {
        agent_id: a.agent_id.clone(),
        role,
        deployment: a.deployment.clone(),
        probe_interval_s: a.probe_interval_s,
        seen_unix_ms: a.seen_unix_ms,
        first_seen_unix_ms: known.first_seen_unix_ms,
    }
}

/// A check's latest state as the gap engine sees it; None for a name this collector does
/// not accept (ingest refuses those, so only an older database could hold one).
pub fn check_view(r: &CheckState, endpoints: &EndpointList) -> Option<CheckView> {
    let check = CheckName::parse(&r.check).ok()?;
    Some(CheckView {
        agent_id: r.agent_id.clone(),
        check,
        outcome: r.outcome.clone(),
        failure_kind: r.failure_kind.clone(),
        warning_kinds: r.warning_kinds.clone(),
        duration_us: r.duration_us,
        // The collector's receiving time, not the agent's start time (its clock may be off).
        received_unix_ms: r.received_unix_ms,
        not_microsoft: r
            .system_dns
            .as_ref()
            .and_then(|d| crate::endpoints::not_microsoft(endpoints, &d.host, &d.addresses)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(seq: u64, check: &str) -> CheckResult {
        CheckResult {
            seq,
            check: check.into(),
            outcome: Outcome::Pass as i32,
            ..CheckResult::default()
        }
    }

    /// The reasons of a batch's set-aside results, by seq.
    fn set_aside(batch: &[CheckResult]) -> Vec<(u64, String)> {
        let out = batch_rows(batch).unwrap();
        out.set_aside
            .into_iter()
            .map(|s| (s.seq, s.reason))
            .collect()
    }

    #[test]
    fn batches_are_refused_whole_only_for_their_size_and_order() {
        assert_eq!(
            batch_rows(&[result(1, "imap"), result(2, "smtp")])
                .unwrap()
                .rows
                .len(),
            2
        );
        let err = batch_rows(&[result(2, "imap"), result(2, "smtp")]).unwrap_err();
        assert!(err.to_string().contains("backwards or repeats"), "{err}");
        assert!(matches!(
            batch_rows(&[result(0, "imap")]),
            Err(InvalidInput::ZeroSeq { .. })
        ));
        let big: Vec<_> = (1..=501).map(|s| result(s, "imap")).collect();
        assert!(matches!(
            batch_rows(&big),
            Err(InvalidInput::BatchTooLarge(501))
        ));
    }

    #[test]
    fn a_malformed_result_is_set_aside_with_its_reason_and_the_rest_kept() {
        let mut odd_warning = result(2, "imap");
        odd_warning.warnings.push(eceprobe_proto::v1::Finding {
            kind: "tls_intercepted,extra".into(),
            ..Default::default()
        });
        let mut no_outcome = result(3, "imap");
        no_outcome.outcome = 0;
        let mut odd_failure = result(4, "imap");
        odd_failure.failure = Some(eceprobe_proto::v1::Finding {
            kind: "Bad Kind".into(),
            ..Default::default()
        });
        let batch = [
            result(1, "imap"),
            odd_warning,
            no_outcome,
            odd_failure,
            result(5, "Not A Name!"),
            result(6, "smtp"),
        ];
        let out = batch_rows(&batch).unwrap();
        assert_eq!(
            out.rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![1, 6]
        );
        let reasons = set_aside(&batch);
        assert_eq!(
            reasons.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![2, 3, 4, 5]
        );
        assert!(
            reasons[0]
                .1
                .contains("warning kind 'tls_intercepted,extra'"),
            "{reasons:?}"
        );
        assert!(reasons[1].1.contains("no outcome"), "{reasons:?}");
        assert!(
            reasons[2].1.contains("failure kind 'Bad Kind'"),
            "{reasons:?}"
        );
        assert!(
            reasons[3].1.contains("'Not A Name!' is not a check name"),
            "{reasons:?}"
        );
        // The summary names what it claimed, bounded.
        let mut huge = result(7, &"x".repeat(100_000));
        huge.check.push('!');
        let out = batch_rows(&[huge]).unwrap();
        assert!(out.set_aside[0].summary.len() < 600, "bounded");
        assert!(out.set_aside[0].reason.len() < 600, "bounded");
    }

    #[test]
    fn a_newer_agents_checks_and_kinds_are_stored() {
        let mut new_kind = result(3, "imap");
        new_kind.outcome = Outcome::Fail as i32;
        new_kind.failure = Some(eceprobe_proto::v1::Finding {
            kind: "quantum_blocked".into(),
            ..Default::default()
        });
        let batch = [
            result(1, "quic-443"),
            result(2, "oauth-graph/ece-mail@contoso.com"),
            new_kind,
        ];
        let out = batch_rows(&batch).unwrap();
        assert_eq!(out.rows.len(), 3);
        assert!(out.set_aside.is_empty());
        assert_eq!(out.rows[2].failure_kind.as_deref(), Some("quantum_blocked"));
    }

    #[test]
    fn oauth_names_are_accepted_per_mailbox_and_bad_ones_set_aside_by_name() {
        let good = [
            result(1, "imap"),
            result(2, "oauth-token/ece-mail@contoso.com"),
            result(3, "oauth-imap/ece-mail@contoso.com"),
            result(4, "oauth-pop3/support+eu@mail.contoso.co.uk"),
            result(5, "oauth-smtp/ece-mail@contoso.com"),
        ];
        let rows = batch_rows(&good).unwrap().rows;
        assert_eq!(rows[1].check, "oauth-token/ece-mail@contoso.com");
        for (name, expect) in [
            ("oauth-imap", "oauth-imap is per mailbox"),
            ("imap/ece-mail@contoso.com", "only the OAuth checks"),
            ("oauth-imap/ECE-Mail@contoso.com", "lower case"),
            ("oauth-imap/a@b@contoso.com", "exactly one '@'"),
            ("oauth-imap/<img src=x>@contoso.com", "before the '@'"),
            ("oauth-imap/x@contoso.com/../../etc", "after the '@'"),
            ("oauth-ftp/x@contoso.com/..", "after the '@'"),
            ("../etc/passwd", "is not a check name"),
        ] {
            let mut batch = good.to_vec();
            batch.push(result(6, name));
            let reasons = set_aside(&batch);
            assert_eq!(reasons.len(), 1, "{name}");
            let (seq, text) = &reasons[0];
            assert_eq!(*seq, 6);
            assert!(text.contains(expect), "{name}: {text}");
            assert!(text.contains(&format!("'{name}'")), "names it: {text}");
        }
    }

    #[test]
    fn check_views_carry_the_mailbox() {
        let state = |check: &str| CheckState {
            agent_id: "svc".into(),
            check: check.into(),
            seq: 1,
            outcome: "fail".into(),
            failure_kind: None,
            warning_kinds: Vec::new(),
            duration_us: 0,
            received_unix_ms: 1_800_000_000_000,
            system_dns: None,
        };
        let v = check_view(
            &state("oauth-imap/ece-mail@contoso.com"),
            &EndpointList::snapshot(),
        )
        .unwrap();
        assert_eq!(v.check.mailbox(), Some("ece-mail@contoso.com"));
        assert_eq!(
            v.received_unix_ms, 1_800_000_000_000,
            "the collector's time"
        );
        assert!(check_view(&state("oauth-imap"), &EndpointList::snapshot()).is_none());
        assert!(check_view(&state("ftp"), &EndpointList::snapshot()).is_none());
    }

    #[test]
    fn stage_durations_come_from_dns_and_the_used_address() {
        use eceprobe_proto::v1::{Attempt, Dns, StageTiming};
        let timing = |stage: &str, duration_us| StageTiming {
            stage: stage.into(),
            ok: true,
            duration_us,
        };
        let mut r = result(1, "imap");
        r.dns = Some(Dns {
            duration_us: 7,
            ..Dns::default()
        });
        r.attempts = vec![
            Attempt {
                address: "192.0.2.1:993".into(),
                stages: vec![timing("tcp", 1000)],
                ..Attempt::default()
            },
            Attempt {
                address: "192.0.2.2:993".into(),
                stages: vec![
                    timing("tcp", 10),
                    timing("tls", 20),
                    timing("Bad,Name", 5),
                    timing("tls", 1),
                ],
                ..Attempt::default()
            },
        ];
        r.used_address = "192.0.2.2:993".into();
        let stages = |r: &CheckResult| {
            let rows = batch_rows(std::slice::from_ref(r)).unwrap().rows;
            rows[0].stage_durations.clone()
        };
        let named = |v: &[(&str, u64)]| -> Vec<(String, u64)> {
            v.iter().map(|(s, d)| ((*s).to_owned(), *d)).collect()
        };
        assert_eq!(stages(&r), named(&[("dns", 7), ("tcp", 10), ("tls", 21)]));
        // No representative address (nothing reached): the first attempt's stages.
        r.used_address.clear();
        assert_eq!(stages(&r), named(&[("dns", 7), ("tcp", 1000)]));
        r.attempts.clear();
        r.dns = None;
        assert!(stages(&r).is_empty());
    }

    #[test]
    fn hello_ids_are_checked() {
        let mut hello = Hello {
            agent_id: "app-1.contoso".into(),
            role: Role::Application as i32,
            ..Hello::default()
        };
        assert_eq!(agent_record(&hello, 0).unwrap().role, "application");
        hello.agent_id = "bad id/../".into();
        assert!(matches!(
            agent_record(&hello, 0),
            Err(InvalidInput::AgentId(_))
        ));
        hello.agent_id = String::new();
        assert!(agent_record(&hello, 0).is_err());
    }

    #[test]
    fn hello_java_is_kept_bounded_and_its_absence_is_not_reported() {
        let mut hello = Hello {
            agent_id: "svc-1".into(),
            ..Hello::default()
        };
        // An agent older than the report sends neither field: not reported, not "no Java".
        assert_eq!(agent_record(&hello, 0).unwrap().java, None);
        hello.java_runtime = "/usr/lib/jvm/java-17-openjdk-amd64".into();
        assert_eq!(agent_record(&hello, 0).unwrap().java, None);

        hello.java_truststore = "Java trust store: /usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts (PKCS12, 140 trusted certificates)".into();
        let java = agent_record(&hello, 0).unwrap().java.unwrap();
        assert_eq!(java.runtime, hello.java_runtime);
        assert_eq!(java.truststore, hello.java_truststore);

        // None found: the line is reported, the runtime empty.
        hello.java_runtime = String::new();
        hello.java_truststore = "Java: none found (set [ece] java_home ...)".into();
        let java = agent_record(&hello, 0).unwrap().java.unwrap();
        assert_eq!(
            (java.runtime.as_str(), java.truststore.as_str()),
            ("", "Java: none found (set [ece] java_home ...)")
        );

        // 100 KB each: cut to the bound, on a character boundary, never refused.
        hello.java_runtime = "é".repeat(50 * 1024);
        hello.java_truststore = "x".repeat(100 * 1024);
        let java = agent_record(&hello, 0).unwrap().java.unwrap();
        assert!(java.runtime.len() <= bounds::JAVA_TEXT && java.runtime.ends_with('…'));
        assert_eq!(java.truststore.len(), bounds::JAVA_TEXT);
        assert!(java.truststore.starts_with("xxx") && java.truststore.ends_with('…'));
        // The other Hello strings are still refused past their bound.
        hello.os = "o".repeat(MAX_TEXT + 1);
        assert_eq!(
            agent_record(&hello, 0),
            Err(InvalidInput::TooLong { field: "os" })
        );
    }
}
