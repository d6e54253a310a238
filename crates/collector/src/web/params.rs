//! Every query string and path parameter, parsed into typed values before a handler reads
//! the store. A bad value is a 400 whose message names the parameter, the value and what
//! is accepted; an unknown key is a 400 naming the key. Empty values (what an HTML form
//! sends for "any") mean "not given".

use axum::extract::Query;
use axum::http::Uri;
use eceprobe_checks::CheckId;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::WebError;
use crate::checkname::{CheckName, CheckNameError};
use crate::gaps::{OwnerFilter, OWNER_VALUES};

pub const DEFAULT_PER_PAGE: u32 = 100;
pub const MAX_PER_PAGE: u32 = 500;
/// Far beyond any fleet (10,000 servers at 1 per page); keeps offsets within u32.
pub const MAX_PAGE: u32 = 1_000_000;
pub const MAX_LIMIT: u32 = 1000;
const MAX_ID: usize = 128;

/// The raw query string as a struct of optional strings; unknown and repeated keys are
/// refused here (`deny_unknown_fields` on every query struct).
pub fn query<T: DeserializeOwned>(uri: &Uri) -> Result<T, WebError> {
    Query::<T>::try_from_uri(uri)
        .map(|Query(q)| q)
        .map_err(|e| WebError::bad(format!("query string: {}", e.body_text())))
}

/// For pages and endpoints that take no parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

/// Empty means not given.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// A short, printable echo of a bad value: the message must stay readable whatever it was.
fn shown(value: &str) -> String {
    let mut s: String = value.chars().filter(|c| !c.is_control()).take(64).collect();
    if value.chars().count() > 64 {
        s.push_str("...");
    }
    s
}

fn number(name: &str, value: &str, min: u32, max: u32) -> Result<u32, WebError> {
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(WebError::bad(format!(
            "{name} '{}': use a whole number from {min} to {max}",
            shown(value)
        ))),
    }
}

/// Which page of a list, and how long a page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Paging {
    pub page: u32,
    pub per_page: u32,
}

impl Paging {
    pub fn parse(page: &Option<String>, per_page: &Option<String>) -> Result<Paging, WebError> {
        Ok(Paging {
            page: given(page)
                .map(|v| number("page", v, 1, MAX_PAGE))
                .transpose()?
                .unwrap_or(1),
            per_page: given(per_page)
                .map(|v| number("per_page", v, 1, MAX_PER_PAGE))
                .transpose()?
                .unwrap_or(DEFAULT_PER_PAGE),
        })
    }

    /// Rows skipped: at most MAX_PAGE * MAX_PER_PAGE, which fits.
    pub fn offset(self) -> u32 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

/// An agent id or a deployment name: 1-128 characters of letters, digits, '.', '-', '_'
/// (what ingest accepts for agent ids).
pub fn id(name: &str, value: &str) -> Result<String, WebError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_ID
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    match ok {
        true => Ok(value.to_owned()),
        false => Err(WebError::bad(format!(
            "{name} '{}': use 1 to {MAX_ID} characters of letters, digits, '.', '-' and '_'",
            shown(value)
        ))),
    }
}

pub fn optional_id(name: &str, value: &Option<String>) -> Result<Option<String>, WebError> {
    given(value).map(|v| id(name, v)).transpose()
}

/// A check name: a catalog id, or an OAuth check of a mailbox (`oauth-imap/<mailbox>`;
/// in a path, the `/` percent-encoded as `%2F`).
pub fn check(value: &str) -> Result<CheckName, WebError> {
    CheckName::parse(value).map_err(|e| {
        let names: Vec<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
        let oauth: Vec<&str> = CheckId::OAUTH.iter().map(|c| c.as_str()).collect();
        let why = match e {
            CheckNameError::Unknown(_) | CheckNameError::NotAName(_) => String::new(),
            CheckNameError::NoMailbox { id, .. } => format!(" ({id} is per mailbox)"),
            CheckNameError::NotPerMailbox { .. } => {
                " (only the OAuth checks name a mailbox)".to_owned()
            }
            CheckNameError::Mailbox { problem, .. } => format!(" (the mailbox {problem})"),
        };
        WebError::bad(format!(
            "check '{}'{why}: use one of {}, or {}/<mailbox>",
            shown(value),
            names.join(", "),
            oauth.join("|"),
        ))
    })
}

