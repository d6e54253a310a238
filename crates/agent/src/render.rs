//! The report as a person reads it: one line per check, then what to do for each problem.

use std::fmt::Write;

use eceprobe_checks::{
    anchor_label, CheckId, CheckReport, OAuthInfo, Outcome, Owner, RootSource, SuiteReport,
};

pub(crate) fn duration(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2} s", us as f64 / 1e6)
    } else {
        format!("{} ms", us.div_ceil(1000))
    }
}

/// What passed, in a few words: the proof the endpoint is what ECE needs.
fn pass_detail(c: &CheckReport) -> String {
    let mut parts = Vec::new();
    let counted = c.attempts.len();
    if counted > 1 {
        parts.push(format!("{counted} addresses"));
    }
    if let Some(a) = c.used_attempt() {
        if let Some(p) = &a.protocol {
            if let Some(status) = p.http_status {
                parts.push(format!("HTTP {status}"));
            }
            if p.token_endpoint.is_some() {
                parts.push("token endpoint found".into());
            }
            if p.sasl_mechanisms
                .iter()
                .any(|m| m.eq_ignore_ascii_case("XOAUTH2"))
            {
                parts.push("XOAUTH2 offered".into());
            }
        }
        if let Some(t) = &a.tls {
            if let Some(v) = &t.version {
                parts.push(v.clone());
            }
            // Microsoft's roots are the rule and go unsaid; a root the administrator
            // declared (a lab's CA, an accepted inspecting proxy) is said, so a pass is
            // never read as "Microsoft's chain" when it is not.
            if t.expected_root_source == Some(RootSource::Declared) {
                if let Some(label) = anchor_label(t.expected_root, t.expected_root_source) {
                    parts.push(format!("chain ends at {label}"));
                }
            }
            // ECE's Java's verdict goes unsaid on a pass: a chain it judged and could not
            // build fails the check (`java_untrusted`, `chain_incomplete`, naming the trust
            // store), so every pass it judged is a chain it trusts; the store is `ece-java`'s.
        }
    }
    if let Some(p) = &c.via_proxy {
        parts.push(format!("via proxy {p}"));
    }
    parts.join(", ")
}

/// What an OAuth check found: for the token, whose it is, its scopes (or roles) and
/// lifetime; for a login, that XOAUTH2 worked. Non-secret claims only.
fn oauth_detail(c: &CheckReport, o: &OAuthInfo) -> String {
    if c.check != CheckId::OauthToken {
        let rest = pass_detail(c);
        return match rest.is_empty() {
            true => "XOAUTH2 login OK".to_string(),
            false => format!("XOAUTH2 login OK, {rest}"),
        };
    }
    let mut parts = Vec::new();
    let claims = o.claims.as_ref();
    match claims.and_then(|c| c.user.as_deref()) {
        Some(user) => parts.push(format!("token user {user}")),
        None if o.grant == "client_credentials" => parts.push("app-only token".to_string()),
        None => parts.push("opaque token (no claims to show)".to_string()),
    }
    if let Some(claims) = claims {
        if !claims.scopes.is_empty() {
            parts.push(format!("scopes {}", claims.scopes.join(" ")));
        }
        if !claims.roles.is_empty() {
            parts.push(format!("roles {}", claims.roles.join(" ")));
        }
    }
    match (claims.and_then(|c| c.lifetime_s), o.expires_in_s) {
        (Some(l), _) => parts.push(format!("lifetime {l} s")),
        (None, Some(e)) => parts.push(format!("expires in {e} s")),
        (None, None) => {}
    }
    if o.refresh_token_issued == Some(true) {
        parts.push("refresh token rotated".to_string());
    }
    parts.join(", ")
}

pub(crate) fn detail(c: &CheckReport) -> String {
    match (&c.failure, c.warnings.first(), &c.oauth) {
        (Some(f), _, _) => format!("{}: {}", f.kind, f.detail),
        // Every warning with its figures (a slow resolver and a lossy path are two facts).
        (None, Some(_), _) => c
            .warnings
            .iter()
            .map(|w| format!("{}: {}", w.kind, w.detail))
            .collect::<Vec<_>>()
            .join("; "),
        (None, None, Some(o)) => oauth_detail(c, o),
        (None, None, None) => pass_detail(c),
    }
}

