//! The JSON API: one endpoint behind every page, answering the same view structs the page
//! renders (see docs/API.md). Errors are `{"error": "..."}` with 400, 404, 405, 413, 415
//! or 503 (414 and 431 come from [`super::head`], before routing).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::error::{json_response, ApiError, WebError};
use super::params::{
    self, AuditsQuery, GapsQuery, HistoryQuery, NoQuery, OverviewQuery, Paging, TimelineQuery,
};
use super::views::{self, gaps::GapFilters, timeline::TimelineScope};
use super::WebState;
use crate::export::{render, Format};

type ApiResult = Result<Response, ApiError>;

/// Default history length (points) when `limit` is not given.
pub const DEFAULT_HISTORY: u32 = 100;
/// Default audit list length.
pub const DEFAULT_AUDITS: u32 = 50;
/// The largest body `POST /api/audits` reads (its JSON is a few dozen bytes).
pub const MAX_AUDIT_BODY: usize = 16 * 1024;

fn ok(value: &impl serde::Serialize) -> ApiResult {
    Ok(json_response(StatusCode::OK, value))
}

/// A path parameter that did not even decode (bad percent-encoding, not UTF-8).
pub fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, WebError> {
    p.map(|Path(v)| v)
        .map_err(|e| WebError::bad(format!("path: {}", e.body_text())))
}

/// The overview filter, validated (shared with the page).
pub fn overview_params(uri: &Uri) -> Result<(Option<String>, Paging), WebError> {
    let q: OverviewQuery = params::query(uri)?;
    let deployment = params::optional_id("deployment", &q.deployment)?;
    Ok((deployment, Paging::parse(&q.page, &q.per_page)?))
}

pub fn gaps_params(uri: &Uri) -> Result<(GapFilters, Paging), WebError> {
    let q: GapsQuery = params::query(uri)?;
    let filters = GapFilters {
        deployment: params::optional_id("deployment", &q.deployment)?,
        server: params::optional_id("server", &q.server)?,
        check: params::optional_check(&q.check)?.map(|c| c.to_string()),
        severity: params::optional_severity(&q.severity)?,
        owner: params::optional_owner(&q.owner)?,
    };
    Ok((filters, Paging::parse(&q.page, &q.per_page)?))
}

/// Whose timeline (a deployment, a server, both or neither) and over how many days.
pub fn timeline_params(uri: &Uri) -> Result<(TimelineScope, u32), WebError> {
    let q: TimelineQuery = params::query(uri)?;
    let scope = TimelineScope {
        deployment: params::optional_id("deployment", &q.deployment)?,
        server: params::optional_id("server", &q.server)?,
    };
    Ok((scope, params::timeline_days(&q.days)?))
}

pub fn audits_params(uri: &Uri) -> Result<(Option<String>, u32), WebError> {
    let q: AuditsQuery = params::query(uri)?;
    let deployment = params::optional_id("deployment", &q.deployment)?;
    Ok((deployment, params::limit(&q.limit, DEFAULT_AUDITS)?))
}

pub async fn overview(State(state): State<WebState>, uri: Uri) -> ApiResult {
    let (deployment, paging) = overview_params(&uri)?;
    ok(&views::overview::build(&state, deployment, paging).await?)
}

pub async fn server(
    State(state): State<WebState>,
    uri: Uri,
    agent: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let agent_id = params::id("agent id", &path(agent)?)?;
    params::query::<NoQuery>(&uri)?;
    ok(&views::server::build(&state, &agent_id).await?)
}

pub async fn history(
    State(state): State<WebState>,
    uri: Uri,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let (agent, check) = path(p)?;
    let agent_id = params::id("agent id", &agent)?;
    let check = params::check(&check)?;
    let q: HistoryQuery = params::query(&uri)?;
    let limit = params::limit(&q.limit, DEFAULT_HISTORY)?;
    ok(&views::server::history(&state, &agent_id, &check, limit).await?)
}

pub async fn gaps(State(state): State<WebState>, uri: Uri) -> ApiResult {
    let (filters, paging) = gaps_params(&uri)?;
    ok(&views::gaps::build(&state, filters, paging).await?)
}

