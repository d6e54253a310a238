//! How each collector binary (`eceprobe-collector`, `eceprobe-demo`) starts: its log on
//! stderr at the level asked for, and the runtime; written once so both start alike.

use std::process::ExitCode;

/// Sets up the log (`ECEPROBE_LOG` over `--log-level` over `default_level`; a filter that
/// does not parse falls back to `default_level`) and builds the runtime. On failure, says so
/// on stderr under `program`'s name and returns the exit code to end with.
pub fn start(
    program: &str,
    log_level: Option<String>,
    default_level: &str,
) -> Result<tokio::runtime::Runtime, ExitCode> {
    let level = log_level.unwrap_or_else(|| default_level.to_owned());
    let filter = std::env::var("ECEPROBE_LOG").unwrap_or(level);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("{program}: cannot start the runtime: {e}");
            ExitCode::from(2)
        })
}
