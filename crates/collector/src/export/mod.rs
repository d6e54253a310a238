//! Audit reports for a change ticket: Markdown, HTML (self-contained, printable), CSV and
//! JSON renderings of one audit as the Query API's `GetAudit` answers it, so the admin CLI
//! renders them on its side and a collector never writes files for people.
//!
//! Every format has the same shape: a summary (audit, scope, times in UTC, servers, checks
//! run, gaps and warnings, what changed since the previous audit), then each server with
//! its verdicts and, for each of its findings, the checklist item it breaks and the fix
//! ([`findings`], the one place for that), then the policy in force. Servers, verdicts and
//! findings are listed failures first, then warnings, then passes ([`crate::order`]), so
//! the one red line is not below a page of green ones. Pure functions: text
//! from the agents (host names, details) is hostile input and each format escapes it.

pub mod by_team;
mod csv;
mod document;
pub mod findings;
pub mod json;
#[cfg(test)]
pub(crate) mod sample;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use eceprobe_proto::v1::{Audit, AuditReport, AuditServer, AuditVerdict, Gap};

/// One CSV row (RFC 4180, formula-guarded) and one Markdown table (cells escaped): the
/// change requests write theirs as the reports do.
pub(crate) use csv::push_row as csv_row;
use document::{attention, verdict_class};
pub(crate) use eceprobe_report::markdown::inline as markdown_inline;
pub(crate) use eceprobe_report::markdown::table as markdown_table;
pub use findings::{remedy, Remedy};

use crate::order::{by_attention, Attention};

/// A report format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Csv,
    Json,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown report format '{0}': use md (or markdown), html, csv or json")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "md" | "markdown" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(UnknownFormat(s.to_owned())),
        }
    }
}

