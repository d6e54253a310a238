//! `eceprobe-agent setup`: what the MSI (`deploy/windows/eceprobe-agent.wxs`) runs as
//! LocalSystem inside its transaction. `configure` checks the install's properties
//! (COLLECTOR, ROLE, DEPLOYMENT, JOIN_TOKEN) with the agent's own parsers, makes the data
//! directory (logs, spool, tls, secrets) readable by SYSTEM and Administrators only, and
//! writes `agent.toml` from the properties when there is none: an existing one (an upgrade,
//! or one an administrator put there first) is never touched. `remove-data` deletes the data
//! directory (REMOVEDATA=1 at uninstall). A refusal is an `Err` whose words name the
//! property, the value (never the join token's, nor a value that looks like one: `shown`)
//! and the fix: the MSI then rolls back. The data directory is checked for links and
//! restricted by `acl` (setup_acl.rs).
//!
//! The join token is written into agent.toml (the service reads it at its first start);
//! it is never printed, and the errors about it never repeat it.

use std::io::Write;
use std::path::{Path, PathBuf};

use eceprobe_checks::Role;
use eceprobe_proto::join_token::JoinToken;

use crate::config::{self, ConfigError, FileConfig};
use crate::run_config;

/// The sub-directories the agent writes to; `tls` will hold its private key.
pub const SUBDIRS: [&str; 4] = ["logs", "spool", "tls", "secrets"];

/// The values an install was given; empty means not given (msiexec passes "" for an unset
/// property).
#[derive(Default)]
pub struct Answers {
    pub collector: Option<String>,
    pub role: Option<String>,
    pub deployment: Option<String>,
    pub join: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A property with a value the agent cannot use.
    #[error("{property}: {message}")]
    Invalid {
        property: &'static str,
        message: String,
    },
    /// A first install without what the service needs to start.
    #[error("{0}")]
    Missing(String),
    /// The agent.toml made from the values does not load (the agent's own check, last).
    #[error(
        "the agent.toml made from these values does not load ({0}); correct the property it names"
    )]
    Config(ConfigError),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("restricting {path} to SYSTEM and Administrators failed: {detail}. Run the install as an administrator; if it persists, delete {path} (after saving agent.toml if you need it) and install again")]
    Acl { path: PathBuf, detail: String },
    /// The data directory or something in it is a link (a junction on Windows): made by
    /// someone before the install, it would point the agent's key and configuration
    /// somewhere else.
    #[error("{link} is a link (a symbolic link or junction), not a folder or file of its own: refusing to restrict or write {data_dir} through it (someone may have made it to redirect the agent's key). Delete {data_dir} (rmdir on a junction removes the link only) and install again")]
    Link { link: PathBuf, data_dir: PathBuf },
    #[error("{0} does not end in \\eceprobe: refusing to delete it (REMOVEDATA deletes the agent's own data directory only)")]
    NotOurs(PathBuf),
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SetupError + 'a {
    move |source| SetupError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The answers, each checked on its own, in the words of the property that carried it.
pub struct Checked {
    pub collector: Option<String>,
    pub role: Option<Role>,
    pub deployment: Option<String>,
    pub join: Option<JoinToken>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub fn check(answers: &Answers) -> Result<Checked, SetupError> {
    let collector = match given(&answers.collector) {
        Some(url) => {
            let host = url
                .strip_prefix("https://")
                .map(run_config::url_host)
                .unwrap_or_default();
            if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(SetupError::Invalid {
                    property: "COLLECTOR",
                    message: format!(
                        "{} is not an https:// URL of the collector; use e.g. COLLECTOR=https://collector.corp.example:7443",
                        shown(url)
                    ),
                });
            }
            if has_userinfo(url) {
                // Not repeated: what is before the @ may be a password.
                return Err(SetupError::Invalid {
                    property: "COLLECTOR",
                    message: "holds a user name or password (user:pass@ before the host); the collector takes none: give only https://host:port, e.g. COLLECTOR=https://collector.corp.example:7443".to_owned(),
                });
            }
            Some(url.to_owned())
        }
        None => None,
    };
    let role = match given(&answers.role) {
        Some(text) => Some(text.parse::<Role>().map_err(|_| SetupError::Invalid {
            property: "ROLE",
            message: format!(
                "unknown role {} (use services, application or both): what this server does in ECE",
                shown(text)
            ),
        })?),
        None => None,
    };
    let deployment = match given(&answers.deployment) {
        Some(name) if valid_name(name) => Some(name.to_owned()),
        Some(name) => {
            return Err(SetupError::Invalid {
                property: "DEPLOYMENT",
                message: format!(
                    "{} is not a deployment name: use 1-64 letters, digits, '.', '-' or '_', e.g. DEPLOYMENT=prod",
                    shown(name)
                ),
            })
        }
        None => None,
    };
    let join = match given(&answers.join) {
        // The parser's words never repeat the token.
        Some(text) => Some(JoinToken::parse(text).map_err(|e| SetupError::Invalid {
            property: "JOIN_TOKEN",
            message: e.to_string(),
        })?),
        None => None,
    };
    Ok(Checked {
        collector,
        role,
        deployment,
        join,
    })
}

/// A refused value as the messages repeat it, quoted; one that looks like a join token
/// (`ej1.`, or 32 hex digits in a row: a secret or its hash) is not repeated, since an
/// operator who swapped properties (DEPLOYMENT=ej1...) would otherwise put the token in the
/// install log, setup.log and the event log.
pub fn shown(value: &str) -> String {
    if looks_secret(value) {
        "the value (not repeated: it looks like a join token; did you swap two properties?)"
            .to_owned()
    } else {
        format!("'{value}'")
    }
}

