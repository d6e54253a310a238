//! The collector's configuration file (TOML). Every key is optional; unknown keys are
//! errors that name the key, so a typo never silently falls back to a default.
//!
//! ```toml
//! listen = "0.0.0.0:7443"          # agents (TLS unless plaintext)
//! query_listen = "127.0.0.1:7444"   # admin CLI and dashboard; loopback only
//! tls_dir = "pki"                   # from `eceprobe-collector ca init`
//! plaintext = false                 # true: no TLS, agents on loopback only (demos, tests)
//! database = "/var/lib/eceprobe/collector.db"
//! policy_file = "policy.toml"     # relative paths are relative to this file
//! evaluate_every_s = 15
//!
//! [retention]
//! results_days = 30               # raw history; 0 keeps it forever
//! gaps_days = 400                 # closed gaps; open ones are never pruned
//! audits_days = 400               # closed audits and their results
//!
//! [http]                          # the dashboard, the JSON API and /metrics
//! listen = "127.0.0.1:7480"         # default; beyond loopback put a TLS reverse proxy in front
//! token_file = "dashboard.token"    # the access token (>= 32 chars); default: random per start
//!
//! [[webhook]]                     # repeatable: every webhook gets every event
//! url = "https://hooks.example.com/eceprobe"   # http or https; the path may hold a token
//! headers = { Authorization = "Bearer ..." }   # optional; values are never logged
//! ca_file = "internal-ca.pem"     # optional: CAs trusted besides the OS store
//! max_attempts = 8                # optional, 1-20
//! retry_base_ms = 1000            # optional: first retry delay, doubled per attempt
//!
//! [[schedule]]                    # repeatable: audits started on a cron schedule
//! name = "monday-morning"         # unique; names the schedule in logs and errors
//! cron = "0 7 * * MON"            # minute hour day-of-month month day-of-week, or @daily...
//! time_zone = "Europe/Madrid"     # IANA name; default "UTC"; DST-aware
//! deployment = "prod"             # default: every deployment
//! deadline_s = 300                # default 0: the audit default (120); at most 3600
//!
//! [store]                         # PostgreSQL instead of `database`, shareable by collectors
//! url = "postgres://eceprobe@db.example.com/eceprobe?sslmode=verify-full"
//! password_file = "postgres.password"   # or PGPASSWORD; `database` then only names
//!                                 # where local files (the kept endpoint list) go
//! collector_name = "ece-mon-1"    # default: host:agents-port; unique per collector
//! lease_s = 10                    # the leader lease (3-600 s): takeover within about this
//!
//! [microsoft_endpoints]           # Microsoft's published endpoint list; default: the snapshot
//! url = "https://endpoints.office.com"   # or file = "endpoints-worldwide.json"
//! refresh_s = 3600                # default and minimum: one hour
//! ```

use crate::store_settings::{StoreFile, StoreSettings, StoreSettingsError};
use eceprobe_userfile::UserFileError;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::endpoints::source::EndpointsFile;
use crate::endpoints::EndpointsConfig;
use crate::gaps::{Policy, PolicyError};
use crate::notify::{self, WebhookConfig};
use crate::schedule::{Schedule, ScheduleError, ScheduleSpec};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// The configuration in force, after defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where agents connect.
    pub listen: SocketAddr,
    /// Where the admin CLI (and the dashboard) ask.
    pub query_listen: SocketAddr,
    /// The CA directory (`ca init`): TLS for agents, with client certificates.
    pub tls_dir: Option<PathBuf>,
    /// No TLS: only with this said explicitly, and only on loopback.
    pub plaintext: bool,
    pub database: PathBuf,
    pub policy_file: Option<PathBuf>,
    /// How often the gaps are evaluated when no results arrive (stale agents).
    pub evaluate_every: Duration,
    pub retention: Retention,
    /// Audits started on a schedule (`[[schedule]]`), checked at load.
    pub schedules: Vec<Schedule>,
    /// Where gap and audit events are POSTed (`[[webhook]]`); none: no notifications.
    pub webhooks: Vec<WebhookConfig>,
    /// The dashboard (`[http]`).
    pub http: Http,
    /// Where Microsoft's endpoint list comes from (`[microsoft_endpoints]`).
    pub endpoints: EndpointsConfig,
    /// PostgreSQL instead of the SQLite file `database` (`[store]`, `--db postgres://`).
    pub store: StoreSettings,
}

/// `[http]`: where the dashboard listens and where its access token comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Http {
    /// None: 127.0.0.1:7480, or a free loopback port when that one is taken.
    pub listen: Option<SocketAddr>,
    /// A file holding the token; None: a random token made at each start.
    pub token_file: Option<PathBuf>,
}

