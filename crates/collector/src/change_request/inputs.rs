//! What a change request is generated from: the open gaps of one deployment, its servers'
//! declared facts and the latest result of each check a gap is on (as the agent sent it).

use std::collections::HashMap;

use eceprobe_checks::{Owner, Role};
use eceprobe_proto::v1::{CheckResult, Gap};

use crate::gaps::owner_of;
use crate::store::{GapFilter, KnownAgent, Store, StoreError, StoredResult, MAX_GAPS_LIMIT};

/// A server as its agent declared it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerFacts {
    pub agent_id: String,
    pub hostname: String,
    /// "services", "application", "both" or "unspecified".
    pub role: String,
    pub ece_version: String,
    pub ece_es: String,
    /// The agent's own version (its Hello): whether its results can carry a field.
    pub agent_version: String,
}

impl ServerFacts {
    pub fn from_known(a: &KnownAgent) -> ServerFacts {
        let r = &a.record;
        ServerFacts {
            agent_id: r.agent_id.clone(),
            hostname: r.hostname.clone(),
            role: r.role.clone(),
            ece_version: r.ece_version.clone(),
            ece_es: r.ece_es.clone(),
            agent_version: r.agent_version.clone(),
        }
    }

    /// The role the ECE process wording depends on; an unspecified one is read as both.
    pub fn role(&self) -> Role {
        crate::convert::stored_role(&self.role)
    }
}

/// The gaps, servers and results of one deployment.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub deployment: String,
    /// The open gaps and warnings.
    pub gaps: Vec<Gap>,
    pub servers: Vec<ServerFacts>,
    /// (agent id, check) -> the latest result.
    pub results: HashMap<(String, String), CheckResult>,
    /// Some(n) when the read stopped at n open gaps (the store's most): the documents say
    /// they are cut, so no one takes them for the whole list.
    pub gaps_cut_at: Option<usize>,
}

impl Inputs {
    /// Reads the deployment's open gaps, its servers and, for each server with a gap, its
    /// latest results (one indexed read per server: only servers with gaps are read).
    pub async fn load(store: &Store, deployment: &str) -> Result<Inputs, StoreError> {
        let filter = GapFilter {
            deployment: Some(deployment.to_owned()),
            open_only: true,
            limit: MAX_GAPS_LIMIT,
            ..GapFilter::default()
        };
        let gaps: Vec<Gap> = store
            .gaps(&filter)
            .await?
            .into_iter()
            .map(crate::gaps::wire_gap)
            .collect();
        let servers: Vec<ServerFacts> = store
            .agents()
            .await?
            .iter()
            .filter(|a| a.record.deployment == deployment)
            .map(ServerFacts::from_known)
            .collect();
        let most = usize::try_from(MAX_GAPS_LIMIT).unwrap_or(usize::MAX);
        let gaps_cut_at = (gaps.len() >= most).then_some(gaps.len());
        let mut ids: Vec<&str> = gaps.iter().map(|g| g.agent_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut results = Vec::new();
        for id in ids {
            results.extend(store.latest(id).await?);
        }
        Ok(Inputs {
            gaps_cut_at,
            ..Inputs::new(deployment, gaps, servers, &results)
        })
    }

    /// From gaps, servers and stored results already read (an audit's).
    pub fn new(
        deployment: &str,
        gaps: Vec<Gap>,
        servers: Vec<ServerFacts>,
        results: &[StoredResult],
    ) -> Inputs {
        let results = results
            .iter()
            .map(|r| {
                (
                    (r.agent_id.clone(), r.check.clone()),
                    crate::result_view::detail(r),
                )
            })
            .collect();
        Inputs {
            deployment: deployment.to_owned(),
            gaps,
            servers,
            results,
            gaps_cut_at: None,
        }
    }

    /// The open gaps a team closes, in a stable order (server, check, kind).
    pub fn gaps_of(&self, owner: Owner) -> Vec<&Gap> {
        let mut gaps: Vec<&Gap> = self
            .gaps
            .iter()
            .filter(|g| owner_of(&g.kind, &g.detail) == Some(owner))
            .collect();
        gaps.sort_by(|a, b| {
            (&a.agent_id, &a.check, &a.kind).cmp(&(&b.agent_id, &b.check, &b.kind))
        });
        gaps
    }

    pub fn result(&self, agent_id: &str, check: &str) -> Option<&CheckResult> {
        self.results.get(&(agent_id.to_owned(), check.to_owned()))
    }

    /// The server's facts; a server the store no longer knows is its id alone.
    pub fn server(&self, agent_id: &str) -> ServerFacts {
        self.servers
            .iter()
            .find(|s| s.agent_id == agent_id)
            .cloned()
            .unwrap_or_else(|| ServerFacts {
                agent_id: agent_id.to_owned(),
                ..ServerFacts::default()
            })
    }
}
