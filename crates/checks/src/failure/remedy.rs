//! What to do about a finding, typed: the checklist items it breaks, the fix, and the ECE
//! process that needs the endpoint on this server's role. The hint every report shows is
//! this remedy in words, so nothing has to parse the items back out of the prose.

use std::fmt;

use super::row::{Fix, Target};
use super::FailureKind;
use crate::catalog::{CheckId, Role};
use crate::ChecklistItem;

/// A kind's remedy on one check, endpoint and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remedy {
    /// The checklist items it breaks, in the order the hint names them.
    pub items: Vec<ChecklistItem>,
    /// What to change, with the host and port filled in (an OAuth kind's `<mailbox>` is
    /// filled in where the finding is made).
    pub fix: String,
    /// The ECE process that needs the endpoint on this server's role.
    pub needed_by: &'static str,
    /// Words the hint adds after the items, inside their parentheses: " for the ECE URL".
    items_note: &'static str,
}

impl Remedy {
    /// The hint: "FIX (C9, C10); needed by WHO".
    pub fn hint(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Remedy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}{}); needed by {}",
            self.fix,
            ChecklistItem::join(&self.items),
            self.items_note,
            self.needed_by
        )
    }
}

impl FailureKind {
    /// What to do about this kind on `check` against `host:port`, on a server of `role`.
    pub fn remedy(self, check: CheckId, role: Role, host: &str, port: u16) -> Remedy {
        let def = self.def();
        let target = Target { check, host, port };
        let fix = match def.fix {
            Fix::Text(text) => text.to_owned(),
            Fix::Made(make) => make(&target),
        };
        Remedy {
            items: self.items(check).to_vec(),
            fix,
            needed_by: check.needed_by(role),
            items_note: def.items_note,
        }
    }

    /// The remediation hint: what to do, which checklist items it breaks and which ECE
    /// process needs the endpoint (from the server's role); [`FailureKind::remedy`] in words.
    pub fn hint(self, check: CheckId, role: Role, host: &str, port: u16) -> String {
        self.remedy(check, role, host, port).hint()
    }
}