impl Format {
    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// The report in one format.
pub fn render(report: &AuditReport, format: Format) -> String {
    match format {
        Format::Markdown => eceprobe_report::markdown::render(&document::document(report)),
        Format::Html => eceprobe_report::html::render(&document::document(report)),
        Format::Csv => csv::render(report),
        Format::Json => format!("{:#}\n", json::report_json(report)),
    }
}

/// The role policy the audit was evaluated with (TOML); empty when the collector did not
/// record it.
fn policy(report: &AuditReport) -> &str {
    &report.policy
}

/// In UTC: the collector and its servers may sit in different time zones.
fn utc(unix_ms: i64) -> String {
    crate::civil::utc_minutes(unix_ms)
}

fn scope(deployment: &str) -> &str {
    match deployment {
        "" => "all deployments",
        d => d,
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// The numbers of the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Counts {
    servers: usize,
    ordered: usize,
    answered: usize,
    checks: usize,
    gaps: usize,
    warnings: usize,
}

fn counts(r: &AuditReport) -> Counts {
    let severity = |s: &str| r.gaps.iter().filter(|g| g.severity == s).count();
    let listed = |f: fn(&AuditServer) -> bool| r.servers.iter().filter(|s| f(s)).count();
    // The audit record's counts are the collector's; the server list says the same when the
    // record is absent.
    let (servers, ordered, answered) = match &r.audit {
        Some(a) => (a.servers as usize, a.ordered as usize, a.answered as usize),
        None => (
            r.servers.len(),
            listed(|s| s.ordered),
            listed(|s| s.answered_unix_ms != 0),
        ),
    };
    Counts {
        servers,
        ordered,
        answered,
        checks: r.servers.iter().map(|s| s.verdicts.len()).sum(),
        gaps: severity("gap"),
        warnings: severity("warning"),
    }
}

fn audit_id(r: &AuditReport) -> &str {
    r.audit.as_ref().map(|a| a.audit_id.as_str()).unwrap_or("")
}

/// "closed 2026-11-28 15:23Z" or "running until ...".
fn closed_text(a: &Audit) -> String {
    match a.closed_unix_ms {
        0 => format!("running until {}", utc(a.deadline_unix_ms)),
        t => format!("closed {}", utc(t)),
    }
}

/// What changed since the previous audit of the same scope, in one line.
fn changes_line(r: &AuditReport) -> String {
    match &r.diff {
        Some(d) => format!(
            "since audit {}: {} new, {} resolved, {} unchanged",
            d.from_audit_id,
            d.new_gaps.len(),
            d.resolved_gaps.len(),
            d.unchanged_gaps.len()
        ),
        None => "first audit of this scope: nothing to compare with".to_owned(),
    }
}

/// The one-line summary every format opens with.
fn summary_line(r: &AuditReport) -> String {
    let c = counts(r);
    let deployment = r
        .audit
        .as_ref()
        .map(|a| a.deployment.as_str())
        .unwrap_or("");
    format!(
        "Audit {} ({}): {} in scope, {} ordered, {} answered; {} run; {}, {}; {}.",
        audit_id(r),
        scope(deployment),
        plural(c.servers, "server", "servers"),
        c.ordered,
        c.answered,
        plural(c.checks, "check", "checks"),
        plural(c.gaps, "gap", "gaps"),
        plural(c.warnings, "warning", "warnings"),
        changes_line(r)
    )
}

/// Whether a server answered the audit, for people.
fn status(s: &AuditServer) -> String {
    match (s.answered_unix_ms, s.ordered) {
        (0, true) => "did not answer (ordered, no result before the deadline)".to_owned(),
        (0, false) => "did not answer (not connected when the audit started)".to_owned(),
        (t, _) => format!("answered {}", utc(t)),
    }
}

/// A finding with the verdict it is about (if any) and its remedy.
struct Item<'a> {
    gap: &'a Gap,
    verdict: Option<&'a AuditVerdict>,
    remedy: Remedy,
}

fn item<'a>(gap: &'a Gap, server: Option<&'a AuditServer>) -> Item<'a> {
    let verdict = server
        .filter(|_| !gap.check.is_empty())
        .and_then(|s| s.verdicts.iter().find(|v| v.check == gap.check));
    Item {
        gap,
        verdict,
        remedy: remedy(gap, server, verdict),
    }
}

/// Findings in reading order: gaps before warnings, by check within each ([`by_attention`]).
fn in_order(mut items: Vec<Item<'_>>) -> Vec<Item<'_>> {
    by_attention(&mut items, |i| {
        (
            Attention::of_severity(&i.gap.severity),
            i.gap.check.as_str(),
        )
    });
    items
}

/// A server's findings, gaps before warnings.
fn server_items<'a>(r: &'a AuditReport, s: &'a AuditServer) -> Vec<Item<'a>> {
    in_order(
        r.gaps
            .iter()
            .filter(|g| g.agent_id == s.agent_id)
            .map(|g| item(g, Some(s)))
            .collect(),
    )
}

/// Findings about servers the report does not list (kept, never dropped silently).
fn orphan_items(r: &AuditReport) -> Vec<Item<'_>> {
    in_order(
        r.gaps
            .iter()
            .filter(|g| !r.servers.iter().any(|s| s.agent_id == g.agent_id))
            .map(|g| item(g, None))
            .collect(),
    )
}

/// A server's verdicts in reading order: red, then amber, then green
/// ([`document::verdict_class`]), by check within each.
fn verdicts_in_order<'a>(items: &[Item], s: &'a AuditServer) -> Vec<&'a AuditVerdict> {
    let mut verdicts: Vec<&AuditVerdict> = s.verdicts.iter().collect();
    by_attention(&mut verdicts, |v| {
        (attention(verdict_class(items, v)), v.check.as_str())
    });
    verdicts
}

/// The servers in reading order: those with a gap (a server that did not answer has one)
/// first, then those with a warning or a verdict that is not a pass, then the rest; by
/// agent id within each.
fn servers_in_order(r: &AuditReport) -> Vec<&AuditServer> {
    let mut servers: Vec<(Attention, &AuditServer)> = r
        .servers
        .iter()
        .map(|s| {
            let items = server_items(r, s);
            let worst = items
                .iter()
                .map(|i| Attention::of_severity(&i.gap.severity))
                .chain(
                    s.verdicts
                        .iter()
                        .map(|v| attention(verdict_class(&items, v))),
                )
                .min()
                .unwrap_or(Attention::Pass);
            (worst, s)
        })
        .collect();
    by_attention(&mut servers, |(worst, s)| (*worst, s.agent_id.as_str()));
    servers.into_iter().map(|(_, s)| s).collect()
}

/// Every finding of the audit with its remedy, in the order a person acts on them: gaps,
/// then warnings, by server, then check (the CLI's gap table's order). What `audit run
/// --wait` and `audit show` print under "What to do", the same fixes the reports print.
pub fn remedies(r: &AuditReport) -> Vec<(&Gap, Remedy)> {
    // Each server's items come by check; the sort is stable.
    let mut items: Vec<Item> = r
        .servers
        .iter()
        .flat_map(|s| server_items(r, s))
        .chain(orphan_items(r))
        .collect();
    by_attention(&mut items, |i| {
        (
            Attention::of_severity(&i.gap.severity),
            i.gap.agent_id.as_str(),
        )
    });
    items.into_iter().map(|i| (i.gap, i.remedy)).collect()
}
