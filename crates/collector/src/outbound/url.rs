//! An outbound HTTP(S) URL (a webhook's, Microsoft's endpoint service's), parsed by hand
//! (http or https, host, port, path and query) so the collector needs no URL crate. The
//! path and query often carry a token (Slack and Teams incoming webhooks do), so `Display`
//! and `Debug` show only `scheme://host:port`. A refusal is a [`UrlError`] without the URL
//! in it; each caller words it for its own configuration key (`notify::webhook_url`,
//! `endpoints::source`), since what to write instead differs.

use std::fmt;

/// `http://` or `https://`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// Why a URL was refused, without the URL (it may hold a token).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("it does not start with http:// or https://")]
    Scheme,
    #[error("it has credentials (user:password@) before the host")]
    Credentials,
    #[error("it has no host")]
    NoHost,
    #[error("its IPv6 address has no closing ']'")]
    Ipv6Bracket,
    #[error("it has something other than :port after its IPv6 address")]
    AfterIpv6,
    #[error("its host has characters a host name cannot have")]
    HostCharacters,
    #[error("its port is not a number from 1 to 65535")]
    Port,
    #[error("its path has spaces or control characters (percent-encode them)")]
    PathCharacters,
}

/// A parsed outbound URL.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub scheme: Scheme,
    /// A DNS name or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// The path and query as sent in the request line (`/` when the URL has none). Secret.
    pub path_and_query: String,
}

impl HttpUrl {
    /// Parses `http(s)://host[:port][/path][?query]`; the error says what is wrong and never
    /// repeats the URL (it may hold a token).
    pub fn parse(text: &str) -> Result<HttpUrl, UrlError> {
        let text = text.trim();
        let (scheme, rest) = if let Some(rest) = strip_prefix_ci(text, "https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = strip_prefix_ci(text, "http://") {
            (Scheme::Http, rest)
        } else {
            return Err(UrlError::Scheme);
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err(UrlError::Credentials);
        }
        let default_port = match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        };
        let (host, port) = split_host_port(authority, default_port)?;
        // The fragment is never sent.
        let tail = tail.split('#').next().unwrap_or("");
        let path_and_query = match tail {
            "" => "/".to_owned(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_owned(),
        };
        if path_and_query.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(UrlError::PathCharacters);
        }
        Ok(HttpUrl {
            scheme,
            host,
            port,
            path_and_query,
        })
    }

    /// The whole URL, normalised (`scheme://host:port/path?query`). It holds the secret
    /// path: never store, log or show it (the outbox keeps only its digest, `outbox_key`).
    pub fn full(&self) -> String {
        format!("{self}{}", self.path_and_query)
    }

    /// What the `Host` header says: the port only when it is not the scheme's default.
    pub fn host_header(&self) -> String {
        let host = match self.host.contains(':') {
            true => format!("[{}]", self.host),
            false => self.host.clone(),
        };
        match (self.scheme, self.port) {
            (Scheme::Http, 80) | (Scheme::Https, 443) => host,
            (_, port) => format!("{host}:{port}"),
        }
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn split_host_port(authority: &str, default_port: u16) -> Result<(String, u16), UrlError> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(UrlError::Ipv6Bracket)?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':').ok_or(UrlError::AfterIpv6)?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
    {
        return Err(UrlError::HostCharacters);
    }
    let port = match port {
        None | Some("") => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(UrlError::Port),
        },
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// Only `scheme://host:port`: safe to log.
impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        match self.host.contains(':') {
            true => write!(f, "{scheme}://[{}]:{}", self.host, self.port),
            false => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

/// Like `Display`: the path and query stay out of logs and `{:?}` of the configuration.
impl fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpUrl({self}/...)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_parse_and_print_without_their_path() {
        let u = HttpUrl::parse("https://hooks.slack.com/services/T0/B0/SECRET?x=1").unwrap();
        assert_eq!(u.scheme, Scheme::Https);
        assert_eq!((u.host.as_str(), u.port), ("hooks.slack.com", 443));
        assert_eq!(u.path_and_query, "/services/T0/B0/SECRET?x=1");
        assert_eq!(u.to_string(), "https://hooks.slack.com:443");
        assert!(!format!("{u:?}").contains("SECRET"));
        assert_eq!(u.host_header(), "hooks.slack.com");
        // The outbox's key: the whole URL, which parses back to the same webhook.
        assert_eq!(
            u.full(),
            "https://hooks.slack.com:443/services/T0/B0/SECRET?x=1"
        );
        assert_eq!(HttpUrl::parse(&u.full()).unwrap(), u);

        let u = HttpUrl::parse("HTTP://127.0.0.1:8080").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 8080));
        assert_eq!(u.path_and_query, "/");
        assert_eq!(u.host_header(), "127.0.0.1:8080");

        let u = HttpUrl::parse("http://[::1]:9000/hook#frag").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        assert_eq!(u.path_and_query, "/hook");
        assert_eq!(u.to_string(), "http://[::1]:9000");
    }

    #[test]
    fn bad_urls_say_what_is_wrong_without_repeating_them() {
        for (url, expect) in [
            ("ftp://x/y", UrlError::Scheme),
            ("hooks.example.com/x", UrlError::Scheme),
            ("https://user:TOKEN@example.com/x", UrlError::Credentials),
            ("https:///x", UrlError::NoHost),
            ("https://example.com:0/x", UrlError::Port),
            ("https://example.com:99999/x", UrlError::Port),
            ("https://exa mple.com/x", UrlError::HostCharacters),
            ("https://example.com/a b", UrlError::PathCharacters),
            ("https://[::1/x", UrlError::Ipv6Bracket),
        ] {
            let err = HttpUrl::parse(url).unwrap_err();
            assert_eq!(err, expect, "{url}");
            assert!(!err.to_string().contains("TOKEN"), "{err}");
        }
    }
}