/// How long stored things are kept; `None` keeps them forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Raw history (results not tagged with an audit).
    pub results: Option<Duration>,
    /// Closed gaps.
    pub gaps: Option<Duration>,
    /// Closed audits, with the results tagged with them.
    pub audits: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 7443)),
            query_listen: SocketAddr::from(([127, 0, 0, 1], 7444)),
            tls_dir: None,
            plaintext: false,
            database: PathBuf::from("eceprobe.db"),
            policy_file: None,
            evaluate_every: Duration::from_secs(15),
            retention: Retention {
                results: Some(30 * DAY),
                gaps: Some(400 * DAY),
                audits: Some(400 * DAY),
            },
            schedules: Vec::new(),
            webhooks: Vec::new(),
            http: Http::default(),
            endpoints: EndpointsConfig::default(),
            store: StoreSettings::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<SocketAddr>,
    query_listen: Option<SocketAddr>,
    tls_dir: Option<PathBuf>,
    plaintext: Option<bool>,
    database: Option<PathBuf>,
    policy_file: Option<PathBuf>,
    evaluate_every_s: Option<u64>,
    retention: Option<RetentionFile>,
    #[serde(default)]
    schedule: Vec<ScheduleSpec>,
    #[serde(default)]
    webhook: Vec<WebhookFile>,
    http: Option<HttpFile>,
    microsoft_endpoints: Option<EndpointsFile>,
    store: Option<StoreFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    listen: Option<SocketAddr>,
    token_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    url: String,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    ca_file: Option<PathBuf>,
    max_attempts: Option<u32>,
    retry_base_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionFile {
    results_days: Option<u32>,
    gaps_days: Option<u32>,
    audits_days: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration: {0}")]
    Read(UserFileError),
    #[error("configuration {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("configuration {path}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        message: String,
    },
    #[error("configuration {path}: {error}")]
    Schedule { path: PathBuf, error: ScheduleError },
    #[error("the policy: {0}")]
    ReadPolicy(UserFileError),
    #[error("in {path}: {error}")]
    Policy { path: PathBuf, error: PolicyError },
    #[error("configuration {path}: {error}")]
    Store {
        path: PathBuf,
        error: StoreSettingsError,
    },
}

impl Config {
    /// Reads a configuration file; relative paths in it are taken from its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = eceprobe_userfile::read_text(path).map_err(ConfigError::Read)?;
        Config::from_toml(&text, path)
    }

    /// Parses the text of the file at `path` (which only names it and anchors relative
    /// paths).
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_owned()
                + &e.span()
                    .map(|s| format!(" (at byte {})", s.start))
                    .unwrap_or_default(),
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        let anchored = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
        let mut config = Config::default();
        if let Some(listen) = file.listen {
            config.listen = listen;
        }
        if let Some(listen) = file.query_listen {
            config.query_listen = listen;
        }
        config.tls_dir = file.tls_dir.map(anchored);
        config.plaintext = file.plaintext.unwrap_or(false);
        if let Some(db) = file.database {
            config.database = anchored(db);
        }
        config.policy_file = file.policy_file.map(anchored);
        if let Some(store) = file.store {
            config.store =
                StoreSettings::from_file(store, anchored).map_err(|error| ConfigError::Store {
                    path: path.to_path_buf(),
                    error,
                })?;
        }
        if let Some(s) = file.evaluate_every_s {
            if !(1..=3600).contains(&s) {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    key: "evaluate_every_s",
                    message: format!("{s} is out of range: use 1 to 3600 seconds"),
                });
            }
            config.evaluate_every = Duration::from_secs(s);
        }
        let retention = file.retention.unwrap_or_default();
        let days = |d: Option<u32>, default: Option<Duration>| match d {
            None => default,
            Some(0) => None,
            Some(d) => Some(DAY * d),
        };
        config.retention = Retention {
            results: days(retention.results_days, config.retention.results),
            gaps: days(retention.gaps_days, config.retention.gaps),
            audits: days(retention.audits_days, config.retention.audits),
        };
        config.schedules =
            Schedule::from_specs(file.schedule).map_err(|error| ConfigError::Schedule {
                path: path.to_path_buf(),
                error,
            })?;
        for (i, hook) in file.webhook.into_iter().enumerate() {
            let webhook =
                webhook(hook, anchored).map_err(|(key, message)| ConfigError::Invalid {
                    path: path.to_path_buf(),
                    key,
                    message: format!("[[webhook]] #{}: {message}", i + 1),
                })?;
            config.webhooks.push(webhook);
        }
        let http = file.http.unwrap_or_default();
        config.http = Http {
            listen: http.listen,
            token_file: http.token_file.map(anchored),
        };
        if let Some(section) = file.microsoft_endpoints {
            config.endpoints =
                section
                    .check(anchored)
                    .map_err(|(key, message)| ConfigError::Invalid {
                        path: path.to_path_buf(),
                        key,
                        message,
                    })?;
        }
        Ok(config)
    }

    /// The role policy named by `policy_file`, or the checklist's minimum.
    pub fn policy(&self) -> Result<Policy, ConfigError> {
        let Some(path) = &self.policy_file else {
            return Ok(Policy::default());
        };
        let text = eceprobe_userfile::read_text(path).map_err(ConfigError::ReadPolicy)?;
        Policy::from_toml(&text).map_err(|error| ConfigError::Policy {
            path: path.clone(),
            error,
        })
    }
}

/// One `[[webhook]]`, checked; the error names the key and never repeats a secret (the
/// URL's path, a header's value).
fn webhook(
    file: WebhookFile,
    anchored: impl Fn(PathBuf) -> PathBuf,
) -> Result<WebhookConfig, (&'static str, String)> {
    let url = notify::webhook_url(&file.url).map_err(|m| ("webhook.url", m))?;
    let mut hook = WebhookConfig::new(url);
    for (name, value) in &file.headers {
        notify::check_header(name, value).map_err(|m| ("webhook.headers", m))?;
    }
    hook.headers = file.headers;
    hook.ca_file = file.ca_file.map(anchored);
    if let Some(n) = file.max_attempts {
        if !(1..=notify::MAX_ATTEMPTS_LIMIT).contains(&n) {
            let max = notify::MAX_ATTEMPTS_LIMIT;
            return Err((
                "webhook.max_attempts",
                format!("{n} is out of range: use 1 to {max}"),
            ));
        }
        hook.max_attempts = n;
    }
    if let Some(ms) = file.retry_base_ms {
        if !(10..=60_000).contains(&ms) {
            let message = format!("{ms} is out of range: use 10 to 60000 ms");
            return Err(("webhook.retry_base_ms", message));
        }
        hook.retry_base = Duration::from_millis(ms);
    }
    Ok(hook)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