/// The TARGET column: the mailbox for the OAuth checks, host:port for the others.
pub(crate) fn target(c: &CheckReport) -> String {
    match &c.oauth {
        Some(o) => o.mailbox.clone(),
        None => c.target(),
    }
}

/// Names the check in "What to do": the mailbox too for the OAuth checks.
pub(crate) fn label(c: &CheckReport) -> String {
    match &c.oauth {
        Some(o) => format!("{} {}", c.check, o.mailbox),
        None => c.check.to_string(),
    }
}

/// The table plus hints. The OAuth checks come last (the caller appends them).
pub fn table(report: &SuiteReport, heading: &str) -> String {
    let mut rows = vec![[
        "CHECK".to_string(),
        "TARGET".to_string(),
        "RESULT".to_string(),
        "STAGE".to_string(),
        "TIME".to_string(),
        "DETAIL".to_string(),
    ]];
    for c in &report.checks {
        let stage = c
            .failure
            .as_ref()
            .map_or("-".to_string(), |f| f.stage.to_string());
        rows.push([
            c.check.to_string(),
            target(c),
            c.outcome.as_str().to_string(),
            stage,
            duration(c.duration_us),
            detail(c),
        ]);
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "{heading}\n");
    for row in &rows {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(widths.iter()) {
            let _ = write!(line, "{cell:<w$}  ");
        }
        line.push_str(&row[5]);
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let problems: Vec<_> = report
        .checks
        .iter()
        .flat_map(|c| c.failure.iter().chain(&c.warnings).map(move |f| (c, f)))
        .collect();
    let failed = report
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Fail)
        .count();
    let warned = report
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Warn)
        .count();
    let _ = writeln!(
        out,
        "\n{} {}: {} passed, {failed} failed, {warned} with warnings ({})",
        report.checks.len(),
        if report.checks.len() == 1 {
            "check"
        } else {
            "checks"
        },
        report.checks.len() - failed - warned,
        duration(report.duration_us)
    );
    if !problems.is_empty() {
        let _ = writeln!(out, "\nWhat to do, by team:");
        // Grouped by the team that closes each (network, m365, ece, host), in table order
        // within a team: one block to hand to each.
        for owner in Owner::ALL {
            let mine: Vec<_> = problems
                .iter()
                .filter(|(_, f)| f.kind.owner() == owner)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let _ = writeln!(out, "  {owner}: {}", owner.team());
            for (c, f) in mine {
                let _ = writeln!(out, "    {} ({}): {}", label(c), f.kind, f.hint);
                // The device a path trace named: whom to ask (its owner, a change request).
                if let Some(device) = f.device {
                    let _ = writeln!(
                        out,
                        "      the device on the path to take it up with: {device} (the trace is in the detail)"
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use eceprobe_checks::{AddressAttempt, JavaChainVerdict, TlsInfo};

    fn imap_pass(java: Option<JavaChainVerdict>) -> CheckReport {
        let address = "52.97.1.1:993".parse().unwrap();
        CheckReport {
            check: CheckId::Imap,
            host: "outlook.office365.com".into(),
            port: 993,
            outcome: Outcome::Pass,
            failure: None,
            warnings: Vec::new(),
            duration_us: 80_000,
            dns: None,
            via_proxy: None,
            attempts: vec![AddressAttempt {
                address,
                stages: Vec::new(),
                tls: Some(TlsInfo {
                    version: Some("TLSv1.3".into()),
                    trusted: true,
                    expected_root: Some(true),
                    expected_root_source: Some(RootSource::Microsoft),
                    java,
                    ..TlsInfo::default()
                }),
                protocol: None,
                failure: None,
                warnings: Vec::new(),
                tcp_info: None,
                path: None,
                source: None,
            }],
            used_address: Some(address),
            oauth: None,
        }
    }

    /// A pass ECE's Java judged is a chain it trusts (one it refuses fails the check): the
    /// row reads as any pass.
    #[test]
    fn a_pass_judged_by_java_reads_as_any_pass() {
        let judged = imap_pass(Some(JavaChainVerdict {
            trusted: true,
            store: "/opt/ece/jre/lib/security/cacerts".into(),
            ..JavaChainVerdict::default()
        }));
        assert_eq!(pass_detail(&judged), "TLSv1.3");
        assert_eq!(pass_detail(&judged), pass_detail(&imap_pass(None)));
    }
}
