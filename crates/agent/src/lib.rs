//! The eceprobe agent as a library: its configuration, the long-lived `run` loop and the
//! wire conversion, for the `eceprobe-agent` binary and for callers that run agents
//! in-process (the collector's `demo`). The binary adds the command line and the Windows
//! service around them.

pub mod config;
mod config_error;
#[cfg(windows)]
mod dpapi;
pub mod eventlog;
pub mod java_config;
pub mod join;
pub mod join_forget;
pub mod mailbox;
pub mod render;
pub mod report_file;
pub mod run;
pub mod run_config;
pub mod secret_file;
pub mod setup;
pub mod slow_config;
pub mod trace_config;
pub use eceprobe_userfile as user_file;
pub mod wire;

use std::path::Path;

use anyhow::Context;

/// Reads an `agent.toml` as `eceprobe-agent run --config FILE` does (no flags on top): the
/// probes and the `[run]` settings, with ECE's Java found and reported in the Hello.
pub fn load_run_config(path: &Path) -> anyhow::Result<(run::RunSettings, config::Resolved)> {
    let mut file = config::load_file(path)?;
    let run_file = std::mem::take(&mut file.run);
    // The ECE facts of `[run]` reach ece-config as `check --config` passes them.
    let overrides = config::Overrides {
        ece_version: run_file.ece_version.clone(),
        ece_es: run_file.ece_es.clone(),
        ..config::Overrides::default()
    };
    let mut probes = config::resolve(file, overrides)
        .with_context(|| format!("configuration {}", path.display()))?;
    let mut settings =
        run_config::resolve(run_file, run_config::RunOverrides::default(), probes.role)
            .with_context(|| format!("configuration {}", path.display()))?;
    let java = java_config::for_run(&probes.java, &mut settings.hello)
        .with_context(|| format!("configuration {}", path.display()))?;
    probes.trust.java = java.trust;
    Ok((settings, probes))
}
