//! What can go wrong in a request, and how it is answered: JSON `{"error": "..."}` for the
//! API, a small HTML page for the dashboard. Bad input is a 400 that says what was wrong,
//! an unknown server or audit a 404, a storage failure a 503; nothing a client sends makes
//! a 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::audits::AuditError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Storage (or another part of the collector) cannot answer now; retrying may work.
    #[error("{0}")]
    Unavailable(String),
}

impl WebError {
    pub fn bad(message: impl Into<String>) -> WebError {
        WebError::BadRequest(message.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        // Logged here because the client only gets the message: an operator wants it in the
        // collector's log too.
        tracing::warn!(error = %e, "dashboard read failed");
        WebError::Unavailable(format!("storage: {e}"))
    }
}

impl From<AuditError> for WebError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Deadline(_) => WebError::BadRequest(e.to_string()),
            AuditError::Unknown(_) => WebError::NotFound(e.to_string()),
            AuditError::Store(e) => e.into(),
        }
    }
}

/// A JSON body with the right content type.
pub fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            // Only a bug in a view struct gets here (every field serialises).
            tracing::error!(error = %e, "cannot serialise an API answer");
            let body = r#"{"error":"the collector could not serialise its answer"}"#;
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
    }
}

/// `{"error": message}` with the status.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    json_response(status, &serde_json::json!({ "error": message }))
}

/// A small page saying what went wrong, with a way back.
pub fn page_error(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let markup = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "eceprobe: " (title) }
                link rel="stylesheet" href=(super::assets::CSS_PATH);
            }
            body {
                main {
                    h1 { (status.as_u16()) " " (title) }
                    p.error { (message) }
                    p { a href="/" { "Back to the overview" } }
                }
            }
        }
    };
    (status, markup).into_response()
}

/// An error answered as JSON (the API).
#[derive(Debug)]
pub struct ApiError(pub WebError);

/// An error answered as an HTML page (the dashboard).
#[derive(Debug)]
pub struct PageError(pub WebError);

/// `?` turns every error a handler meets into either flavour.
macro_rules! from_errors {
    ($($e:ty),*) => {$(
        impl From<$e> for ApiError {
            fn from(e: $e) -> Self {
                ApiError(e.into())
            }
        }
        impl From<$e> for PageError {
            fn from(e: $e) -> Self {
                PageError(e.into())
            }
        }
    )*};
}

from_errors!(StoreError, AuditError);

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        ApiError(e)
    }
}

impl From<WebError> for PageError {
    fn from(e: WebError) -> Self {
        PageError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_error(self.0.status(), &self.0.to_string())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        page_error(self.0.status(), &self.0.to_string())
    }
}
