//! The `ece-config` check: ECE's configuration from the facts the administrator declares
//! (DESIGN.md section 1): the version and engineering special (ES) against the minimum
//! table (C1), the External Application URL (C2) and the Azure app registration's redirect
//! URI, whose host must be the External Application URL's (C3). No network: that the URL
//! resolves and answers with a valid certificate is the `ece-url` check.

use std::cmp::Ordering;
use std::fmt;

use crate::catalog::{split_host_port, CheckId, Role};
use crate::failure::{FailureKind, Finding, Stage};
use crate::report::CheckReport;

/// What the administrator declared about ECE, as the console and Entra show it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EceFacts {
    /// e.g. "12.6(1)" or "12.6(1) ES1".
    pub version: Option<String>,
    /// e.g. "ES1", "ES 3", "ES12 ET1".
    pub es: Option<String>,
    /// The External Application URL (12.6+) or web server / load balancer URL (11.5-12.5).
    pub ece_url: Option<String>,
    /// The redirect URI of the Azure app registration, as configured in Entra.
    pub redirect_uri: Option<String>,
}

impl EceFacts {
    /// Whether any fact is declared: the check runs only then.
    pub fn declared(&self) -> bool {
        [&self.version, &self.es, &self.ece_url, &self.redirect_uri]
            .iter()
            .any(|f| f.as_deref().is_some_and(|s| !s.trim().is_empty()))
    }
}

/// An ECE release as the console shows it: `12.6(1)` is major 12, minor 6, maintenance 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EceVersion {
    pub major: u32,
    pub minor: u32,
    pub maintenance: u32,
}

impl fmt::Display for EceVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}({})", self.major, self.minor, self.maintenance)
    }
}

/// An engineering special level, with its engineering test (ET) if any: `ES12 ET1`.
/// Ordered by ES, then ET (no ET counts as ET0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EsLevel {
    pub es: u32,
    pub et: Option<u32>,
}

impl Ord for EsLevel {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.es, self.et.unwrap_or(0)).cmp(&(other.es, other.et.unwrap_or(0)))
    }
}

impl PartialOrd for EsLevel {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for EsLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.et {
            Some(et) => write!(f, "ES{} ET{et}", self.es),
            None => write!(f, "ES{}", self.es),
        }
    }
}

const fn v(major: u32, minor: u32, maintenance: u32) -> EceVersion {
    EceVersion {
        major,
        minor,
        maintenance,
    }
}

const fn es(es: u32, et: Option<u32>) -> EsLevel {
    EsLevel { es, et }
}

/// Checklist C1: the ES each release needs for OAuth2 mail. Releases older than the first
/// row do not support it; releases newer than a row without a row of their own need none.
pub const MINIMUMS: [(EceVersion, EsLevel); 4] = [
    (v(11, 6, 1), es(12, Some(1))),
    (v(12, 0, 1), es(6, None)),
    (v(12, 5, 1), es(3, None)),
    (v(12, 6, 1), es(1, None)),
];

