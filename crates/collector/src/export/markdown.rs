//! Markdown (GitHub-flavoured tables) for pasting into a change ticket.
//!
//! Text from the agents goes through [`cell`] or [`inline`]: a `|` or a newline would end a
//! table cell or start a block, and `<`/`>` would be raw HTML to a renderer that allows it.

use eceprobe_proto::v1::{AuditReport, AuditServer, Gap};

use super::findings::checklist_long;
use super::{
    audit_id, changes_line, closed_text, counts, orphan_items, policy, scope, server_items, status,
    summary_line, utc, verdict_class, Class, Item,
};

/// Text for one table cell: `|` escaped, newlines as `<br>`, no raw HTML.
fn cell(s: &str) -> String {
    let s = s
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|");
    let s = s.replace("\r\n", "<br>").replace(['\r', '\n'], "<br>");
    match s.trim() {
        "" => "-".to_owned(),
        t => t.to_owned(),
    }
}

/// Text in a heading or a paragraph: one line, no raw HTML.
fn inline(s: &str) -> String {
    s.replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("\r\n", " ")
        .replace(['\r', '\n'], " ")
}

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push('\n');
}

fn gap_rows(gaps: &[Gap]) -> Vec<Vec<String>> {
    gaps.iter()
        .map(|g| {
            vec![
                g.agent_id.clone(),
                g.check.clone(),
                g.severity.to_uppercase(),
                g.kind.clone(),
                g.detail.clone(),
            ]
        })
        .collect()
}

fn summary(out: &mut String, r: &AuditReport) {
    out.push_str(&format!("# Connectivity audit {}\n\n", inline(audit_id(r))));
    out.push_str(&format!("**{}**\n\n", inline(&summary_line(r))));
    let c = counts(r);
    let mut rows = Vec::new();
    if let Some(a) = &r.audit {
        rows.push(vec!["Audit".into(), a.audit_id.clone()]);
        rows.push(vec!["Scope".into(), scope(&a.deployment).to_owned()]);
        rows.push(vec!["Started".into(), utc(a.started_unix_ms)]);
        rows.push(vec!["State".into(), closed_text(a)]);
    }
    rows.push(vec![
        "Servers".into(),
        format!(
            "{} in scope, {} ordered, {} answered",
            c.servers, c.ordered, c.answered
        ),
    ]);
    rows.push(vec!["Checks run".into(), c.checks.to_string()]);
    rows.push(vec!["Gaps".into(), c.gaps.to_string()]);
    rows.push(vec!["Warnings".into(), c.warnings.to_string()]);
    rows.push(vec!["What changed".into(), changes_line(r)]);
    table(out, &["Item", "Value"], &rows);
}

fn changes(out: &mut String, r: &AuditReport) {
    let Some(d) = &r.diff else {
        out.push_str("## What changed\n\nThis is the first audit of this scope: nothing to compare with.\n\n");
        return;
    };
    out.push_str(&format!(
        "## What changed since audit {}\n\n{} new, {} resolved, {} unchanged.\n\n",
        inline(&d.from_audit_id),
        d.new_gaps.len(),
        d.resolved_gaps.len(),
        d.unchanged_gaps.len()
    ));
    let header = ["Server", "Check", "Severity", "Kind", "Detail"];
    for (title, gaps) in [
        ("New", &d.new_gaps),
        ("Resolved", &d.resolved_gaps),
        ("Unchanged", &d.unchanged_gaps),
    ] {
        if !gaps.is_empty() {
            out.push_str(&format!("### {title}\n\n"));
            table(out, &header, &gap_rows(gaps));
        }
    }
}

fn findings(out: &mut String, items: &[Item]) {
    if items.is_empty() {
        out.push_str("No findings.\n\n");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            vec![
                i.gap.severity.to_uppercase(),
                i.gap.check.clone(),
                i.gap.kind.clone(),
                i.gap.detail.clone(),
                checklist_long(&i.remedy.checklist_item),
                i.remedy.fix.clone(),
            ]
        })
        .collect();
    let header = [
        "Severity",
        "Check",
        "Kind",
        "Detail",
        "Checklist item",
        "Fix",
    ];
    table(out, &header, &rows);
}

fn server(out: &mut String, r: &AuditReport, s: &AuditServer) {
    let name = match s.hostname.as_str() {
        "" => s.agent_id.as_str(),
        h => h,
    };
    out.push_str(&format!(
        "### {} (agent {})\n\n",
        inline(name),
        inline(&s.agent_id)
    ));
    out.push_str(&format!(
        "Role: {}; deployment: {}; {}.\n\n",
        inline(&s.role),
        inline(&s.deployment),
        status(s)
    ));
    let items = server_items(r, s);
    if !s.verdicts.is_empty() {
        let rows: Vec<Vec<String>> = s
            .verdicts
            .iter()
            .map(|v| {
                let outcome = match verdict_class(&items, v) {
                    Class::Gap => format!("{} (gap)", v.outcome.to_uppercase()),
                    Class::Warning => format!("{} (warning)", v.outcome.to_uppercase()),
                    Class::Pass => v.outcome.to_uppercase(),
                };
                vec![
                    v.check.clone(),
                    v.target.clone(),
                    outcome,
                    v.failure_kind.clone(),
                    v.stage.clone(),
                    v.detail.clone(),
                ]
            })
            .collect();
        table(
            out,
            &[
                "Check",
                "Target",
                "Outcome",
                "Failure kind",
                "Stage",
                "Detail",
            ],
            &rows,
        );
    }
    out.push_str("#### Findings\n\n");
    findings(out, &items);
}

/// The longest run of backticks in `s`, so a fence around it can be longer.
fn longest_backticks(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

pub fn render(r: &AuditReport) -> String {
    let mut out = String::new();
    summary(&mut out, r);
    changes(&mut out, r);
    out.push_str("## Servers\n\n");
    if r.servers.is_empty() {
        out.push_str("No server in scope.\n\n");
    }
    for s in &r.servers {
        server(&mut out, r, s);
    }
    let orphans = orphan_items(r);
    if !orphans.is_empty() {
        out.push_str("## Findings on servers not listed above\n\n");
        findings(&mut out, &orphans);
    }
    let policy = policy(r);
    if !policy.is_empty() {
        let fence = "`".repeat(longest_backticks(policy).max(2) + 1);
        out.push_str(&format!("## Policy in force\n\n{fence}toml\n{}", policy));
        if !policy.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{fence}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\nc\r\nd"), "a\\|b<br>c<br>d");
        assert_eq!(cell("<script>"), "&lt;script&gt;");
        assert_eq!(cell(""), "-");
        assert_eq!(inline("x\ny"), "x y");
        assert_eq!(longest_backticks("a ```` b ` c"), 4);
    }
}
