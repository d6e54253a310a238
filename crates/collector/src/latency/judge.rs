//! The judgment, pure: per stage, this server's figure (the median of its last results)
//! against the median of its peers' figures, and against its own hourly samples of the
//! last days. Reads nothing, so tests give it figures directly.

use std::collections::BTreeMap;

use super::thresholds::{LatencyThresholds, MIN_RECENT};
use super::{LATENCY_REGRESSION, SLOWER_THAN_PEERS};
use crate::store::{median, Stages, Timings};

/// A server in service, as the comparison groups it: same deployment and same role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub agent_id: String,
    pub deployment: String,
    pub role: String,
}

/// A stage's figure: microseconds, and how many values it is the median of.
type Figure = (u64, u32);

/// Each stage's figure for one check on one server.
type Figures<'a> = BTreeMap<&'a str, Figure>;

/// A stage with this server's figure and the reference.
type Candidate<'a> = (&'a str, Figure, Figure);

/// A stage over its reference, before it is put in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Over {
    pub agent_id: String,
    pub check: String,
    pub kind: &'static str,
    pub stage: String,
    pub here_us: u64,
    pub here_count: u32,
    pub reference_us: u64,
    pub reference_count: u32,
}

/// Each stage's values over some results.
fn by_stage(samples: &[Stages]) -> BTreeMap<&str, Vec<u64>> {
    let mut out: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for sample in samples {
        for (stage, us) in sample {
            out.entry(stage.as_str()).or_default().push(*us);
        }
    }
    out
}

/// A server's figure per stage: the median of its recent results, when at least
/// [`MIN_RECENT`] timed the stage.
fn figures(t: &Timings) -> BTreeMap<&str, (u64, u32)> {
    by_stage(&t.recent)
        .into_iter()
        .filter(|(_, v)| v.len() >= MIN_RECENT)
        .filter_map(|(stage, v)| {
            let n = v.len() as u32;
            median(v).map(|m| (stage, (m, n)))
        })
        .collect()
}

/// The stage furthest over its reference (by ratio), if any is over the thresholds.
fn worst<'a>(
    th: &LatencyThresholds,
    candidates: impl Iterator<Item = Candidate<'a>>,
) -> Option<Candidate<'a>> {
    candidates
        .filter(|(_, (here, _), (reference, _))| th.over(*here, *reference))
        .max_by(|a, b| {
            // here_a / ref_a vs here_b / ref_b, without division (a reference may be 0).
            let lhs = u128::from((a.1).0) * u128::from((b.2).0.max(1));
            let rhs = u128::from((b.1).0) * u128::from((a.2).0.max(1));
            lhs.cmp(&rhs).then(b.0.cmp(a.0))
        })
}

/// The latency warnings of the servers in `judged`, at most one per kind per check.
/// `servers` is every server in service (peers are found among them); `timings` holds the
/// judged servers' checks and their peers'.
pub fn judge(
    th: &LatencyThresholds,
    servers: &[Peer],
    timings: &[Timings],
    judged: &[String],
) -> Vec<Over> {
    let group_of: BTreeMap<&str, (&str, &str)> = servers
        .iter()
        .map(|s| {
            (
                s.agent_id.as_str(),
                (s.deployment.as_str(), s.role.as_str()),
            )
        })
        .collect();
    // Each server's figures, per check.
    let mut fig: BTreeMap<&str, Vec<(&str, Figures)>> = BTreeMap::new();
    for t in timings {
        fig.entry(t.check.as_str())
            .or_default()
            .push((t.agent_id.as_str(), figures(t)));
    }
    let mut out = Vec::new();
    let judged: std::collections::BTreeSet<&str> = judged.iter().map(String::as_str).collect();
    for t in timings
        .iter()
        .filter(|t| judged.contains(t.agent_id.as_str()))
    {
        let Some(group) = group_of.get(t.agent_id.as_str()) else {
            continue;
        };
        let same_check = fig
            .get(t.check.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let Some(mine) = same_check
            .iter()
            .find(|(agent, _)| *agent == t.agent_id)
            .map(|(_, f)| f)
        else {
            continue;
        };
        let over = |kind, stage: &str, here: (u64, u32), reference: (u64, u32)| Over {
            agent_id: t.agent_id.clone(),
            check: t.check.clone(),
            kind,
            stage: stage.to_owned(),
            here_us: here.0,
            here_count: here.1,
            reference_us: reference.0,
            reference_count: reference.1,
        };
        // Peers: the same check on the other servers of the group.
        let peers: Vec<&Figures> = same_check
            .iter()
            .filter(|(agent, _)| *agent != t.agent_id && group_of.get(agent) == Some(group))
            .map(|(_, f)| f)
            .collect();
        let against_peers = mine.iter().filter_map(|(stage, here)| {
            let theirs: Vec<u64> = peers
                .iter()
                .filter_map(|p| p.get(stage))
                .map(|f| f.0)
                .collect();
            let n = theirs.len() as u32;
            if n < th.min_peers {
                return None;
            }
            median(theirs).map(|m| (*stage, *here, (m, n)))
        });
        if let Some((stage, here, reference)) = worst(th, against_peers) {
            out.push(over(SLOWER_THAN_PEERS, stage, here, reference));
        }
        let against_history = mine.iter().filter_map(|(stage, here)| {
            let (m, n) = *t.baseline.get(*stage)?;
            (n >= th.min_baseline_hours).then_some((*stage, *here, (m, n)))
        });
        if let Some((stage, here, reference)) = worst(th, against_history) {
            out.push(over(LATENCY_REGRESSION, stage, here, reference));
        }
    }
    out
}
