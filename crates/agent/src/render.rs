//! The report as a person reads it: one line per check, then what to do for each problem.

use std::fmt::Write;

use eceprobe_checks::{CheckReport, Outcome, SuiteReport};

fn duration(us: u64) -> String {
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
        if let Some(v) = a.tls.as_ref().and_then(|t| t.version.as_deref()) {
            parts.push(v.to_string());
        }
    }
    if let Some(p) = &c.via_proxy {
        parts.push(format!("via proxy {p}"));
    }
    parts.join(", ")
}

fn detail(c: &CheckReport) -> String {
    match (&c.failure, c.warnings.first()) {
        (Some(f), _) => format!("{}: {}", f.kind, f.detail),
        (None, Some(w)) => format!("{}: {}", w.kind, w.detail),
        (None, None) => pass_detail(c),
    }
}

/// The table plus hints.
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
            c.target(),
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
        "\n{} checks: {} passed, {failed} failed, {warned} with warnings ({})",
        report.checks.len(),
        report.checks.len() - failed - warned,
        duration(report.duration_us)
    );
    if !problems.is_empty() {
        let _ = writeln!(out, "\nWhat to do:");
        for (c, f) in problems {
            let _ = writeln!(out, "  {} ({}): {}", c.check, f.kind, f.hint);
        }
    }
    out
}
