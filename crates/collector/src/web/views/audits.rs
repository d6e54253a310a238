//! Audits, read from the audits' records as the Query service reads them
//! ([`crate::audits::answer`]): the dashboard, the JSON API, the admin CLI and the report
//! exports then show one and the same audit report.

use eceprobe_proto::v1::{Audit, AuditReport};
use serde_json::Value;

use crate::audits::answer;
use crate::export::json::{audit_json, report_json};
use crate::web::error::WebError;
use crate::web::WebState;

/// Audits newest first.
pub async fn list(
    state: &WebState,
    deployment: Option<String>,
    limit: u32,
) -> Result<Vec<Audit>, WebError> {
    Ok(answer::list(&state.audits, deployment.as_deref(), limit).await?)
}

pub fn list_json(audits: &[Audit]) -> Value {
    serde_json::json!({ "audits": audits.iter().map(audit_json).collect::<Vec<_>>() })
}

/// One audit's report: verdicts, gaps, diff with the previous audit of its scope.
pub async fn report(state: &WebState, audit_id: &str) -> Result<AuditReport, WebError> {
    let endpoints = state.tracker.endpoints().current();
    Ok(answer::report_of(&state.audits, audit_id, &endpoints).await?)
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
    Ok(answer::run(&state.audits, &deployment, deadline_s).await?)
}
