//! The agent's configuration: a TOML file, with command-line flags on top. Every error names
//! the key (or flag) and says how to fix it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use eceprobe_checks::catalog::validate_ece_url;
use eceprobe_checks::{
    CheckId, CheckSpec, Cloud, EceFacts, ProbeSettings, ProxyTarget, Role, Timeouts, TrustOptions,
};
use serde::Deserialize;

use crate::config_error::invalid;
pub use crate::config_error::ConfigError;
use crate::mailbox::Mailbox;

/// `agent.toml`. Unknown keys are errors: a misspelt key silently ignored is a probe that
/// does not test what the administrator thinks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub role: Option<Role>,
    pub cloud: Option<Cloud>,
    /// Tenant id or domain for the OpenID configuration URL; `common` by default.
    pub tenant: Option<String>,
    /// ECE's External Application URL (checklist C2); adds the `ece-url` check.
    pub ece_url: Option<String>,
    /// The Azure app registration's redirect URI as configured in Entra (checklist C3);
    /// with the other ECE facts, adds the `ece-config` check.
    pub redirect_uri: Option<String>,
    /// HTTP CONNECT proxy for the HTTPS checks, e.g. "http://proxy.corp:8080".
    pub proxy: Option<String>,
    /// Run only these checks (default: all).
    pub checks: Option<Vec<String>>,
    /// curl-style overrides "HOST:PORT:ADDR[,ADDR...]".
    #[serde(default)]
    pub resolve: Vec<String>,
    #[serde(default)]
    pub hosts: HostsConfig,
    #[serde(default)]
    pub trust: TrustConfig,
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[slow]`: per-stage budgets and the retransmissions that make `packet_loss`.
    #[serde(default)]
    pub slow: crate::slow_config::SlowConfig,
    /// `[trace]`: the path trace after a timeout, an ICMP refusal or a stall.
    #[serde(default)]
    pub trace: crate::trace_config::TraceConfig,
    /// `[ece]`: the Java runtime ECE runs on and its trust store.
    #[serde(default)]
    pub ece: crate::java_config::EceConfig,
    /// `eceprobe-agent run`: the collector, identity, schedule and spool.
    #[serde(default)]
    pub run: crate::run_config::RunConfig,
    /// `[[mailbox]]`: the OAuth checks of each mailbox ECE uses (see [`crate::mailbox`]).
    #[serde(default)]
    pub mailbox: Vec<crate::mailbox::MailboxConfig>,
}

/// Overrides of the cloud profile's host names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostsConfig {
    pub login: Option<String>,
    pub outlook: Option<String>,
    pub smtp: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// Trust the operating system's store (default true).
    pub os_store: Option<bool>,
    /// Extra trusted root PEM files.
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
    /// Count Microsoft's published roots as expected (default true).
    pub microsoft_roots: Option<bool>,
    /// Extra expected root PEM files (roots that are not an interception).
    #[serde(default)]
    pub expected_roots: Vec<PathBuf>,
}

/// Per-stage timeouts, in milliseconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    pub dns_ms: Option<u64>,
    pub tcp_ms: Option<u64>,
    pub tls_ms: Option<u64>,
    pub protocol_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Resolved addresses probed per check (1-32, default 8).
    pub max_addresses: Option<usize>,
    /// Warn when a certificate expires within this many days (default 30).
    pub cert_warning_days: Option<u32>,
}

/// What the command line adds on top of the file.
#[derive(Debug, Default)]
pub struct Overrides {
    pub role: Option<Role>,
    pub cloud: Option<Cloud>,
    pub tenant: Option<String>,
    pub ece_url: Option<String>,
    /// The ECE version and ES (`[run] ece_version / ece_es` or their flags).
    pub ece_version: Option<String>,
    pub ece_es: Option<String>,
    pub proxy: Option<String>,
    pub checks: Vec<CheckId>,
    pub ca_files: Vec<PathBuf>,
    pub expected_roots: Vec<PathBuf>,
    pub resolve: Vec<String>,
    /// `--no-trace`: no path trace, whatever `[trace] enabled` says.
    pub no_trace: bool,
    /// `--java-home`, `--java-truststore` (`[ece] java_home`, `java_truststore`).
    pub java_home: Option<PathBuf>,
    pub java_truststore: Option<PathBuf>,
    /// `--no-java` (`[ece] ignore_java`).
    pub no_java: bool,
}

/// Everything needed to run the checks.
pub struct Resolved {
    pub role: Role,
    pub cloud: Cloud,
    pub specs: Vec<CheckSpec>,
    pub settings: ProbeSettings,
    pub trust: TrustOptions,
    /// The `[[mailbox]]` OAuth checks (secrets are read from their files at each run).
    pub mailboxes: Vec<Mailbox>,
    /// The declared ECE facts for the `ece-config` check; None when none is declared (or a
    /// check filter leaves it out).
    pub ece_facts: Option<EceFacts>,
    /// `[ece]`: ECE's Java runtime and trust store, found and read by `check`.
    pub java: crate::java_config::JavaConfig,
}

/// toml's message and where, never the offending line itself: agent.toml may hold a join
/// token (`join = ...`), which must not reach the console, a log or the event log.
fn parse_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
            match crate::config_error::key_at_line(text, line) {
                Some(key) => format!("line {line}, column {column} ({key}): {message}"),
                None => format!("line {line}, column {column}: {message}"),
            }
        }
        None => message.to_owned(),
    }
}

pub fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = crate::user_file::read_text(path)?;
    let mut file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: parse_message(&text, &e),
    })?;
    if let Some(base) = path.parent() {
        anchor_paths(&mut file, base);
    }
    Ok(file)
}

/// Makes every relative path of the file relative to `base`, the file's directory: the
/// trusted and expected root PEMs, `[run]`'s `tls_dir` and `spool_dir`, and the mailboxes'
/// secret files. The same agent.toml then works wherever the agent starts: a service's
/// working directory is the service manager's (C:\Windows\System32, or systemd's `/`),
/// not the administrator's. Paths given as flags stay relative to the working directory,
/// as every command line's do.
fn anchor_paths(file: &mut FileConfig, base: &Path) {
    let anchor = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    file.trust.ca_files.iter_mut().for_each(anchor);
    file.trust.expected_roots.iter_mut().for_each(anchor);
    file.run.tls_dir.iter_mut().for_each(anchor);
    file.run.spool_dir.iter_mut().for_each(anchor);
    file.mailbox.iter_mut().for_each(|m| m.anchor_paths(base));
    file.ece.anchor_paths(base);
}

fn read_pem(key: &str, path: &Path) -> Result<(String, String), ConfigError> {
    let text = crate::user_file::read_text(path).map_err(|e| invalid(key, e.to_string()))?;
    Ok((format!("{key} {}", path.display()), text))
}

fn millis(key: &str, value: Option<u64>, default: Duration) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(0) => Err(invalid(key, "must be at least 1 (milliseconds)")),
        Some(ms) if ms > 600_000 => Err(invalid(key, "must be at most 600000 (10 minutes)")),
        Some(ms) => Ok(Duration::from_millis(ms)),
    }
}

/// Merges the file and the flags, validates everything, reads the PEM files.
pub fn resolve(file: FileConfig, cli: Overrides) -> Result<Resolved, ConfigError> {
    let role = cli.role.or(file.role).unwrap_or_default();
    let cloud = cli.cloud.or(file.cloud).unwrap_or_default();
    let tenant = cli
        .tenant
        .or(file.tenant)
        .unwrap_or_else(|| "common".into());
    if !crate::mailbox::valid_tenant(&tenant) {
        return Err(invalid(
            "tenant",
            format!("'{tenant}' is not a tenant id or domain (e.g. contoso.onmicrosoft.com, a GUID, or common)"),
        ));
    }
    let ece_url = cli.ece_url.or(file.ece_url);
    if let Some(url) = &ece_url {
        validate_ece_url(url).map_err(|m| invalid("ece_url", m))?;
    }
    let mut hosts = cloud.hosts();
    for (key, value, slot) in [
        ("hosts.login", file.hosts.login, &mut hosts.login),
        ("hosts.outlook", file.hosts.outlook, &mut hosts.outlook),
        ("hosts.smtp", file.hosts.smtp, &mut hosts.smtp),
    ] {
        if let Some(v) = value {
            if v.is_empty() || v.contains(['/', ':', ' ']) {
                return Err(invalid(key, format!("'{v}' is not a host name")));
            }
            *slot = v;
        }
    }
    let mut specs = eceprobe_checks::catalog(&hosts, &tenant, ece_url.as_deref());
    let facts = EceFacts {
        version: cli.ece_version,
        es: cli.ece_es,
        ece_url: ece_url.clone(),
        redirect_uri: file.redirect_uri,
    };
    let mut ece_facts = facts.declared().then_some(facts);
    let mut only = cli.checks;
    if only.is_empty() {
        for name in file.checks.unwrap_or_default() {
            only.push(name.parse().map_err(|m: String| invalid("checks", m))?);
        }
    }
    // The mailbox checks run unless a filter names checks and none of them is an OAuth one.
    let oauth_wanted = only.is_empty() || only.iter().any(|c| CheckId::OAUTH.contains(c));
    let mut mailboxes = crate::mailbox::resolve(file.mailbox, &tenant, &hosts)?;
    if !oauth_wanted {
        mailboxes.clear();
    }
    if !only.is_empty() {
        if !only.contains(&CheckId::EceConfig) {
            ece_facts = None;
        } else if ece_facts.is_none() {
            return Err(invalid(
                "checks",
                "ece-config needs a declared ECE fact: ece_url, redirect_uri, or [run] ece_version / ece_es",
            ));
        }
        if only.contains(&CheckId::EceUrl) && ece_url.is_none() {
            return Err(invalid(
                "checks",
                "ece-url needs the External Application URL: set ece_url or --ece-url",
            ));
        }
        specs.retain(|s| only.contains(&s.id));
    }

    let mut settings = ProbeSettings {
        role,
        ..ProbeSettings::default()
    };
    let d = Timeouts::default();
    let t = &file.timeouts;
    settings.timeouts = Timeouts {
        dns: millis("timeouts.dns_ms", t.dns_ms, d.dns)?,
        tcp: millis("timeouts.tcp_ms", t.tcp_ms, d.tcp)?,
        tls: millis("timeouts.tls_ms", t.tls_ms, d.tls)?,
        protocol: millis("timeouts.protocol_ms", t.protocol_ms, d.protocol)?,
    };
    if let Some(n) = file.limits.max_addresses {
        if !(1..=32).contains(&n) {
            return Err(invalid("limits.max_addresses", "must be between 1 and 32"));
        }
        settings.max_addresses = n;
    }
    if let Some(days) = file.limits.cert_warning_days {
        settings.cert_warning_days = days;
    }
    settings.budgets = crate::slow_config::budgets(&file.slow)?;
    settings.trace = crate::trace_config::resolve(&file.trace, cli.no_trace)?;
    for spec in file.resolve.iter() {
        settings
            .overrides
            .add_spec(spec)
            .map_err(|m| invalid("resolve", m))?;
    }
    for spec in cli.resolve.iter() {
        settings
            .overrides
            .add_spec(spec)
            .map_err(|m| invalid("--resolve", m))?;
    }
    if let Some(p) = cli.proxy.or(file.proxy) {
        let proxy: ProxyTarget = p.parse().map_err(|m: String| invalid("proxy", m))?;
        settings.proxy = Some(proxy);
    }

    let mut trust = TrustOptions {
        os_store: file.trust.os_store.unwrap_or(true),
        microsoft_roots: file.trust.microsoft_roots.unwrap_or(true),
        ..TrustOptions::default()
    };
    for p in &file.trust.ca_files {
        trust.extra_cas.push(read_pem("trust.ca_files", p)?);
    }
    for p in &cli.ca_files {
        trust.extra_cas.push(read_pem("--ca-file", p)?);
    }
    for p in &file.trust.expected_roots {
        trust
            .extra_expected_roots
            .push(read_pem("trust.expected_roots", p)?);
    }
    for p in &cli.expected_roots {
        trust
            .extra_expected_roots
            .push(read_pem("--expected-roots", p)?);
    }
    let mut java =
        crate::java_config::resolve(file.ece, cli.java_home, cli.java_truststore, cli.no_java)?;
    java.run_check = only.is_empty() || only.contains(&CheckId::EceJava);
    Ok(Resolved {
        role,
        cloud,
        specs,
        settings,
        trust,
        mailboxes,
        ece_facts,
        java,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_in_the_file_are_relative_to_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        let absolute = if cfg!(windows) {
            r"C:\ca.pem"
        } else {
            "/etc/ca.pem"
        };
        let text = format!(
            "[trust]\nca_files = ['corp.pem', '{absolute}']\nexpected_roots = ['roots/lab.pem']\n\
             [run]\ntls_dir = 'tls'\nspool_dir = 'spool'\n\
             [[mailbox]]\naddress = 'a@contoso.com'\nclient_id = 'app'\nrefresh_token_file = 'a.refresh'\n"
        );
        std::fs::write(&path, text).unwrap();
        let file = load_file(&path).unwrap();
        let d = dir.path();
        assert_eq!(
            file.trust.ca_files,
            [d.join("corp.pem"), PathBuf::from(absolute)]
        );
        assert_eq!(file.trust.expected_roots, [d.join("roots/lab.pem")]);
        assert_eq!(file.run.tls_dir, Some(d.join("tls")));
        assert_eq!(file.run.spool_dir, Some(d.join("spool")));
        assert_eq!(
            file.mailbox[0].refresh_token_file,
            Some(d.join("a.refresh"))
        );
    }

    #[test]
    fn a_misplaced_or_unquoted_join_token_is_never_quoted_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        let secret = "0123456789abcdef0123456789abcdef01234567";
        for text in [
            format!("join = \"ej1.3f9a2c10b7d4.{secret}.sha256:00\"\n[run]\n"),
            format!("[run]\njoin = ej1.3f9a2c10b7d4.{secret}\n"),
        ] {
            std::fs::write(&path, &text).unwrap();
            let Err(e) = load_file(&path) else {
                panic!("accepted: {text}")
            };
            let e = e.to_string();
            assert!(!e.contains(secret), "the token's secret is shown: {e}");
            assert!(e.contains("agent.toml") && e.contains("line "), "{e}");
        }
    }

    #[test]
    fn a_config_file_over_a_mebibyte_is_refused_naming_it_and_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        // Valid TOML all along (a comment), so only the size can refuse it.
        let mut text = String::from("role = \"services\"\n#");
        text.push_str(&"x".repeat(usize::try_from(crate::user_file::MAX_BYTES).unwrap()));
        std::fs::write(&path, &text).unwrap();
        let err = load_file(&path).err().unwrap().to_string();
        assert!(
            err.starts_with(&format!("{} holds more than 1024 KiB", path.display())),
            "{err}"
        );
        text.truncate(usize::try_from(crate::user_file::MAX_BYTES).unwrap());
        std::fs::write(&path, &text).unwrap();
        assert_eq!(load_file(&path).unwrap().role, Some(Role::Services));
        // A PEM file it names is bounded the same way, the error naming the key.
        let pem = dir.path().join("huge.pem");
        std::fs::write(&pem, [text.as_bytes(), b"more"].concat()).unwrap();
        std::fs::write(&path, "[trust]\nca_files = ['huge.pem']\n").unwrap();
        let file = load_file(&path).unwrap();
        let err = resolve(file, Overrides::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "trust.ca_files: {} holds more than",
                pem.display()
            )),
            "{err}"
        );
    }

    fn parse(text: &str) -> Result<Resolved, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "agent.toml".into(),
            message: e.to_string(),
        })?;
        resolve(file, Overrides::default())
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("rol = \"services\"", "rol"),
            ("role = \"database\"", "database"),
            ("[timeouts]\ntcp_ms = 0", "timeouts.tcp_ms"),
            ("resolve = [\"outlook.office365.com:993\"]", "resolve"),
            ("ece_url = \"ece.example.com\"", "ece_url"),
            ("proxy = \"http://u:p@proxy:8080\"", "proxy"),
            ("checks = [\"imap\", \"ftp\"]", "ftp"),
            ("tenant = \"../x\"", "tenant"),
            ("[limits]\nmax_addresses = 99", "limits.max_addresses"),
            ("[slow]\ntls_ms = 0", "slow.tls_ms"),
        ];
        for (text, key) in cases {
            let err = parse(text).err().unwrap().to_string();
            assert!(err.contains(key), "{text:?} gave {err:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_refresh_token_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let rt = dir.path().join("support.refresh");
        std::fs::write(&rt, "0.AX-refresh-token-value\n").unwrap();
        std::fs::set_permissions(&rt, std::fs::Permissions::from_mode(0o644)).unwrap();
        let text = format!(
            "tenant = \"contoso.com\"\n[[mailbox]]\naddress = \"support@contoso.com\"\nclient_id = \"app\"\nrefresh_token_file = \"{}\"",
            rt.display()
        );
        let err = parse(&text).err().unwrap().to_string();
        assert!(
            err.starts_with("mailbox[support@contoso.com].refresh_token_file: "),
            "{err}"
        );
        assert!(
            err.contains(&format!("chmod 600 {}", rt.display())),
            "{err}"
        );
        assert!(!err.contains("0.AX-refresh-token-value"), "{err}");
        std::fs::set_permissions(&rt, std::fs::Permissions::from_mode(0o600)).unwrap();
        let ok = parse(&text).unwrap();
        assert_eq!(ok.mailboxes.len(), 1);
        assert_eq!(
            ok.mailboxes[0].tenant, "contoso.com",
            "the top-level tenant"
        );
        // A filter that names no OAuth check leaves the mailboxes out.
        let file: FileConfig = toml::from_str(&text).unwrap();
        let only_imap = Overrides {
            checks: vec![CheckId::Imap],
            ..Overrides::default()
        };
        assert!(resolve(file, only_imap).unwrap().mailboxes.is_empty());
    }

    #[test]
    fn file_and_defaults() {
        let r = parse("role = \"application\"\ncloud = \"gcc-high\"\nchecks = [\"smtp\"]\n[hosts]\nsmtp = \"smtp.example.us\"").unwrap();
        assert_eq!(r.role, Role::Application);
        assert_eq!(r.specs.len(), 1);
        assert_eq!(r.specs[0].target(), "smtp.example.us:587");
        let all = parse("").unwrap();
        assert_eq!(all.specs.len(), 5, "ece-url only runs when configured");
        assert!(
            all.ece_facts.is_none(),
            "ece-config only runs when a fact is declared"
        );
    }

    #[test]
    fn redirect_uri_declares_an_ece_fact() {
        let r = parse(
            "ece_url = \"https://ece.example.com/\"\nredirect_uri = \"https://ece.example.com/cb\"",
        )
        .unwrap();
        let facts = r.ece_facts.unwrap();
        assert_eq!(
            facts.redirect_uri.as_deref(),
            Some("https://ece.example.com/cb")
        );
        assert_eq!(facts.ece_url.as_deref(), Some("https://ece.example.com/"));
        let only_imap =
            parse("redirect_uri = \"https://x.example.com/\"\nchecks = [\"imap\"]").unwrap();
        assert!(only_imap.ece_facts.is_none());
        assert!(parse("checks = [\"ece-config\"]").is_err());
        assert!(
            parse("redirect_url = \"https://x/\"").is_err(),
            "unknown keys stay errors"
        );
    }
}
