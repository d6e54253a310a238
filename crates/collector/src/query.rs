//! The `Query` service: read-only answers from the store (gaps as the tracker recorded them),
//! and audits (started here, run by [`crate::audits`]).

mod servers;

use eceprobe_proto::v1::query_server::Query;
use eceprobe_proto::v1::{
    Audit, AuditDiff, AuditReport, ChangeRequestRequest, ChangeRequestResponse,
    CheckHistoryRequest, CheckHistoryResponse, CheckResult, DiffAuditsRequest, GapHistoryRequest,
    GapHistoryResponse, GapsRequest, GapsResponse, GetAuditRequest, LatencyWarning,
    ListAuditsRequest, ListAuditsResponse, ListServersRequest, ListServersResponse,
    RetireServerRequest, RetireServerResponse, RunAuditRequest, ServerResultsRequest,
    ServerResultsResponse,
};
use tonic::{Request, Response, Status};

use crate::audits::{answer, AuditError, Audits};
use crate::checkname::CheckName;
use crate::gaps::{wire_gap, OwnerFilter, Tracker, OWNER_VALUES};
use crate::latency::latency_warnings;
use crate::result_view::detail;
use crate::store::{GapFilter, KindMatch, Store, MAX_GAPS_LIMIT, MAX_HISTORY_LIMIT};

/// Current gaps in one answer (about 2 MB encoded, within a client's default 4 MiB). One
/// more is read from the store (which returns at most `MAX_GAPS_LIMIT`) to tell the caller
/// that the answer was cut.
const MAX_CURRENT_GAPS: u32 = MAX_GAPS_LIMIT - 1;

pub struct QueryService {
    store: Store,
    tracker: Tracker,
    audits: Audits,
}

impl QueryService {
    pub fn new(store: Store, tracker: Tracker, audits: Audits) -> Self {
        QueryService {
            store,
            tracker,
            audits,
        }
    }
}

fn storage(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("storage: {e}"))
}

fn audit_status(e: AuditError) -> Status {
    match e {
        AuditError::Deadline(_) => Status::invalid_argument(e.to_string()),
        AuditError::Unknown(_) => Status::not_found(e.to_string()),
        AuditError::Store(e) => storage(e),
    }
}

