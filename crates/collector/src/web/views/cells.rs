//! The state of one check on one server, as a cell of the overview's matrix (and the
//! headline of each check on the server page). The gap engine decides (the one place that
//! knows what a gap is): it runs over the page's servers and their latest states, as the
//! tracker does over the whole fleet, so a cell turns red as soon as the result is stored.
//!
//! The OAuth checks of each mailbox (`oauth-imap/<mailbox>`) get a cell each too (the
//! server page's mailboxes), and the overview sums them up in one "mailboxes" cell. A
//! retired check (a mailbox removed from the agent's configuration, see the engine) shows
//! as never reported: no cell of its mailbox.
//!
//! `ece-config` and `ece-java` have a column each after the catalog's ([`COLUMNS`]): each is
//! required where the agent reports it (ECE facts declared; ECE's Java found) and "not
//! required" elsewhere, so an open C1/C3 gap or a Java runtime that cannot speak Microsoft's
//! TLS is as visible in the matrix as a blocked port.

use std::collections::{BTreeMap, HashMap, HashSet};

use eceprobe_checks::CheckId;
use serde::Serialize;

use crate::checkname::CheckName;
use crate::endpoints::EndpointList;
use crate::gaps::{agent_view, check_view};
use crate::gaps::{evaluate_awake, retired, Awake, FindingKind, GapFinding, Policy, Severity};
use crate::order::Attention;
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
    /// How bad, for the worst state over several cells: gap, stale, missing, warn, pass.
    fn rank(self) -> u8 {
        match self {
            CellState::NotRequired => 0,
            CellState::Pass => 1,
            CellState::Warn => 2,
            CellState::Missing => 3,
            CellState::Stale => 4,
            CellState::Gap => 5,
        }
    }

    /// Where the cell's check is listed ([`crate::order`]): red and grey (gap, stale,
    /// missing) first, amber next, green and blank last.
    pub fn attention(self) -> Attention {
        match self {
            CellState::Gap | CellState::Stale | CellState::Missing => Attention::Fail,
            CellState::Warn => Attention::Warn,
            CellState::Pass | CellState::NotRequired => Attention::Pass,
        }
    }

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
    /// The check's name: a catalog id, or `oauth-imap/<mailbox>`.
    pub check: CheckName,
    pub state: CellState,
    /// The failure kind (`tcp_refused`) or the finding / warning kind (`slow`,
    /// `tls_intercepted`, `missing`); none for a pass.
    pub kind: Option<String>,
    /// The latest result's duration, when there is one.
    pub duration_us: Option<u64>,
    /// The mailbox of an OAuth check; absent for the catalog checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
}

/// The cells of one server.
#[derive(Debug, Clone, Default)]
pub struct ServerCells {
    /// One per column ([`COLUMNS`]: the catalog, then `ece-config`), in that order.
    pub catalog: Vec<Cell>,
    /// One per OAuth check the server reported, by mailbox then check.
    pub oauth: Vec<Cell>,
}

/// The matrix's check columns: the catalog's ([`CheckId::COLUMNS`]: the network checks,
/// then `ece-config` and `ece-java`).
pub const COLUMNS: [CheckId; CheckId::COLUMNS.len()] = CheckId::COLUMNS;

/// The cells of each agent, in the agents' order.
pub fn cells(
    policy: &Policy,
    agents: &[KnownAgent],
    states: &[CheckState],
    now_unix_ms: i64,
    awake: &Awake,
    endpoints: &EndpointList,
) -> Vec<ServerCells> {
    let views: Vec<_> = agents.iter().map(agent_view).collect();
    let checks: Vec<_> = states
        .iter()
        .filter_map(|s| check_view(s, endpoints))
        .collect();
    let gone = retired(policy, &views, &checks);
    let mut findings: HashMap<(&str, &CheckName), Vec<&GapFinding>> = HashMap::new();
    let found = evaluate_awake(policy, &views, &checks, now_unix_ms, awake);
    // A silent agent gets a stale finding on each of its required checks.
    let stale_agents: HashSet<&str> = found
        .iter()
        .filter(|f| f.kind == FindingKind::Stale)
        .map(|f| f.agent_id.as_str())
        .collect();
    for f in &found {
        findings
            .entry((f.agent_id.as_str(), &f.check))
            .or_default()
            .push(f);
    }
    let latest: HashMap<(&str, &str), &CheckState> = states
        .iter()
        .map(|s| ((s.agent_id.as_str(), s.check.as_str()), s))
        .collect();
    let mut oauth_of: HashMap<&str, Vec<&CheckName>> = HashMap::new();
    let shown = checks
        .iter()
        .filter(|c| c.check.is_oauth() && !gone.contains(&(c.agent_id.as_str(), &c.check)));
    for c in shown {
        oauth_of
            .entry(c.agent_id.as_str())
            .or_default()
            .push(&c.check);
    }
    views
        .iter()
        .map(|agent| {
            let id = agent.agent_id.as_str();
            let required = policy.required(agent.role);
            let stale = stale_agents.contains(id);
            let of = |check: &CheckName, required: bool| {
                let mine = findings.get(&(id, check)).map(Vec::as_slice).unwrap_or(&[]);
                let last = latest.get(&(id, check.to_string().as_str())).copied();
                cell(check, mine, last, required, stale)
            };
            let catalog = COLUMNS
                .iter()
                .map(|c| {
                    let name = CheckName::from(*c);
                    if !name.required_when_reported() {
                        return of(&name, required.contains(c));
                    }
                    // ece-config, ece-java: required where reported, unless retired.
                    let reported = latest.contains_key(&(id, c.as_str()));
                    match gone.contains(&(id, &name)) {
                        true => cell(&name, &[], None, false, false),
                        false => of(&name, reported),
                    }
                })
                .collect();
            let mut oauth: Vec<&CheckName> = oauth_of.get(id).cloned().unwrap_or_default();
            oauth.sort_by(|a, b| (a.mailbox(), a.id()).cmp(&(b.mailbox(), b.id())));
            let oauth = oauth.into_iter().map(|c| of(c, true)).collect();
            ServerCells { catalog, oauth }
        })
        .collect()
}

