//! The `Query` service: read-only answers from the store and the gap engine.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use eceprobe_checks::CheckId;
use eceprobe_proto::v1::query_server::Query;
use eceprobe_proto::v1::{
    CheckHistoryRequest, CheckHistoryResponse, CheckResult, Gap, GapsRequest, GapsResponse,
    ListServersRequest, ListServersResponse, Server, ServerResultsRequest, ServerResultsResponse,
};
use prost::Message;
use tonic::{Request, Response, Status};

use crate::convert::{agent_view, check_view};
use crate::gaps::{evaluate, Policy, Severity};
use crate::store::{AgentRecord, Store, StoredResult, MAX_HISTORY_LIMIT};

pub struct QueryService {
    store: Store,
    policy: Policy,
}

impl QueryService {
    pub fn new(store: Store, policy: Policy) -> Self {
        QueryService { store, policy }
    }
}

fn storage(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("storage: {e}"))
}

fn server(a: &AgentRecord, last_seq: u64) -> Server {
    Server {
        agent_id: a.agent_id.clone(),
        hostname: a.hostname.clone(),
        role: a.role.clone(),
        deployment: a.deployment.clone(),
        agent_version: a.agent_version.clone(),
        os: a.os.clone(),
        ece_version: a.ece_version.clone(),
        ece_es: a.ece_es.clone(),
        probe_interval_s: a.probe_interval_s,
        seen_unix_ms: a.seen_unix_ms,
        last_seq,
    }
}

/// The stored detail is the agent's own message; a blob that does not decode (a damaged
/// row) is reported as the summary columns alone rather than failing the whole answer.
fn detail(r: &StoredResult) -> CheckResult {
    CheckResult::decode(r.detail.as_slice()).unwrap_or_else(|_| CheckResult {
        seq: r.seq,
        check: r.check.clone(),
        started_unix_ms: r.started_unix_ms,
        duration_us: r.duration_us,
        ..CheckResult::default()
    })
}

fn check_filter(check: &str) -> Result<Option<CheckId>, Status> {
    if check.is_empty() {
        return Ok(None);
    }
    CheckId::from_str(check)
        .map(Some)
        .map_err(Status::invalid_argument)
}

#[tonic::async_trait]
impl Query for QueryService {
    async fn list_servers(
        &self,
        request: Request<ListServersRequest>,
    ) -> Result<Response<ListServersResponse>, Status> {
        let want = request.into_inner().deployment;
        let mut servers = Vec::new();
        for a in self.store.agents().await.map_err(storage)? {
            if want.is_empty() || a.deployment == want {
                let last = self.store.last_seq(&a.agent_id).await.map_err(storage)?;
                servers.push(server(&a, last));
            }
        }
        servers.sort_by(|x, y| (&x.deployment, &x.agent_id).cmp(&(&y.deployment, &y.agent_id)));
        Ok(Response::new(ListServersResponse { servers }))
    }

    async fn current_gaps(
        &self,
        request: Request<GapsRequest>,
    ) -> Result<Response<GapsResponse>, Status> {
        let req = request.into_inner();
        let check = check_filter(&req.check)?;
        let severity = match req.severity.as_str() {
            "" => None,
            "gap" => Some(Severity::Gap),
            "warning" => Some(Severity::Warning),
            other => {
                return Err(Status::invalid_argument(format!(
                    "severity '{other}': use gap or warning"
                )))
            }
        };
        let agents: Vec<_> = self
            .store
            .agents()
            .await
            .map_err(storage)?
            .iter()
            .map(agent_view)
            .collect();
        let checks: Vec<_> = self
            .store
            .latest_all()
            .await
            .map_err(storage)?
            .iter()
            .filter_map(check_view)
            .collect();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or_default();
        let gaps = evaluate(&self.policy, &agents, &checks, now)
            .into_iter()
            .filter(|g| req.deployment.is_empty() || g.deployment == req.deployment)
            .filter(|g| req.agent_id.is_empty() || g.agent_id == req.agent_id)
            .filter(|g| check.is_none_or(|c| g.check == c))
            .filter(|g| severity.is_none_or(|s| g.severity == s))
            .map(|g| Gap {
                deployment: g.deployment,
                agent_id: g.agent_id,
                check: g.check.to_string(),
                severity: enum_name(&g.severity),
                kind: enum_name(&g.kind),
                detail: g.detail,
            })
            .collect();
        Ok(Response::new(GapsResponse {
            gaps,
            evaluated_unix_ms: now,
        }))
    }

    async fn server_results(
        &self,
        request: Request<ServerResultsRequest>,
    ) -> Result<Response<ServerResultsResponse>, Status> {
        let id = request.into_inner().agent_id;
        let agents = self.store.agents().await.map_err(storage)?;
        let Some(agent) = agents.iter().find(|a| a.agent_id == id) else {
            return Err(Status::not_found(format!("no server with agent id '{id}'")));
        };
        let last = self.store.last_seq(&id).await.map_err(storage)?;
        let mut latest: Vec<CheckResult> = self
            .store
            .latest(&id)
            .await
            .map_err(storage)?
            .iter()
            .map(detail)
            .collect();
        latest.sort_by(|a, b| a.check.cmp(&b.check));
        Ok(Response::new(ServerResultsResponse {
            server: Some(server(agent, last)),
            latest,
        }))
    }

    async fn check_history(
        &self,
        request: Request<CheckHistoryRequest>,
    ) -> Result<Response<CheckHistoryResponse>, Status> {
        let req = request.into_inner();
        let Some(check) = check_filter(&req.check)? else {
            return Err(Status::invalid_argument("check is required, e.g. imap"));
        };
        let limit = match req.limit {
            0 => 100,
            n => n.min(MAX_HISTORY_LIMIT),
        };
        let results = self
            .store
            .history(&req.agent_id, check.as_str(), limit)
            .await
            .map_err(storage)?
            .iter()
            .map(detail)
            .collect();
        Ok(Response::new(CheckHistoryResponse { results }))
    }
}

/// The serde name of a unit enum variant ("gap", "refresh_blocked_on_services").
fn enum_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| j.as_str().map(String::from))
        .unwrap_or_default()
}
