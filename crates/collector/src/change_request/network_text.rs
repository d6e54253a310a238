//! The firewall rules as CSV (RFC 4180, a header row, one row per rule) and as Markdown (a
//! table, the set-2 note when it applies, and where the endpoint sets come from). The cells
//! are made once ([`cells`]); the audit reports use them too.

use eceprobe_proto::v1::{FirewallRule, NetworkChangeRequest};

use super::network::{only_optional_set_2, SET_2_NOTE};

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

/// The set-2 note when every rule is on that optional set.
pub fn note(rules: &[FirewallRule]) -> Option<&'static str> {
    only_optional_set_2(rules).then_some(SET_2_NOTE)
}

/// Markdown: a title, when and from what, the table, the note, the list's origin.
pub fn markdown(deployment: &str, generated: &str, request: &NetworkChangeRequest) -> String {
    let mut out = format!(
        "# Firewall change request: deployment {}\n\n{}\n\n",
        super::one_line(deployment),
        generated
    );
    if request.rules.is_empty() {
        out.push_str("No open network gap asks for a firewall rule.\n\n");
    } else {
        out.push_str(&format!(
            "Allow outbound TCP from each source server to the destination host on the port ({} rule{}):\n\n",
            request.rules.len(),
            if request.rules.len() == 1 { "" } else { "s" }
        ));
        let rows: Vec<Vec<String>> = request.rules.iter().map(cells).collect();
        crate::export::markdown_table(&mut out, &HEADER, &rows);
    }
    if let Some(note) = note(&request.rules) {
        out.push_str(&format!("> **Note:** {note}\n\n"));
    }
    out.push_str(&format!(
        "Endpoint sets from Microsoft's list: {}.\n",
        request.endpoint_list
    ));
    out
}