/// The overview's "mailboxes" cell: the worst state over a server's mailboxes, each judged
/// by the worst of its OAuth checks.
#[derive(Debug, Clone, Serialize)]
pub struct MailboxesCell {
    /// `not_required` when the server reported no mailbox.
    pub state: CellState,
    /// Mailboxes reported.
    pub mailboxes: u32,
    /// Mailboxes in the worst state (all of them when every one passes).
    pub in_state: u32,
    /// "3 ok", "gap: 1 of 3", "warn: 2 of 3", "stale: 3 of 3"; "none" without mailboxes.
    pub summary: String,
}

/// The worst state of each mailbox over its cells (OAuth cells, by mailbox).
pub fn mailbox_states(oauth: &[Cell]) -> BTreeMap<&str, CellState> {
    let mut worst: BTreeMap<&str, CellState> = BTreeMap::new();
    for c in oauth {
        let Some(mailbox) = c.mailbox.as_deref() else {
            continue;
        };
        let w = worst.entry(mailbox).or_insert(c.state);
        if c.state.rank() > w.rank() {
            *w = c.state;
        }
    }
    worst
}

pub fn mailboxes_cell(oauth: &[Cell]) -> MailboxesCell {
    let states = mailbox_states(oauth);
    let total = u32::try_from(states.len()).unwrap_or(u32::MAX);
    let worst = states
        .values()
        .copied()
        .max_by_key(|s| s.rank())
        .unwrap_or(CellState::NotRequired);
    let in_state = states.values().filter(|s| **s == worst).count();
    let in_state = u32::try_from(in_state).unwrap_or(u32::MAX);
    let summary = match worst {
        CellState::NotRequired => "none".to_owned(),
        CellState::Pass => format!("{total} ok"),
        other => format!("{}: {in_state} of {total}", other.as_str()),
    };
    MailboxesCell {
        state: worst,
        mailboxes: total,
        in_state,
        summary,
    }
}

