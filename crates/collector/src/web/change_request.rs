//! `/gaps/change-request.csv|md|ps1?deployment=D[&owner=O]`: a team's change request as a
//! file (Content-Disposition names it), through the function the Query service's
//! `ChangeRequest` answers with ([`crate::change_request::answer`]), so the dashboard, the API
//! and the CLI give the same document. `.ps1` is the m365 team's;
//! `.csv` and `.md` are the network team's unless `owner` says otherwise (`owner=ece`).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use eceprobe_proto::now_ms;
use serde::Deserialize;

use super::error::{PageError, WebError};
use super::{api, params, WebState};
use crate::change_request::AnswerError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequestQuery {
    pub deployment: Option<String>,
    pub owner: Option<String>,
}

/// The link to a team's change request for a deployment (the gaps page's group headers).
pub fn link(deployment: &str, owner: &str) -> Option<String> {
    let file = match owner {
        "network" => "change-request.csv",
        "m365" => "change-request.ps1",
        "ece" => "change-request.md",
        _ => return None,
    };
    let owner_part = match owner {
        "ece" => "&owner=ece",
        _ => "",
    };
    // Agents declare any deployment name ("EU & US prod"): encoded, so a '&', a space or a
    // '#' in it stays part of the value.
    Some(format!(
        "/gaps/{file}?deployment={}{owner_part}",
        super::params::encode(deployment)
    ))
}

/// The links of a gaps page's owner group to its team's change request: for the deployment
/// filtered on, else for each deployment of the group's rows (a request is per deployment).
pub fn links<'a>(
    filtered: Option<&'a str>,
    owner: &str,
    rows: impl Iterator<Item = &'a str>,
) -> Vec<(String, String)> {
    let mut deployments: Vec<&str> = match filtered {
        Some(d) => vec![d],
        None => rows.collect(),
    };
    deployments.sort_unstable();
    deployments.dedup();
    deployments
        .into_iter()
        .filter_map(|d| link(d, owner).map(|href| (d.to_owned(), href)))
        .collect()
}

pub async fn download(
    State(state): State<WebState>,
    uri: Uri,
    file: Result<Path<String>, PathRejection>,
) -> Result<Response, PageError> {
    let file = api::path(file)?;
    let q: ChangeRequestQuery = params::query(&uri)?;
    let format = match file.as_str() {
        "change-request.csv" => "csv",
        "change-request.md" => "md",
        "change-request.ps1" => "ps1",
        other => {
            return Err(WebError::NotFound(format!(
                "no page '/gaps/{}': the change requests are change-request.csv, change-request.md and change-request.ps1",
                crate::checkname::shown(other)
            ))
            .into())
        }
    };
    let owner = match (q.owner.as_deref(), format) {
        (Some(o), _) => o,
        (None, "ps1") => "m365",
        (None, _) => "network",
    };
    // Any name an agent declares (not only an id's characters): the link encodes it.
    let deployment = q.deployment.as_deref().unwrap_or("");
    let list = state.tracker.endpoints().current();
    let doc =
        crate::change_request::answer(&state.store, &list, deployment, owner, format, now_ms())
            .await
            .map_err(|e| match e {
                AnswerError::Invalid(e) => WebError::bad(e.to_string()),
                AnswerError::NoServer(_) => WebError::NotFound(e.to_string()),
                AnswerError::Store(e) => e.into(),
            })?;
    let mut response = (StatusCode::OK, doc.text).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(doc.format.media_type()),
    );
    // The file name is made of the deployment's safe characters only.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", doc.filename)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_encode_any_deployment_name() {
        assert_eq!(
            link("EU & US prod", "network").as_deref(),
            Some("/gaps/change-request.csv?deployment=EU%20%26%20US%20prod")
        );
        assert_eq!(
            link("a#b", "ece").as_deref(),
            Some("/gaps/change-request.md?deployment=a%23b&owner=ece")
        );
        assert_eq!(link("prod", "host"), None);
    }
}
