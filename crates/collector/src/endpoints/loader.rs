//! Loads the configured list into the shared [`EndpointsHandle`] at start and every refresh
//! period, never losing a good list: a file is read again when its modification time
//! changes; the web service is asked its version (`/version/Worldwide`) and the list
//! (`/endpoints/Worldwide`) only when that version changed, with this collector's
//! `ClientRequestId` on both. A list fetched from the service is kept on disk next to the
//! database, so a restart without internet uses it rather than the snapshot.
//!
//! A file is read on the blocking pool, refused unopened when it is not a regular file (a
//! FIFO would wait for a writer) or larger than [`MAX_LIST_BYTES`].
//!
//! Anything wrong (unreadable, truncated, empty or foreign file; unreachable service,
//! non-200 answer, oversized body, timeout) is a warning naming the file or URL and what
//! was wrong, shown beside the list in use, which stays.

use eceprobe_proto::now_ms;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use tokio::sync::watch;

use super::client_id::client_request_id;
use super::source::{EndpointsConfig, Source};
use super::{
    EndpointList, EndpointsHandle, ListOrigin, OriginKind, MAX_LIST_BYTES, NO_VERSION_FILE,
};
use crate::civil::utc_minutes;
use crate::outbound::get::{get, GetError, Limits};
use crate::outbound::{HttpUrl, Scheme};

/// The list's fetch: Microsoft's Worldwide list is about 100 KB.
const LIST_LIMITS: Limits = Limits {
    connect: Duration::from_secs(10),
    read: Duration::from_secs(15),
    total: Duration::from_secs(60),
    max_body: MAX_LIST_BYTES,
};
/// `/version/Worldwide` answers a few dozen bytes.
const VERSION_LIMITS: Limits = Limits {
    connect: Duration::from_secs(10),
    read: Duration::from_secs(15),
    total: Duration::from_secs(30),
    max_body: 64 * 1024,
};

/// The web service's instance eceprobe's checks use (the commercial cloud).
const INSTANCE: &str = "Worldwide";

/// The files next to the database.
struct Kept {
    /// The list as the service sent it.
    list: PathBuf,
    /// "version\nbase URL\nfetched (Unix ms)\n".
    about: PathBuf,
}

/// Loads the configured source into the handle.
pub struct Loader {
    config: EndpointsConfig,
    handle: EndpointsHandle,
    database: PathBuf,
    kept: Kept,
    /// The modification time of the file last read (good or not): read again only when it
    /// changes, so a bad file is reported once, not every hour.
    file_seen: Option<SystemTime>,
    /// The service's version of the list in use, when it came from the service.
    version_in_use: Option<String>,
    client_id: Option<String>,
    /// The bounds of the version's and the list's fetches.
    limits: (Limits, Limits),
}

