//! HTML: one self-contained page (inline style, no script, nothing fetched), printable, and
//! well-formed XML as well as HTML (every element closed, attributes quoted) so any tool
//! can read it back. All text from the report goes through [`esc`]: host names and details
//! come from agents and are hostile input.

use eceprobe_proto::v1::{AuditReport, AuditServer, Gap};

use super::findings::checklist_long;
use super::{
    audit_id, changes_line, closed_text, counts, orphan_items, policy, scope, server_items, status,
    summary_line, utc, verdict_class, Class, Item,
};

const STYLE: &str = "
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; font-size: 14px; color: #222; margin: 2em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #ccc; margin-top: 1.6em; }
h3 { font-size: 1.1em; margin-bottom: 0.3em; }
p.summary { font-weight: bold; }
table { border-collapse: collapse; margin: 0.5em 0 1em 0; width: 100%; }
th, td { border: 1px solid #bbb; padding: 3px 6px; text-align: left; vertical-align: top; }
td { white-space: pre-wrap; }
th { background: #eee; }
table.facts { width: auto; }
table.facts th { width: 10em; }
tr.gap td { background: #f8d7da; }
tr.warning td { background: #fff3cd; }
tr.pass td { background: #d4edda; }
td.fix { width: 40%; }
section.server { border: 1px solid #ddd; padding: 0 1em; margin-bottom: 1em; }
p.status-missing { color: #a00; font-weight: bold; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 0.6em; white-space: pre-wrap; }
@media print {
  body { margin: 0; font-size: 10pt; }
  section.server, table.facts, tr { page-break-inside: avoid; break-inside: avoid; }
  h2, h3 { page-break-after: avoid; break-after: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
";

/// Escapes text for element content and quoted attributes. Characters XML forbids (C0
/// controls but tab, CR, LF) become U+FFFD so a hostile host name cannot break the parse.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() && (c as u32) < 0x20 => out.push('\u{fffd}'),
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn or_dash(s: &str) -> &str {
    match s {
        "" => "-",
        s => s,
    }
}

/// A table; each row with its class (colour) if any. Cells are escaped here.
fn table(out: &mut String, class: &str, header: &[&str], rows: &[(Option<Class>, Vec<String>)]) {
    out.push_str(&format!("<table class=\"{class}\">\n<thead><tr>"));
    for h in header {
        out.push_str(&format!("<th>{}</th>", esc(h)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (row_class, cells) in rows {
        match row_class {
            Some(c) => out.push_str(&format!("<tr class=\"{}\">", c.name())),
            None => out.push_str("<tr>"),
        }
        let last = cells.len().saturating_sub(1);
        for (i, c) in cells.iter().enumerate() {
            // The fix column is the wide one where there is one.
            let td = match (i == last, header.last() == Some(&"Fix")) {
                (true, true) => "<td class=\"fix\">",
                _ => "<td>",
            };
            out.push_str(&format!("{td}{}</td>", esc(or_dash(c))));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// Diff rows: a resolved finding is green, the others coloured by their severity.
fn gap_rows(gaps: &[Gap], resolved: bool) -> Vec<(Option<Class>, Vec<String>)> {
    gaps.iter()
        .map(|g| {
            let cells = vec![
                g.agent_id.clone(),
                g.check.clone(),
                g.severity.to_uppercase(),
                g.kind.clone(),
                g.detail.clone(),
            ];
            let class = match resolved {
                true => Class::Pass,
                false => Class::of_severity(&g.severity),
            };
            (Some(class), cells)
        })
        .collect()
}

fn summary(out: &mut String, r: &AuditReport) {
    out.push_str(&format!(
        "<h1>Connectivity audit {}</h1>\n<p class=\"summary\">{}</p>\n",
        esc(audit_id(r)),
        esc(&summary_line(r))
    ));
    let c = counts(r);
    let mut rows: Vec<(&str, String)> = Vec::new();
    if let Some(a) = &r.audit {
        rows.push(("Audit", a.audit_id.clone()));
        rows.push(("Scope", scope(&a.deployment).to_owned()));
        rows.push(("Started", utc(a.started_unix_ms)));
        rows.push(("State", closed_text(a)));
    }
    let servers = format!(
        "{} in scope, {} ordered, {} answered",
        c.servers, c.ordered, c.answered
    );
    rows.push(("Servers", servers));
    rows.push(("Checks run", c.checks.to_string()));
    rows.push(("Gaps", c.gaps.to_string()));
    rows.push(("Warnings", c.warnings.to_string()));
    rows.push(("What changed", changes_line(r)));
    out.push_str("<table class=\"facts\">\n<tbody>\n");
    for (k, v) in rows {
        out.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            esc(k),
            esc(&v)
        ));
    }
    out.push_str("</tbody>\n</table>\n");
}

fn changes(out: &mut String, r: &AuditReport) {
    out.push_str("<section class=\"changes\">\n");
    match &r.diff {
        None => out.push_str("<h2>What changed</h2>\n<p>This is the first audit of this scope: nothing to compare with.</p>\n"),
        Some(d) => {
            out.push_str(&format!(
                "<h2>What changed since audit {}</h2>\n<p>{} new, {} resolved, {} unchanged.</p>\n",
                esc(&d.from_audit_id),
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
                    out.push_str(&format!("<h3>{title}</h3>\n"));
                    table(out, "diff", &header, &gap_rows(gaps, title == "Resolved"));
                }
            }
        }
    }
    out.push_str("</section>\n");
}

fn findings(out: &mut String, items: &[Item]) {
    if items.is_empty() {
        out.push_str("<p>No findings.</p>\n");
        return;
    }
    let rows: Vec<(Option<Class>, Vec<String>)> = items
        .iter()
        .map(|i| {
            let cells = vec![
                i.gap.severity.to_uppercase(),
                i.gap.check.clone(),
                i.gap.kind.clone(),
                i.gap.detail.clone(),
                checklist_long(&i.remedy.checklist_item),
                i.remedy.fix.clone(),
            ];
            (Some(Class::of_severity(&i.gap.severity)), cells)
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
    table(out, "findings", &header, &rows);
}

fn server(out: &mut String, r: &AuditReport, s: &AuditServer) {
    let name = match s.hostname.as_str() {
        "" => s.agent_id.as_str(),
        h => h,
    };
    out.push_str("<section class=\"server\">\n");
    out.push_str(&format!(
        "<h3>{} (agent {})</h3>\n",
        esc(name),
        esc(&s.agent_id)
    ));
    let status_class = match s.answered_unix_ms {
        0 => " class=\"status-missing\"",
        _ => "",
    };
    out.push_str(&format!(
        "<p{status_class}>Role: {}; deployment: {}; {}.</p>\n",
        esc(or_dash(&s.role)),
        esc(or_dash(&s.deployment)),
        esc(&status(s))
    ));
    let items = server_items(r, s);
    if !s.verdicts.is_empty() {
        let rows: Vec<(Option<Class>, Vec<String>)> = s
            .verdicts
            .iter()
            .map(|v| {
                let cells = vec![
                    v.check.clone(),
                    v.target.clone(),
                    v.outcome.to_uppercase(),
                    v.failure_kind.clone(),
                    v.stage.clone(),
                    v.detail.clone(),
                ];
                (Some(verdict_class(&items, v)), cells)
            })
            .collect();
        let header = [
            "Check",
            "Target",
            "Outcome",
            "Failure kind",
            "Stage",
            "Detail",
        ];
        table(out, "verdicts", &header, &rows);
    }
    out.push_str("<h4>Findings</h4>\n");
    findings(out, &items);
    out.push_str("</section>\n");
}

pub fn render(r: &AuditReport) -> String {
    let mut out = String::from("<!DOCTYPE html>\n");
    out.push_str("<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n");
    out.push_str("<meta charset=\"utf-8\"/>\n");
    out.push_str(&format!(
        "<title>Connectivity audit {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(audit_id(r))
    ));
    summary(&mut out, r);
    changes(&mut out, r);
    out.push_str("<h2>Servers</h2>\n");
    if r.servers.is_empty() {
        out.push_str("<p>No server in scope.</p>\n");
    }
    for s in &r.servers {
        server(&mut out, r, s);
    }
    let orphans = orphan_items(r);
    if !orphans.is_empty() {
        out.push_str("<h2>Findings on servers not listed above</h2>\n");
        findings(&mut out, &orphans);
    }
    let policy = policy(r);
    if !policy.is_empty() {
        out.push_str(&format!(
            "<h2>Policy in force</h2>\n<pre>{}</pre>\n",
            esc(policy)
        ));
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_characters_xml_forbids() {
        assert_eq!(
            esc("<a href='x'>\"&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(esc("a\u{0}b\u{1b}c\td"), "a\u{fffd}b\u{fffd}c\td");
    }
}
