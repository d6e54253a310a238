//! `eceprobe-agent service ...`: the agent as a Windows service. The service body is the
//! same `run_agent` the `run` command uses, with `--config %ProgramData%\eceprobe\agent.toml`
//! and a stop signal from the service control manager. On Linux the agent runs under
//! systemd instead (`deploy/linux/`), so there this command only says where to look.

// Compiled everywhere (and unit-tested on Linux), used by the Windows service only.
#![cfg_attr(not(windows), allow(dead_code))]

pub mod logfile;
#[cfg(windows)]
mod windows;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::RunArgs;

/// The service's name in the service control manager (`sc query eceprobe-agent`).
pub const SERVICE_NAME: &str = "eceprobe-agent";
/// What services.msc shows.
pub const DISPLAY_NAME: &str = "eceprobe agent (ECE Microsoft 365 connectivity)";
pub const DESCRIPTION: &str = "Probes the Microsoft 365 endpoints Cisco ECE's OAuth2 mail needs \
     (sign-in, IMAP, POP3, SMTP, Outlook) from this server and reports to the eceprobe collector. \
     Configuration: %ProgramData%\\eceprobe\\agent.toml; logs: %ProgramData%\\eceprobe\\logs.";

/// The service log: `agent.log`, rotated at 10 MiB, 5 files in all.
pub const LOG_FILE: &str = "agent.log";
pub const LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;
pub const LOG_KEEP: usize = 5;

#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceCommand {
    /// Register the Windows service (automatic start, restart on failure). Needs an administrator.
    Install,
    /// Stop and remove the Windows service. Needs an administrator.
    Uninstall,
    /// Start the service and wait until it runs.
    Start,
    /// Stop the service and wait until it stopped.
    Stop,
    /// Show the service's state and where its configuration and logs are.
    Status,
    /// The service body, started by the service control manager (not by hand).
    #[command(hide = true)]
    Run,
}

impl ServiceCommand {
    /// `service run` on Windows logs to a file, not to stderr (a service has no console):
    /// main skips its stderr logger for it.
    pub fn logs_to_file(self) -> bool {
        cfg!(windows) && self == ServiceCommand::Run
    }
}

/// `%ProgramData%\eceprobe`: configuration, logs and the spool (as `run_config`'s default
/// spool directory).
pub fn data_dir() -> PathBuf {
    let base = std::env::var_os("ProgramData").unwrap_or_else(|| r"C:\ProgramData".into());
    PathBuf::from(base).join("eceprobe")
}

pub fn config_path() -> PathBuf {
    data_dir().join("agent.toml")
}

pub fn log_dir() -> PathBuf {
    data_dir().join("logs")
}

/// The service's logging: `writer` (the service's rotating file) at ECEPROBE_LOG's level,
/// else `default_level`, and the Application event log beside it (Windows; see
/// `eceprobe_agent::eventlog` for what goes there). `log_file`, where `writer` writes, is
/// named at the end of every event. The one call for any command that should report to
/// the event log as the service does (e.g. one an installer runs, writing to stderr).
pub fn init_logging<W>(writer: W, default_level: &str, log_file: Option<&std::path::Path>)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let filter = std::env::var("ECEPROBE_LOG").unwrap_or_else(|_| default_level.to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let footer =
        log_file.map(|path| format!("The service log has every detail: {}", path.display()));
    // The filter is the file's only: the event log takes its own events (INFO and above)
    // whatever ECEPROBE_LOG says.
    let file = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_filter(filter);
    let _ = tracing_subscriber::registry()
        .with(file)
        .with(eceprobe_agent::eventlog::layer(footer))
        .try_init();
}

/// The service's arguments, as if `run --config <config>` had been typed: one code path with
/// the `run` command, clap included.
#[derive(Parser)]
#[command(name = "eceprobe-agent service run")]
struct ServiceRunCli {
    #[command(flatten)]
    run: RunArgs,
}