impl Loader {
    /// `database`: the collector's database; the client id and the kept list live next to
    /// it (`<database>.endpoints-client-id`, `<database>.endpoints-worldwide.json`).
    pub fn new(config: EndpointsConfig, database: &Path, handle: EndpointsHandle) -> Loader {
        let beside = |suffix: &str| {
            let mut name = database.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        Loader {
            config,
            handle,
            database: database.to_path_buf(),
            kept: Kept {
                list: beside(".endpoints-worldwide.json"),
                about: beside(".endpoints-worldwide.about"),
            },
            file_seen: None,
            version_in_use: None,
            client_id: None,
            limits: (VERSION_LIMITS, LIST_LIMITS),
        }
    }

    /// Other bounds for the version's and the list's fetches (tests: a stalled answer in a
    /// second rather than a minute).
    pub fn with_limits(mut self, version: Limits, list: Limits) -> Loader {
        self.limits = (version, list);
        self
    }

    pub fn handle(&self) -> EndpointsHandle {
        self.handle.clone()
    }

    /// The first load, local only so the collector's start never waits on the network: a
    /// file is read; for the service, the list kept by an earlier run is put in use (the
    /// service is asked first thing by [`Loader::run_refreshes`]).
    pub async fn start(&mut self) {
        match self.config.source.clone() {
            Source::Snapshot => {}
            Source::File(_) => self.refresh().await,
            Source::Url(base) => {
                if base.scheme == Scheme::Http && !is_loopback(&base.host) {
                    tracing::warn!(url = %shown(&base, ""), "microsoft_endpoints.url is plain http: the endpoint list travels unauthenticated and anyone on the path can change it; use https://endpoints.office.com");
                }
                self.use_kept(&base);
            }
        }
    }

    /// After [`Loader::start`]: the service asked at once, then the source looked at every
    /// refresh period, until `stop` says so (or its sender goes).
    pub async fn run_refreshes(mut self, mut stop: watch::Receiver<bool>) {
        let mut wait = match self.config.source {
            Source::Url(_) => Duration::ZERO,
            _ => self.config.refresh,
        };
        loop {
            tokio::select! {
                changed = stop.changed() => if changed.is_err() || *stop.borrow() {
                    return;
                },
                () = tokio::time::sleep(wait) => {
                    self.refresh().await;
                    wait = self.config.refresh;
                }
            }
        }
    }

    /// One look at the source.
    pub async fn refresh(&mut self) {
        let result = match self.config.source.clone() {
            Source::Snapshot => return,
            Source::File(path) => self.refresh_file(&path).await,
            Source::Url(base) => self.refresh_url(&base).await,
        };
        if let Err(message) = result {
            tracing::warn!("{message}");
            self.handle.failed(now_ms(), message);
        }
    }

    async fn refresh_file(&mut self, path: &Path) -> Result<(), String> {
        let in_use = self.in_use();
        let seen = self.file_seen;
        let owned = path.to_path_buf();
        // The file system may block (a network mount, a FIFO put at the path): off the
        // runtime's threads, on the blocking pool.
        let read = tokio::task::spawn_blocking(move || read_list_file(&owned, seen))
            .await
            .unwrap_or_else(|e| Err(FileProblem::Io(std::io::Error::other(e.to_string()))));
        let (modified, bytes) = match read {
            Ok(None) => return Ok(()),
            Ok(Some(read)) => read,
            Err(FileProblem::Refused { modified, what }) => {
                self.file_seen = modified;
                return Err(format!(
                    "Microsoft's endpoint list {} was not read: {what}; the list in use stays ({in_use}). Fix: save the list from https://endpoints.office.com/endpoints/Worldwide?ClientRequestId=<GUID> as a regular file at that path",
                    path.display(),
                ));
            }
            Err(FileProblem::Io(e)) => {
                return Err(format!(
                    "cannot read Microsoft's endpoint list {}: {}; the list in use stays ({in_use}). Fix: save the list from https://endpoints.office.com/endpoints/Worldwide?ClientRequestId=<GUID> to that path",
                    path.display(),
                    eceprobe_checks::words::io(&e),
                ))
            }
        };
        self.file_seen = Some(modified);
        let modified_ms = modified
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let origin = ListOrigin {
            kind: OriginKind::File,
            source: path.display().to_string(),
            version: NO_VERSION_FILE.into(),
            date: utc_minutes(modified_ms),
        };
        let list = EndpointList::parse(&bytes, origin).map_err(|e| {
            format!(
                "Microsoft's endpoint list {} was not loaded: {e}; the list in use stays ({}). Fix: save the whole answer of https://endpoints.office.com/endpoints/Worldwide?ClientRequestId=<GUID> (JSON, not /version, not CSV) to that path",
                path.display(),
                in_use
            )
        })?;
        tracing::info!(file = %path.display(), sets = list.sets().len(), "Microsoft's endpoint list loaded");
        self.handle.replace(list);
        Ok(())
    }

    async fn refresh_url(&mut self, base: &HttpUrl) -> Result<(), String> {
        let id = match &self.client_id {
            Some(id) => id.clone(),
            None => {
                let id = client_request_id(&self.database);
                self.client_id = Some(id.clone());
                id
            }
        };
        let query = format!("?ClientRequestId={id}");
        let version_path = format!("/version/{INSTANCE}");
        let body = fetch(base, &version_path, &query, self.limits.0)
            .await
            .map_err(|e| self.not_loaded(base, &version_path, &e.to_string(), fix_for(base, &e)))?;
        let latest = parse_version(&body)
            .map_err(|e| self.not_loaded(base, &version_path, &e, fix_answer()))?;
        if self.version_in_use.as_deref() == Some(latest.as_str()) {
            tracing::debug!(version = %latest, "Microsoft's endpoint list unchanged");
            self.handle.confirmed();
            return Ok(());
        }
        let list_path = format!("/endpoints/{INSTANCE}");
        let body = fetch(base, &list_path, &query, self.limits.1)
            .await
            .map_err(|e| self.not_loaded(base, &list_path, &e.to_string(), fix_for(base, &e)))?;
        let fetched = now_ms();
        let origin = ListOrigin {
            kind: OriginKind::Service,
            source: shown(base, &list_path),
            version: latest.clone(),
            date: utc_minutes(fetched),
        };
        let list = EndpointList::parse(&body, origin)
            .map_err(|e| self.not_loaded(base, &list_path, &e.to_string(), fix_answer()))?;
        tracing::info!(url = %shown(base, &list_path), version = %latest, sets = list.sets().len(), "Microsoft's endpoint list loaded");
        self.handle.replace(list);
        self.version_in_use = Some(latest.clone());
        if let Err(e) = self.keep(base, &latest, fetched, &body) {
            tracing::warn!(file = %self.kept.list.display(), "cannot keep Microsoft's endpoint list next to the database ({e}): a restart without internet uses the snapshot instead");
        }
        Ok(())
    }

    fn not_loaded(&self, base: &HttpUrl, path: &str, what: &str, fix: String) -> String {
        format!(
            "Microsoft's endpoint list was not loaded from {}: {what}; the list in use stays ({}). Fix: {fix}",
            shown(base, path),
            self.in_use(),
        )
    }

    /// The list in use, in a few words.
    fn in_use(&self) -> String {
        self.handle.current().origin().described()
    }

    /// Writes the fetched list and what it is, each through a temporary file and a
    /// rename, so a crash leaves the previous copy or the new one, never half of one.
    fn keep(
        &self,
        base: &HttpUrl,
        version: &str,
        fetched: i64,
        body: &[u8],
    ) -> std::io::Result<()> {
        write_whole(&self.kept.list, body)?;
        let about = format!("{version}\n{}\n{fetched}\n", shown(base, ""));
        write_whole(&self.kept.about, about.as_bytes())
    }

    /// The list kept by an earlier run, when it came from the same service.
    fn use_kept(&mut self, base: &HttpUrl) {
        let Ok(about) = read_bounded(&self.kept.about, 4096) else {
            return;
        };
        let about = String::from_utf8_lossy(&about);
        let mut lines = about.lines();
        let (Some(version), Some(url), Some(fetched)) = (lines.next(), lines.next(), lines.next())
        else {
            return;
        };
        if url != shown(base, "") {
            return;
        }
        let fetched: i64 = fetched.parse().unwrap_or(0);
        let origin = ListOrigin {
            kind: OriginKind::Service,
            source: format!(
                "{} (the copy kept at {})",
                shown(base, &format!("/endpoints/{INSTANCE}")),
                self.kept.list.display()
            ),
            version: version.to_owned(),
            date: utc_minutes(fetched),
        };
        let kept = read_bounded(&self.kept.list, MAX_LIST_BYTES as u64 + 1)
            .map_err(|e| eceprobe_checks::words::io(&e))
            .and_then(|bytes| EndpointList::parse(&bytes, origin).map_err(|e| e.to_string()));
        match kept {
            Ok(list) => {
                tracing::info!(file = %self.kept.list.display(), version, "using the endpoint list kept from the last fetch until the service answers");
                self.handle.replace(list);
                self.version_in_use = Some(version.to_owned());
            }
            Err(e) => {
                tracing::warn!(file = %self.kept.list.display(), "the endpoint list kept from the last fetch cannot be used ({e}); the next fetch replaces it");
            }
        }
    }
}

/// GET base + path + query.
async fn fetch(
    base: &HttpUrl,
    path: &str,
    query: &str,
    limits: Limits,
) -> Result<Vec<u8>, GetError> {
    let url = HttpUrl {
        path_and_query: format!("{path}{query}"),
        ..base.clone()
    };
    get(&url, limits).await.map(|b| b.to_vec())
}

/// When the service answered, but not with what it publishes.
fn fix_answer() -> String {
    "the service failed, or something between the collector and it (a proxy, a captive portal) answered instead: try again later, or save the list from https://endpoints.office.com/endpoints/Worldwide?ClientRequestId=<GUID> to a file and set microsoft_endpoints.file".into()
}

/// What to do about a fetch that failed, by how it failed.
fn fix_for(base: &HttpUrl, e: &GetError) -> String {
    match e {
        GetError::Status { status: 429 } => "the service asks to be called less often: keep microsoft_endpoints.refresh_s at 3600 or more, and let only one collector share this address".into(),
        GetError::Status { .. } | GetError::Http(_) | GetError::TooLarge { .. } => fix_answer(),
        GetError::Connect(_) | GetError::Tls(_) | GetError::Timeout(_) | GetError::ReadTimeout(_) => format!(
            "let the collector reach {} (outbound TCP {}; the collector uses no proxy), or save the list to a file and set microsoft_endpoints.file",
            shown(base, ""),
            base.port
        ),
    }
}

/// `{"instance":"Worldwide","latest":"2026110300"}`.
fn parse_version(body: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Version {
        latest: String,
    }
    let v: Version = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the answer is not the service's version (JSON with \"latest\"): {}",
            crate::checkname::shown(&e.to_string())
        )
    })?;
    let ok = !v.latest.is_empty()
        && v.latest.len() <= 32
        && v.latest.bytes().all(|b| b.is_ascii_alphanumeric());
    match ok {
        true => Ok(v.latest),
        false => Err("the version answer's \"latest\" is not a version number".into()),
    }
}