fn looks_secret(value: &str) -> bool {
    let mut run = 0;
    for c in value.chars() {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        if run >= 32 {
            return true;
        }
    }
    value.trim().to_ascii_lowercase().starts_with("ej1.")
}

/// Whether the URL's authority (after https://, before the path) holds `user@` or
/// `user:pass@`.
fn has_userinfo(url: &str) -> bool {
    let rest = url.strip_prefix("https://").unwrap_or(url);
    rest.split(['/', '?', '#'])
        .next()
        .is_some_and(|authority| authority.contains('@'))
}

fn valid_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// A TOML string holding `s` exactly: a literal string ('C:\ProgramData\...', as the
/// examples write Windows paths) when it can be one, else an escaped basic string. Also
/// what the demo writes its agents' configurations with.
pub fn toml_str(s: &str) -> String {
    if !s.contains('\'') && !s.chars().any(char::is_control) {
        return format!("'{s}'");
    }
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// agent.toml for a first install: the given values, and the data directory's paths.
pub fn render(
    collector: &str,
    role: Role,
    deployment: Option<&str>,
    join: Option<&JoinToken>,
    data_dir: &Path,
) -> String {
    let role = match role {
        Role::Services => "services",
        Role::Application => "application",
        Role::Both => "both",
    };
    let path = |sub: &str| toml_str(&data_dir.join(sub).to_string_lossy());
    let mut text = format!(
        "# eceprobe agent configuration, written by the installer (eceprobe-agent setup configure).\n\
         # Upgrades keep this file. Every key is described in agent.toml.example (deploy\\windows);\n\
         # unknown keys are errors. After a change: eceprobe-agent service stop, then service start.\n\
         \n\
         # What this server does in ECE: services | application | both.\n\
         role = \"{role}\"\n\
         \n\
         [run]\n\
         collector = {collector}\n",
        collector = toml_str(collector),
    );
    if let Some(token) = join {
        text.push_str(
            "# The join token: at its first start the agent makes its key in tls_dir and gets its\n\
             # certificate with it, then runs on that bundle. It is a secret until used up or expired.\n",
        );
        text.push_str(&format!("join = {}\n", toml_str(&token.to_text())));
    }
    if let Some(name) = deployment {
        text.push_str(&format!("deployment = {}\n", toml_str(name)));
    }
    text.push_str(&format!(
        "tls_dir = {}\nspool_dir = {}\n",
        path("tls"),
        path("spool")
    ));
    text
}

/// Loads `text` as the service will: the probes' settings, then `[run]`'s.
fn loads(text: &str) -> Result<(), ConfigError> {
    let mut file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: PathBuf::from("agent.toml"),
        message: e.message().to_owned(),
    })?;
    let run = std::mem::take(&mut file.run);
    let probes = config::resolve(file, config::Overrides::default())?;
    run_config::resolve(run, run_config::RunOverrides::default(), probes.role)?;
    Ok(())
}

/// What `configure` did with agent.toml.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Written(PathBuf),
    /// It was there: kept as it is; the values given were not applied.
    Kept(PathBuf),
}

pub fn configure(answers: &Answers, data_dir: &Path) -> Result<Outcome, SetupError> {
    let checked = check(answers)?;
    acl::refuse_links(data_dir)?;
    let config_path = data_dir.join("agent.toml");
    if config_path.exists() {
        make_dirs(data_dir)?;
        return Ok(Outcome::Kept(config_path));
    }
    let (Some(collector), Some(role)) = (&checked.collector, checked.role) else {
        return Err(SetupError::Missing(format!(
            "{} does not exist yet, so this install writes it: give COLLECTOR and ROLE \
             (e.g. COLLECTOR=https://collector.corp.example:7443 ROLE=services DEPLOYMENT=prod \
             JOIN_TOKEN=<from eceprobe-collector token create>), or put an agent.toml there first",
            config_path.display()
        )));
    };
    let tls = data_dir.join("tls");
    if checked.join.is_none() && !run_config::bundle_complete(&tls) {
        return Err(SetupError::Missing(format!(
            "no JOIN_TOKEN and no enrollment bundle in {}: give JOIN_TOKEN=<from eceprobe-collector \
             token create>, or copy agent.pem, agent.key and ca.pem (eceprobe-collector enroll) there first",
            tls.display()
        )));
    }
    let text = render(
        collector,
        role,
        checked.deployment.as_deref(),
        checked.join.as_ref(),
        data_dir,
    );
    loads(&text).map_err(SetupError::Config)?;
    make_dirs(data_dir)?;
    write_new(&config_path, &text)?;
    Ok(Outcome::Written(config_path))
}

/// The data directory and its sub-directories, restricted (existing contents included).
fn make_dirs(data_dir: &Path) -> Result<(), SetupError> {
    for sub in SUBDIRS {
        let dir = data_dir.join(sub);
        std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
    }
    // Again after creating: a link made meanwhile is refused rather than restricted.
    acl::refuse_links(data_dir)?;
    acl::restrict(data_dir)
}

/// Creates `path` with `text`; never replaces a file (another writer got there first: kept).
fn write_new(path: &Path, text: &str) -> Result<(), SetupError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io("creating", path))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io("writing", path))
}

/// Deletes the data directory (configuration, keys, secrets, logs, spool). Ok(false): there
/// was none.
pub fn remove_data(data_dir: &Path) -> Result<bool, SetupError> {
    if data_dir.file_name().and_then(|n| n.to_str()) != Some("eceprobe") {
        return Err(SetupError::NotOurs(data_dir.to_path_buf()));
    }
    match std::fs::remove_dir_all(data_dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io("deleting", data_dir)(e)),
    }
}

#[path = "setup_acl.rs"]
pub mod acl;

#[cfg(test)]
#[path = "setup_tests.rs"]
mod tests;
