//! The access token. The dashboard, the JSON API and /metrics need it; `/healthz` and the
//! static assets do not.
//!
//! A request carries it as `Authorization: Bearer <token>` (scripts, Grafana, Prometheus),
//! or as the cookie `eceprobe_token` (browsers). A browser gets the cookie the way Jupyter
//! hands out its login: the collector prints `http://ADDR/?token=TOKEN` at start; a GET of a
//! page with `?token=` sets the cookie (HttpOnly, SameSite=Strict) and redirects (303) to
//! the same URL without the token, so it leaves the address bar and the history.
//!
//! Tokens are compared as SHA-256 digests with a comparison whose time does not depend on
//! where they differ. The token is never logged.

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};

use super::error::{json_error, page_error};
use super::WebState;

pub const COOKIE: &str = "eceprobe_token";
/// A token from a file must be at least this long.
pub const MIN_TOKEN_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("[http] token_file: {0}")]
    Read(eceprobe_userfile::UserFileError),
    #[error("[http] token_file {path}: the token is {len} characters; use at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 32 > {path}`)")]
    TooShort { path: String, len: usize },
    #[error("[http] token_file {path}: the token must be printable ASCII without spaces (it travels in headers, cookies and URLs); e.g. `openssl rand -hex 32 > {path}`")]
    Charset { path: String },
    #[error("cannot make a random access token: the system's random source failed")]
    Random,
}

/// The token in the file (surrounding whitespace and the final newline ignored), or, with
/// no file, a new random one (32 bytes, hex) that lives as long as the process.
pub fn load_or_generate(token_file: Option<&Path>) -> Result<String, TokenError> {
    let Some(path) = token_file else {
        return generate();
    };
    let shown = path.display().to_string();
    let text = eceprobe_userfile::read_text(path).map_err(TokenError::Read)?;
    let token = text.trim();
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenError::Charset { path: shown });
    }
    if token.len() < MIN_TOKEN_LEN {
        return Err(TokenError::TooShort {
            path: shown,
            len: token.len(),
        });
    }
    Ok(token.to_owned())
}

fn generate() -> Result<String, TokenError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| TokenError::Random)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Equal tokens, in time independent of the content: both are hashed first, and the
/// digests compared without an early exit.
pub fn matches(expected: &str, offered: &str) -> bool {
    let a = digest(&SHA256, expected.as_bytes());
    let b = digest(&SHA256, offered.as_bytes());
    a.as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The `token` parameter of a query string, and the query string without it.
fn split_token(query: &str) -> (Option<&str>, String) {
    let mut token = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("token", value)) => token = Some(value),
            _ => rest.push(pair),
        }
    }
    (token, rest.join("&"))
}

/// Open to all: liveness, and the stylesheet and script (nothing secret, and the login
/// page uses the stylesheet).
fn is_open(path: &str) -> bool {
    path == "/healthz" || path.starts_with("/assets/")
}

/// The API and /metrics answer in JSON; everything else is a page.
pub fn is_api(path: &str) -> bool {
    path == "/api"
        || path.starts_with("/api/")
        || path == "/metrics"
        || path.starts_with("/metrics/")
}

fn refused(path: &str) -> Response {
    if is_api(path) {
        let mut r = json_error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong access token: send Authorization: Bearer <token>",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"eceprobe\""),
        );
        return r;
    }
    page_error(
        StatusCode::UNAUTHORIZED,
        "This dashboard needs its access token. Open the URL the collector printed when it \
         started (dashboard on http://.../?token=...), or send Authorization: Bearer <token>.",
    )
}

/// The middleware in front of every route.
pub async fn require_token(
    State(state): State<WebState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if is_open(&path) {
        return next.run(request).await;
    }
    let expected = state.token.as_str();
    let query = request.uri().query().unwrap_or("");
    let (in_query, rest) = split_token(query);
    if let Some(offered) = in_query {
        if request.method() != Method::GET || is_api(&path) || !matches(expected, offered) {
            return refused(&path);
        }
        let location = match rest.is_empty() {
            true => path.clone(),
            false => format!("{path}?{rest}"),
        };
        let cookie = format!("{COOKIE}={expected}; HttpOnly; SameSite=Strict; Path=/");
        return match (
            HeaderValue::from_str(&location),
            HeaderValue::from_str(&cookie),
        ) {
            (Ok(location), Ok(cookie)) => (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
            )
                .into_response(),
            // The path came from a valid request line and the token is printable ASCII;
            // a refusal is still better than a panic.
            _ => refused(&path),
        };
    }
    let headers = request.headers();
    let ok = bearer(headers)
        .or_else(|| cookie(headers))
        .is_some_and(|offered| matches(expected, offered));
    match ok {
        true => next.run(request).await,
        false => refused(&path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_from_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "short\n").unwrap();
        let err = load_or_generate(Some(&path)).unwrap_err().to_string();
        assert!(
            err.contains("[http] token_file") && err.contains("at least 32"),
            "{err}"
        );
        assert!(!err.contains("short\n"), "{err}");
        std::fs::write(&path, "has a space in it but is long enough!!").unwrap();
        assert!(load_or_generate(Some(&path)).is_err());
        std::fs::write(&path, format!("{}\n", "k".repeat(40))).unwrap();
        assert_eq!(load_or_generate(Some(&path)).unwrap(), "k".repeat(40));
        let a = load_or_generate(None).unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, load_or_generate(None).unwrap());
    }

    #[test]
    fn comparison_and_extraction() {
        assert!(matches("abc", "abc"));
        assert!(!matches("abc", "abd") && !matches("abc", "ab"));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t1"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; eceprobe_token=t2"),
        );
        assert_eq!((bearer(&h), cookie(&h)), (Some("t1"), Some("t2")));
        assert_eq!(
            split_token("page=2&token=x&per_page=3"),
            (Some("x"), "page=2&per_page=3".to_owned())
        );
        assert_eq!(split_token("token=x"), (Some("x"), String::new()));
    }
}
