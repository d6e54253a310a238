//! One server: its facts, its open gaps, and for each check the latest result decoded
//! ([`crate::result_view`]), failures first, then warnings, then passes
//! ([`crate::order`]); its mailboxes (the OAuth checks, with what the token said of
//! itself); and the history of one check with its gaps' open and close times.

use eceprobe_checks::CheckId;
use eceprobe_proto::now_ms;
use serde::Serialize;

use super::cells::{cells, mailbox_states, Cell, CellState};
use crate::checkname::CheckName;
use crate::latency::{latency_warnings, LatencyWarning};
use crate::order::{by_attention, Attention};
pub use crate::result_view::{
    AttemptView, CertView, CheckDetail, DnsFamilyView, DnsView, FindingView, HopView, OAuthView,
    PathView, ProtocolView, StageView, TlsView,
};
use crate::retired::not_in_service;
use crate::store::{GapFilter, JavaReport, KnownAgent};
use crate::web::error::WebError;
use crate::web::WebState;

#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub agent_id: String,
    pub hostname: String,
    pub role: String,
    pub deployment: String,
    pub agent_version: String,
    pub os: String,
    pub ece_version: String,
    pub ece_es: String,
    pub probe_interval_s: u32,
    pub first_seen_unix_ms: i64,
    pub last_seen_unix_ms: i64,
    pub last_seq: u64,
    pub spool_dropped: u64,
    pub connected: bool,
    /// ECE's Java runtime and trust store, as the agent's last Hello reported them.
    pub java: JavaFacts,
    /// This collector's version, beside the agent's.
    pub collector_version: &'static str,
    /// A mix of versions that matters, in words ([`crate::newer::version_notes`]); empty
    /// when the agent and this collector go together.
    pub version_notes: Vec<String>,
    /// Results of this agent set aside (the quarantine); null when none ever was.
    pub quarantine: Option<crate::store::Quarantine>,
}

/// ECE's Java as an agent reported it (issue 14), for the server page, its JSON and the
/// admin's `show`. An agent that does not report it predates the report: that is said,
/// never taken for "no Java".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JavaFacts {
    /// False: the agent did not report its Java (its version predates the report).
    pub reported: bool,
    /// The runtime's home; "" when not reported, or when the agent identified none
    /// (`truststore` says why).
    pub runtime: String,
    /// The line the agent printed about the trust store (found and read, none found, or
    /// why not); "" when not reported.
    pub truststore: String,
}

impl JavaFacts {
    pub fn of(java: Option<&JavaReport>) -> JavaFacts {
        java.map_or_else(JavaFacts::default, |j| JavaFacts {
            reported: true,
            runtime: j.runtime.clone(),
            truststore: j.truststore.clone(),
        })
    }

    /// From the Query API's `Server` (its java_truststore empty: not reported).
    pub fn from_wire(runtime: &str, truststore: &str) -> JavaFacts {
        JavaFacts::of(
            (!truststore.is_empty())
                .then(|| JavaReport {
                    runtime: runtime.to_owned(),
                    truststore: truststore.to_owned(),
                })
                .as_ref(),
        )
    }

    fn not_reported(agent_version: &str) -> String {
        match agent_version {
            "" => "not reported by this server's agent: its version predates the Java report"
                .to_owned(),
            v => format!(
                "not reported by this server's agent: its version ({v}) predates the Java report"
            ),
        }
    }

    /// The "Java (ECE's runtime)" line.
    pub fn runtime_words(&self, agent_version: &str) -> String {
        if !self.reported {
            format!(
                "{}; upgrade the agent to see it",
                JavaFacts::not_reported(agent_version)
            )
        } else if self.runtime.is_empty() {
            "not identified (the trust store line says why)".to_owned()
        } else {
            self.runtime.clone()
        }
    }

