//! From the wire to storage rows, validating what an agent sent. Every rejection says what
//! was wrong in terms the agent's operator can act on.

use eceprobe_proto::bounds;
use eceprobe_proto::v1::{CheckResult, Hello, Role};
use prost::Message;

use crate::checkname::{self, CheckName, CheckNameError};
use crate::newer::well_formed_kind;
use crate::store::{
    AgentRecord, CheckState, JavaReport, NewResult, SetAside, StoredResult, SystemDns,
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
    /// PostgreSQL cannot store U+0000 and a real agent never sends one: refused alike on
    /// both engines, so the store behaves the same whichever it runs on.
    #[error("hello: {field} holds a NUL character, which no host name or version has")]
    Nul { field: &'static str },
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
    /// PostgreSQL cannot store U+0000: set aside alike on both engines.
    #[error("its {0} holds a NUL character")]
    Nul(&'static str),
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

/// A stored role ([`role_name`]) as the checks read it: an undeclared one (`unspecified`)
/// means the server may do either, so it needs both sets of checks.
pub fn stored_role(stored: &str) -> eceprobe_checks::Role {
    stored.parse().unwrap_or_default()
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
        if value.contains('\0') {
            return Err(InvalidInput::Nul { field });
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
        runtime: without_nul(bounds::cut(hello.java_runtime.trim(), bounds::JAVA_TEXT)),
        truststore: without_nul(bounds::cut(truststore, bounds::JAVA_TEXT)),
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

/// A diagnostic line as stored: U+0000 (which PostgreSQL cannot store) shown as U+FFFD.
fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

/// One result as a row, or why it cannot be one.
fn result_row(r: &CheckResult) -> Result<NewResult, Malformed> {
    CheckName::reported(&r.check).map_err(Malformed::CheckName)?;
    let outcome = crate::result_view::outcome_word(r.outcome).ok_or(Malformed::NoOutcome)?;
    if let Some(f) = r.failure.as_ref().filter(|f| !well_formed_kind(&f.kind)) {
        return Err(Malformed::FailureKind(shown_kind(&f.kind)));
    }
    if r.failure.as_ref().is_some_and(|f| f.stage.contains('\0')) {
        return Err(Malformed::Nul("failure stage"));
    }
    if r.audit_id.contains('\0') {
        return Err(Malformed::Nul("audit id"));
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

/// The state the gap engine reads, as the `latest` table's summary columns hold it, of a
/// full stored result (audits derive it so; the fleet reads it from rows). Here, not in the
/// store, because the system DNS answer is decoded from the result's protobuf detail.
pub fn state_of(r: &StoredResult) -> CheckState {
    CheckState {
        agent_id: r.agent_id.clone(),
        check: r.check.clone(),
        seq: r.seq,
        outcome: r.outcome.clone(),
        failure_kind: r.failure_kind.clone(),
        warning_kinds: r.warning_kinds.clone(),
        duration_us: r.duration_us,
        received_unix_ms: r.received_unix_ms,
        system_dns: CheckResult::decode(r.detail.as_slice())
            .ok()
            .and_then(|d| system_dns(&d)),
    }
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

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
