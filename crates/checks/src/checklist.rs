//! The items of the TAC checklist (C1-C11 of DESIGN.md) every finding points to: written
//! once, typed, so a remedy carries its items as values and nothing parses them back out of
//! prose.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One item of the checklist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ChecklistItem {
    C1,
    C2,
    C3,
    C4,
    C5,
    C6,
    C7,
    C8,
    C9,
    C10,
    C11,
}

impl ChecklistItem {
    /// Every item, in the checklist's order.
    pub const ALL: [ChecklistItem; 11] = [
        ChecklistItem::C1,
        ChecklistItem::C2,
        ChecklistItem::C3,
        ChecklistItem::C4,
        ChecklistItem::C5,
        ChecklistItem::C6,
        ChecklistItem::C7,
        ChecklistItem::C8,
        ChecklistItem::C9,
        ChecklistItem::C10,
        ChecklistItem::C11,
    ];

    /// "C1" ... "C11".
    pub fn as_str(self) -> &'static str {
        self.row().0
    }

    /// The item in a few words, for a reader without the TAC checklist at hand.
    pub fn title(self) -> &'static str {
        self.row().1
    }

    /// The one table: the item's name and its title.
    fn row(self) -> (&'static str, &'static str) {
        match self {
            ChecklistItem::C1 => ("C1", "minimum ECE version and ES"),
            ChecklistItem::C2 => (
                "C2",
                "External Application URL set, https, matching the FQDN",
            ),
            ChecklistItem::C3 => ("C3", "Azure AD app: redirect URI and token lifetime"),
            ChecklistItem::C4 => ("C4", "token generated for the mailbox account"),
            ChecklistItem::C5 => ("C5", "mailbox: SMTP AUTH and IMAP or POP3 enabled"),
            ChecklistItem::C6 => ("C6", "Exchange Online licence"),
            ChecklistItem::C7 => ("C7", "mailbox rights"),
            ChecklistItem::C8 => (
                "C8",
                "every services and application server reaches Microsoft 365 and login.microsoftonline.com",
            ),
            ChecklistItem::C9 => ("C9", "URLs: *.office365.com and login.microsoftonline.com"),
            ChecklistItem::C10 => (
                "C10",
                "ports: TCP 443, 587, 993 and 995 from both server kinds",
            ),
            ChecklistItem::C11 => (
                "C11",
                "Remote Connectivity Analyzer tests, from the ECE host",
            ),
        }
    }

    /// Items as a finding names them: "C9, C10" (empty for none).
    pub fn join(items: &[ChecklistItem]) -> String {
        items
            .iter()
            .map(|i| i.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Items for people: "C9 (URLs: ...); C10 (ports: ...)".
    pub fn join_long(items: &[ChecklistItem]) -> String {
        items
            .iter()
            .map(|i| format!("{} ({})", i.as_str(), i.title()))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl fmt::Display for ChecklistItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChecklistItem {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChecklistItem::ALL
            .into_iter()
            .find(|i| i.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not a checklist item (C1 to C11)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_join_as_findings_say_them() {
        for (n, item) in ChecklistItem::ALL.into_iter().enumerate() {
            assert_eq!(item.as_str(), format!("C{}", n + 1));
            assert_eq!(item.as_str().parse::<ChecklistItem>(), Ok(item));
            assert!(!item.title().is_empty());
        }
        assert!("C12".parse::<ChecklistItem>().is_err());
        let items = [ChecklistItem::C9, ChecklistItem::C10];
        assert_eq!(ChecklistItem::join(&items), "C9, C10");
        assert_eq!(
            ChecklistItem::join_long(&items),
            "C9 (URLs: *.office365.com and login.microsoftonline.com); C10 (ports: TCP 443, 587, 993 and 995 from both server kinds)"
        );
        assert_eq!(ChecklistItem::join(&[]), "");
    }
}