    /// The "Java trust store" line: the agent's own, without its "Java trust store: "
    /// (the label says it).
    pub fn truststore_words(&self, agent_version: &str) -> String {
        if self.reported {
            let line = self.truststore.as_str();
            line.strip_prefix("Java trust store: ")
                .unwrap_or(line)
                .to_owned()
        } else {
            JavaFacts::not_reported(agent_version)
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenGap {
    pub check: String,
    pub severity: String,
    pub kind: String,
    /// Who closes it: `network`, `m365`, `ece`, `host` or `unknown` (derived from the kind).
    pub owner: &'static str,
    pub detail: String,
    pub opened_unix_ms: i64,
}

/// One mailbox configured on the server, as its OAuth checks see it.
#[derive(Debug, Clone, Serialize)]
pub struct MailboxView {
    pub mailbox: String,
    /// The worst state over its checks.
    pub state: CellState,
    /// One per OAuth check reported for it (token, imap, pop3, smtp), each detailed in
    /// `checks` under the same name.
    pub cells: Vec<Cell>,
    /// The user the token was issued for, from the `oauth-token` check (else a login
    /// check); "" when not known (no JWT, app-only, or the grant failed).
    pub token_user: String,
    /// The token's user is known and is not the mailbox: the SSO pitfall (C4), fine only
    /// for a shared mailbox reached through Full Access (C7).
    pub token_user_mismatch: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerView {
    pub evaluated_unix_ms: i64,
    pub server: Facts,
    /// One per catalog check, as on the overview.
    pub cells: Vec<Cell>,
    /// The mailboxes with OAuth checks, by address.
    pub mailboxes: Vec<MailboxView>,
    pub open_gaps: Vec<OpenGap>,
    /// `slower_than_peers` and `latency_regression`, computed now (never recorded as gaps):
    /// both figures, in words and in microseconds ([`crate::latency`]).
    pub latency_warnings: Vec<LatencyWarning>,
    /// The latest result of each check reported: failures (and gaps), then warnings, then
    /// passes, by check name within each ([`crate::order`]).
    pub checks: Vec<CheckDetail>,
}

/// How much a check needs attention: its cell's state when it has one (what the page
/// colours it: a failure the role does not need is amber), else the result's outcome.
fn attention(cells: &[Cell], oauth: &[Cell], c: &CheckDetail) -> Attention {
    cells
        .iter()
        .chain(oauth)
        .find(|cell| cell.check.names(&c.check))
        .map(|cell| cell.state.attention())
        .unwrap_or_else(|| Attention::of_outcome(&c.outcome))
}

/// The mailboxes of a server from its OAuth cells and the checks' details.
fn mailboxes(oauth_cells: &[Cell], checks: &[CheckDetail]) -> Vec<MailboxView> {
    mailbox_states(oauth_cells)
        .into_iter()
        .map(|(mailbox, state)| {
            let mine = || {
                checks
                    .iter()
                    .filter(move |c| c.mailbox.as_deref() == Some(mailbox))
            };
            // The token check's claims first; a login check may carry them too.
            let token_user = mine()
                .filter(|c| {
                    c.name
                        .as_ref()
                        .is_some_and(|n| n.id() == CheckId::OauthToken)
                })
                .chain(mine())
                .filter_map(|c| c.oauth.as_ref())
                .map(|o| o.token_user.trim())
                .find(|u| !u.is_empty())
                .unwrap_or_default()
                .to_owned();
            MailboxView {
                mailbox: mailbox.to_owned(),
                state,
                cells: oauth_cells
                    .iter()
                    .filter(|c| c.mailbox.as_deref() == Some(mailbox))
                    .cloned()
                    .collect(),
                token_user_mismatch: !token_user.is_empty()
                    && !token_user.eq_ignore_ascii_case(mailbox),
                token_user,
            }
        })
        .collect()
}

/// The agent in service, or a 404 that names it (and says when it was retired).
pub async fn known(state: &WebState, agent_id: &str) -> Result<KnownAgent, WebError> {
    let retired = state.store.retired_since(agent_id).await?;
    match (retired, state.store.agent(agent_id).await?) {
        (None, Some(agent)) => Ok(agent),
        (retired, _) => Err(WebError::NotFound(not_in_service(agent_id, retired))),
    }
}

pub async fn build(state: &WebState, agent_id: &str) -> Result<ServerView, WebError> {
    let evaluated_unix_ms = state.tracker.last_evaluated_unix_ms();
    let agent = known(state, agent_id).await?;
    let latest = state.store.latest(agent_id).await?;
    let ids = [agent_id.to_owned()];
    let open = state.store.open_gaps_of(&ids).await?;
    let states: Vec<_> = latest.iter().map(crate::convert::state_of).collect();
    let now = now_ms();
    let policy = state.tracker.policy();
    let awake = state.tracker.awake();
    let endpoints = state.tracker.endpoints().current();
    let mut cells = cells(
        &policy,
        std::slice::from_ref(&agent),
        &states,
        now,
        &awake,
        &endpoints,
    )
    .pop()
    .unwrap_or_default();
    let latency = latency_warnings(&state.store, &policy.latency, &ids).await?;
    mark_latency(&mut cells.catalog, &latency);
    mark_latency(&mut cells.oauth, &latency);
    let mut checks: Vec<CheckDetail> = latest
        .iter()
        .map(|r| CheckDetail::from_stored(r, now / 1000))
        .collect();
    by_attention(&mut checks, |c| {
        (attention(&cells.catalog, &cells.oauth, c), c.check.as_str())
    });
    let connected = state
        .sessions
        .connected()
        .await?
        .binary_search(&agent.record.agent_id)
        .is_ok();
    let r = &agent.record;
    let version_notes =
        crate::newer::version_notes(&r.agent_version, checks.iter().any(|c| c.note.is_some()));
    let quarantine = state.store.quarantine(agent_id).await?;
    let mut open_gaps: Vec<OpenGap> = open
        .into_iter()
        .map(|g| OpenGap {
            owner: crate::gaps::owner_name(&g.kind, &g.detail),
            check: g.check,
            severity: g.severity,
            kind: g.kind,
            detail: g.detail,
            opened_unix_ms: g.opened_unix_ms,
        })
        .collect();
    open_gaps.sort_by(|a, b| (&a.severity, &a.check).cmp(&(&b.severity, &b.check)));
    Ok(ServerView {
        evaluated_unix_ms,
        server: Facts {
            agent_id: r.agent_id.clone(),
            hostname: r.hostname.clone(),
            role: r.role.clone(),
            deployment: r.deployment.clone(),
            agent_version: r.agent_version.clone(),
            os: r.os.clone(),
            ece_version: r.ece_version.clone(),
            ece_es: r.ece_es.clone(),
            probe_interval_s: r.probe_interval_s,
            first_seen_unix_ms: agent.first_seen_unix_ms,
            last_seen_unix_ms: r.seen_unix_ms,
            last_seq: agent.last_seq,
            spool_dropped: agent.spool_dropped,
            connected,
            java: JavaFacts::of(r.java.as_ref()),
            collector_version: crate::newer::COLLECTOR_VERSION,
            version_notes,
            quarantine,
        },
        mailboxes: mailboxes(&cells.oauth, &checks),
        cells: cells.catalog,
        open_gaps,
        latency_warnings: latency,
        checks,
    })
}

/// A passing cell with a latency warning turns amber, with the warning's kind: the
/// warning shows where the others do.
pub(super) fn mark_latency(cells: &mut [Cell], warnings: &[LatencyWarning]) {
    for cell in cells.iter_mut().filter(|c| c.state == CellState::Pass) {
        if let Some(w) = warnings.iter().find(|w| cell.check.names(&w.check)) {
            cell.state = CellState::Warn;
            cell.kind = Some(w.kind.clone());
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub seq: u64,
    pub started_unix_ms: i64,
    pub duration_us: u64,
    pub outcome: String,
    pub failure_kind: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GapMark {
    pub kind: String,
    pub severity: String,
    pub opened_unix_ms: i64,
    /// None: still open.
    pub closed_unix_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub agent_id: String,
    pub check: String,
    /// The last `limit` results, oldest first.
    pub points: Vec<Point>,
    /// The check's gaps open at any time since the oldest point, newest opened first.
    pub gaps: Vec<GapMark>,
}

/// Gap marks read for one chart at most.
const MAX_MARKS: u32 = 1000;

pub async fn history(
    state: &WebState,
    agent_id: &str,
    check: &CheckName,
    limit: u32,
) -> Result<History, WebError> {
    known(state, agent_id).await?;
    let check = check.to_string();
    let raw = state.store.history_points(agent_id, &check, limit).await?;
    let since = raw
        .first()
        .map(|p| p.started_unix_ms.min(p.received_unix_ms));
    let gaps = match since {
        None => Vec::new(),
        Some(since) => {
            let filter = GapFilter {
                agent_id: Some(agent_id.to_owned()),
                check: Some(check.clone()),
                since_unix_ms: Some(since),
                limit: MAX_MARKS,
                ..GapFilter::default()
            };
            state.store.gaps(&filter).await?
        }
    };
    Ok(History {
        agent_id: agent_id.to_owned(),
        check,
        points: raw
            .into_iter()
            .map(|p| Point {
                seq: p.seq,
                started_unix_ms: p.started_unix_ms,
                duration_us: p.duration_us,
                outcome: p.outcome,
                failure_kind: p.failure_kind,
            })
            .collect(),
        gaps: gaps
            .into_iter()
            .map(|g| GapMark {
                kind: g.kind,
                severity: g.severity,
                opened_unix_ms: g.opened_unix_ms,
                closed_unix_ms: g.closed_unix_ms,
            })
            .collect(),
    })
}
