//! The report as a document ([`eceprobe_report::Document`], the model the agent's `check
//! --report` uses too), built once from the [`AuditReport`]: headings, paragraphs, tables
//! and the policy as a code block, in the order every format prints them. The Markdown and
//! HTML renderers (`eceprobe_report`) only lay it out; the text is raw (unescaped) here and
//! each renderer escapes it for its format.

use eceprobe_checks::ChecklistItem;
use eceprobe_proto::v1::{AuditReport, AuditServer, AuditVerdict, Gap, NetworkChangeRequest};
use eceprobe_report::{Block, Class, Document, Row, Span, Table, Tone};

use super::{
    audit_id, changes_line, closed_text, counts, orphan_items, policy, scope, server_items,
    servers_in_order, status, summary_line, utc, verdicts_in_order, Item,
};
use crate::gaps::owner_name;
use crate::order::Attention;

/// Where a row of this colour is listed: red, amber, green.
pub(super) fn attention(class: Class) -> Attention {
    match class {
        Class::Gap => Attention::Fail,
        Class::Warning => Attention::Warn,
        Class::Pass => Attention::Pass,
    }
}

/// A verdict's colour: its worst finding; a failure the policy does not require is amber.
pub(super) fn verdict_class(items: &[Item], v: &AuditVerdict) -> Class {
    let mine = || items.iter().filter(|i| i.gap.check == v.check);
    if mine().any(|i| i.gap.severity == "gap") {
        Class::Gap
    } else if mine().next().is_some() || v.outcome != "pass" {
        Class::Warning
    } else {
        Class::Pass
    }
}

fn text(s: impl Into<String>) -> Block {
    Block::text(s)
}

fn heading(level: u8, s: impl Into<String>) -> Block {
    Block::heading(level, s)
}

fn summary(out: &mut Vec<Block>, r: &AuditReport) {
    out.push(heading(1, format!("Connectivity audit {}", audit_id(r))));
    let line = vec![Span::Text(summary_line(r))];
    out.push(Block::Paragraph(Tone::Summary, line));
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
    out.push(Block::Facts(rows));
}

/// Diff rows: a resolved finding is green, the others coloured by their severity.
fn gap_rows(gaps: &[Gap], resolved: bool) -> Vec<Row> {
    gaps.iter()
        .map(|g| Row {
            class: match resolved {
                true => Class::Pass,
                false => Class::of_severity(&g.severity),
            },
            cells: vec![
                g.agent_id.clone(),
                g.check.clone(),
                g.severity.to_uppercase(),
                g.kind.clone(),
                owner_name(&g.kind, &g.detail).to_owned(),
                g.detail.clone(),
            ],
        })
        .collect()
}

fn changes(r: &AuditReport) -> Block {
    let Some(d) = &r.diff else {
        let first = "This is the first audit of this scope: nothing to compare with.";
        return Block::Section("changes", vec![heading(2, "What changed"), text(first)]);
    };
    let mut out = vec![
        heading(2, format!("What changed since audit {}", d.from_audit_id)),
        text(format!(
            "{} new, {} resolved, {} unchanged.",
            d.new_gaps.len(),
            d.resolved_gaps.len(),
            d.unchanged_gaps.len()
        )),
    ];
    for (title, gaps) in [
        ("New", &d.new_gaps),
        ("Resolved", &d.resolved_gaps),
        ("Unchanged", &d.unchanged_gaps),
    ] {
        if !gaps.is_empty() {
            out.push(heading(3, title));
            out.push(Block::Table(Table {
                class: "diff",
                header: &["Server", "Check", "Severity", "Kind", "Owner", "Detail"],
                rows: gap_rows(gaps, title == "Resolved"),
                marked: None,
            }));
        }
    }
    Block::Section("changes", out)
}

fn findings(items: &[Item]) -> Block {
    if items.is_empty() {
        return text("No findings.");
    }
    let rows = items
        .iter()
        .map(|i| Row {
            class: Class::of_severity(&i.gap.severity),
            cells: vec![
                i.gap.severity.to_uppercase(),
                i.gap.check.clone(),
                i.gap.kind.clone(),
                owner_name(&i.gap.kind, &i.gap.detail).to_owned(),
                i.gap.detail.clone(),
                ChecklistItem::join_long(&i.remedy.items),
                i.remedy.fix.clone(),
            ],
        })
        .collect();
    Block::Table(Table {
        class: "findings",
        header: &[
            "Severity",
            "Check",
            "Kind",
            "Owner",
            "Detail",
            "Checklist item",
            "Fix",
        ],
        rows,
        marked: None,
    })
}