fn cell(
    check: &CheckName,
    findings: &[&GapFinding],
    last: Option<&CheckState>,
    required: bool,
    stale: bool,
) -> Cell {
    let duration_us = last.map(|l| l.duration_us);
    let failure = last.and_then(|l| l.failure_kind.clone());
    let make = |state, kind: Option<String>| Cell {
        check: check.clone(),
        mailbox: check.mailbox().map(str::to_owned),
        state,
        kind,
        duration_us,
    };
    if stale && (required || last.is_some()) {
        // Silent, but what was known broken stays said: "stale, last known: tcp_refused".
        let known = findings
            .iter()
            .any(|f| f.kind == FindingKind::Failing)
            .then_some(failure)
            .flatten();
        let kind = match known {
            Some(k) => format!("stale, last known: {k}"),
            None => "stale".into(),
        };
        return make(CellState::Stale, Some(kind));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth(check: &str, state: CellState) -> Cell {
        let check = CheckName::parse(check).unwrap();
        Cell {
            mailbox: check.mailbox().map(str::to_owned),
            check,
            state,
            kind: None,
            duration_us: None,
        }
    }

    #[test]
    fn the_mailboxes_cell_is_the_worst_mailbox_state() {
        use CellState::*;
        let none = mailboxes_cell(&[]);
        assert_eq!((none.state, none.summary.as_str()), (NotRequired, "none"));
        let ok = [
            oauth("oauth-token/a@contoso.com", Pass),
            oauth("oauth-imap/a@contoso.com", Pass),
            oauth("oauth-imap/b@contoso.com", Pass),
            oauth("oauth-smtp/c@contoso.com", Pass),
        ];
        let cell = mailboxes_cell(&ok);
        assert_eq!((cell.state, cell.summary.as_str()), (Pass, "3 ok"));
        let mut bad = ok.to_vec();
        bad[1].state = Gap;
        bad[2].state = Warn;
        let cell = mailboxes_cell(&bad);
        assert_eq!((cell.state, cell.mailboxes, cell.in_state), (Gap, 3, 1));
        assert_eq!(cell.summary, "gap: 1 of 3");
        let states = mailbox_states(&bad);
        assert_eq!(states["a@contoso.com"], Gap, "the worst of its checks");
        assert_eq!(states["b@contoso.com"], Warn);
        let stale: Vec<Cell> = ok
            .iter()
            .map(|c| oauth(&c.check.to_string(), Stale))
            .collect();
        assert_eq!(mailboxes_cell(&stale).summary, "stale: 3 of 3");
    }

    const NOW: i64 = 1_800_000_000_000;

    /// A services server, first seen an hour ago, last seen a second ago.
    fn svc() -> KnownAgent {
        use crate::store::AgentRecord;
        KnownAgent {
            record: AgentRecord {
                seen_unix_ms: NOW - 1000,
                ..AgentRecord::for_test("svc")
            },
            last_seq: 0,
            spool_dropped: 0,
            first_seen_unix_ms: NOW - 3_600_000,
            quarantined: 0,
        }
    }

    fn state(check: &str, outcome: &str, received_unix_ms: i64) -> CheckState {
        CheckState {
            agent_id: "svc".into(),
            check: check.into(),
            seq: 1,
            outcome: outcome.into(),
            failure_kind: (outcome == "fail").then(|| "mailbox_not_connected".into()),
            warning_kinds: Vec::new(),
            duration_us: 1_000,
            received_unix_ms,
            system_dns: None,
        }
    }

    /// The catalog's checks, all passing a second ago.
    fn catalog_passing() -> Vec<CheckState> {
        ["login-https", "outlook-https", "imap", "pop3", "smtp"]
            .into_iter()
            .map(|c| state(c, "pass", NOW - 1000))
            .collect()
    }

    #[test]
    fn a_silent_servers_cell_keeps_its_last_known_failure() {
        let mut states = catalog_passing();
        let smtp = states
            .iter_mut()
            .find(|s| s.check == "smtp")
            .expect("the catalog has smtp");
        smtp.outcome = "fail".into();
        smtp.failure_kind = Some("starttls_missing".into());
        let mut silent = svc();
        silent.record.seen_unix_ms = NOW - 10 * 60_000;
        let cells = cells(
            &Policy::default(),
            &[silent],
            &states,
            NOW,
            &Awake::always(),
            &EndpointList::snapshot(),
        );
        let cell = |name: &str| {
            cells[0]
                .catalog
                .iter()
                .find(|c| c.check.names(name))
                .cloned()
                .expect("a column")
        };
        assert_eq!(cell("smtp").state, CellState::Stale);
        assert_eq!(
            cell("smtp").kind.as_deref(),
            Some("stale, last known: starttls_missing")
        );
        assert_eq!(cell("imap").kind.as_deref(), Some("stale"));
    }

    #[test]
    fn a_retired_mailbox_has_no_cell() {
        let mut states = catalog_passing();
        states.push(state("oauth-imap/kept@contoso.com", "pass", NOW - 1000));
        // Not reported for over the stale window (3 minutes): removed from the agent.
        states.push(state(
            "oauth-imap/gone@contoso.com",
            "fail",
            NOW - 1000 - 180_001,
        ));
        let cells = cells(
            &Policy::default(),
            &[svc()],
            &states,
            NOW,
            &Awake::always(),
            &EndpointList::snapshot(),
        );
        let oauth: Vec<String> = cells[0].oauth.iter().map(|c| c.check.to_string()).collect();
        assert_eq!(oauth, ["oauth-imap/kept@contoso.com"]);
        assert_eq!(mailboxes_cell(&cells[0].oauth).summary, "1 ok");
    }

    #[test]
    fn ece_config_has_a_column_required_where_reported() {
        let column = |states: &[CheckState]| {
            let cells = cells(
                &Policy::default(),
                &[svc()],
                states,
                NOW,
                &Awake::always(),
                &EndpointList::snapshot(),
            );
            let names: Vec<String> = cells[0]
                .catalog
                .iter()
                .map(|c| c.check.to_string())
                .collect();
            let expected: Vec<&str> = COLUMNS.iter().map(|c| c.as_str()).collect();
            assert_eq!(names, expected, "one cell per column, in order");
            cells[0].catalog[6].clone()
        };
        // Not declared on this server: not required, not missing.
        assert_eq!(column(&catalog_passing()).state, CellState::NotRequired);
        // Declared and failing (e.g. an ES below the minimum): a gap in the matrix.
        let mut states = catalog_passing();
        states.push(state("ece-config", "fail", NOW - 1000));
        let cell = column(&states);
        assert_eq!(cell.state, CellState::Gap);
        assert_eq!(cell.kind.as_deref(), Some("mailbox_not_connected"));
        // The facts were removed from the agent's configuration long ago: no longer shown.
        let mut states = catalog_passing();
        states.push(state("ece-config", "fail", NOW - 1000 - 180_001));
        assert_eq!(column(&states).state, CellState::NotRequired);
    }
}
