//! CSV (RFC 4180: CRLF, fields with a comma, quote, CR or LF quoted, quotes doubled), for a
//! spreadsheet or a ticket attachment. One row per (server, check) verdict with the
//! finding on it, a further row for each further finding on the same verdict, and one row
//! per finding without a verdict (a server that did not answer, a check never reported);
//! servers and verdicts in the order of the other formats, failures first.
//!
//! A cell that starts with `=`, `+`, `-`, `@`, tab or CR gets a leading `'`: spreadsheets
//! run such cells as formulas, and host names and details come from agents.

use eceprobe_checks::ChecklistItem;
use eceprobe_proto::v1::{AuditReport, AuditServer, AuditVerdict, Gap};

use crate::gaps::owner_name;

use super::{orphan_items, server_items, servers_in_order, verdicts_in_order, Item};

pub const HEADER: [&str; 16] = [
    "audit_id",
    "deployment",
    "agent_id",
    "hostname",
    "role",
    "check",
    "target",
    "outcome",
    "failure_kind",
    "stage",
    "gap_severity",
    "gap_kind",
    "owner",
    "checklist_item",
    "fix",
    "detail",
];

/// One field, guarded against formulas and quoted when it must be.
fn field(s: &str) -> String {
    let guarded = match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_owned(),
    };
    match guarded.contains([',', '"', '\r', '\n']) {
        true => format!("\"{}\"", guarded.replace('"', "\"\"")),
        false => guarded,
    }
}

pub(crate) fn push_row(out: &mut String, cells: &[&str]) {
    let fields: Vec<String> = cells.iter().map(|c| field(c)).collect();
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}

/// The detail of a row: what the probe saw, then what the finding says when it adds to it
/// (a failing gap's detail is only its failure kind again).
fn detail(v: Option<&AuditVerdict>, g: Option<&Gap>) -> String {
    let seen = v.map(|v| v.detail.as_str()).unwrap_or("");
    let found = g
        .map(|g| g.detail.as_str())
        .filter(|d| Some(*d) != v.map(|v| v.failure_kind.as_str()))
        .unwrap_or("");
    match (seen, found) {
        ("", f) => f.to_owned(),
        (s, "") => s.to_owned(),
        (s, f) if s == f => s.to_owned(),
        (s, f) => format!("{s}; {f}"),
    }
}

struct Row<'a> {
    audit_id: &'a str,
    server: Option<&'a AuditServer>,
    verdict: Option<&'a AuditVerdict>,
    item: Option<&'a Item<'a>>,
}

fn row(out: &mut String, r: Row) {
    let s = r.server;
    let v = r.verdict;
    let g = r.item.map(|i| i.gap);
    let of_server = |f: fn(&AuditServer) -> &str| s.map(f).unwrap_or("");
    let of_verdict = |f: fn(&AuditVerdict) -> &str| v.map(f).unwrap_or("");
    let of_gap = |f: fn(&Gap) -> &str| g.map(f).unwrap_or("");
    let deployment = match of_server(|s| &s.deployment) {
        "" => of_gap(|g| &g.deployment),
        d => d,
    };
    let agent_id = match of_server(|s| &s.agent_id) {
        "" => of_gap(|g| &g.agent_id),
        a => a,
    };
    let check = match of_verdict(|v| &v.check) {
        "" => of_gap(|g| &g.check),
        c => c,
    };
    let remedy = r.item.map(|i| &i.remedy);
    let items = remedy
        .map(|x| ChecklistItem::join(&x.items))
        .unwrap_or_default();
    push_row(
        out,
        &[
            r.audit_id,
            deployment,
            agent_id,
            of_server(|s| &s.hostname),
            of_server(|s| &s.role),
            check,
            of_verdict(|v| &v.target),
            of_verdict(|v| &v.outcome),
            of_verdict(|v| &v.failure_kind),
            of_verdict(|v| &v.stage),
            of_gap(|g| &g.severity),
            of_gap(|g| &g.kind),
            g.map(|g| owner_name(&g.kind, &g.detail)).unwrap_or(""),
            &items,
            remedy.map(|x| x.fix.as_str()).unwrap_or(""),
            &detail(v, g),
        ],
    );
}

pub fn render(report: &AuditReport) -> String {
    let audit_id = report
        .audit
        .as_ref()
        .map(|a| a.audit_id.as_str())
        .unwrap_or("");
    let mut out = String::new();
    push_row(&mut out, &HEADER);
    for s in servers_in_order(report) {
        let items = server_items(report, s);
        for v in verdicts_in_order(&items, s) {
            let mine: Vec<&Item> = items.iter().filter(|i| i.gap.check == v.check).collect();
            // A verdict without a finding is still a row: the ticket shows what passed.
            let mine: Vec<Option<&Item>> = match mine.is_empty() {
                true => vec![None],
                false => mine.into_iter().map(Some).collect(),
            };
            for found in mine {
                let (server, verdict) = (Some(s), Some(v));
                row(
                    &mut out,
                    Row {
                        audit_id,
                        server,
                        verdict,
                        item: found,
                    },
                );
            }
        }
        for found in items.iter().filter(|i| i.verdict.is_none()) {
            let server = Some(s);
            row(
                &mut out,
                Row {
                    audit_id,
                    server,
                    verdict: None,
                    item: Some(found),
                },
            );
        }
    }
    for found in &orphan_items(report) {
        row(
            &mut out,
            Row {
                audit_id,
                server: None,
                verdict: None,
                item: Some(found),
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_guarded() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b\"c"), "\"a,b\"\"c\"");
        assert_eq!(field("x\ny"), "\"x\ny\"");
        assert_eq!(field("=1+2"), "'=1+2");
        assert_eq!(field("-2,3"), "\"'-2,3\"");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field(""), "");
    }
}
