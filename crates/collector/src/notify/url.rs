//! A webhook's URL, parsed by hand (http or https, host, port, path and query) so the
//! collector needs no URL crate. The path and query often carry a token (Slack and Teams
//! incoming webhooks do), so `Display` and `Debug` show only `scheme://host:port`.

use std::fmt;

/// `http://` or `https://`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// A parsed webhook URL.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    pub scheme: Scheme,
    /// A DNS name or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// The path and query as sent in the request line (`/` when the URL has none). Secret.
    pub path_and_query: String,
}

impl WebhookUrl {
    /// Parses `http(s)://host[:port][/path][?query]`; the error says what to fix and never
    /// repeats the URL (it may hold a token).
    pub fn parse(text: &str) -> Result<WebhookUrl, String> {
        let text = text.trim();
        let (scheme, rest) = if let Some(rest) = strip_prefix_ci(text, "https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = strip_prefix_ci(text, "http://") {
            (Scheme::Http, rest)
        } else {
            return Err(
                "must start with http:// or https:// (e.g. \"https://hooks.example.com/eceprobe\")"
                    .into(),
            );
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err(
                "credentials in the URL are not supported: put them in `headers` (e.g. headers = { Authorization = \"Bearer ...\" })"
                    .into(),
            );
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
            return Err("the path has spaces or control characters: percent-encode them".into());
        }
        Ok(WebhookUrl {
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

fn split_host_port(authority: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address needs its closing ']'")?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(p.strip_prefix(':').ok_or("junk after the IPv6 address")?),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
    {
        return Err("the host has characters a host name cannot have".into());
    }
    let port = match port {
        None | Some("") => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err("the port must be a number from 1 to 65535".into()),
        },
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// Only `scheme://host:port`: safe to log.
impl fmt::Display for WebhookUrl {
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
impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({self}/...)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_parse_and_print_without_their_path() {
        let u = WebhookUrl::parse("https://hooks.slack.com/services/T0/B0/SECRET?x=1").unwrap();
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
        assert_eq!(WebhookUrl::parse(&u.full()).unwrap(), u);

        let u = WebhookUrl::parse("HTTP://127.0.0.1:8080").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 8080));
        assert_eq!(u.path_and_query, "/");
        assert_eq!(u.host_header(), "127.0.0.1:8080");

        let u = WebhookUrl::parse("http://[::1]:9000/hook#frag").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        assert_eq!(u.path_and_query, "/hook");
        assert_eq!(u.to_string(), "http://[::1]:9000");
    }

    #[test]
    fn bad_urls_say_what_to_fix_without_repeating_them() {
        for (url, expect) in [
            ("ftp://x/y", "http:// or https://"),
            ("hooks.example.com/x", "http:// or https://"),
            ("https://user:TOKEN@example.com/x", "headers"),
            ("https:///x", "no host"),
            ("https://example.com:0/x", "port"),
            ("https://example.com:99999/x", "port"),
            ("https://exa mple.com/x", "host"),
            ("https://example.com/a b", "percent-encode"),
        ] {
            let err = WebhookUrl::parse(url).unwrap_err();
            assert!(err.contains(expect), "{url}: {err}");
            assert!(!err.contains("TOKEN"), "{err}");
        }
    }
}
