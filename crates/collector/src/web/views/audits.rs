//! Audits, read through the Query service in-process: the dashboard, the JSON API, the
//! admin CLI and the report exports then show one and the same audit report.

use eceprobe_proto::v1::query_server::Query;
use eceprobe_proto::v1::{Audit, AuditReport, GetAuditRequest, ListAuditsRequest, RunAuditRequest};
use serde_json::Value;
use tonic::Request;

use crate::export::json::{audit_json, report_json};
use crate::query::QueryService;
use crate::web::error::WebError;
use crate::web::WebState;

pub(crate) fn service(state: &WebState) -> QueryService {
    QueryService::new(
        state.store.clone(),
        state.tracker.clone(),
        state.audits.clone(),
    )
}

/// Audits newest first.
pub async fn list(
    state: &WebState,
    deployment: Option<String>,
    limit: u32,
) -> Result<Vec<Audit>, WebError> {
    let request = ListAuditsRequest {
        deployment: deployment.unwrap_or_default(),
        limit,
    };
    Ok(service(state)
        .list_audits(Request::new(request))
        .await?
        .into_inner()
        .audits)
}

pub fn list_json(audits: &[Audit]) -> Value {
    serde_json::json!({ "audits": audits.iter().map(audit_json).collect::<Vec<_>>() })
}

/// One audit's report: verdicts, gaps, diff with the previous audit of its scope.
pub async fn report(state: &WebState, audit_id: &str) -> Result<AuditReport, WebError> {
    let request = GetAuditRequest {
        audit_id: audit_id.to_owned(),
    };
    Ok(service(state)
        .get_audit(Request::new(request))
        .await?
        .into_inner())
}

pub fn report_value(report: &AuditReport) -> Value {
    report_json(report)
}

/// Starts an audit (returns once the agents in scope are ordered).
pub async fn start(
    state: &WebState,
    deployment: String,
    deadline_s: u32,
) -> Result<Audit, WebError> {
    let request = RunAuditRequest {
        deployment,
        deadline_s,
    };
    Ok(service(state)
        .run_audit(Request::new(request))
        .await?
        .into_inner())
}
