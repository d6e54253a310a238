//! `eceprobe-agent setup ...`: the MSI's steps (deploy/windows/eceprobe-agent.wxs runs them
//! as LocalSystem); the work is `eceprobe_agent::setup`. The installer does not keep a
//! program's output, so each outcome, failures included, is also appended to
//! `<data dir>\logs\setup.log` (when the data directory is there: a refused first install
//! creates nothing), where the administrator finds why an install rolled back.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use eceprobe_agent::setup::{self, Answers, Outcome};

#[derive(Subcommand)]
pub enum SetupCommand {
    /// Check the install's values, create the data directory (SYSTEM and Administrators
    /// only) and write agent.toml from the values unless it exists. Run by the MSI.
    Configure {
        /// The data directory (default: %ProgramData%\eceprobe).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The collector's URL (MSI property COLLECTOR), https://...
        #[arg(long, value_name = "URL")]
        collector: Option<String>,
        /// services, application or both (ROLE).
        #[arg(long)]
        role: Option<String>,
        /// The ECE deployment, e.g. prod (DEPLOYMENT).
        #[arg(long)]
        deployment: Option<String>,
        /// A join token from `eceprobe-collector token create` (JOIN_TOKEN).
        #[arg(long, value_name = "TOKEN")]
        join: Option<String>,
    },
    /// Delete the data directory: configuration, keys, secrets, logs, spool (REMOVEDATA=1).
    RemoveData {
        /// The data directory (default: %ProgramData%\eceprobe).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("ProgramData").unwrap_or_else(|| r"C:\ProgramData".into());
    PathBuf::from(base).join("eceprobe")
}

pub fn run(cmd: SetupCommand) -> anyhow::Result<u8> {
    match cmd {
        SetupCommand::Configure {
            data_dir,
            collector,
            role,
            deployment,
            join,
        } => {
            let data_dir = data_dir.unwrap_or_else(default_data_dir);
            let answers = Answers {
                collector,
                role,
                deployment,
                join,
            };
            match setup::configure(&answers, &data_dir) {
                Ok(outcome) => {
                    let said = match outcome {
                        Outcome::Written(path) => format!(
                            "wrote {} from the install's values; {} is restricted to SYSTEM and Administrators",
                            path.display(),
                            data_dir.display()
                        ),
                        Outcome::Kept(path) => format!(
                            "kept {} as it was before this install (an existing configuration is never replaced; values given to this install were not applied: edit the file to change them; if non-administrators could write {} before the first install, delete it and install again)",
                            path.display(),
                            data_dir.display()
                        ),
                    };
                    println!("{said}");
                    record(&data_dir, &format!("setup configure: {said}"));
                    Ok(0)
                }
                Err(e) => {
                    record(&data_dir, &format!("setup configure refused: {e}"));
                    tracing::error!(
                        eventlog = eceprobe_agent::eventlog::CONFIGURATION_ERROR,
                        "the install's values were refused, so the install is rolled back: {e}"
                    );
                    Err(e).context("the agent's setup (the install is rolled back)")
                }
            }
        }
        SetupCommand::RemoveData { data_dir } => {
            let data_dir = data_dir.unwrap_or_else(default_data_dir);
            match setup::remove_data(&data_dir)? {
                true => println!("deleted {}", data_dir.display()),
                false => println!("{} was not there", data_dir.display()),
            }
            Ok(0)
        }
    }
}

/// Appends one line to `<data dir>\logs\setup.log`. Only words from `setup` reach it; they
/// never hold the join token. Written only into a data directory that is already there and
/// holds no link on the way to the file: a refused install creates nothing (the event log
/// has its words), and SYSTEM never appends through a link someone else made. A record that
/// cannot be written is said on stderr.
fn record(data_dir: &Path, line: &str) {
    use tracing_subscriber::fmt::format::Writer;
    use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
    let logs = data_dir.join("logs");
    let path = logs.join("setup.log");
    let plain = |p: &Path| std::fs::symlink_metadata(p).map(|m| !m.file_type().is_symlink());
    if !plain(data_dir).unwrap_or(false)
        || !plain(&logs).unwrap_or(true)
        || !plain(&path).unwrap_or(true)
    {
        eprintln!(
            "eceprobe-agent: not recorded in {} (no data directory, or a link on the way)",
            path.display()
        );
        return;
    }
    let mut stamp = String::new();
    let _ = SystemTime.format_time(&mut Writer::new(&mut stamp));
    let written = std::fs::create_dir_all(&logs).and_then(|()| {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        writeln!(file, "{stamp} {line}")
    });
    if let Err(e) = written {
        eprintln!(
            "eceprobe-agent: could not record this in {}: {e}",
            path.display()
        );
    }
}
