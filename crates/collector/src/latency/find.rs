//! The one entry point: the latency warnings of some servers, read, judged and put in
//! words with the check's target (from its latest result) and the kind's hint.

use std::collections::{BTreeSet, HashMap};

use eceprobe_checks::{FailureKind, Role};

use super::judge::{judge, Over, Peer};
use super::thresholds::LatencyThresholds;
use super::{seconds, LatencyWarning, SLOWER_THAN_PEERS};
use crate::checkname::CheckName;
use crate::store::{Store, StoreError, StoredResult, TimingKey};

/// Peers read per group at most, besides the judged servers.
const MAX_PEERS: u32 = 50;

/// Where a check goes, as its latest result says ("outlook.office365.com:993"); empty when
/// not known.
pub type Target = String;

/// The latency warnings of the servers `judged` (in service; others are skipped), each
/// against the servers of its deployment and role and against its own history. Reads
/// the judged servers' checks and their peers', never a detail blob but those of the checks
/// warned about (for their host and port).
pub async fn latency_warnings(
    store: &Store,
    th: &LatencyThresholds,
    judged: &[String],
) -> Result<Vec<LatencyWarning>, StoreError> {
    if judged.is_empty() {
        return Ok(Vec::new());
    }
    let peer = |a: crate::store::KnownAgent| Peer {
        agent_id: a.record.agent_id,
        deployment: a.record.deployment,
        role: a.record.role,
    };
    let mut servers: Vec<Peer> = store
        .agents_in(judged)
        .await?
        .into_iter()
        .map(peer)
        .collect();
    let groups: BTreeSet<(String, String)> = servers
        .iter()
        .map(|s| (s.deployment.clone(), s.role.clone()))
        .collect();
    // Besides the judged servers, the first MAX_PEERS + 1 of each of their groups (by id):
    // a median of 50 peers is as good as one of 5,000, and a page stays a bounded read.
    for (deployment, role) in &groups {
        for a in store.group_agents(deployment, role, MAX_PEERS + 1).await? {
            if !servers.iter().any(|s| s.agent_id == a.record.agent_id) {
                servers.push(peer(a));
            }
        }
    }
    let involved: Vec<String> = servers.iter().map(|s| s.agent_id.clone()).collect();
    let timings = store.timings(&involved, th.recent).await?;
    let found = judge(th, &servers, &timings, judged);
    let mut targets: HashMap<(String, String), Target> = HashMap::new();
    for agent in found.iter().map(|o| &o.agent_id).collect::<BTreeSet<_>>() {
        for r in store.latest(agent).await? {
            targets.insert((r.agent_id.clone(), r.check.clone()), target_of(&r));
        }
    }
    Ok(worded(found, &servers, &targets))
}

/// The latency warnings of an audit, as of its results: each server's figure ends with its
/// audit result, its peers are the other servers of the audit of the same deployment and
/// role, its history the window before that result. Judged again at each reading, from
/// the history retention keeps (`[retention] results_days`): an audit older than that has
/// none left to judge by (its own results alone are not enough figures).
pub async fn audit_latency_warnings(
    store: &Store,
    th: &LatencyThresholds,
    servers: &[Peer],
    results: &[StoredResult],
) -> Result<Vec<LatencyWarning>, StoreError> {
    let mut newest: HashMap<(&str, &str), &StoredResult> = HashMap::new();
    for r in results.iter().filter(|r| r.outcome != "fail") {
        let slot = newest
            .entry((r.agent_id.as_str(), r.check.as_str()))
            .or_insert(r);
        if r.seq > slot.seq {
            *slot = r;
        }
    }
    let mut keys: Vec<TimingKey> = newest
        .values()
        .map(|r| TimingKey {
            agent_id: r.agent_id.clone(),
            check: r.check.clone(),
            max_seq: i64::try_from(r.seq).unwrap_or(i64::MAX),
            newest_started_unix_ms: r.started_unix_ms,
        })
        .collect();
    keys.sort_by(|a, b| (&a.agent_id, &a.check).cmp(&(&b.agent_id, &b.check)));
    let timings = store.timings_of(&keys, th.recent).await?;
    let judged: Vec<String> = servers.iter().map(|s| s.agent_id.clone()).collect();
    let found = judge(th, servers, &timings, &judged);
    let targets = newest
        .values()
        .map(|r| ((r.agent_id.clone(), r.check.clone()), target_of(r)))
        .collect();
    Ok(worded(found, servers, &targets))
}

/// "outlook.office365.com:993" from a result's detail; empty when it says nothing.
fn target_of(r: &StoredResult) -> Target {
    let d = crate::result_view::detail(r);
    match (d.host.as_str(), d.port) {
        ("", _) => String::new(),
        (host, 0) => host.to_owned(),
        (host, port) => crate::result_view::target(host, port),
    }
}

fn worded(
    found: Vec<Over>,
    servers: &[Peer],
    targets: &HashMap<(String, String), Target>,
) -> Vec<LatencyWarning> {
    found
        .into_iter()
        .map(|o| {
            let server = servers.iter().find(|s| s.agent_id == o.agent_id);
            let target = targets
                .get(&(o.agent_id.clone(), o.check.clone()))
                .cloned()
                .unwrap_or_default();
            words(o, server, &target)
        })
        .collect()
}

/// "application servers", "services servers", "servers" (role undeclared or both).
fn group_words(p: &Peer, n: u32) -> String {
    let who = match p.role.as_str() {
        "application" | "services" => format!("{} servers", p.role),
        "" => "servers with no declared role".to_owned(),
        other => format!("servers of role {other}"),
    };
    let who = if n == 1 {
        who.replacen("servers", "server", 1)
    } else {
        who
    };
    match p.deployment.as_str() {
        "" => format!("{n} other {who}"),
        d => format!("{n} other {who} of deployment {d}"),
    }
}

fn words(o: Over, server: Option<&Peer>, target: &str) -> LatencyWarning {
    let on = if target.is_empty() {
        o.check.clone()
    } else {
        format!("{} ({target})", o.check)
    };
    let here = format!(
        "{} on {on} took {} here (median of the last {})",
        o.stage,
        seconds(o.here_us),
        o.here_count
    );
    let detail = if o.kind == SLOWER_THAN_PEERS {
        let group = server
            .map(|s| group_words(s, o.reference_count))
            .unwrap_or_else(|| format!("{} other servers", o.reference_count));
        format!(
            "{here}; the median of {group} is {}",
            seconds(o.reference_us)
        )
    } else {
        format!(
            "{here}; its median over the last 7 days ({} hourly samples) is {}",
            o.reference_count,
            seconds(o.reference_us)
        )
    };
    LatencyWarning {
        hint: hint(&o, server, target),
        agent_id: o.agent_id,
        check: o.check,
        owner: crate::gaps::owner_name(o.kind, ""),
        kind: o.kind.to_owned(),
        stage: o.stage,
        here_us: o.here_us,
        reference_us: o.reference_us,
        reference_count: o.reference_count,
        here_count: o.here_count,
        detail,
    }
}

/// The probe engine's hint for the kind, for this check and role.
fn hint(o: &Over, server: Option<&Peer>, target: &str) -> String {
    let (Ok(kind), Ok(name)) = (o.kind.parse::<FailureKind>(), CheckName::parse(&o.check)) else {
        return String::new();
    };
    let role = server.map_or(Role::Both, |s| crate::convert::stored_role(&s.role));
    let (host, port) = target
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse().ok()?)))
        .unwrap_or((
            if target.is_empty() {
                "the endpoint"
            } else {
                target
            },
            0,
        ));
    kind.hint(name.id(), role, host, port)
}
