//! The shape of a kind's row (`kinds.rs` holds the rows): what a fix is written for, a fix,
//! the items, and the builder the table is written with (a row's defaults: no legacy name,
//! the same items on every check, no firewall rule).

use super::Owner;
use crate::catalog::CheckId;
use crate::ChecklistItem;

/// What a fix is written for: the check and the endpoint it probes.
pub(crate) struct Target<'a> {
    pub check: CheckId,
    pub host: &'a str,
    pub port: u16,
}

/// A kind's fix: the same words wherever it happens, or words made for the check and
/// endpoint.
#[derive(Clone, Copy)]
pub(crate) enum Fix {
    Text(&'static str),
    Made(fn(&Target) -> String),
}

/// The checklist items a kind breaks: the same on every check, or by check (a refused POP3
/// login also names the mailbox's POP3 switch).
#[derive(Clone, Copy)]
pub(crate) enum Items {
    Always(&'static [ChecklistItem]),
    ByCheck(fn(CheckId) -> &'static [ChecklistItem]),
}

/// A kind's row.
#[derive(Clone, Copy)]
pub(crate) struct KindDef {
    /// As stored, sent and shown: `tcp_timeout`.
    pub name: &'static str,
    /// Names older agents sent for a kind since merged into this one; they still parse.
    pub legacy_names: &'static [&'static str],
    pub owner: Owner,
    pub items: Items,
    /// Words after the items, inside their parentheses: "(C2 for the ECE URL)".
    pub items_note: &'static str,
    pub fix: Fix,
    /// A firewall rule (allow outbound TCP to the host and port, or undo the inspection on
    /// it) fixes it: the destination is refused, dropped, unreachable, stalled, black-holed or
    /// inspected on the path. DNS, proxy, TLS name, HTTP and protocol kinds are the network's
    /// too but are fixed elsewhere (a record, the proxy's settings, a certificate). The change
    /// request's rules come from this column.
    pub firewall_rule_fixes: bool,
    /// The path blocks the destination (refused, dropped, unreachable, stalled,
    /// black-holed): a rule that was never opened, unlike TLS inspection.
    pub blocks: bool,
}

pub(super) fn row(
    name: &'static str,
    owner: Owner,
    items: &'static [ChecklistItem],
    fix: Fix,
) -> KindDef {
    KindDef {
        name,
        legacy_names: &[],
        owner,
        items: Items::Always(items),
        items_note: "",
        fix,
        firewall_rule_fixes: false,
        blocks: false,
    }
}

impl KindDef {
    /// A firewall rule fixes it and the path blocks it.
    pub(super) fn blocking(self) -> KindDef {
        KindDef {
            firewall_rule_fixes: true,
            blocks: true,
            ..self
        }
    }

    /// A firewall rule fixes it, though nothing blocks.
    pub(super) fn fixed_by_firewall_rule(self) -> KindDef {
        KindDef {
            firewall_rule_fixes: true,
            ..self
        }
    }

    pub(super) fn legacy(self, legacy_names: &'static [&'static str]) -> KindDef {
        KindDef {
            legacy_names,
            ..self
        }
    }

    pub(super) fn items_by_check(self, items: fn(CheckId) -> &'static [ChecklistItem]) -> KindDef {
        KindDef {
            items: Items::ByCheck(items),
            ..self
        }
    }

    pub(super) fn items_note(self, items_note: &'static str) -> KindDef {
        KindDef { items_note, ..self }
    }
}
