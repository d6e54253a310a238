//! The External Application URL: the `ece-url` check's target parsed from it, and the
//! configuration's validation of its text.

use super::{CheckId, CheckSpec, Dialog, HttpExpect};

/// The `ece-url` check for an External Application URL. A URL that is not https:// is a
/// finding (checklist C2), not a configuration error: the probe reports it.
pub(super) fn ece_url_spec(url: &str) -> CheckSpec {
    let parsed = parse_https_url(url);
    let (host, port, path, invalid) = match parsed {
        Ok((host, port, path)) => (host, port, path, None),
        Err(UrlProblem::NotHttps { host, port, path }) => (
            host,
            port,
            path,
            Some((
                crate::FailureKind::EceUrlNotHttps,
                format!("External Application URL is '{url}'"),
            )),
        ),
    };
    CheckSpec {
        id: CheckId::EceUrl,
        host,
        port,
        dialog: Dialog::Https {
            path,
            expect: HttpExpect::AnyResponse,
        },
        invalid,
    }
}

enum UrlProblem {
    NotHttps {
        host: String,
        port: u16,
        path: String,
    },
}

/// Splits `scheme://host[:port][/path]`. Validation of the text itself (empty host, bad
/// port) happens in [`validate_ece_url`], which configuration loading calls first.
fn parse_https_url(url: &str) -> Result<(String, u16, String), UrlProblem> {
    let (https, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.eq_ignore_ascii_case("https"), rest),
        None => (false, url),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let default_port = if https { 443 } else { 80 };
    let (host, port) = split_host_port(authority).unwrap_or((authority.to_string(), None));
    let port = port.unwrap_or(default_port);
    if https {
        Ok((host, port, path))
    } else {
        Err(UrlProblem::NotHttps { host, port, path })
    }
}

/// Checks that an External Application URL is a URL with a host, so a typo is reported as
/// a configuration error naming the value rather than as a DNS failure.
pub fn validate_ece_url(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "'{url}' is not a URL: write it as ECE shows it, e.g. https://ece.example.com/"
        ));
    };
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return Err(format!("'{url}' has scheme '{scheme}': use https://"));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    match split_host_port(authority) {
        Some((host, _)) if !host.is_empty() => Ok(()),
        _ => Err(format!(
            "'{url}' has no valid host[:port] ('{authority}'): e.g. https://ece.example.com/"
        )),
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`. None when the port is not a number.
pub(crate) fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(p) => Some((host.to_string(), Some(p.parse().ok()?))),
            None if after.is_empty() => Some((host.to_string(), None)),
            None => None,
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), Some(p.parse().ok()?))),
        None => Some((s.to_string(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{catalog, Cloud};
    use super::*;

    #[test]
    fn ece_url_parsing() {
        let specs = catalog(
            &Cloud::Global.hosts(),
            "contoso.com",
            Some("https://ece.example.com:8443/system"),
        );
        let ece = specs.last().unwrap();
        assert_eq!((ece.host.as_str(), ece.port), ("ece.example.com", 8443));
        assert_eq!(
            ece.dialog,
            Dialog::Https {
                path: "/system".into(),
                expect: HttpExpect::AnyResponse
            }
        );
        assert!(ece.invalid.is_none());
        let plain = ece_url_spec("http://ece.example.com/");
        assert_eq!(plain.port, 80);
        assert_eq!(plain.invalid.unwrap().0, crate::FailureKind::EceUrlNotHttps);
        assert!(validate_ece_url("ece.example.com").is_err());
        assert!(validate_ece_url("https://:443/").is_err());
        assert!(validate_ece_url("https://ece.example.com:x/").is_err());
        assert!(validate_ece_url("https://[::1]:8443/").is_ok());
    }
}