fn service_run_args(config: PathBuf) -> anyhow::Result<RunArgs> {
    let argv = [
        std::ffi::OsString::from("eceprobe-agent service run"),
        "--config".into(),
        config.into_os_string(),
    ];
    Ok(ServiceRunCli::try_parse_from(argv)?.run)
}

/// Runs a `service` subcommand; the result is the process's exit code.
pub fn dispatch(cmd: ServiceCommand) -> anyhow::Result<u8> {
    #[cfg(windows)]
    {
        windows::dispatch(cmd)
    }
    #[cfg(not(windows))]
    {
        let _ = cmd;
        anyhow::bail!(
            "the `service` command is Windows-only (it manages the Windows service).\n\
             On Linux, run the agent under systemd: see deploy/linux/README.md and \
             deploy/linux/eceprobe-agent.service (ExecStart runs `eceprobe-agent run --config /etc/eceprobe/agent.toml`)."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_runs_what_run_with_the_config_runs() {
        let args = service_run_args(PathBuf::from(r"C:\ProgramData\eceprobe\agent.toml")).unwrap();
        assert_eq!(
            args.probe.config,
            Some(PathBuf::from(r"C:\ProgramData\eceprobe\agent.toml"))
        );
        assert!(args.collector.is_none() && !args.plaintext && args.spool_dir.is_none());
        assert!(args.probe.role.is_none() && args.probe.resolve.is_empty());
    }

    #[test]
    fn paths_live_under_programdata() {
        assert!(config_path().ends_with("eceprobe/agent.toml"));
        assert!(log_dir().ends_with("eceprobe/logs"));
    }

    /// The shipped examples parse, and with the collector on loopback they resolve: every
    /// key in them is one the agent knows, with a valid value.
    #[test]
    fn the_deploy_examples_are_valid_configurations() {
        let examples = [
            include_str!("../../../../deploy/windows/agent.toml.example"),
            include_str!("../../../../deploy/linux/agent.toml.example"),
        ];
        for text in examples {
            let file: crate::config::FileConfig = toml::from_str(text).unwrap();
            assert!(file.run.tls_dir.is_some(), "the example shows TLS");
            let local = text
                .replace(
                    "collector = \"https://collector.corp.example:7443\"",
                    "collector = \"http://127.0.0.1:7443\"\nplaintext = true",
                )
                .lines()
                .filter(|l| !l.starts_with("tls_dir"))
                .collect::<Vec<_>>()
                .join("\n");
            let mut file: crate::config::FileConfig = toml::from_str(&local).unwrap();
            let run = std::mem::take(&mut file.run);
            let probe = crate::config::resolve(file, crate::config::Overrides::default()).unwrap();
            let settings = crate::run_config::resolve(
                run,
                crate::run_config::RunOverrides::default(),
                probe.role,
            )
            .unwrap();
            assert_eq!(settings.hello.deployment, "prod");
        }
    }

    /// The MSI registers the service itself (ServiceInstall): with the same name, display
    /// name, description and command as `service install`.
    #[test]
    fn the_msi_registers_the_service_as_service_install_does() {
        let wxs = include_str!("../../../../deploy/windows/eceprobe-agent.wxs");
        for (what, value) in [
            ("Name", SERVICE_NAME),
            ("DisplayName", DISPLAY_NAME),
            ("Description", DESCRIPTION),
            ("Arguments", "service run"),
        ] {
            assert!(
                wxs.contains(&format!(" {what}=\"{value}\"")),
                "the .wxs has no {what}=\"{value}\""
            );
        }
    }

    #[cfg(not(windows))]
    #[test]
    fn elsewhere_the_command_points_at_systemd() {
        let err = dispatch(ServiceCommand::Status).unwrap_err().to_string();
        assert!(
            err.contains("Windows-only") && err.contains("deploy/linux"),
            "{err}"
        );
        assert!(!ServiceCommand::Run.logs_to_file());
    }
}
