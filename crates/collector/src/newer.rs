//! What a newer agent may send that this collector does not know yet, in one place.
//!
//! Agents and the collector are upgraded one after the other, in either order. A result
//! naming a check or a failure/warning kind this version does not know is stored as it came
//! (and never refused: refusing it would wall off every later result of that agent), shown
//! with [`NOTE`], and never judged: the gap engine ignores checks it does not know
//! (`gaps::check_view`), and an unknown kind's owner is "unknown" (`gaps/owner.rs`).
//!
//! Well-formed, and so stored: a check name per [`CheckName::reported`] (a plain
//! identifier, optionally `/mailbox`, within the bounds) and kinds per [`well_formed_kind`]
//! (a plain identifier). Anything else is malformed and set aside (`convert::batch_rows`).

use eceprobe_checks::FailureKind;

use crate::checkname::{CheckName, Reported};

/// What the server page, its JSON, `show` and `servers` say of what this collector does not
/// know.
pub const NOTE: &str = "reported by a newer agent; not in this collector's catalog";

/// What the dashboard and `servers` say of an agent that reported such a result.
pub const UPGRADE_COLLECTOR: &str = "newer than this collector: upgrade the collector";

/// A finding kind as the probe engine names them (`tls_intercepted`): 1 to 64 characters of
/// a-z, 0-9 and '_'. The one definition of a well-formed kind (and of a stage name kept for
/// `/metrics`).
pub fn well_formed_kind(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= 64
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A failure or warning kind this version knows (legacy names included).
pub fn known_kind(kind: &str) -> bool {
    kind.parse::<FailureKind>().is_ok()
}

/// [`NOTE`] when a stored result names a check or a kind this collector does not know;
/// None when all of it is known.
pub fn note<'a>(
    check: &str,
    failure_kind: Option<&str>,
    warning_kinds: impl IntoIterator<Item = &'a str>,
) -> Option<&'static str> {
    let check_known = matches!(CheckName::reported(check), Ok(Reported::Known(_)));
    let kinds_known = failure_kind.is_none_or(known_kind)
        && warning_kinds
            .into_iter()
            .all(|k| k.is_empty() || known_kind(k));
    (!(check_known && kinds_known)).then_some(NOTE)
}

/// The agents whose latest results name a check or kind this collector does not know (for
/// [`version_notes`]); read from latest states, no detail blobs.
pub fn reporting_newer(states: &[crate::store::CheckState]) -> std::collections::BTreeSet<&str> {
    states
        .iter()
        .filter(|c| {
            note(
                &c.check,
                c.failure_kind.as_deref(),
                c.warning_kinds.iter().map(String::as_str),
            )
            .is_some()
        })
        .map(|c| c.agent_id.as_str())
        .collect()
}

/// The major version of a `x.y.z` version string (a leading `v` allowed); None when it
/// does not start with a number.
pub fn major(version: &str) -> Option<u64> {
    let v = version.trim().trim_start_matches('v');
    v.split(['.', '-', ' ']).next()?.parse().ok()
}

/// This collector's version, as the Welcome and the dashboard say it.
pub const COLLECTOR_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why an agent's version and this collector's do not go together, if they do not: any
/// agent talks to any collector of the same major version (docs/ARCHITECTURE.md).
pub fn version_mismatch(agent_version: &str) -> Option<String> {
    let ours = major(COLLECTOR_VERSION)?;
    let theirs = major(agent_version)?;
    (ours != theirs).then(|| {
        format!(
            "agent {agent_version} is major version {theirs}, this collector ({COLLECTOR_VERSION}) {ours}: upgrade the older one"
        )
    })
}

/// What the dashboard and `servers` say of an agent's version against this collector's:
/// another major version, and whether it reported what this collector does not know.
pub fn version_notes(agent_version: &str, reported_newer: bool) -> Vec<String> {
    let mut notes: Vec<String> = version_mismatch(agent_version).into_iter().collect();
    if reported_newer {
        notes.push(UPGRADE_COLLECTOR.to_owned());
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_only_what_this_version_does_not_know() {
        assert_eq!(note("imap", None, []), None);
        assert_eq!(note("imap", Some("tls_intercepted"), ["slow"]), None);
        assert_eq!(note("quic-443", None, []), Some(NOTE));
        assert_eq!(note("oauth-graph/a@b.com", None, []), Some(NOTE));
        assert_eq!(note("imap", Some("quantum_blocked"), []), Some(NOTE));
        assert_eq!(note("imap", None, ["slow", "new_warning"]), Some(NOTE));
    }

    #[test]
    fn majors_are_compared() {
        assert_eq!(major("1.4.2"), Some(1));
        assert_eq!(major("v2.0.0-rc1"), Some(2));
        assert_eq!(major("dev"), None);
        assert_eq!(version_mismatch(COLLECTOR_VERSION), None);
        assert_eq!(version_mismatch("unknown"), None, "not said when not known");
        let other = format!("{}.0.0", major(COLLECTOR_VERSION).unwrap() + 1);
        let said = version_mismatch(&other).unwrap();
        assert!(said.contains("upgrade the older one"), "{said}");
    }
}
