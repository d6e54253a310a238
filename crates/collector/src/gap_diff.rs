//! Two lists of found gaps compared on (server, check, kind, severity): what is new, what
//! was resolved, what stayed. An audit's diff with the previous audit of its scope, and the
//! webhook events of that diff, are built from it.

use std::collections::BTreeSet;

use crate::store::FoundGap;

/// Gaps of two audits compared on (server, check, kind, severity).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GapDiff {
    /// In the later audit only.
    pub new: Vec<FoundGap>,
    /// In the earlier audit only.
    pub resolved: Vec<FoundGap>,
    /// In both (as the later audit found them).
    pub unchanged: Vec<FoundGap>,
}

type Key<'a> = (&'a str, &'a str, &'a str, &'a str);

fn key(g: &FoundGap) -> Key<'_> {
    (&g.agent_id, &g.check, &g.kind, &g.severity)
}

pub fn diff(before: &[FoundGap], after: &[FoundGap]) -> GapDiff {
    let earlier: BTreeSet<Key> = before.iter().map(key).collect();
    let later: BTreeSet<Key> = after.iter().map(key).collect();
    let mut out = GapDiff::default();
    for g in after {
        match earlier.contains(&key(g)) {
            true => out.unchanged.push(g.clone()),
            false => out.new.push(g.clone()),
        }
    }
    out.resolved = before
        .iter()
        .filter(|g| !later.contains(&key(g)))
        .cloned()
        .collect();
    for list in [&mut out.new, &mut out.resolved, &mut out.unchanged] {
        list.sort();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(agent: &str, check: &str, kind: &str) -> FoundGap {
        FoundGap {
            agent_id: agent.into(),
            check: check.into(),
            kind: kind.into(),
            severity: "gap".into(),
            deployment: "prod".into(),
            detail: "d".into(),
        }
    }

    #[test]
    fn diff_sorts_gaps_into_new_resolved_and_unchanged() {
        let before = [gap("a", "imap", "failing"), gap("b", "pop3", "failing")];
        let mut later_detail = gap("b", "pop3", "failing");
        later_detail.detail = "other detail, same gap".into();
        let after = [later_detail.clone(), gap("a", "smtp", "failing")];
        let d = diff(&before, &after);
        assert_eq!(d.new, vec![gap("a", "smtp", "failing")]);
        assert_eq!(d.resolved, vec![gap("a", "imap", "failing")]);
        assert_eq!(d.unchanged, vec![later_detail]);
        let same = diff(&after, &after);
        assert!(same.new.is_empty() && same.resolved.is_empty());
        assert_eq!(diff(&[], &after).new.len(), 2);
        assert_eq!(diff(&before, &[]).resolved.len(), 2);
    }
}
