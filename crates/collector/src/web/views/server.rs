//! One server: its facts, its open gaps, and for each check the latest result decoded
//! (stages with timings, addresses, TLS and the certificate chain, SASL mechanisms, the
//! failure with its remedy); its mailboxes (the OAuth checks, with what the token said of
//! itself); and the history of one check with its gaps' open and close times.

use eceprobe_proto::v1 as pb;
use serde::Serialize;

use super::cells::{cells, mailbox_states, Cell, CellState};
use crate::checkname::CheckName;
use crate::gaps::now_ms;
use crate::query;
use crate::store::{GapFilter, KnownAgent, StoredResult};
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
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenGap {
    pub check: String,
    pub severity: String,
    pub kind: String,
    pub detail: String,
    pub opened_unix_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FindingView {
    pub kind: String,
    pub stage: String,
    pub detail: String,
    pub hint: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DnsView {
    pub source: String,
    pub duration_us: u64,
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageView {
    pub stage: String,
    pub ok: bool,
    pub duration_us: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertView {
    pub subject: String,
    pub issuer: String,
    pub dns_names: Vec<String>,
    pub not_after: String,
    pub not_after_unix: i64,
    /// Whole days from now to expiry (negative: expired).
    pub days_left: i64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsView {
    pub version: String,
    pub cipher: String,
    pub trusted: bool,
    /// The chain ends at one of Microsoft's roots (false: interception); None: not judged.
    pub expected_root: Option<bool>,
    pub chain_root: String,
    pub chain: Vec<CertView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProtocolView {
    pub greeting: String,
    pub front_end: String,
    pub capabilities: Vec<String>,
    pub sasl_mechanisms: Vec<String>,
    pub capabilities_before_tls: Vec<String>,
    pub http_status: u32,
    pub token_endpoint: String,
}

/// What an OAuth check saw of the grant and the token (never a token): the agent's
/// `OAuthInfo` as sent. Empty strings and 0 mean not known.
#[derive(Debug, Clone, Serialize)]
pub struct OAuthView {
    pub mailbox: String,
    /// `refresh_token` or `client_credentials`.
    pub grant: String,
    pub requested_scopes: Vec<String>,
    /// The token endpoint's `scope` field.
    pub granted_scopes: Vec<String>,
    pub expires_in_s: u64,
    pub refresh_token_issued: bool,
    /// The token's user (`upn`, `unique_name` or `preferred_username`).
    pub token_user: String,
    /// `scp` and `roles` of the token.
    pub token_scopes: Vec<String>,
    pub token_roles: Vec<String>,
    /// `aud`: `https://outlook.office.com` for Exchange Online.
    pub audience: String,
    /// `exp - iat`, seconds.
    pub token_lifetime_s: i64,
    pub token_tenant_id: String,
    pub token_app_id: String,
    /// The token endpoint's `error` field and AADSTS number.
    pub error: String,
    pub aadsts: u32,
    /// Microsoft's ids for a support case.
    pub trace_id: String,
    pub correlation_id: String,
}

fn oauth(o: &pb::OAuthInfo) -> OAuthView {
    OAuthView {
        mailbox: o.mailbox.clone(),
        grant: o.grant.clone(),
        requested_scopes: o.requested_scopes.clone(),
        granted_scopes: o.granted_scopes.clone(),
        expires_in_s: o.expires_in_s,
        refresh_token_issued: o.refresh_token_issued,
        token_user: o.token_user.clone(),
        token_scopes: o.token_scopes.clone(),
        token_roles: o.token_roles.clone(),
        audience: o.audience.clone(),
        token_lifetime_s: o.token_lifetime_s,
        token_tenant_id: o.token_tenant_id.clone(),
        token_app_id: o.token_app_id.clone(),
        error: o.error.clone(),
        aadsts: o.aadsts,
        trace_id: o.trace_id.clone(),
        correlation_id: o.correlation_id.clone(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptView {
    pub address: String,
    pub stages: Vec<StageView>,
    pub tls: Option<TlsView>,
    pub protocol: Option<ProtocolView>,
    pub failure: Option<FindingView>,
    pub warnings: Vec<FindingView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckDetail {
    pub check: String,
    pub seq: u64,
    pub started_unix_ms: i64,
    pub received_unix_ms: i64,
    pub duration_us: u64,
    /// pass, warn or fail.
    pub outcome: String,
    pub host: String,
    pub port: u32,
    pub via_proxy: String,
    pub used_address: String,
    pub dns: Option<DnsView>,
    pub failure: Option<FindingView>,
    pub warnings: Vec<FindingView>,
    pub attempts: Vec<AttemptView>,
    /// The mailbox of an OAuth check (`oauth-imap/<mailbox>`); null for catalog checks.
    pub mailbox: Option<String>,
    /// What an OAuth check saw of the grant and the token; null for catalog checks.
    pub oauth: Option<OAuthView>,
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
    /// The latest result of each check reported, by check.
    pub checks: Vec<CheckDetail>,
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
                .filter(|c| c.check.starts_with("oauth-token/"))
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

fn finding(f: &pb::Finding) -> FindingView {
    FindingView {
        kind: f.kind.clone(),
        stage: f.stage.clone(),
        detail: f.detail.clone(),
        hint: f.hint.clone(),
    }
}

fn tls(t: &pb::Tls, now_s: i64) -> TlsView {
    TlsView {
        version: t.version.clone(),
        cipher: t.cipher.clone(),
        trusted: t.trusted,
        expected_root: t.expected_root,
        chain_root: t.chain_root.clone(),
        chain: t
            .chain
            .iter()
            .map(|c| CertView {
                subject: c.subject.clone(),
                issuer: c.issuer.clone(),
                dns_names: c.dns_names.clone(),
                not_after: c.not_after.clone(),
                not_after_unix: c.not_after_unix,
                days_left: c.not_after_unix.saturating_sub(now_s).div_euclid(86_400),
                sha256: c.sha256.clone(),
            })
            .collect(),
    }
}

fn protocol(p: &pb::Protocol) -> ProtocolView {
    ProtocolView {
        greeting: p.greeting.clone(),
        front_end: p.front_end.clone(),
        capabilities: p.capabilities.clone(),
        sasl_mechanisms: p.sasl_mechanisms.clone(),
        capabilities_before_tls: p.capabilities_before_tls.clone(),
        http_status: p.http_status,
        token_endpoint: p.token_endpoint.clone(),
    }
}

/// The stored detail is the agent's own message; a blob that does not decode (a damaged
/// row) shows as the summary columns alone, as the Query API does ([`query::detail`]).
fn detail(r: &StoredResult, now_s: i64) -> CheckDetail {
    let d = query::detail(r);
    CheckDetail {
        check: r.check.clone(),
        seq: r.seq,
        started_unix_ms: r.started_unix_ms,
        received_unix_ms: r.received_unix_ms,
        duration_us: r.duration_us,
        outcome: r.outcome.clone(),
        host: d.host,
        port: d.port,
        via_proxy: d.via_proxy,
        used_address: d.used_address,
        dns: d.dns.map(|x| DnsView {
            source: x.source,
            duration_us: x.duration_us,
            addresses: x.addresses,
        }),
        failure: d.failure.as_ref().map(finding).or_else(|| {
            // A damaged blob still says what failed.
            r.failure_kind.as_ref().map(|kind| FindingView {
                kind: kind.clone(),
                stage: r.failure_stage.clone().unwrap_or_default(),
                detail: String::new(),
                hint: String::new(),
            })
        }),
        warnings: d.warnings.iter().map(finding).collect(),
        attempts: d
            .attempts
            .iter()
            .map(|a| AttemptView {
                address: a.address.clone(),
                stages: a
                    .stages
                    .iter()
                    .map(|s| StageView {
                        stage: s.stage.clone(),
                        ok: s.ok,
                        duration_us: s.duration_us,
                    })
                    .collect(),
                tls: a.tls.as_ref().map(|t| tls(t, now_s)),
                protocol: a.protocol.as_ref().map(protocol),
                failure: a.failure.as_ref().map(finding),
                warnings: a.warnings.iter().map(finding).collect(),
            })
            .collect(),
        mailbox: CheckName::parse(&r.check)
            .ok()
            .and_then(|n| n.mailbox().map(str::to_owned)),
        oauth: d.oauth.as_ref().map(oauth),
    }
}

/// The agent, or a 404 that names it.
pub async fn known(state: &WebState, agent_id: &str) -> Result<KnownAgent, WebError> {
    state
        .store
        .agent(agent_id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("no server with agent id '{agent_id}'")))
}

pub async fn build(state: &WebState, agent_id: &str) -> Result<ServerView, WebError> {
    let evaluated_unix_ms = state.tracker.last_evaluated_unix_ms();
    let agent = known(state, agent_id).await?;
    let latest = state.store.latest(agent_id).await?;
    let ids = [agent_id.to_owned()];
    let open = state.store.open_gaps_of(&ids).await?;
    let states: Vec<_> = latest
        .iter()
        .map(|r| crate::store::CheckState {
            agent_id: r.agent_id.clone(),
            check: r.check.clone(),
            seq: r.seq,
            outcome: r.outcome.clone(),
            failure_kind: r.failure_kind.clone(),
            warning_kinds: r.warning_kinds.clone(),
            duration_us: r.duration_us,
            received_unix_ms: r.received_unix_ms,
        })
        .collect();
    let now = now_ms();
    let policy = state.tracker.policy();
    let awake = state.tracker.awake();
    let cells = cells(&policy, std::slice::from_ref(&agent), &states, now, &awake)
        .pop()
        .unwrap_or_default();
    let checks: Vec<CheckDetail> = latest.iter().map(|r| detail(r, now / 1000)).collect();
    let connected = state
        .sessions
        .connected()
        .binary_search(&agent.record.agent_id)
        .is_ok();
    let r = &agent.record;
    let mut open_gaps: Vec<OpenGap> = open
        .into_iter()
        .map(|g| OpenGap {
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
        },
        mailboxes: mailboxes(&cells.oauth, &checks),
        cells: cells.catalog,
        open_gaps,
        checks,
    })
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