/// `scheme://host[:port]path` as an operator writes it (the ClientRequestId left out).
fn shown(base: &HttpUrl, path: &str) -> String {
    let scheme = match base.scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
    };
    format!("{scheme}://{}{path}", base.host_header())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why a configured list file was not read.
enum FileProblem {
    /// It could not be looked at or read.
    Io(std::io::Error),
    /// It is there but is not a list to read (not a regular file, too large); `modified`
    /// is remembered so the same refusal is not logged every refresh.
    Refused {
        modified: Option<SystemTime>,
        what: String,
    },
}

/// The list file's modification time and bytes; None when it has not changed since `seen`.
/// Blocking: run on the blocking pool. Anything but a regular file is refused before it is
/// opened (opening a FIFO would wait for a writer), and at most [`MAX_LIST_BYTES`] are read
/// whatever the size said (a file still growing).
fn read_list_file(
    path: &Path,
    seen: Option<SystemTime>,
) -> Result<Option<(SystemTime, Vec<u8>)>, FileProblem> {
    let meta = std::fs::metadata(path).map_err(FileProblem::Io)?;
    let modified = meta.modified().ok();
    if seen.is_some() && seen == modified {
        return Ok(None);
    }
    if !meta.is_file() {
        let kind = match meta.is_dir() {
            true => "a directory",
            false => "not a regular file (a FIFO, socket or device)",
        };
        return Err(FileProblem::Refused {
            modified,
            what: format!("it is {kind}"),
        });
    }
    let modified = modified.unwrap_or(UNIX_EPOCH);
    if meta.len() > MAX_LIST_BYTES as u64 {
        return Err(FileProblem::Refused {
            modified: Some(modified),
            what: format!(
                "it is {} bytes, more than the {MAX_LIST_BYTES} accepted (Microsoft's Worldwide list is about 100 KB): it is not Microsoft's endpoint list",
                meta.len()
            ),
        });
    }
    let bytes = read_bounded(path, MAX_LIST_BYTES as u64 + 1).map_err(FileProblem::Io)?;
    Ok(Some((modified, bytes)))
}

fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
