//! `[microsoft_endpoints]` in the collector's configuration: where the endpoint list comes
//! from (a file the operator downloaded, Microsoft's web service, or the shipped snapshot)
//! and how often it is looked at again.
//!
//! ```toml
//! [microsoft_endpoints]
//! url = "https://endpoints.office.com"   # the service's base; or:
//! # file = "endpoints-worldwide.json"    # saved from /endpoints/Worldwide?ClientRequestId=GUID
//! refresh_s = 3600                       # default and minimum: one hour (Microsoft's rule)
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::outbound::{HttpUrl, UrlError};

/// Microsoft asks clients to check `/version` at most hourly; more often gets HTTP 429.
pub const MIN_REFRESH: Duration = Duration::from_secs(3600);
/// A week: a list older than that misses Microsoft's monthly changes for too long.
pub const MAX_REFRESH: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where the list comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Source {
    /// Nothing configured: the snapshot shipped with the binary.
    #[default]
    Snapshot,
    /// A file in Microsoft's JSON, re-read when its modification time changes.
    File(PathBuf),
    /// The web service's base (`https://endpoints.office.com`).
    Url(HttpUrl),
}

/// `[microsoft_endpoints]`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointsConfig {
    pub source: Source,
    /// How often the file's modification time, or the service's version, is looked at.
    pub refresh: Duration,
}

impl Default for EndpointsConfig {
    fn default() -> Self {
        EndpointsConfig {
            source: Source::Snapshot,
            refresh: MIN_REFRESH,
        }
    }
}

/// The section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointsFile {
    file: Option<PathBuf>,
    url: Option<String>,
    refresh_s: Option<u64>,
}

impl EndpointsFile {
    /// Checks the section; the error names the key and says what to write instead.
    pub fn check(
        self,
        anchored: impl Fn(PathBuf) -> PathBuf,
    ) -> Result<EndpointsConfig, (&'static str, String)> {
        let source = match (self.file, self.url) {
            (Some(_), Some(_)) => {
                return Err((
                    "microsoft_endpoints",
                    "give either file or url, not both".into(),
                ))
            }
            (Some(file), None) => Source::File(anchored(file)),
            (None, Some(url)) => Source::Url(base_url(&url)?),
            (None, None) => Source::Snapshot,
        };
        let mut config = EndpointsConfig {
            source,
            ..EndpointsConfig::default()
        };
        if let Some(s) = self.refresh_s {
            let (min, max) = (MIN_REFRESH.as_secs(), MAX_REFRESH.as_secs());
            if !(min..=max).contains(&s) {
                return Err((
                    "microsoft_endpoints.refresh_s",
                    format!("{s} is out of range: use {min} (one hour: Microsoft answers more frequent calls with HTTP 429) to {max} (a week)"),
                ));
            }
            config.refresh = Duration::from_secs(s);
        }
        Ok(config)
    }
}

/// The service's base: scheme, host and port only; the collector adds the paths. The
/// messages are this key's own: the section has no `headers`, and its example is
/// Microsoft's service.
fn base_url(text: &str) -> Result<HttpUrl, (&'static str, String)> {
    const EXAMPLE: &str = "url = \"https://endpoints.office.com\"";
    let key = "microsoft_endpoints.url";
    let url = HttpUrl::parse(text).map_err(|e| {
        let fix = match e {
            UrlError::Credentials => "the service takes no credentials: write its base only",
            _ => "write the web service's base",
        };
        (
            key,
            format!("[microsoft_endpoints] url is not a URL the collector can fetch: {e}; {fix} ({EXAMPLE})"),
        )
    })?;
    if url.path_and_query != "/" {
        return Err((
            key,
            format!("[microsoft_endpoints] url has a path or query: give the service's base only ({EXAMPLE}); the collector asks /version/Worldwide and /endpoints/Worldwide itself, with its own ClientRequestId"),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn check(toml_text: &str) -> Result<EndpointsConfig, (&'static str, String)> {
        let file: EndpointsFile = toml::from_str(toml_text).unwrap();
        file.check(|p| PathBuf::from("/etc/eceprobe").join(p))
    }

    #[test]
    fn the_section_is_read_and_checked() {
        assert_eq!(check("").unwrap(), EndpointsConfig::default());
        let c = check("file = \"list.json\"").unwrap();
        assert_eq!(c.source, Source::File("/etc/eceprobe/list.json".into()));
        assert_eq!(c.refresh, MIN_REFRESH);
        let c = check("url = \"https://endpoints.office.com\"\nrefresh_s = 7200").unwrap();
        assert!(matches!(&c.source, Source::Url(u) if u.host == "endpoints.office.com"));
        assert_eq!(c.refresh, Duration::from_secs(7200));
        for (text, says) in [
            ("file = \"a\"\nurl = \"https://x\"", "not both"),
            (
                "url = \"https://endpoints.office.com\"\nrefresh_s = 60",
                "HTTP 429",
            ),
            (
                "url = \"https://endpoints.office.com/endpoints/Worldwide\"",
                "base only",
            ),
            ("url = \"endpoints.office.com\"", "http:// or https://"),
            (
                "url = \"https://u:p@endpoints.office.com\"",
                "no credentials",
            ),
            ("url = \"https://endpoints.office.com:0\"", "port"),
        ] {
            let (_, message) = check(text).unwrap_err();
            assert!(message.contains(says), "{text}: {message}");
        }
    }

    #[test]
    fn a_bad_url_is_worded_for_this_section_not_for_webhooks() {
        let (key, message) = check("url = \"endpoints.office.com\"").unwrap_err();
        assert_eq!(key, "microsoft_endpoints.url");
        assert_eq!(
            message,
            "[microsoft_endpoints] url is not a URL the collector can fetch: it does not start with http:// or https://; write the web service's base (url = \"https://endpoints.office.com\")"
        );
        let (_, message) = check("url = \"https://user:pw@endpoints.office.com\"").unwrap_err();
        assert!(!message.contains("headers"), "{message}");
        assert!(!message.contains("hooks.example.com"), "{message}");
        assert!(!message.contains("pw"), "{message}");
    }

    #[test]
    fn the_configuration_file_names_the_key() {
        let path = std::path::Path::new("/etc/eceprobe/collector.toml");
        let c =
            crate::config::Config::from_toml("[microsoft_endpoints]\nfile = \"list.json\"\n", path)
                .unwrap();
        assert_eq!(
            c.endpoints.source,
            Source::File("/etc/eceprobe/list.json".into())
        );
        let err = crate::config::Config::from_toml("[microsoft_endpoints]\nrefresh_s = 10\n", path)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("configuration /etc/eceprobe/collector.toml: microsoft_endpoints.refresh_s: 10 is out of range"),
            "{err}"
        );
        let err = crate::config::Config::from_toml("[microsoft_endpoints]\nurls = \"x\"\n", path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("urls"), "{err}");
    }
}
