//! docs/TROUBLESHOOTING.md stays complete: every failure kind the probe engine can report
//! is in it, in backticks as reports print it, with a row in the index table that names
//! the checklist items it breaks; and every link of the index leads to a heading.
//!
//! The collector's own kinds (`failing`, `missing`, `stale`, `slow`, `cert_expiring`,
//! `intercepted`, `refresh_blocked_on_services`, `not_answered`) are not checked here: the
//! collector has no list of them to iterate (its `FindingKind` has no `ALL`).

use std::collections::BTreeSet;

use eceprobe_checks::{CheckId, ChecklistItem, FailureKind};

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/TROUBLESHOOTING.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The words of a text: runs of ASCII letters and digits.
fn words(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn every_failure_kind_is_documented_in_backticks() {
    let doc = doc();
    let missing: Vec<&str> = FailureKind::ALL
        .iter()
        .map(|k| k.as_str())
        .filter(|name| !doc.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/TROUBLESHOOTING.md does not mention: {missing:?}"
    );
}

/// The first index row of a kind ("| `tcp_refused` | ...").
fn index_row<'a>(doc: &'a str, kind: &str) -> &'a str {
    let start = format!("| `{kind}` |");
    doc.lines()
        .find(|l| l.starts_with(&start))
        .unwrap_or_else(|| panic!("no index row starting with {start}"))
}

#[test]
fn every_failure_kind_has_an_index_row_with_its_checklist_items() {
    let doc = doc();
    for kind in FailureKind::ALL {
        let row = index_row(&doc, kind.as_str());
        let in_row = words(row);
        // A kind's items may depend on the check (a refused POP3 login also names C5): the
        // row names every item of every check.
        let all_items: BTreeSet<ChecklistItem> = CheckId::known()
            .flat_map(|check| kind.items(check))
            .copied()
            .collect();
        for item in all_items {
            assert!(
                in_row.contains(item.as_str()),
                "{kind}: the hint names {item} but the index row does not: {row}"
            );
        }
    }
}

#[test]
fn every_failure_kind_s_index_row_names_its_owner() {
    let doc = doc();
    for kind in FailureKind::ALL {
        // The probe's row (a collector row of the same name comes later).
        let row = index_row(&doc, kind.as_str());
        let owner = row.split(" | ").nth(2).unwrap_or_default();
        assert_eq!(
            owner,
            kind.owner().as_str(),
            "{kind}: the index row's owner column says '{owner}': {row}"
        );
    }
}

#[test]
fn every_link_to_this_page_leads_to_a_heading() {
    let doc = doc();
    let headings: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| anchor(h.trim_start_matches('#')))
        .collect();
    let mut links = 0;
    for part in doc.split("](#").skip(1) {
        let target = part.split(')').next().unwrap_or_default();
        assert!(
            headings.contains(target),
            "link #{target} leads to no heading"
        );
        links += 1;
    }
    assert!(links > 0, "the index links to the sections");
}