pub fn optional_check(value: &Option<String>) -> Result<Option<CheckName>, WebError> {
    given(value).map(check).transpose()
}

/// `gap` or `warning`.
pub fn optional_severity(value: &Option<String>) -> Result<Option<String>, WebError> {
    match given(value) {
        None => Ok(None),
        Some(s @ ("gap" | "warning")) => Ok(Some(s.to_owned())),
        Some(other) => Err(WebError::bad(format!(
            "severity '{}': use gap or warning",
            shown(other)
        ))),
    }
}

/// The windows the gap timeline draws, in days; the first is the default.
pub const TIMELINE_DAYS: [u32; 2] = [7, 30];

/// `days` of the gap timeline: 7 or 30 ([`TIMELINE_DAYS`]).
pub fn timeline_days(value: &Option<String>) -> Result<u32, WebError> {
    match given(value) {
        None => Ok(TIMELINE_DAYS[0]),
        Some(v) => match TIMELINE_DAYS.iter().find(|d| d.to_string() == v) {
            Some(d) => Ok(*d),
            None => Err(WebError::bad(format!(
                "days '{}': the timeline covers the last 7 or the last 30 days: use days=7 or days=30",
                shown(v)
            ))),
        },
    }
}

/// `network`, `m365`, `ece`, `host` or `unknown`: who closes a gap.
pub fn optional_owner(value: &Option<String>) -> Result<Option<OwnerFilter>, WebError> {
    match given(value) {
        None => Ok(None),
        Some(s) => OwnerFilter::parse(s)
            .map(Some)
            .ok_or_else(|| WebError::bad(format!("owner '{}': use {OWNER_VALUES}", shown(s)))),
    }
}

/// `limit`, 1 to [`MAX_LIMIT`].
pub fn limit(value: &Option<String>, default: u32) -> Result<u32, WebError> {
    Ok(given(value)
        .map(|v| number("limit", v, 1, MAX_LIMIT))
        .transpose()?
        .unwrap_or(default))
}

