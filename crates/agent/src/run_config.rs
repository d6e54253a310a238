//! The `[run]` section of `agent.toml` and its flags: where the collector is, who this
//! agent is, how often it probes and where it spools. Every error names the key and the fix.
//!
//! ```toml
//! [run]
//! collector = "https://collector.corp.example:7443"
//! # or, with several collectors sharing one PostgreSQL: the agent stays on one and moves
//! # to the next when it is unreachable (`uplink.rs`)
//! # collectors = ["https://collector-a.corp.example:7443", "https://collector-b.corp.example:7443"]
//! tls_dir = 'C:\ProgramData\eceprobe\tls'  # the bundle from `eceprobe-collector enroll`
//! # or, instead of carrying a bundle: join with a token (`eceprobe-collector token create`);
//! # the agent makes its key in tls_dir and gets its certificate there (crate::join)
//! # join = "ej1.<id>.<secret>.sha256:<CA fingerprint>"
//! agent_id = "ece-svc-01"               # default: the host name; must match the bundle
//! deployment = "prod"
//! interval_s = 60
//! spool_dir = 'C:\ProgramData\eceprobe\spool'
//! spool_max_mb = 64
//! ```
//!
//! Plaintext (`collector = "http://127.0.0.1:7443"` with `plaintext = true`) is for demos
//! and tests: loopback only, and only when said explicitly.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use eceprobe_checks::Role;
use eceprobe_proto::join_token::JoinToken;
use eceprobe_proto::v1::{self as pb, Hello};
use serde::Deserialize;

use crate::config_error::ConfigError;

/// Everything `run` needs beyond the probes.
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// The collectors' gRPC URLs, in the order they are tried (at least one).
    pub collectors: Vec<String>,
    /// TLS with this agent's certificate, for every collector (None: plaintext on loopback).
    pub tls: Option<TlsBundle>,
    pub hello: Hello,
    pub interval: Duration,
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    /// A join to make before running: the bundle is not in its directory yet.
    pub join: Option<JoinPlan>,
    /// A token still in the configuration file although its bundle is complete (the agent
    /// stopped, or the rewrite failed, between writing agent.pem and rewriting the line):
    /// its line is rewritten at start ([`crate::join::complete`]), not left for good.
    pub leftover_join: Option<JoinPlan>,
}

/// A join with a token ([`crate::join`]), and where its bundle goes.
#[derive(Clone, Debug)]
pub struct JoinPlan {
    pub token: JoinToken,
    pub dir: PathBuf,
    pub server_name: Option<String>,
    /// The configuration file the token came from (`join = "..."`): its line is rewritten
    /// as a comment once joined (`join_forget.rs`). None: it came from `--join`.
    pub written_in: Option<PathBuf>,
    /// The deployment the configuration names (flag or file), if any: a join token made
    /// for another is a configuration error once its deployment is known.
    pub configured_deployment: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub collector: Option<String>,
    /// Several collectors sharing one database; not together with `collector`.
    pub collectors: Option<Vec<String>>,
    pub plaintext: Option<bool>,
    /// The enrollment bundle: agent.pem, agent.key, ca.pem.
    pub tls_dir: Option<PathBuf>,
    /// A join token: with no bundle in tls_dir yet, the agent joins with it first.
    pub join: Option<String>,
    /// The name the collector's certificate carries, when the URL uses another (an IP).
    pub server_name: Option<String>,
    pub agent_id: Option<String>,
    pub deployment: Option<String>,
    pub interval_s: Option<u64>,
    pub spool_dir: Option<PathBuf>,
    pub spool_max_mb: Option<u64>,
    /// As the ECE console shows them, reported to the collector for the audit.
    pub ece_version: Option<String>,
    pub ece_es: Option<String>,
}

