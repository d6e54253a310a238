//! A change request as asked for by name (deployment, owner, format as the Query API, the
//! dashboard and the CLI spell them): checked, its inputs read, generated. The Query
//! service's `ChangeRequest` and the dashboard's download both call [`answer`], each
//! turning [`AnswerError`] into its own transport's error.

use super::{deployment, generate, parse_request, ChangeRequestError, Document, Inputs};
use crate::endpoints::EndpointList;
use crate::store::{Store, StoreError};

/// Why no document was made.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The request itself is wrong (deployment, owner or format).
    #[error(transparent)]
    Invalid(#[from] ChangeRequestError),
    /// The deployment has no server: a mistyped name would otherwise read as "nothing to
    /// change". The name is shown escaped and shortened.
    #[error("deployment '{0}' has no server: `eceprobe-collector servers` lists the deployments")]
    NoServer(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The change request of `owner` (empty: network) in `format` (empty: the team's default)
/// for `deployment_name`, from its open gaps and latest results; `list` is Microsoft's
/// endpoint list in use.
pub async fn answer(
    store: &Store,
    list: &EndpointList,
    deployment_name: &str,
    owner: &str,
    format: &str,
    now_unix_ms: i64,
) -> Result<Document, AnswerError> {
    deployment(deployment_name)?;
    let (owner, format) = parse_request(owner, format)?;
    let inputs = Inputs::load(store, deployment_name).await?;
    if inputs.servers.is_empty() {
        return Err(AnswerError::NoServer(crate::checkname::shown(
            deployment_name,
        )));
    }
    Ok(generate(&inputs, owner, format, list, now_unix_ms))
}