/// An audit id as the collector makes them: `a-` 13 digits `-` 4 hex digits.
pub fn audit_id(value: &str) -> Result<String, WebError> {
    let b = value.as_bytes();
    let ok = b.len() == 20
        && value.starts_with("a-")
        && b[2..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'-'
        && b[16..]
            .iter()
            .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    match ok {
        true => Ok(value.to_owned()),
        false => Err(WebError::bad(format!(
            "audit id '{}': audit ids look like a-1764000000000-1f2e",
            shown(value)
        ))),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverviewQuery {
    pub deployment: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapsQuery {
    pub deployment: Option<String>,
    pub server: Option<String>,
    pub check: Option<String>,
    pub severity: Option<String>,
    pub owner: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    pub deployment: Option<String>,
    pub server: Option<String>,
    pub days: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    pub limit: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditsQuery {
    pub deployment: Option<String>,
    pub limit: Option<String>,
}

/// The body of `POST /api/audits`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartAudit {
    #[serde(default)]
    pub deployment: String,
    #[serde(default)]
    pub deadline_s: u32,
}

/// A value for a URL's query string: every byte but the unreserved ones (RFC 3986 letters,
/// digits, `-`, `.`, `_`, `~`) percent-encoded, so a name holding `&`, `=`, `#`, `+` or a
/// space comes back as it was.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(q: &str) -> Uri {
        format!("/x?{q}").parse().unwrap()
    }

    #[test]
    fn paging_is_checked_and_defaults() {
        let q: OverviewQuery = query(&uri("")).unwrap();
        assert_eq!(
            Paging::parse(&q.page, &q.per_page).unwrap(),
            Paging {
                page: 1,
                per_page: 100
            }
        );
        for bad in [
            "per_page=0",
            "per_page=abc",
            "page=-1",
            "page=0",
            "per_page=501",
        ] {
            let q: OverviewQuery = query(&uri(bad)).unwrap();
            let err = Paging::parse(&q.page, &q.per_page).unwrap_err().to_string();
            let key = bad.split('=').next().unwrap();
            assert!(err.starts_with(&format!("{key} '")), "{bad}: {err}");
        }
        let q: OverviewQuery = query(&uri("page=&per_page=")).unwrap();
        assert!(
            Paging::parse(&q.page, &q.per_page).is_ok(),
            "empty is absent"
        );
    }

    #[test]
    fn unknown_and_repeated_keys_are_named() {
        let err = query::<OverviewQuery>(&uri("pgae=2"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("pgae"), "{err}");
        let err = query::<OverviewQuery>(&uri("page=1&page=2"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("page"), "{err}");
        assert!(query::<NoQuery>(&uri("a=1")).is_err());
    }

    #[test]
    fn ids_checks_severities_and_audits() {
        assert!(id("server", "svc-01.prod_A").is_ok());
        for bad in ["", "a/b", "<script>", &"x".repeat(129)] {
            assert!(id("server", bad).is_err(), "{bad}");
        }
        assert_eq!(check("imap").unwrap(), CheckId::Imap.into());
        let err = check("ftp").unwrap_err().to_string();
        assert!(err.contains("'ftp'") && err.contains("imap"), "{err}");
        let oauth = check("oauth-imap/ece-mail@contoso.com").unwrap();
        assert_eq!(oauth.mailbox(), Some("ece-mail@contoso.com"));
        let err = check("oauth-imap/ECE@contoso.com").unwrap_err().to_string();
        assert!(
            err.contains("lower case") && err.contains("oauth-imap|"),
            "{err}"
        );
        let err = check("oauth-smtp").unwrap_err().to_string();
        assert!(err.contains("per mailbox"), "{err}");
        assert!(optional_severity(&Some("bad".into())).is_err());
        assert_eq!(optional_severity(&Some(String::new())).unwrap(), None);
        assert_eq!(
            optional_owner(&Some("m365".into())).unwrap(),
            Some(OwnerFilter::Team(eceprobe_checks::Owner::M365))
        );
        assert_eq!(
            optional_owner(&Some("unknown".into())).unwrap(),
            Some(OwnerFilter::Unknown)
        );
        assert_eq!(optional_owner(&Some(String::new())).unwrap(), None);
        assert!(optional_owner(&Some("Network".into())).is_err());
        assert!(audit_id("a-1764000000000-1f2e").is_ok());
        for bad in [
            "a-1764000000000-1F2E",
            "a-176400000000-1f2e",
            "b-1764000000000-1f2e",
            "",
        ] {
            assert!(audit_id(bad).is_err(), "{bad}");
        }
        assert!(limit(&Some("1001".into()), 50).is_err());
        assert_eq!(timeline_days(&None).unwrap(), 7);
        assert_eq!(timeline_days(&Some("30".into())).unwrap(), 30);
        for bad in ["14", "07", "-7", "seven"] {
            let err = timeline_days(&Some(bad.into())).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("days '{bad}'")) && err.contains("days=30"),
                "{err}"
            );
        }
        assert_eq!(limit(&None, 50).unwrap(), 50);
    }

    #[test]
    fn bad_values_are_echoed_short_and_printable() {
        let err = id("server", &format!("\u{7}{}", "y".repeat(300)))
            .unwrap_err()
            .to_string();
        assert!(err.len() < 200 && !err.contains('\u{7}'), "{err}");
    }
}