/// Flags on top of the `[run]` section.
#[derive(Debug, Default)]
pub struct RunOverrides {
    /// One URL, or several separated by commas (`--collector URL,URL`).
    pub collector: Option<String>,
    pub plaintext: bool,
    pub tls_dir: Option<PathBuf>,
    pub join: Option<String>,
    pub agent_id: Option<String>,
    pub deployment: Option<String>,
    pub interval_s: Option<u64>,
    pub spool_dir: Option<PathBuf>,
    /// The configuration file `[run]` was read from (`--config`), if any.
    pub config_file: Option<PathBuf>,
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

/// The spool's home when none is configured: the machine-wide data directory.
fn default_spool_dir() -> PathBuf {
    if cfg!(windows) {
        let base = std::env::var_os("ProgramData").unwrap_or_else(|| r"C:\ProgramData".into());
        PathBuf::from(base).join("eceprobe").join("spool")
    } else {
        PathBuf::from("/var/lib/eceprobe/spool")
    }
}

/// Where a joined agent's bundle goes when tls_dir is not set: next to the spool.
fn default_tls_dir() -> PathBuf {
    default_spool_dir().with_file_name("tls")
}

/// Whether `dir` holds a whole bundle (a join then is done already).
pub fn bundle_complete(dir: &std::path::Path) -> bool {
    ["agent.pem", "agent.key", "ca.pem"]
        .iter()
        .all(|f| dir.join(f).is_file())
}

/// This machine's name, as agents are named by default.
pub fn host_name() -> Option<String> {
    if let Ok(name) = std::env::var("COMPUTERNAME") {
        return Some(name);
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The collector accepts 1-128 characters of letters, digits, '.', '-', '_'.
fn valid_agent_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// The host of an http(s) URL.
pub(crate) fn url_host(rest: &str) -> &str {
    let authority = rest.split('/').next().unwrap_or_default();
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    }
}

/// The agent's certificate, key and the collector's CA, read from the bundle directory.
#[derive(Clone, Debug)]
pub struct TlsBundle {
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
    /// The name to verify every collector's certificate against (`server_name`); None:
    /// each collector's own host name in its URL.
    pub server_name: Option<String>,
    /// The deployment of the token this agent joined with (`deployment.txt`), if it did.
    pub joined_deployment: Option<String>,
}

impl TlsBundle {
    /// The name the certificate of the collector at `url` must carry.
    pub fn server_name_for(&self, url: &str) -> String {
        match &self.server_name {
            Some(name) => name.clone(),
            None => url_host(url.strip_prefix("https://").unwrap_or(url)).to_owned(),
        }
    }
}

pub fn load_bundle(
    dir: &std::path::Path,
    server_name: Option<String>,
) -> Result<TlsBundle, ConfigError> {
    let read = |name: &str| {
        let path = dir.join(name);
        crate::user_file::read_text(&path).map_err(|e| {
            invalid(
                "run.tls_dir",
                format!(
                    "{e}; copy the bundle from `eceprobe-collector enroll` (agent.pem, agent.key, ca.pem) there"
                ),
            )
        })
    };
    Ok(TlsBundle {
        cert_pem: read("agent.pem")?,
        key_pem: read("agent.key")?,
        ca_pem: read("ca.pem")?,
        server_name,
        joined_deployment: std::fs::read_to_string(dir.join("deployment.txt"))
            .ok()
            .map(|d| d.trim().chars().take(128).collect::<String>())
            .filter(|d| !d.is_empty()),
    })
}

/// The most collectors an agent takes: a list longer than this is a mistake, not a fleet.
const MAX_COLLECTORS: usize = 16;

/// How one URL of the list is named in errors: by the key alone when it is the only one,
/// else with its position and text.
fn entry_key(key: &str, index: usize, count: usize) -> String {
    match count {
        1 => key.to_owned(),
        _ => format!("{key}[{index}]"),
    }
}

/// Checks one collector URL: https needs the enrollment bundle; plaintext is allowed only
/// to loopback and only when asked for. Ok(true) for https.
fn check_collector_url(url: &str, plaintext: bool, key: &str) -> Result<bool, ConfigError> {
    if url
        .strip_prefix("https://")
        .is_some_and(|rest| !url_host(rest).is_empty())
    {
        return Ok(true);
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(invalid(
            key,
            format!("'{url}' is not a collector URL; use e.g. https://collector.corp.example:7443"),
        ));
    };
    let host = url_host(rest);
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(invalid(
            key,
            format!("'{url}': plaintext is only allowed to a loopback address (127.0.0.1, ::1, localhost)"),
        ));
    }
    if !plaintext {
        return Err(invalid(
            key,
            format!(
                "'{url}' is plaintext: say so explicitly with plaintext = true (or --plaintext), or use https:// with an enrollment bundle"
            ),
        ));
    }
    Ok(false)
}

/// The collector URLs from the flag (comma-separated) or the file (`collector` or
/// `collectors`, not both), with the key to name in errors.
fn collector_list(
    flag: Option<String>,
    one: Option<String>,
    many: Option<Vec<String>>,
) -> Result<(Vec<String>, &'static str), ConfigError> {
    if let Some(flag) = flag {
        let urls = flag.split(',').map(|u| u.trim().to_owned()).collect();
        return Ok((urls, "--collector"));
    }
    match (one, many) {
        (Some(_), Some(_)) => Err(invalid(
            "run.collectors",
            "both collector and collectors are set in [run]: keep one, e.g. collectors = [\"https://a:7443\", \"https://b:7443\"] (collector = \"...\" is the same list of one)",
        )),
        (Some(url), None) => Ok((vec![url], "run.collector")),
        (None, Some(urls)) => Ok((urls, "run.collectors")),
        (None, None) => Err(invalid(
            "run.collector",
            "required: the collector's URL, e.g. collector = \"http://127.0.0.1:7443\" in [run] or --collector (several: collectors = [...] or --collector URL,URL)",
        )),
    }
}

/// The collectors, and how the agent proves itself to them: a bundle, a join to make
/// first, or neither (plaintext).
/// The collectors, the bundle, a join to make, a token whose join is made (bundle complete).
type Link = (
    Vec<String>,
    Option<TlsBundle>,
    Option<JoinPlan>,
    Option<JoinPlan>,
);

/// Checks every collector URL (each error names its entry); the bundle is loaded once and
/// serves them all (one CA for the deployment), as does the server-name override.
fn collector_urls(
    urls: Vec<String>,
    key: &str,
    plaintext: bool,
    tls_dir: Option<PathBuf>,
    server_name: Option<String>,
    join: Option<JoinToken>,
) -> Result<Link, ConfigError> {
    if urls.is_empty() || urls.iter().all(String::is_empty) {
        return Err(invalid(
            key,
            "the list is empty: name at least one collector, e.g. https://collector.corp.example:7443",
        ));
    }
    if urls.len() > MAX_COLLECTORS {
        return Err(invalid(
            key,
            format!("{} collectors listed: at most {MAX_COLLECTORS}", urls.len()),
        ));
    }
    let mut https = Vec::with_capacity(urls.len());
    for (i, url) in urls.iter().enumerate() {
        let key = entry_key(key, i, urls.len());
        if url.is_empty() {
            return Err(invalid(
                &key,
                "an empty entry: remove it, or name a collector",
            ));
        }
        if urls[..i].contains(url) {
            return Err(invalid(&key, format!("'{url}' is listed twice")));
        }
        https.push(check_collector_url(url, plaintext, &key)?);
    }
    if https.iter().any(|h| *h) != https.iter().all(|h| *h) {
        return Err(invalid(
            key,
            "mixes https:// and plaintext http:// collectors: every collector of a deployment serves agents the same way",
        ));
    }
    if !https[0] {
        if join.is_some() {
            return Err(invalid(
                "run.join",
                "joining needs an https:// collector (the agent checks the collector's CA against the token before sending it)",
            ));
        }
        return Ok((urls, None, None, None));
    }
    let dir = match (tls_dir, &join) {
        (Some(dir), _) => dir,
        (None, Some(_)) => default_tls_dir(),
        (None, None) => {
            return Err(invalid(
                "run.tls_dir",
                "required with an https:// collector: the directory holding this agent's enrollment bundle (agent.pem, agent.key, ca.pem), or join with a token (join = \"...\" or --join, from `eceprobe-collector token create`)",
            ))
        }
    };
    let plan = join.map(|token| JoinPlan {
        token,
        dir: dir.clone(),
        server_name: server_name.clone(),
        written_in: None,
        configured_deployment: None,
    });
    if let Some(plan) = plan.as_ref().filter(|_| !bundle_complete(&dir)) {
        return Ok((urls, None, Some(plan.clone()), None));
    }
    // Joined before (the bundle is there): the token is not used again, only forgotten.
    Ok((urls, Some(load_bundle(&dir, server_name)?), None, plan))
}

/// The configuration names a deployment other than the one this agent joined: the
/// collector would refuse every Hello (its certificate names the joined one).
pub fn deployment_differs(configured: &str, joined: &str) -> ConfigError {
    invalid(
        "run.deployment",
        format!(
            "'{configured}', but this agent joined deployment '{joined}' (its certificate was issued for it, and deployment.txt in tls_dir says so): remove deployment from [run] (and --deployment) so that the agent uses '{joined}', or set it to '{joined}'; to move the server to '{configured}', give it a new agent_id and join with a token made for it (eceprobe-collector token create --deployment {configured}) after deleting agent.key and agent.pem in tls_dir (an agent id stays in the deployment it joined)"
        ),
    )
}

fn role(r: Role) -> pb::Role {
    match r {
        Role::Services => pb::Role::Services,
        Role::Application => pb::Role::Application,
        Role::Both => pb::Role::Both,
    }
}

/// The run settings from the file's `[run]` section, the flags, and the probes' role.
pub fn resolve(
    file: RunConfig,
    cli: RunOverrides,
    server_role: Role,
) -> Result<RunSettings, ConfigError> {
    let plaintext = cli.plaintext || file.plaintext.unwrap_or(false);
    let (urls, key) = collector_list(cli.collector, file.collector, file.collectors)?;
    let token_in_file = cli.join.is_none() && file.join.is_some();
    let join = match cli.join.or(file.join) {
        // Its words never repeat the token, so they can be shown and logged.
        Some(text) => {
            Some(JoinToken::parse(&text).map_err(|e| invalid("run.join", e.to_string()))?)
        }
        None => None,
    };
    let (collectors, tls, mut join, leftover) = collector_urls(
        urls,
        key,
        plaintext,
        cli.tls_dir.or(file.tls_dir),
        file.server_name,
        join,
    )?;
    let agent_id = match cli.agent_id.or(file.agent_id) {
        Some(id) => id,
        None => host_name()
            .map(|h| h.to_lowercase())
            .ok_or_else(|| invalid("run.agent_id", "the host name cannot be read; set agent_id"))?,
    };
    if !valid_agent_id(&agent_id) {
        return Err(invalid(
            "run.agent_id",
            format!("'{agent_id}': use 1-128 letters, digits, '.', '-' or '_'"),
        ));
    }
    let interval_s = cli.interval_s.or(file.interval_s).unwrap_or(60);
    if !(5..=86_400).contains(&interval_s) {
        return Err(invalid(
            "run.interval_s",
            format!("{interval_s} is out of range: use 5 to 86400 seconds"),
        ));
    }
    let spool_max_mb = file.spool_max_mb.unwrap_or(64);
    if !(1..=4096).contains(&spool_max_mb) {
        return Err(invalid(
            "run.spool_max_mb",
            format!("{spool_max_mb} is out of range: use 1 to 4096 MiB"),
        ));
    }
    let configured = cli.deployment.or(file.deployment);
    let joined = tls.as_ref().and_then(|t| t.joined_deployment.clone());
    if let (Some(said), Some(joined)) = (&configured, &joined) {
        if said != joined {
            return Err(deployment_differs(said, joined));
        }
    }
    let written_in = cli.config_file.filter(|_| token_in_file);
    if let Some(plan) = &mut join {
        plan.written_in = written_in.clone();
        plan.configured_deployment = configured.clone();
    }
    // Only a token from the file is rewritten there (one from --join is not on disk).
    let leftover_join = leftover.zip(written_in).map(|(plan, config)| JoinPlan {
        written_in: Some(config),
        ..plan
    });
    let hello = Hello {
        agent_id,
        hostname: host_name().unwrap_or_default(),
        role: role(server_role) as i32,
        deployment: configured.or(joined).unwrap_or_default(),
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        os: std::env::consts::OS.to_owned(),
        ece_version: file.ece_version.unwrap_or_default(),
        ece_es: file.ece_es.unwrap_or_default(),
        probe_interval_s: u32::try_from(interval_s).unwrap_or(u32::MAX),
        // ECE's Java: filled by `java_config::for_run` once the trust store is found.
        java_runtime: String::new(),
        java_truststore: String::new(),
    };
    Ok(RunSettings {
        collectors,
        tls,
        hello,
        interval: Duration::from_secs(interval_s),
        spool_dir: cli
            .spool_dir
            .or(file.spool_dir)
            .unwrap_or_else(default_spool_dir),
        spool_max_bytes: spool_max_mb * 1024 * 1024,
        join,
        leftover_join,
    })
}

#[cfg(test)]
#[path = "run_config_tests.rs"]
mod tests;
