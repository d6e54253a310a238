//! The firewall rules as CSV (RFC 4180, a header row, one row per rule: rules only) and as
//! Markdown (a table, the set-2 note when it applies, the network gaps no rule fixes, and
//! where the endpoint sets come from). The cells and the sentences are made once here
//! ([`cells`], [`intro`], [`NO_RULES`], [`list_sentence`]); the audit reports use them too.

use eceprobe_proto::v1::{FirewallRule, NetworkChangeRequest};

use crate::export::markdown_inline;

use super::one_line;

pub const HEADER: [&str; 12] = [
    "source server",
    "source addresses",
    "destination host",
    "destination addresses",
    "port",
    "protocol",
    "Microsoft endpoint set",
    "category",
    "required",
    "fails now",
    "needed by",
    "checks",
];

/// A rule's cells, in [`HEADER`]'s order.
pub fn cells(r: &FirewallRule) -> Vec<String> {
    let server = match r.hostname.as_str() {
        "" => r.agent_id.clone(),
        host => format!("{} ({host})", r.agent_id),
    };
    let sources = match r.source_addresses.is_empty() {
        true => r.source_unknown.clone(),
        false => r.source_addresses.join(" "),
    };
    let set = match r.endpoint_set {
        0 => "none in the list".to_owned(),
        id => id.to_string(),
    };
    let required = match r.endpoint_required {
        Some(true) => "yes",
        Some(false) => "no",
        None => "",
    };
    vec![
        server,
        sources,
        r.destination_host.clone(),
        r.destination_addresses.join(" "),
        r.port.to_string(),
        r.protocol.clone(),
        set,
        r.endpoint_category.clone(),
        required.to_owned(),
        r.fails_now.clone(),
        r.needed_by.clone(),
        r.checks.join(" "),
    ]
}

/// CSV: a header row, then one row per rule (CRLF; quoted and formula-guarded as the audit
/// CSV is).
pub fn csv(rules: &[FirewallRule]) -> String {
    let mut out = String::new();
    crate::export::csv_row(&mut out, &HEADER);
    for r in rules {
        let cells = cells(r);
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        crate::export::csv_row(&mut out, &cells);
    }
    out
}

/// Said when no rule is asked for.
pub const NO_RULES: &str = "No open network gap asks for a firewall rule.";

/// The sentence before the table.
pub fn intro(rules: usize) -> String {
    format!(
        "Allow outbound TCP from each source server to the destination host on the port ({rules} rule{}):",
        if rules == 1 { "" } else { "s" }
    )
}

/// Where the endpoint sets come from. `now`: the list is the one in use when the document
/// is read, not the one in use when its gaps were found (an audit's report).
pub fn list_sentence(origin: &str, now: bool) -> String {
    match now {
        false => format!("Endpoint sets from Microsoft's list: {origin}."),
        true => format!(
            "Endpoint sets from the list in use now (not necessarily the one when the audit ran): {origin}."
        ),
    }
}

/// The set-2 note as a paragraph; None when the request has none.
pub fn note(request: &NetworkChangeRequest) -> Option<String> {
    match request.set_2_note.as_str() {
        "" => None,
        note => Some(format!("Note: {}", one_line(note))),
    }
}

/// Markdown: a title, when and from what, the table, the note, the gaps no rule fixes, the
/// list's origin. Agent-provided words are one line and escaped ([`markdown_inline`]).
pub fn markdown(deployment: &str, generated: &str, request: &NetworkChangeRequest) -> String {
    let md = |s: &str| markdown_inline(&one_line(s));
    let mut out = format!(
        "# Firewall change request: deployment {}\n\n{}\n\n",
        md(deployment),
        md(generated)
    );
    if request.rules.is_empty() {
        out.push_str(&format!("{NO_RULES}\n\n"));
    } else {
        out.push_str(&format!("{}\n\n", intro(request.rules.len())));
        let rows: Vec<Vec<String>> = request.rules.iter().map(cells).collect();
        crate::export::markdown_table(&mut out, &HEADER, &rows);
    }
    if !request.set_2_note.is_empty() {
        out.push_str(&format!("> **Note:** {}\n\n", md(&request.set_2_note)));
    }
    if !request.not_rules.is_empty() {
        for line in &request.not_rules {
            out.push_str(&format!("- {}\n", md(line)));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "{}\n",
        md(&list_sentence(&request.endpoint_list, false))
    ));
    out
}
