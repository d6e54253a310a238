//! `eceprobe-agent`: probes the Microsoft 365 endpoints ECE needs from the server it runs on.

mod config;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use eceprobe_checks::{CheckId, Cloud, Prober, Role, Trust};

/// Exit codes shared by every one-shot command: schedulers and CI read them.
const EXIT_PASS: u8 = 0;
const EXIT_FAILED: u8 = 1;
const EXIT_CANNOT_RUN: u8 = 2;

#[derive(Parser)]
#[command(
    name = "eceprobe-agent",
    version,
    about = "Probes the Microsoft 365 endpoints Cisco ECE's OAuth2 mail needs, from this server"
)]
struct Cli {
    /// Log level for messages on stderr (error, warn, info, debug, trace); ECEPROBE_LOG also works.
    #[arg(long, global = true, default_value = "warn")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the checks once and print what works, what does not, and what to do.
    Check(CheckArgs),
}

#[derive(Args)]
struct CheckArgs {
    /// Agent configuration file (TOML); flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Role of this ECE server: services, application or both.
    #[arg(long, value_parser = parse_role)]
    role: Option<Role>,
    /// Microsoft cloud: global, gcc-high, dod or china.
    #[arg(long, value_parser = parse_cloud)]
    cloud: Option<Cloud>,
    /// Tenant id or domain for the sign-in discovery document (default: common).
    #[arg(long)]
    tenant: Option<String>,
    /// ECE's External Application URL; adds the ece-url check.
    #[arg(long, value_name = "URL")]
    ece_url: Option<String>,
    /// HTTP CONNECT proxy for the HTTPS checks, e.g. http://proxy.corp:8080.
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
    /// Extra trusted root certificates (PEM), on top of the OS store. Repeatable.
    #[arg(long = "ca-file", value_name = "PEM")]
    ca_files: Vec<PathBuf>,
    /// Extra roots that are not a TLS interception (PEM), on top of Microsoft's. Repeatable.
    #[arg(long = "expected-roots", value_name = "PEM")]
    expected_roots: Vec<PathBuf>,
    /// Send HOST:PORT to other addresses, keeping HOST for TLS: HOST:PORT:ADDR[:PORT2][,...]. Repeatable.
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    resolve: Vec<String>,
    /// Run only this check (login-https, outlook-https, imap, pop3, smtp, ece-url). Repeatable.
    #[arg(long = "only", value_name = "CHECK", value_parser = parse_check)]
    only: Vec<CheckId>,
    /// Print the full report as JSON instead of the table.
    #[arg(long)]
    json: bool,
}

/// The `--json` document: the report plus what it was run as.
#[derive(serde::Serialize)]
struct JsonOutput<'a> {
    agent_version: &'static str,
    role: Role,
    cloud: Cloud,
    report: &'a eceprobe_checks::SuiteReport,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}
fn parse_cloud(s: &str) -> Result<Cloud, String> {
    s.parse()
}
fn parse_check(s: &str) -> Result<CheckId, String> {
    s.parse()
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                EXIT_CANNOT_RUN
            } else {
                EXIT_PASS
            });
        }
    };
    init_logging(&cli.log_level);
    let result = match cli.command {
        Command::Check(args) => check(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("eceprobe-agent: {e:#}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

fn init_logging(level: &str) {
    let filter = std::env::var("ECEPROBE_LOG").unwrap_or_else(|_| level.to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

fn check(args: CheckArgs) -> anyhow::Result<u8> {
    let file = match &args.config {
        Some(path) => config::load_file(path)?,
        None => config::FileConfig::default(),
    };
    let overrides = config::Overrides {
        role: args.role,
        cloud: args.cloud,
        tenant: args.tenant,
        ece_url: args.ece_url,
        proxy: args.proxy,
        checks: args.only,
        ca_files: args.ca_files,
        expected_roots: args.expected_roots,
        resolve: args.resolve,
    };
    let cfg = config::resolve(file, overrides).context("configuration")?;
    let trust = Trust::new(&cfg.trust).context("trust")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let prober = Prober::new(cfg.settings, trust);
    let report = runtime.block_on(prober.suite(&cfg.specs));
    if args.json {
        let doc = JsonOutput {
            agent_version: env!("CARGO_PKG_VERSION"),
            role: cfg.role,
            cloud: cfg.cloud,
            report: &report,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        let heading = format!(
            "eceprobe-agent {} check: role {}, cloud {}",
            env!("CARGO_PKG_VERSION"),
            serde_json::to_value(cfg.role)?.as_str().unwrap_or("?"),
            serde_json::to_value(cfg.cloud)?.as_str().unwrap_or("?"),
        );
        print!("{}", render::table(&report, &heading));
        if !cfg.specs.iter().any(|s| s.id == CheckId::EceUrl) {
            println!("\nNote: ece-url was not checked; give --ece-url (ECE's External Application URL, checklist C2).");
        }
    }
    Ok(if report.all_passed() {
        EXIT_PASS
    } else {
        EXIT_FAILED
    })
}
