//! Microsoft's published endpoints (issue 15, item 4): the "Office 365 IP Address and URL web
//! service" list that network teams import into their firewalls, in Microsoft's own JSON
//! shape (`endpoints/Worldwide`: an array of endpoint sets with `id`, `serviceArea`, `urls`,
//! `ips`, `tcpPorts`, `category`, `required`, `notes`).
//!
//! The collector uses it to name, for a host and port ECE needs, the endpoint set a firewall
//! rule comes from (set 2, "POP3, IMAP4, SMTP Client traffic", is *optional* in Microsoft's
//! list, which is why teams leave 587/993/995 closed), and to tell whether an address an
//! agent resolved for a Microsoft host lies inside that set's published ranges.
//!
//! A list is parsed whole or refused whole: a truncated or foreign file never replaces a
//! good list. [`EndpointList::snapshot`] is the list shipped with this binary.

mod cidr;
pub mod client_id;
mod finding;
mod handle;
pub mod loader;
pub mod source;

pub use cidr::Cidr;
pub use finding::not_microsoft;
pub use handle::{EndpointsHandle, LoadError};
pub use loader::Loader;
pub use source::{EndpointsConfig, Source};

use std::net::IpAddr;

use serde::Deserialize;

use crate::checkname::shown;

/// The largest list accepted (Microsoft's Worldwide list is about 100 KB).
pub const MAX_LIST_BYTES: usize = 4 * 1024 * 1024;
/// The most endpoint sets, and URLs or ranges per set, accepted.
const MAX_SETS: usize = 2_000;
const MAX_ENTRIES: usize = 5_000;

/// A list that could not be read. Every message names what was wrong; the caller adds where
/// the list came from (file or URL).
#[derive(Debug, thiserror::Error)]
pub enum EndpointsError {
    #[error("the list is {0} bytes, more than the {MAX_LIST_BYTES} accepted: it is not Microsoft's endpoint list")]
    TooLarge(usize),
    #[error("the list is empty")]
    Empty,
    #[error("it is not Microsoft's endpoint list in JSON (an array of endpoint sets with id, serviceArea, urls, ips, tcpPorts, category, required): {0}")]
    Shape(String),
    #[error("endpoint set {id}: {what}")]
    Set { id: u32, what: String },
    #[error("the list has {0} endpoint sets, more than the {MAX_SETS} accepted")]
    TooManySets(usize),
}

/// Microsoft's category of an endpoint set: how its traffic should be routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Category {
    Optimize,
    Allow,
    Default,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Optimize => "Optimize",
            Category::Allow => "Allow",
            Category::Default => "Default",
        }
    }
}

/// One endpoint set as Microsoft publishes it.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointSet {
    pub id: u32,
    pub service_area: String,
    pub category: Category,
    /// Microsoft marks some sets optional: a team importing only the required ones leaves
    /// them closed.
    pub required: bool,
    /// Host names, some with a wildcard ("*.office365.com").
    pub urls: Vec<String>,
    pub ips: Vec<Cidr>,
    /// TCP ports, ranges expanded into (first, last).
    pub tcp_ports: Vec<(u16, u16)>,
    pub notes: String,
}

impl EndpointSet {
    /// Whether the set names this host (exactly, or through one of its wildcards).
    pub fn has_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.urls.iter().any(|u| wildcard_match(u, host))
    }

    pub fn has_tcp_port(&self, port: u16) -> bool {
        self.tcp_ports
            .iter()
            .any(|(a, b)| (*a..=*b).contains(&port))
    }

    /// Whether the address lies in one of the set's ranges. A set with no ranges (URL-only,
    /// such as the CRL hosts) contains nothing: callers must not judge addresses against it.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.ips.iter().any(|r| r.contains(ip))
    }

    /// The ports as Microsoft writes them ("80,443").
    pub fn tcp_ports_text(&self) -> String {
        self.tcp_ports
            .iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Where the list in use came from, shown wherever it is used ("which list says set 2?").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListOrigin {
    pub kind: OriginKind,
    /// "the snapshot shipped with eceprobe", a file path or a URL.
    pub source: String,
    /// Microsoft's version ("2026110300") when the service said it; [`NO_VERSION_FILE`] for
    /// a file, [`NO_VERSION_SNAPSHOT`] for the snapshot (Microsoft never published it as
    /// such, so it must not read like one of Microsoft's versions).
    pub version: String,
    /// When it was fetched, the file's modification time or, for the snapshot, the day it
    /// was made (UTC, "2026-12-06 11:40Z" or "2026-12-06").
    pub date: String,
}

/// Which of the three sources a list came from: each says its version and date differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginKind {
    Snapshot,
    File,
    Service,
}