pub async fn timeline(State(state): State<WebState>, uri: Uri) -> ApiResult {
    let (scope, days) = timeline_params(&uri)?;
    ok(&views::timeline::build(&state, scope, days).await?)
}

/// Microsoft's endpoint list in use: its origin, the last load error, every set.
pub async fn endpoints(State(state): State<WebState>, uri: Uri) -> ApiResult {
    params::query::<NoQuery>(&uri)?;
    ok(&views::endpoints::build(&state.tracker.endpoints(), true))
}

pub async fn audits(State(state): State<WebState>, uri: Uri) -> ApiResult {
    let (deployment, limit) = audits_params(&uri)?;
    let list = views::audits::list(&state, deployment, limit).await?;
    ok(&views::audits::list_json(&list))
}

pub async fn audit(
    State(state): State<WebState>,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let audit_id = params::audit_id(&path(id)?)?;
    params::query::<NoQuery>(&uri)?;
    let report = views::audits::report(&state, &audit_id).await?;
    ok(&views::audits::report_value(&report))
}

/// `report.md`, `report.html`, `report.csv` or `report.json`.
pub async fn audit_report(
    State(state): State<WebState>,
    uri: Uri,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let (id, file) = path(p)?;
    let audit_id = params::audit_id(&id)?;
    params::query::<NoQuery>(&uri)?;
    let format = match file.as_str() {
        "report.md" => Format::Markdown,
        "report.html" => Format::Html,
        "report.csv" => Format::Csv,
        "report.json" => Format::Json,
        other => {
            return Err(WebError::NotFound(format!(
                "no report '{}': use report.md, report.html, report.csv or report.json",
                other.chars().take(64).collect::<String>()
            ))
            .into())
        }
    };
    let report = views::audits::report(&state, &audit_id).await?;
    let body = render(&report, format);
    let content_type = match format {
        Format::Markdown => "text/markdown; charset=utf-8",
        Format::Html => "text/html; charset=utf-8",
        Format::Csv => "text/csv; charset=utf-8",
        Format::Json => "application/json",
    };
    let disposition = format!(
        "{}; filename=\"{audit_id}.{}\"",
        match format {
            Format::Html | Format::Json => "inline",
            Format::Markdown | Format::Csv => "attachment",
        },
        format.extension()
    );
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if format == Format::Html {
        // The export is one self-contained file with its style inline (it is also saved
        // and attached to tickets); it has no script, and this policy allows none.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; \
                 base-uri 'none'; form-action 'none'",
            ),
        );
    }
    Ok(response)
}

/// Starts an audit. JSON only: with the SameSite cookie, the content type keeps other
/// sites' forms (which cannot send application/json) from starting audits.
pub async fn start_audit(
    State(state): State<WebState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    params::query::<NoQuery>(&uri)?;
    // axum's own rejection is plain text: answered as every API error is.
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => WebError::PayloadTooLarge(format!(
            "the body is over {MAX_AUDIT_BODY} bytes: send {{\"deployment\": \"\", \"deadline_s\": 0}}"
        )),
        _ => WebError::bad(format!("body: {}", e.body_text())),
    })?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(WebError::UnsupportedMediaType(
            "send the body as JSON with Content-Type: application/json".into(),
        )
        .into());
    }
    let req: params::StartAudit = serde_json::from_slice(&body).map_err(|e| {
        WebError::bad(format!(
            "body: {e}; expected {{\"deployment\": \"\", \"deadline_s\": 0}}"
        ))
    })?;
    let deployment = match req.deployment.as_str() {
        "" => String::new(),
        d => params::id("deployment", d)?,
    };
    let audit = views::audits::start(&state, deployment, req.deadline_s).await?;
    let mut value = crate::export::json::audit_json(&audit);
    if let Some(map) = value.as_object_mut() {
        map.insert("url".into(), format!("/audits/{}", audit.audit_id).into());
    }
    Ok(json_response(StatusCode::CREATED, &value))
}

/// Unknown API paths.
pub async fn not_found(uri: Uri) -> Response {
    ApiError(WebError::NotFound(format!(
        "no endpoint {}: see docs/API.md",
        uri.path().chars().take(128).collect::<String>()
    )))
    .into_response()
}
