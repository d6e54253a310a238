//! One check's details in the report: the DNS answer, each address with its stages, the
//! TLS session and its chain (each distinct chain once), the path trace, what the protocol
//! dialog and the token showed (non-secret claims only).

use std::fmt::Write as _;

use eceprobe_checks::{
    anchor_label, tls_version_label, AddressAttempt, AddressSource, CheckReport, TlsInfo,
};
use eceprobe_report::{Block, Class, Row, Table};

use crate::render::{duration, label, target};

/// "dns 3 ms, tcp 5000 ms FAILED".
fn stages(a: &AddressAttempt) -> String {
    a.stages
        .iter()
        .map(|s| match s.ok {
            true => format!("{} {}", s.stage, duration(s.duration_us)),
            false => format!("{} {} FAILED", s.stage, duration(s.duration_us)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn attempt_result(a: &AddressAttempt) -> String {
    let mut words: Vec<String> = a
        .failure
        .iter()
        .chain(&a.warnings)
        .map(|f| format!("{} at {}: {}", f.kind, f.stage, f.detail))
        .collect();
    if words.is_empty() {
        words.push("passed".to_owned());
    }
    if let Some(t) = &a.tcp_info {
        words.push(format!(
            "round trip {}, {} retransmitted",
            duration(u64::from(t.rtt_us)),
            t.lost()
        ));
    }
    words.join("; ")
}

fn attempts(c: &CheckReport) -> Block {
    let rows = c
        .attempts
        .iter()
        .map(|a| Row {
            class: match (&a.failure, a.warnings.is_empty()) {
                (Some(_), _) => Class::Gap,
                (None, false) => Class::Warning,
                (None, true) => Class::Pass,
            },
            cells: vec![
                a.address.to_string(),
                a.source.map_or(String::new(), |s| s.to_string()),
                stages(a),
                attempt_result(a),
            ],
        })
        .collect();
    Block::Table(Table {
        class: "attempts",
        header: &["Address", "From", "Stages", "Result"],
        rows,
        marked: None,
    })
}

/// The TLS session in a sentence: version, cipher, who trusts the chain, what is missing.
fn tls_line(t: &TlsInfo) -> String {
    let mut parts = Vec::new();
    if let Some(v) = &t.version {
        parts.push(tls_version_label(v));
    }
    if let Some(c) = &t.cipher {
        parts.push(c.clone());
    }
    parts.push(match t.trusted {
        true => "trusted by this host".to_owned(),
        false => "not trusted by this host".to_owned(),
    });
    if let Some(label) = anchor_label(t.expected_root, t.expected_root_source) {
        parts.push(format!("ends at {label}"));
    }
    if let Some(root) = &t.chain_root {
        parts.push(format!("last issuer {root}"));
    }
    if let Some(j) = &t.java {
        let verdict = match j.trusted {
            true => "trusts it",
            false => "cannot build a path for it",
        };
        parts.push(format!("ECE's Java ({}) {verdict}", j.store));
    }
    if let Some(m) = &t.missing_issuer {
        let mut missing = format!("intermediate not sent: {}", m.subject);
        if let Some(url) = &m.aia_url {
            let _ = write!(missing, " (from {url})");
        }
        parts.push(missing);
    }
    format!("TLS: {}.", parts.join("; "))
}

fn chain(t: &TlsInfo) -> Block {
    let rows = t
        .chain
        .iter()
        .enumerate()
        .map(|(i, cert)| Row {
            class: Class::Pass,
            cells: vec![
                (i + 1).to_string(),
                cert.subject.clone(),
                cert.issuer.clone(),
                cert.dns_names.join(", "),
                cert.not_after.clone(),
                cert.sha256.clone(),
            ],
        })
        .collect();
    Block::Table(Table {
        class: "chain",
        header: &["#", "Subject", "Issuer", "Names", "Expires", "SHA-256"],
        rows,
        marked: None,
    })
}

/// The DNS answer and the proxy, in a sentence.
fn dns_line(c: &CheckReport) -> Option<String> {
    let dns = c.dns.as_ref()?;
    let source = match dns.source {
        AddressSource::System => "the system's resolver",
        AddressSource::Override => "a resolve override",
        AddressSource::Proxy => "the proxy's address (the proxy resolves the name)",
    };
    let addresses: Vec<String> = dns.addresses.iter().map(|a| a.ip().to_string()).collect();
    let mut line = format!(
        "DNS ({source}, {}): {}.",
        duration(dns.duration_us),
        match addresses.is_empty() {
            true => "no address".to_owned(),
            false => addresses.join(", "),
        }
    );
    for f in &dns.families {
        let _ = write!(
            line,
            " {}: {} address(es) in {}{}.",
            f.family,
            f.addresses,
            duration(f.duration_us),
            f.error.as_ref().map_or(String::new(), |e| format!(", {e}"))
        );
    }
    if let Some(p) = &c.via_proxy {
        let _ = write!(line, " Via the proxy {p}.");
    }
    Some(line)
}

/// What the protocol dialog and the token showed: greeting, front end, mechanisms, HTTP
/// status; the grant and the token's claims (never a token).
fn dialog_facts(c: &CheckReport) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    if let Some(p) = c.used_attempt().and_then(|a| a.protocol.as_ref()) {
        if let Some(g) = &p.greeting {
            rows.push(("Greeting", g.clone()));
        }
        if let Some(f) = &p.front_end {
            rows.push(("Front end", f.clone()));
        }
        if !p.sasl_mechanisms.is_empty() {
            rows.push(("SASL mechanisms", p.sasl_mechanisms.join(" ")));
        }
        if let Some(s) = p.http_status {
            rows.push(("HTTP status", s.to_string()));
        }
        if let Some(t) = &p.token_endpoint {
            rows.push(("Token endpoint", t.clone()));
        }
    }
    if let Some(o) = &c.oauth {
        rows.push(("Mailbox", o.mailbox.clone()));
        rows.push(("Grant", o.grant.clone()));
        if !o.requested_scopes.is_empty() {
            rows.push(("Scopes asked", o.requested_scopes.join(" ")));
        }
        if !o.granted_scopes.is_empty() {
            rows.push(("Scopes granted", o.granted_scopes.join(" ")));
        }
        if let Some(claims) = &o.claims {
            if let Some(user) = &claims.user {
                rows.push(("Token user", user.clone()));
            }
            if !claims.roles.is_empty() {
                rows.push(("Token roles", claims.roles.join(" ")));
            }
            if let Some(aud) = &claims.audience {
                rows.push(("Audience", aud.clone()));
            }
            if let Some(l) = claims.lifetime_s {
                rows.push(("Lifetime", format!("{l} s")));
            }
        }
        if let Some(e) = &o.error {
            let code = o.aadsts.map_or(String::new(), |n| format!(" (AADSTS{n})"));
            rows.push(("Error", format!("{e}{code}")));
        }
        for (key, id) in [
            ("Trace id", &o.trace_id),
            ("Correlation id", &o.correlation_id),
        ] {
            if let Some(id) = id {
                rows.push((key, id.clone()));
            }
        }
    }
    rows
}

pub(super) fn check_section(c: &CheckReport) -> Block {
    let mut out = vec![Block::heading(
        3,
        format!("{} ({}): {}", label(c), target(c), c.outcome.as_str()),
    )];
    if let Some(line) = dns_line(c) {
        out.push(Block::text(line));
    }
    if !c.attempts.is_empty() {
        out.push(attempts(c));
    }
    let facts = dialog_facts(c);
    if !facts.is_empty() {
        out.push(Block::Facts(facts));
    }
    // Each distinct chain once (every address of a name usually presents the same).
    let mut shown: Vec<Vec<&str>> = Vec::new();
    for a in &c.attempts {
        let Some(t) = &a.tls else { continue };
        let key: Vec<&str> = t.chain.iter().map(|c| c.sha256.as_str()).collect();
        if shown.contains(&key) {
            continue;
        }
        out.push(Block::text(format!("{} (from {})", tls_line(t), a.address)));
        if !t.chain.is_empty() {
            out.push(chain(t));
        }
        shown.push(key);
    }
    for a in &c.attempts {
        let Some(path) = &a.path else { continue };
        out.push(Block::text(format!(
            "Path to {} (port {}, {}): {}",
            a.address.ip(),
            path.port,
            path.method,
            path.verdict
        )));
        let hops = path
            .hops
            .iter()
            .map(|h| Row {
                class: Class::Pass,
                cells: vec![
                    h.ttl.to_string(),
                    h.address.map_or(String::new(), |a| a.to_string()),
                    h.rtt_us.map_or(String::new(), duration),
                    h.answer.words(),
                ],
            })
            .collect::<Vec<_>>();
        if !hops.is_empty() {
            out.push(Block::Table(Table {
                class: "hops",
                header: &["TTL", "Address", "Round trip", "Answer"],
                rows: hops,
                marked: None,
            }));
        }
    }
    Block::Section("server", out)
}