/// `version` of a list read from a file: Microsoft's JSON carries none.
pub const NO_VERSION_FILE: &str = "not in the file";
/// `version` of the shipped snapshot.
pub const NO_VERSION_SNAPSHOT: &str = "not a Microsoft version";

impl ListOrigin {
    /// The list in one plain phrase, true for each source: the snapshot is said to be
    /// eceprobe's (not a version Microsoft published), a file's date is its modification
    /// time, a fetched list has Microsoft's version and when it was fetched.
    pub fn described(&self) -> String {
        match self.kind {
            OriginKind::Snapshot => format!(
                "{} (Worldwide sets {SNAPSHOT_SETS}, made {}; not a version Microsoft published)",
                self.source, self.date
            ),
            OriginKind::File => format!(
                "{} (a file, which carries no version from Microsoft; modified {})",
                self.source, self.date
            ),
            OriginKind::Service => format!(
                "{}, Microsoft's version {}, fetched {}",
                self.source, self.version, self.date
            ),
        }
    }
}

/// A parsed endpoint list and where it came from.
#[derive(Clone, Debug)]
pub struct EndpointList {
    sets: Vec<EndpointSet>,
    origin: ListOrigin,
}

/// The shipped snapshot, in Microsoft's format (see `snapshot.json`'s origin below).
const SNAPSHOT_JSON: &str = include_str!("snapshot.json");
/// The day the snapshot was made.
pub const SNAPSHOT_DATE: &str = "2026-12-06";
/// The Worldwide sets the snapshot holds (those eceprobe's checks use).
const SNAPSHOT_SETS: &str = "1, 2, 56 and 125";

impl EndpointList {
    /// Parses Microsoft's JSON (`endpoints/Worldwide`). Refuses the whole list on any
    /// malformed set: a list half understood would name wrong sets in change requests.
    pub fn parse(bytes: &[u8], origin: ListOrigin) -> Result<EndpointList, EndpointsError> {
        if bytes.len() > MAX_LIST_BYTES {
            return Err(EndpointsError::TooLarge(bytes.len()));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(EndpointsError::Empty);
        }
        let raw: Vec<RawSet> = serde_json::from_slice(bytes)
            .map_err(|e| EndpointsError::Shape(shown(&e.to_string())))?;
        if raw.is_empty() {
            return Err(EndpointsError::Empty);
        }
        if raw.len() > MAX_SETS {
            return Err(EndpointsError::TooManySets(raw.len()));
        }
        let sets = raw
            .into_iter()
            .map(RawSet::check)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EndpointList { sets, origin })
    }

    /// The list shipped with this binary: the Worldwide sets eceprobe's checks use (1:
    /// Exchange web, 2: IMAP/POP/SMTP clients, 56: sign-in and Graph, 125: certificate
    /// revocation), made from Microsoft's published list ("Microsoft 365 URLs and IP address
    /// ranges") and M365-FACTS.md. Replaced as soon as a list is loaded.
    pub fn snapshot() -> EndpointList {
        let origin = ListOrigin {
            kind: OriginKind::Snapshot,
            source: "the snapshot shipped with eceprobe".into(),
            version: NO_VERSION_SNAPSHOT.into(),
            date: SNAPSHOT_DATE.into(),
        };
        match EndpointList::parse(SNAPSHOT_JSON.as_bytes(), origin.clone()) {
            Ok(list) => list,
            // The snapshot is tested to parse (tests below); never panic in production.
            Err(_) => EndpointList {
                sets: Vec::new(),
                origin,
            },
        }
    }

    pub fn origin(&self) -> &ListOrigin {
        &self.origin
    }

    pub fn sets(&self) -> &[EndpointSet] {
        &self.sets
    }

    pub fn set(&self, id: u32) -> Option<&EndpointSet> {
        self.sets.iter().find(|s| s.id == id)
    }

    /// The sets a firewall rule for this host and TCP port comes from, in list order
    /// (usually one: outlook.office365.com is in set 1 for 443 and set 2 for 993).
    pub fn sets_for<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> impl Iterator<Item = &'a EndpointSet> + 'a {
        self.sets
            .iter()
            .filter(move |s| s.has_host(host) && s.has_tcp_port(port))
    }

    /// Whether an address an agent resolved for `host` lies outside every published range
    /// of the sets that name the host: `Some(sets judged)` when it is outside, None when it
    /// is inside one, or when no set naming the host publishes ranges (nothing to judge).
    pub fn outside<'a>(&'a self, host: &str, ip: IpAddr) -> Option<Vec<&'a EndpointSet>> {
        let judged: Vec<&EndpointSet> = self
            .sets
            .iter()
            .filter(|s| s.has_host(host) && !s.ips.is_empty())
            .collect();
        if judged.is_empty() || judged.iter().any(|s| s.contains(ip)) {
            return None;
        }
        Some(judged)
    }
}