/// Lower case, without spaces: the forms differ only in those.
fn squeeze(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A number of 1-4 ASCII digits (strict: no sign, no other characters).
fn number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses an ES level: "ES1", "ES 3", "es12 et1", "ES12ET1"; "none" is ES0.
pub fn parse_es(s: &str) -> Result<EsLevel, String> {
    let t = squeeze(s);
    if t == "none" {
        return Ok(es(0, None));
    }
    let bad = || format!("'{s}' is not an ES level (e.g. ES3 or ES12 ET1)");
    let rest = t.strip_prefix("es").ok_or_else(bad)?;
    let (es_part, et_part) = match rest.split_once("et") {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let level = number(es_part).ok_or_else(bad)?;
    let et = match et_part {
        Some(p) => Some(number(p).ok_or_else(bad)?),
        None => None,
    };
    Ok(es(level, et))
}

/// Parses a version as the console shows it, "12.6(1)", optionally followed by its ES
/// ("12.6(1) ES1"). A leading "ECE" is allowed.
pub fn parse_version(s: &str) -> Result<(EceVersion, Option<EsLevel>), String> {
    let t = squeeze(s);
    let t = t.strip_prefix("ece").unwrap_or(&t);
    let bad = || format!("'{s}' is not an ECE version as the console shows it (e.g. 12.6(1))");
    let (release, rest) = t.split_once('(').ok_or_else(bad)?;
    let (maintenance, tail) = rest.split_once(')').ok_or_else(bad)?;
    let (major, minor) = release.split_once('.').ok_or_else(bad)?;
    let version = v(
        number(major).ok_or_else(bad)?,
        number(minor).ok_or_else(bad)?,
        number(maintenance).ok_or_else(bad)?,
    );
    let level = match tail {
        "" => None,
        tail => Some(parse_es(tail).map_err(|_| bad())?),
    };
    Ok((version, level))
}

/// What C1 requires of a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Minimum {
    /// Older than 11.6(1): OAuth2 mail is not supported.
    Unsupported,
    /// A later release: any ES will do.
    Any,
    /// This ES or later.
    Es(EsLevel),
}

/// What C1 requires of a release ([`MINIMUMS`]).
pub fn minimum_es(version: EceVersion) -> Minimum {
    if version < MINIMUMS[0].0 {
        return Minimum::Unsupported;
    }
    MINIMUMS
        .iter()
        .find(|(row, _)| *row == version)
        .map_or(Minimum::Any, |(_, level)| Minimum::Es(*level))
}

/// The host of `scheme://host[:port][/...]`, lower case, without a trailing dot, and
/// whether the scheme is https. None when there is no host.
fn url_host(url: &str) -> Option<(String, bool)> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let (host, _) = split_host_port(authority)?;
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    Some((host, scheme.eq_ignore_ascii_case("https")))
}

fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Evaluates the declared facts: the first failure is the check's, further failures and
/// the warnings follow as warnings. Facts that are not declared are not failures, except
/// that a redirect URI without the External Application URL cannot be checked (C3).
pub fn evaluate(facts: &EceFacts) -> CheckReport {
    let ece_host = given(&facts.ece_url).and_then(url_host);
    let (host, port) = match &ece_host {
        Some((h, _)) => (h.clone(), 443),
        None => (String::new(), 0),
    };
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    let finding = |kind: FailureKind, detail: String| Finding {
        kind,
        stage: Stage::Config,
        hint: kind.hint(CheckId::EceConfig, Role::Both, &host, port),
        detail,
        device: None,
    };

    // C1: version and ES.
    let declared_es = given(&facts.es).map(|s| (s, parse_es(s)));
    match given(&facts.version) {
        None => warnings.push(finding(
            FailureKind::EceVersionUndeclared,
            "ece_version is not declared: the minimum version and ES (C1) were not checked"
                .into(),
        )),
        Some(text) => match parse_version(text) {
            Err(e) => failures.push(finding(FailureKind::EceVersionUnsupported, e)),
            Ok((version, in_version)) => match minimum_es(version) {
                Minimum::Unsupported => failures.push(finding(
                    FailureKind::EceVersionUnsupported,
                    format!("ECE {version} (declared '{text}') is older than 11.6(1): OAuth2 mail is not supported"),
                )),
                Minimum::Any => {}
                Minimum::Es(needed) => {
                    let level = match &declared_es {
                        Some((s, Err(e))) => {
                            failures.push(finding(
                                FailureKind::EceEsTooOld,
                                format!("{e}; ECE {version} needs {needed} or later (declared '{s}')"),
                            ));
                            None
                        }
                        Some((_, Ok(level))) => Some(*level),
                        None => in_version,
                    };
                    match level {
                        Some(level) if level < needed => failures.push(finding(
                            FailureKind::EceEsTooOld,
                            format!("ECE {version} {level}: OAuth2 mail needs {needed} or later"),
                        )),
                        Some(_) => {}
                        None if declared_es.is_some() => {}
                        None => warnings.push(finding(
                            FailureKind::EceVersionUndeclared,
                            format!("ece_es is not declared: ECE {version} needs {needed} or later (C1)"),
                        )),
                    }
                }
            },
        },
    }

    // C2, C3: the External Application URL and the redirect URI.
    let redirect = given(&facts.redirect_uri);
    match (given(&facts.ece_url), &ece_host) {
        (None, _) => {
            let detail = "ece_url (the External Application URL) is not declared".to_string();
            match redirect {
                Some(r) => failures.push(finding(
                    FailureKind::EceUrlMissing,
                    format!("{detail}: the redirect URI '{r}' cannot be compared with it"),
                )),
                None => warnings.push(finding(FailureKind::EceUrlMissing, detail)),
            }
        }
        (Some(url), None) => failures.push(finding(
            FailureKind::EceUrlMissing,
            format!("the External Application URL '{url}' has no host"),
        )),
        (Some(url), Some((ece, _))) => {
            if let Some(r) = redirect {
                match url_host(r) {
                    None => failures.push(finding(
                        FailureKind::RedirectUriMismatch,
                        format!("the redirect URI '{r}' is not a URL with a host"),
                    )),
                    Some((_, false)) => failures.push(finding(
                        FailureKind::RedirectUriMismatch,
                        format!("the redirect URI '{r}' is not https://"),
                    )),
                    Some((rh, true)) if rh != *ece => failures.push(finding(
                        FailureKind::RedirectUriMismatch,
                        format!("the redirect URI's host is {rh}, the External Application URL's ({url}) is {ece}"),
                    )),
                    Some(_) => {}
                }
            }
        }
    }

    CheckReport::offline(CheckId::EceConfig, host, port, failures, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Outcome;

    fn facts(version: &str, es: &str, url: &str, redirect: &str) -> EceFacts {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        EceFacts {
            version: opt(version),
            es: opt(es),
            ece_url: opt(url),
            redirect_uri: opt(redirect),
        }
    }

    const URL: &str = "https://ece.example.com/";
    const REDIRECT: &str = "https://ece.example.com/system/oauth/callback";

    fn kinds(r: &CheckReport) -> Vec<FailureKind> {
        r.failure
            .iter()
            .chain(&r.warnings)
            .map(|f| f.kind)
            .collect()
    }

    #[test]
    fn version_and_es_forms_of_the_console() {
        assert_eq!(parse_version("12.6(1)"), Ok((v(12, 6, 1), None)));
        assert_eq!(
            parse_version(" 12.6(1) ES1 "),
            Ok((v(12, 6, 1), Some(es(1, None))))
        );
        assert_eq!(
            parse_version("ECE 11.6(1)es12 et1"),
            Ok((v(11, 6, 1), Some(es(12, Some(1)))))
        );
        assert_eq!(parse_es("ES 3"), Ok(es(3, None)));
        assert_eq!(parse_es("es12 ET1"), Ok(es(12, Some(1))));
        assert_eq!(parse_es("ES12ET1"), Ok(es(12, Some(1))));
        assert_eq!(parse_es("none"), Ok(es(0, None)));
        for bad in [
            "12.6",
            "12.6(x)",
            "12.6(1",
            "12.-6(1)",
            "v12.6(1)",
            "12.6(1) SP1",
        ] {
            let err = parse_version(bad).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
        for bad in ["3", "ES", "ES3a", "ES-3", "ES12 ET", "ES+3", "ES99999"] {
            assert!(parse_es(bad).is_err(), "{bad}");
        }
        assert!(es(12, Some(1)) > es(12, None));
        assert!(es(13, None) > es(12, Some(1)));
    }

    #[test]
    fn each_row_of_the_minimum_table_at_its_boundary() {
        let rows = [
            ("11.6(1)", "ES12", "ES12 ET1"),
            ("12.0(1)", "ES5", "ES6"),
            ("12.5(1)", "ES2", "ES3"),
            ("12.6(1)", "ES0", "ES1"),
        ];
        for (version, below, at) in rows {
            let r = evaluate(&facts(version, below, URL, REDIRECT));
            assert_eq!(r.outcome, Outcome::Fail, "{version} {below}");
            let f = r.failure.as_ref().unwrap();
            assert_eq!(f.kind, FailureKind::EceEsTooOld);
            assert!(f.detail.contains(at), "names the ES needed: {}", f.detail);
            assert!(f.hint.contains("(C1)"), "{}", f.hint);
            assert_eq!(f.stage, Stage::Config);
            let r = evaluate(&facts(version, at, URL, REDIRECT));
            assert_eq!(r.outcome, Outcome::Pass, "{version} {at}: {:?}", kinds(&r));
        }
        // The ES inside the version string counts when ece_es is not declared.
        let r = evaluate(&facts("12.5(1) ES2", "", URL, REDIRECT));
        assert_eq!(kinds(&r), [FailureKind::EceEsTooOld]);
        // Later releases need no ES.
        for later in ["12.6(2)", "15.0(1)", "12.7(1)"] {
            let r = evaluate(&facts(later, "", URL, REDIRECT));
            assert_eq!(r.outcome, Outcome::Pass, "{later}");
        }
    }

    #[test]
    fn older_or_unknown_versions_are_unsupported_and_named() {
        for given in ["11.5(1)", "11.6(0)", "10.0(1)", "twelve"] {
            let r = evaluate(&facts(given, "ES20", URL, REDIRECT));
            let f = r.failure.unwrap();
            assert_eq!(f.kind, FailureKind::EceVersionUnsupported, "{given}");
            assert!(f.detail.contains(given), "{}", f.detail);
        }
    }

    #[test]
    fn undeclared_version_or_es_is_a_warning() {
        let r = evaluate(&facts("", "", URL, REDIRECT));
        assert_eq!(r.outcome, Outcome::Warn);
        assert_eq!(kinds(&r), [FailureKind::EceVersionUndeclared]);
        let r = evaluate(&facts("12.5(1)", "", URL, REDIRECT));
        assert_eq!(r.outcome, Outcome::Warn);
        assert!(
            r.warnings[0].detail.contains("ES3"),
            "{}",
            r.warnings[0].detail
        );
        assert!(!facts("", "", "", "").declared());
        assert!(facts("", " ES1", "", "").declared());
    }

    #[test]
    fn redirect_uri_host_must_be_the_external_application_urls() {
        let r = evaluate(&facts(
            "12.6(1)",
            "ES1",
            URL,
            "https://ece2.example.com/callback",
        ));
        let f = r.failure.unwrap();
        assert_eq!(f.kind, FailureKind::RedirectUriMismatch);
        assert!(f.detail.contains("ece2.example.com"), "{}", f.detail);
        assert!(f.hint.contains("C3"), "{}", f.hint);
        // Host names compare without case (and a port does not matter).
        let r = evaluate(&facts(
            "12.6(1)",
            "ES1",
            "https://ECE.Example.com:443/",
            "https://ece.example.COM/system/callback",
        ));
        assert_eq!(r.outcome, Outcome::Pass, "{:?}", kinds(&r));
        let r = evaluate(&facts(
            "12.6(1)",
            "ES1",
            URL,
            "http://ece.example.com/callback",
        ));
        assert_eq!(kinds(&r), [FailureKind::RedirectUriMismatch]);
        // No URL to compare with.
        let r = evaluate(&facts("12.6(1)", "ES1", "", REDIRECT));
        assert_eq!(kinds(&r), [FailureKind::EceUrlMissing]);
        assert_eq!(r.outcome, Outcome::Fail);
        // Only the version declared: the missing URL is a warning.
        let r = evaluate(&facts("12.6(1)", "ES1", "", ""));
        assert_eq!(
            (r.outcome, kinds(&r)),
            (Outcome::Warn, vec![FailureKind::EceUrlMissing])
        );
    }

    #[test]
    fn further_failures_follow_as_warnings() {
        let r = evaluate(&facts("12.0(1)", "ES5", URL, "https://other.example.com/"));
        assert_eq!(
            kinds(&r),
            [FailureKind::EceEsTooOld, FailureKind::RedirectUriMismatch]
        );
        assert_eq!(r.check.as_str(), "ece-config");
        assert_eq!(r.target(), "ece.example.com:443");
    }
}