fn server(r: &AuditReport, s: &AuditServer) -> Block {
    let name = match s.hostname.as_str() {
        "" => s.agent_id.as_str(),
        h => h,
    };
    let tone = match s.answered_unix_ms {
        0 => Tone::Missing,
        _ => Tone::Plain,
    };
    let line = vec![
        Span::Text("Role: ".into()),
        Span::Value(s.role.clone()),
        Span::Text("; deployment: ".into()),
        Span::Value(s.deployment.clone()),
        Span::Text(format!("; {}.", status(s))),
    ];
    let mut out = vec![
        heading(3, format!("{name} (agent {})", s.agent_id)),
        Block::Paragraph(tone, line),
    ];
    let items = server_items(r, s);
    if !s.verdicts.is_empty() {
        let rows = verdicts_in_order(&items, s)
            .into_iter()
            .map(|v| Row {
                class: verdict_class(&items, v),
                cells: vec![
                    v.check.clone(),
                    v.target.clone(),
                    v.outcome.to_uppercase(),
                    v.failure_kind.clone(),
                    v.stage.clone(),
                    match v.device.as_str() {
                        "" => v.detail.clone(),
                        device => format!("{}; device on the path: {device}", v.detail),
                    },
                ],
            })
            .collect();
        out.push(Block::Table(Table {
            class: "verdicts",
            header: &[
                "Check",
                "Target",
                "Outcome",
                "Failure kind",
                "Stage",
                "Detail",
            ],
            rows,
            marked: Some(2),
        }));
    }
    out.push(heading(4, "Findings"));
    out.push(findings(&items));
    Block::Section("server", out)
}

/// The firewall rules the audit's network gaps ask for (the network team's change request),
/// with the set-2 note when it applies, the network gaps no rule fixes, and where the
/// endpoint sets come from: the list in use when the report is read, said so, since the
/// rules are made then ([`crate::query`]'s audits).
fn change_request(request: &NetworkChangeRequest) -> Block {
    use crate::change_request::network_text;
    let mut out = vec![heading(2, "Change request")];
    if request.rules.is_empty() {
        out.push(text(network_text::NO_RULES));
    } else {
        out.push(text(network_text::intro(request.rules.len())));
        out.push(Block::Table(Table {
            class: "change-request",
            header: &network_text::HEADER,
            rows: request
                .rules
                .iter()
                .map(|rule| Row {
                    class: Class::Gap,
                    cells: network_text::cells(rule),
                })
                .collect(),
            marked: None,
        }));
    }
    if let Some(note) = network_text::note(request) {
        out.push(text(note));
    }
    out.extend(request.not_rules.iter().map(|line| text(line.clone())));
    out.push(text(network_text::list_sentence(
        &request.endpoint_list,
        true,
    )));
    Block::Section("change-request", out)
}

/// The report's document: summary, changes, each server, findings on servers the report
/// does not list, the change request, the policy.
pub(super) fn document(r: &AuditReport) -> Document {
    let mut blocks = Vec::new();
    summary(&mut blocks, r);
    blocks.push(changes(r));
    blocks.push(heading(2, "Servers"));
    if r.servers.is_empty() {
        blocks.push(text("No server in scope."));
    }
    blocks.extend(servers_in_order(r).into_iter().map(|s| server(r, s)));
    let orphans = orphan_items(r);
    if !orphans.is_empty() {
        blocks.push(heading(2, "Findings on servers not listed above"));
        blocks.push(findings(&orphans));
    }
    if let Some(request) = &r.change_request {
        blocks.push(change_request(request));
    }
    let policy = policy(r);
    if !policy.is_empty() {
        blocks.push(heading(2, "Policy in force"));
        let text = policy.to_owned();
        blocks.push(Block::Code { lang: "toml", text });
    }
    Document {
        title: format!("Connectivity audit {}", audit_id(r)),
        blocks,
    }
}