/// A set as Microsoft writes it; unknown fields (expressRoute, serviceAreaDisplayName,
/// udpPorts) are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSet {
    id: u32,
    service_area: String,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    ips: Vec<String>,
    #[serde(default)]
    tcp_ports: String,
    category: Category,
    required: bool,
    #[serde(default)]
    notes: String,
}

impl RawSet {
    fn check(self) -> Result<EndpointSet, EndpointsError> {
        let id = self.id;
        let bad = |what: String| EndpointsError::Set { id, what };
        if self.urls.len() > MAX_ENTRIES || self.ips.len() > MAX_ENTRIES {
            return Err(bad(format!("more than {MAX_ENTRIES} URLs or ranges")));
        }
        let ips = self
            .ips
            .iter()
            .map(|r| r.parse::<Cidr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        let tcp_ports = parse_ports(&self.tcp_ports).map_err(bad)?;
        let urls = self
            .urls
            .into_iter()
            .map(|u| u.trim().trim_end_matches('.').to_ascii_lowercase())
            .collect();
        Ok(EndpointSet {
            id,
            service_area: self.service_area,
            category: self.category,
            required: self.required,
            urls,
            ips,
            tcp_ports,
            notes: self.notes,
        })
    }
}

/// "80,443" or "3478-3481" into ranges; empty is no TCP port.
fn parse_ports(text: &str) -> Result<Vec<(u16, u16)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (a, b) = p.split_once('-').unwrap_or((p, p));
            match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                (Ok(a), Ok(b)) if a <= b => Ok((a, b)),
                _ => Err(format!(
                    "tcpPorts '{}': '{}' is not a port or a range",
                    shown(text),
                    shown(p)
                )),
            }
        })
        .collect()
}

/// Microsoft's wildcards: "*" stands for one or more characters of a host name
/// ("*.office365.com", "autodiscover.*.onmicrosoft.com"). Case-insensitive.
fn wildcard_match(pattern: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(mut rest) = host.strip_prefix(first) else {
        return false;
    };
    let tail: Vec<&str> = parts.collect();
    if tail.is_empty() {
        return rest.is_empty();
    }
    for (i, part) in tail.iter().enumerate() {
        let last = i + 1 == tail.len();
        if last {
            // The star before the last part takes at least one character.
            return rest.len() > part.len() && rest.ends_with(part);
        }
        match rest.get(1..).and_then(|r| r.find(part)) {
            Some(at) => rest = &rest[1 + at + part.len()..],
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests;
