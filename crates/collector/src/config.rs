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
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::gaps::{Policy, PolicyError};

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
    #[error("cannot read the configuration {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("configuration {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("configuration {path}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        message: String,
    },
    #[error("cannot read the policy {path}: {error}")]
    ReadPolicy {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("in {path}: {error}")]
    Policy { path: PathBuf, error: PolicyError },
}

impl Config {
    /// Reads a configuration file; relative paths in it are taken from its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
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
        Ok(config)
    }

    /// The role policy named by `policy_file`, or the checklist's minimum.
    pub fn policy(&self) -> Result<Policy, ConfigError> {
        let Some(path) = &self.policy_file else {
            return Ok(Policy::default());
        };
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::ReadPolicy {
            path: path.clone(),
            error,
        })?;
        Policy::from_toml(&text).map_err(|error| ConfigError::Policy {
            path: path.clone(),
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("/etc/eceprobe/collector.toml"))
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn keys_are_read_and_relative_paths_anchored_at_the_file() {
        let c = parse(
            "listen = \"127.0.0.1:9000\"\ndatabase = \"data/c.db\"\npolicy_file = \"p.toml\"\n\
             evaluate_every_s = 5\n[retention]\nresults_days = 7\ngaps_days = 0\n",
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.database, Path::new("/etc/eceprobe/data/c.db"));
        assert_eq!(
            c.policy_file.as_deref(),
            Some(Path::new("/etc/eceprobe/p.toml"))
        );
        assert_eq!(c.evaluate_every, Duration::from_secs(5));
        assert_eq!(c.retention.results, Some(DAY * 7));
        assert_eq!(c.retention.gaps, None, "0 keeps closed gaps forever");
    }

    #[test]
    fn mistakes_are_named() {
        let err = parse("retention_days = 3").unwrap_err().to_string();
        assert!(err.contains("retention_days"), "{err}");
        let err = parse("[retention]\nresult_days = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("result_days"), "{err}");
        let err = parse("evaluate_every_s = 0").unwrap_err().to_string();
        assert!(err.contains("evaluate_every_s: 0 is out of range"), "{err}");
        let err = parse("listen = \"nowhere\"").unwrap_err().to_string();
        assert!(err.contains("/etc/eceprobe/collector.toml"), "{err}");
    }
}
