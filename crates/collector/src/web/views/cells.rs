//! The state of one check on one server, as a cell of the overview's matrix (and the
//! headline of each check on the server page). The gap engine decides (the one place that
//! knows what a gap is): it runs over the page's servers and their latest states, as the
//! tracker does over the whole fleet, so a cell turns red as soon as the result is stored.

use std::collections::HashMap;

use eceprobe_checks::CheckId;
use serde::Serialize;

use crate::convert::{agent_view, check_view};
use crate::gaps::{evaluate, FindingKind, GapFinding, Policy, Severity};
use crate::store::{CheckState, KnownAgent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellState {
    Pass,
    /// A warning (slow, certificate expiring, interception, a failure the role does not
    /// need): amber.
    Warn,
    /// A required check failing: red.
    Gap,
    /// Required and never reported: grey.
    Missing,
    /// The server has been silent too long: grey.
    Stale,
    /// The role does not need it and it has not reported: blank.
    NotRequired,
}

impl CellState {
    pub fn as_str(self) -> &'static str {
        match self {
            CellState::Pass => "pass",
            CellState::Warn => "warn",
            CellState::Gap => "gap",
            CellState::Missing => "missing",
            CellState::Stale => "stale",
            CellState::NotRequired => "not_required",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub check: &'static str,
    pub state: CellState,
    /// The failure kind (`tcp_refused`) or the finding / warning kind (`slow`,
    /// `tls_intercepted`, `missing`); none for a pass.
    pub kind: Option<String>,
    /// The latest result's duration, when there is one.
    pub duration_us: Option<u64>,
}

/// One cell per catalog check for each agent, in the agents' order.
pub fn cells(
    policy: &Policy,
    agents: &[KnownAgent],
    states: &[CheckState],
    now_unix_ms: i64,
) -> Vec<Vec<Cell>> {
    let views: Vec<_> = agents.iter().map(agent_view).collect();
    let checks: Vec<_> = states.iter().filter_map(check_view).collect();
    let mut findings: HashMap<(&str, CheckId), Vec<&GapFinding>> = HashMap::new();
    let found = evaluate(policy, &views, &checks, now_unix_ms);
    for f in &found {
        findings
            .entry((f.agent_id.as_str(), f.check))
            .or_default()
            .push(f);
    }
    let latest: HashMap<(&str, &str), &CheckState> = states
        .iter()
        .map(|s| ((s.agent_id.as_str(), s.check.as_str()), s))
        .collect();
    views
        .iter()
        .map(|agent| {
            let id = agent.agent_id.as_str();
            let required = policy.required(agent.role);
            let stale = CheckId::ALL.iter().any(|c| {
                findings
                    .get(&(id, *c))
                    .is_some_and(|f| f.iter().any(|g| g.kind == FindingKind::Stale))
            });
            CheckId::ALL
                .iter()
                .map(|check| {
                    let mine = findings
                        .get(&(id, *check))
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    let last = latest.get(&(id, check.as_str())).copied();
                    cell(*check, mine, last, required.contains(check), stale)
                })
                .collect()
        })
        .collect()
}

fn cell(
    check: CheckId,
    findings: &[&GapFinding],
    last: Option<&CheckState>,
    required: bool,
    stale: bool,
) -> Cell {
    let duration_us = last.map(|l| l.duration_us);
    let failure = last.and_then(|l| l.failure_kind.clone());
    let make = |state, kind: Option<String>| Cell {
        check: check.as_str(),
        state,
        kind,
        duration_us,
    };
    if stale && (required || last.is_some()) {
        return make(CellState::Stale, Some("stale".into()));
    }
    let gap = findings.iter().find(|f| f.severity == Severity::Gap);
    if let Some(g) = gap {
        return match g.kind {
            FindingKind::Missing => make(CellState::Missing, Some("missing".into())),
            FindingKind::Failing => make(CellState::Gap, failure),
            other => make(CellState::Gap, Some(other.as_str().to_owned())),
        };
    }
    if let Some(w) = findings.first() {
        let kind = match w.kind {
            FindingKind::Failing => failure,
            other => Some(other.as_str().to_owned()),
        };
        return make(CellState::Warn, kind);
    }
    match last {
        Some(l) if l.outcome == "warn" => make(CellState::Warn, l.warning_kinds.first().cloned()),
        Some(l) if l.outcome == "fail" => make(CellState::Warn, failure),
        Some(_) => make(CellState::Pass, None),
        // Required but not reported yet (a new agent still settling in): grey.
        None if required => make(CellState::Missing, Some("missing".into())),
        None => make(CellState::NotRequired, None),
    }
}