/// Empty means any.
fn optional(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn severity_filter(severity: String) -> Result<Option<String>, Status> {
    match severity.as_str() {
        "" => Ok(None),
        "gap" | "warning" => Ok(Some(severity)),
        other => Err(Status::invalid_argument(format!(
            "severity '{other}': use gap or warning"
        ))),
    }
}

/// `owner`: one of [`OWNER_VALUES`], or empty for any.
fn owner_filter(owner: &str) -> Result<Option<KindMatch>, Status> {
    if owner.is_empty() {
        return Ok(None);
    }
    // The value is echoed back, at most 64 characters of it.
    let shown: String = owner.chars().take(64).collect();
    OwnerFilter::parse(owner)
        .map(|o| Some(o.stored()))
        .ok_or_else(|| Status::invalid_argument(format!("owner '{shown}': use {OWNER_VALUES}")))
}

/// The filters current gaps and gap history share; empty strings mean any.
fn gap_filter(
    check: &str,
    severity: String,
    deployment: String,
    agent_id: String,
    owner: &str,
) -> Result<GapFilter, Status> {
    Ok(GapFilter {
        check: check_filter(check)?.map(|c| c.to_string()),
        severity: severity_filter(severity)?,
        deployment: optional(deployment),
        agent_id: optional(agent_id),
        kinds: owner_filter(owner)?,
        ..GapFilter::default()
    })
}

fn check_filter(check: &str) -> Result<Option<CheckName>, Status> {
    if check.is_empty() {
        return Ok(None);
    }
    CheckName::parse(check)
        .map(Some)
        .map_err(|e| Status::invalid_argument(e.to_string()))
}

#[tonic::async_trait]
impl Query for QueryService {
    async fn list_servers(
        &self,
        request: Request<ListServersRequest>,
    ) -> Result<Response<ListServersResponse>, Status> {
        let want = request.into_inner().deployment;
        let mut servers = servers::list(&self.store, &want).await.map_err(storage)?;
        servers.sort_by(|x, y| (&x.deployment, &x.agent_id).cmp(&(&y.deployment, &y.agent_id)));
        Ok(Response::new(ListServersResponse { servers }))
    }

    async fn current_gaps(
        &self,
        request: Request<GapsRequest>,
    ) -> Result<Response<GapsResponse>, Status> {
        let req = request.into_inner();
        let filter = GapFilter {
            open_only: true,
            limit: MAX_CURRENT_GAPS + 1,
            ..gap_filter(
                &req.check,
                req.severity,
                req.deployment,
                req.agent_id,
                &req.owner,
            )?
        };
        // Read the time first: the gaps read next are at least this fresh.
        let evaluated_unix_ms = self.tracker.last_evaluated_unix_ms();
        let mut gaps = self.store.gaps(&filter).await.map_err(storage)?;
        let truncated = gaps.len() > MAX_CURRENT_GAPS as usize;
        gaps.truncate(MAX_CURRENT_GAPS as usize);
        Ok(Response::new(GapsResponse {
            gaps: gaps.into_iter().map(wire_gap).collect(),
            evaluated_unix_ms,
            truncated,
        }))
    }

    async fn gap_history(
        &self,
        request: Request<GapHistoryRequest>,
    ) -> Result<Response<GapHistoryResponse>, Status> {
        let req = request.into_inner();
        let filter = GapFilter {
            since_unix_ms: (req.since_unix_ms != 0).then_some(req.since_unix_ms),
            limit: match req.limit {
                0 => 100,
                n => n.min(MAX_GAPS_LIMIT),
            },
            ..gap_filter(
                &req.check,
                req.severity,
                req.deployment,
                req.agent_id,
                &req.owner,
            )?
        };
        let gaps = self.store.gaps(&filter).await.map_err(storage)?;
        Ok(Response::new(GapHistoryResponse {
            gaps: gaps.into_iter().map(wire_gap).collect(),
        }))
    }

    async fn server_results(
        &self,
        request: Request<ServerResultsRequest>,
    ) -> Result<Response<ServerResultsResponse>, Status> {
        let id = request.into_inner().agent_id;
        let agents = self.store.agents().await.map_err(storage)?;
        let Some(agent) = agents.iter().find(|a| a.record.agent_id == id) else {
            let retired = self.store.retired_since(&id).await.map_err(storage)?;
            return Err(Status::not_found(crate::retired::not_in_service(
                &id, retired,
            )));
        };
        let stored = self.store.latest(&id).await.map_err(storage)?;
        let mut latest: Vec<CheckResult> = stored.iter().map(detail).collect();
        latest.sort_by(|a, b| a.check.cmp(&b.check));
        let thresholds = &self.tracker.policy().latency;
        let latency_warnings = latency_warnings(&self.store, thresholds, std::slice::from_ref(&id))
            .await
            .map_err(storage)?
            .into_iter()
            .map(|w| LatencyWarning {
                check: w.check,
                kind: w.kind,
                stage: w.stage,
                here_us: w.here_us,
                here_count: w.here_count,
                reference_us: w.reference_us,
                reference_count: w.reference_count,
                detail: w.detail,
                hint: w.hint,
            })
            .collect();
        let reported_newer = stored.iter().any(|r| {
            crate::newer::note(
                &r.check,
                r.failure_kind.as_deref(),
                r.warning_kinds.iter().map(String::as_str),
            )
            .is_some()
        });
        let quarantine = self.store.quarantine(&id).await.map_err(storage)?;
        Ok(Response::new(ServerResultsResponse {
            server: Some(servers::server(agent, reported_newer, quarantine.as_ref())),
            latest,
            latency_warnings,
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
            .history(&req.agent_id, &check.to_string(), limit)
            .await
            .map_err(storage)?
            .iter()
            .map(detail)
            .collect();
        Ok(Response::new(CheckHistoryResponse { results }))
    }

    async fn run_audit(
        &self,
        request: Request<RunAuditRequest>,
    ) -> Result<Response<Audit>, Status> {
        let req = request.into_inner();
        answer::run(&self.audits, &req.deployment, req.deadline_s)
            .await
            .map(Response::new)
            .map_err(audit_status)
    }

    async fn list_audits(
        &self,
        request: Request<ListAuditsRequest>,
    ) -> Result<Response<ListAuditsResponse>, Status> {
        let req = request.into_inner();
        let deployment = optional(req.deployment);
        let audits = answer::list(&self.audits, deployment.as_deref(), req.limit)
            .await
            .map_err(audit_status)?;
        Ok(Response::new(ListAuditsResponse { audits }))
    }

    async fn change_request(
        &self,
        request: Request<ChangeRequestRequest>,
    ) -> Result<Response<ChangeRequestResponse>, Status> {
        use crate::change_request::{self as cr, AnswerError};
        let req = request.into_inner();
        let list = self.tracker.endpoints().current();
        let now = eceprobe_proto::now_ms();
        let doc = cr::answer(
            &self.store,
            &list,
            &req.deployment,
            &req.owner,
            &req.format,
            now,
        )
        .await
        .map_err(|e| match e {
            AnswerError::Invalid(e) => Status::invalid_argument(e.to_string()),
            AnswerError::NoServer(_) => Status::not_found(e.to_string()),
            AnswerError::Store(e) => storage(e),
        })?;
        Ok(Response::new(ChangeRequestResponse {
            document: doc.text,
            filename: doc.filename,
            media_type: doc.format.media_type().to_owned(),
            items: u32::try_from(doc.items).unwrap_or(u32::MAX),
        }))
    }

    async fn get_audit(
        &self,
        request: Request<GetAuditRequest>,
    ) -> Result<Response<AuditReport>, Status> {
        let id = request.into_inner().audit_id;
        let list = self.tracker.endpoints().current();
        answer::report_of(&self.audits, &id, &list)
            .await
            .map(Response::new)
            .map_err(audit_status)
    }

    async fn diff_audits(
        &self,
        request: Request<DiffAuditsRequest>,
    ) -> Result<Response<AuditDiff>, Status> {
        let req = request.into_inner();
        answer::diff_of(&self.audits, &req.from_audit_id, &req.to_audit_id)
            .await
            .map(Response::new)
            .map_err(audit_status)
    }

    async fn retire_server(
        &self,
        request: Request<RetireServerRequest>,
    ) -> Result<Response<RetireServerResponse>, Status> {
        let id = request.into_inner().agent_id;
        if id.is_empty() {
            return Err(Status::invalid_argument(
                "name the server to retire (its agent id, as `eceprobe-collector servers` lists it)",
            ));
        }
        // A connected agent would be back at its next Hello: the retirement would not hold.
        // The guard holds off a Hello racing this retirement until it is recorded.
        let connected_now = || {
            Status::failed_precondition(format!(
                "server '{id}' is connected now: revoke its agent first (eceprobe-collector revoke {id}); its stream then ends within seconds and it can be retired"
            ))
        };
        let Some(_retiring) = self.audits.sessions().begin_retire(&id) else {
            return Err(connected_now());
        };
        // Connected to another collector sharing the database: refused the same way.
        let connected = self.audits.sessions().connected().await.map_err(storage)?;
        if connected.binary_search(&id).is_ok() {
            return Err(connected_now());
        }
        let now = eceprobe_proto::now_ms();
        match self.tracker.retire(&id, now).await.map_err(storage)? {
            Some(changes) => Ok(Response::new(RetireServerResponse {
                gaps_closed: u32::try_from(changes.closed.len()).unwrap_or(u32::MAX),
                retired_unix_ms: now,
            })),
            None => Err(Status::not_found(format!(
                "no server '{id}' in service: `eceprobe-collector servers` lists them"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaps::Policy;
    use crate::store::FoundGap;

    #[tokio::test]
    async fn a_cut_answer_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).await.unwrap();
        let found: Vec<FoundGap> = (0..MAX_GAPS_LIMIT + 5)
            .map(|i| FoundGap {
                agent_id: format!("svc-{i:05}"),
                check: "imap".into(),
                kind: "stale".into(),
                severity: "gap".into(),
                deployment: "prod".into(),
                detail: "silent".into(),
            })
            .collect();
        store.reconcile_gaps(found, 1).await.unwrap();
        let audits = Audits::new(
            store.clone(),
            crate::ingest::Sessions::new(),
            std::sync::Arc::new(Policy::default()),
        );
        let service = QueryService::new(
            store.clone(),
            Tracker::new(store.clone(), Policy::default()),
            audits,
        );
        let all = service
            .current_gaps(Request::new(GapsRequest::default()))
            .await
            .unwrap()
            .into_inner();
        assert!(all.truncated);
        assert_eq!(all.gaps.len(), MAX_CURRENT_GAPS as usize);
        let one = service
            .current_gaps(Request::new(GapsRequest {
                agent_id: "svc-00007".into(),
                ..GapsRequest::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(!one.truncated);
        assert_eq!(one.gaps.len(), 1);
        store.close().await;
    }
}
