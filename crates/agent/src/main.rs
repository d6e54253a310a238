//! `eceprobe-agent`: probes the Microsoft 365 endpoints ECE needs from the server it runs on.

mod secret_cmd;
mod service;
mod setup_cmd;
mod token_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use eceprobe_agent::report_file::{self, ReportFormat, RunFacts};
use eceprobe_agent::{config, mailbox, render, run, run_config};
use eceprobe_checks::{CheckId, Cloud, Prober, Role, Trust};

/// Exit codes shared by every one-shot command: schedulers and CI read them.
const EXIT_PASS: u8 = 0;
const EXIT_FAILED: u8 = 1;
const EXIT_CANNOT_RUN: u8 = 2;
/// `run` only: the collector revoked this agent's certificate. A code of its own, so a
/// service manager can stop restarting for this alone (systemd's RestartPreventExitStatus).
const EXIT_REVOKED: u8 = 3;

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
    /// Probe on a schedule and stream the results to the collector, until stopped.
    Run(RunArgs),
    /// Join with a token and stop: make this server's key, get its certificate from the
    /// collector (`run --join` does the same, then runs).
    Join(RunArgs),
    /// Get a mailbox's refresh token (device code sign-in) and save it if it is the mailbox's own.
    Token(token_cmd::TokenArgs),
    /// Protect a secret file so the agent accepts it (Windows: DPAPI; Unix: chmod 600), or check one.
    #[command(subcommand)]
    Secret(secret_cmd::SecretCommand),
    /// Windows: install, uninstall, start, stop or query the agent's Windows service.
    #[command(subcommand)]
    Service(service::ServiceCommand),
    /// The MSI's steps: check the install's values and write agent.toml, or delete the data
    /// directory. Run by the installer as LocalSystem.
    #[command(subcommand)]
    Setup(setup_cmd::SetupCommand),
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    probe: ProbeArgs,
    /// Print the full report as JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Run the OAuth checks of this [[mailbox]] only (by address). Repeatable.
    #[arg(long = "mailbox", value_name = "ADDRESS")]
    mailboxes: Vec<String>,
    /// Also write the run as a report: FILE.html (a self-contained page to print or attach)
    /// or FILE.md (Markdown for a ticket). No secret is ever in it.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    probe: ProbeArgs,
    /// The collector's URL, e.g. http://127.0.0.1:7443 ([run] collector); several,
    /// comma-separated, for collectors sharing one database ([run] collectors): the agent
    /// stays on one and moves to the next when it is unreachable.
    #[arg(long, value_name = "URL[,URL...]")]
    collector: Option<String>,
    /// Allow a plaintext link (loopback only): for demos and tests.
    #[arg(long)]
    plaintext: bool,
    /// The enrollment bundle (agent.pem, agent.key, ca.pem) for an https:// collector.
    #[arg(long, value_name = "DIR")]
    tls_dir: Option<PathBuf>,
    /// A join token from `eceprobe-collector token create` ([run] join): with no bundle in
    /// the TLS directory yet, the agent makes its key there and gets its certificate first.
    #[arg(long, value_name = "TOKEN")]
    join: Option<String>,
    /// This agent's name at the collector (default: the host name).
    #[arg(long)]
    agent_id: Option<String>,
    /// The ECE deployment this server belongs to, e.g. prod.
    #[arg(long)]
    deployment: Option<String>,
    /// Seconds between probe cycles (5-86400, default 60).
    #[arg(long, value_name = "SECONDS")]
    interval: Option<u64>,
    /// Where results wait for the collector's ack.
    #[arg(long, value_name = "DIR")]
    spool_dir: Option<PathBuf>,
}

/// What to probe and how: shared by `check` and `run`.
#[derive(Args)]
struct ProbeArgs {
    /// Agent configuration file (TOML); flags override it. Relative paths in it are
    /// relative to its directory; those given as flags, to the working directory.
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
    /// ECE's version as the console shows it, e.g. 12.6(1) ([run] ece_version); adds ece-config.
    #[arg(long, value_name = "VERSION")]
    ece_version: Option<String>,
    /// ECE's engineering special, e.g. ES1 or "ES12 ET1" ([run] ece_es); adds ece-config.
    #[arg(long, value_name = "ES")]
    ece_es: Option<String>,
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
    /// Run only this check (login-https, outlook-https, imap, pop3, smtp, ece-url, ece-config;
    /// oauth-token, oauth-imap, oauth-pop3 or oauth-smtp keeps the [[mailbox]] checks). Repeatable.
    #[arg(long = "only", value_name = "CHECK", value_parser = parse_check)]
    only: Vec<CheckId>,
    /// Do not trace the path after a timeout, an ICMP refusal or a stall ([trace] enabled).
    #[arg(long)]
    no_trace: bool,
    /// The Java runtime ECE runs on (its home, holding lib/security/) ([ece] java_home).
    #[arg(long, value_name = "DIR")]
    java_home: Option<PathBuf>,
    /// The trust store ECE's Java uses, JKS or PKCS12 ([ece] java_truststore).
    #[arg(long, value_name = "FILE")]
    java_truststore: Option<PathBuf>,
    /// Judge the checks as this host sees them only; do not look for ECE's Java ([ece]
    /// ignore_java). For a host whose Java is not ECE's, and for labs.
    #[arg(long, conflicts_with_all = ["java_home", "java_truststore"])]
    no_java: bool,
}

impl ProbeArgs {
    /// The configuration file (if any) with these flags on top.
    fn resolve(self) -> anyhow::Result<(run_config::RunConfig, config::Resolved)> {
        let mut file = match &self.config {
            Some(path) => config::load_file(path)?,
            None => config::FileConfig::default(),
        };
        let mut run = std::mem::take(&mut file.run);
        // The flags also reach the collector's hello in `run`.
        if self.ece_version.is_some() {
            run.ece_version = self.ece_version;
        }
        if self.ece_es.is_some() {
            run.ece_es = self.ece_es;
        }
        let overrides = config::Overrides {
            role: self.role,
            cloud: self.cloud,
            tenant: self.tenant,
            ece_url: self.ece_url,
            ece_version: run.ece_version.clone(),
            ece_es: run.ece_es.clone(),
            proxy: self.proxy,
            checks: self.only,
            ca_files: self.ca_files,
            expected_roots: self.expected_roots,
            resolve: self.resolve,
            no_trace: self.no_trace,
            java_home: self.java_home,
            java_truststore: self.java_truststore,
            no_java: self.no_java,
        };
        let resolved = config::resolve(file, overrides).context("configuration")?;
        Ok((run, resolved))
    }
}

/// The `--json` document: the report plus what it was run as.
#[derive(serde::Serialize)]
struct JsonOutput<'a> {
    agent_version: &'static str,
    role: Role,
    cloud: Cloud,
    /// ECE's Java trust store: found (path, format, anchors), none, or why not.
    java: &'a eceprobe_checks::java::JavaView,
    /// ECE's Java runtime: its version and TLS settings, when its home is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    java_runtime: Option<&'a eceprobe_checks::java::JavaRuntime>,
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
    // The Windows service logs to a file; it sets that up itself. The installer's steps
    // (`setup`) report to the event log too, as the service does: Windows Installer keeps
    // no program output, and a refused install must be found somewhere an admin looks.
    match &cli.command {
        Command::Service(cmd) if cmd.logs_to_file() => {}
        Command::Setup(_) => service::init_logging(std::io::stderr, &cli.log_level, None),
        _ => init_logging(&cli.log_level),
    }
    let result = match cli.command {
        Command::Check(args) => check(args),
        Command::Run(args) => run_agent(args, stop_signal()).map(|()| EXIT_PASS),
        Command::Join(args) => join_only(args),
        Command::Token(args) => token_cmd::run(args),
        Command::Secret(cmd) => secret_cmd::run(cmd),
        Command::Service(cmd) => service::dispatch(cmd),
        Command::Setup(cmd) => setup_cmd::run(cmd),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("eceprobe-agent: {e:#}");
            match e.downcast_ref::<run::Revoked>() {
                Some(_) => ExitCode::from(EXIT_REVOKED),
                None => ExitCode::from(EXIT_CANNOT_RUN),
            }
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
    // A report that cannot be written in the format asked is said before anything runs.
    let report_format = args.report.as_deref().map(ReportFormat::of).transpose()?;
    let config_file = args.probe.config.clone();
    let (_, mut cfg) = args.probe.resolve()?;
    if !args.mailboxes.is_empty() {
        for wanted in &args.mailboxes {
            if !cfg
                .mailboxes
                .iter()
                .any(|m| m.address.eq_ignore_ascii_case(wanted))
            {
                anyhow::bail!(
                    "--mailbox {wanted}: no [[mailbox]] with that address in the configuration"
                );
            }
        }
        cfg.mailboxes.retain(|m| {
            args.mailboxes
                .iter()
                .any(|w| m.address.eq_ignore_ascii_case(w))
        });
    }
    // A configured Java runtime or store that cannot be used is a configuration error.
    let ece_java = eceprobe_agent::java_config::load(&cfg.java).context("configuration")?;
    cfg.trust.java = ece_java.trust.clone();
    let java = &ece_java.view;
    let trust = Trust::new(&cfg.trust).context("trust")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let prober = Prober::new(cfg.settings, trust);
    let report = runtime.block_on(async {
        let mut report = prober.suite(&cfg.specs).await;
        report
            .checks
            .extend(cfg.ece_facts.as_ref().map(eceprobe_checks::ece::evaluate));
        report.checks.extend(ece_java.check.clone());
        let started = std::time::Instant::now();
        report
            .checks
            .extend(mailbox::probe_all(&prober, &cfg.mailboxes).await);
        let extra = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        report.duration_us = report.duration_us.saturating_add(extra);
        report
    });
    if let (Some(path), Some(format)) = (&args.report, report_format) {
        let facts = RunFacts {
            host: run_config::host_name().unwrap_or_else(|| "this server".to_owned()),
            role: cfg.role,
            cloud: cfg.cloud,
            java: java.summary(),
            java_runtime: ece_java.runtime_line(),
            config: config_file.as_deref(),
        };
        let text = report_file::render(&facts, &report, format);
        report_file::write(path, &text, &cfg.mailboxes)?;
        eprintln!("report written to {}", path.display());
    }
    if args.json {
        let doc = JsonOutput {
            agent_version: env!("CARGO_PKG_VERSION"),
            role: cfg.role,
            cloud: cfg.cloud,
            java,
            java_runtime: ece_java.runtime.as_ref().and_then(|r| r.as_ref().ok()),
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
        // The Java line right under the heading, before the table.
        let heading = match ece_java.runtime_line() {
            Some(runtime) => format!("{heading}\n{}\n{runtime}", java.summary()),
            None => format!("{heading}\n{}", java.summary()),
        };
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

/// `run` until `stop` completes: from a terminal (Ctrl-C), systemd (SIGTERM) or the
/// Windows service control manager.
fn run_agent(
    args: RunArgs,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (mut settings, cfg) = args.settings()?;
    // ECE's Java, found as `check` finds it: every chain is judged by its trust store too,
    // `ece-java` runs each cycle, and the collector hears of it in the Hello.
    let mut cfg = cfg;
    let ece_java = eceprobe_agent::java_config::for_run(&cfg.java, &mut settings.hello)
        .context("configuration")?;
    let java_watch =
        eceprobe_agent::java_config::JavaWatch::new(cfg.java.clone(), cfg.trust.clone(), &ece_java);
    cfg.trust.java = ece_java.trust.clone();
    let trust = Trust::new(&cfg.trust).context("trust")?;
    // One thread: the agent spends its life waiting; the blocking pool takes disk writes.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let (stopping, shutdown) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            stop.await;
            tracing::info!("stop requested");
            let _ = stopping.send(true);
        });
        let prober = Prober::new(cfg.settings, trust);
        run::run_with_mailboxes(
            settings,
            prober,
            cfg.specs,
            cfg.mailboxes,
            run::OfflineChecks {
                ece_facts: cfg.ece_facts,
                ece_java: ece_java.check.clone(),
                java_watch: Some(java_watch),
            },
            shutdown,
        )
        .await
    })
}

impl RunArgs {
    /// The probes' configuration and the run settings, from the file and the flags.
    fn settings(self) -> anyhow::Result<(run_config::RunSettings, config::Resolved)> {
        let config_file = self.probe.config.clone();
        let (run_file, cfg) = self.probe.resolve()?;
        let overrides = run_config::RunOverrides {
            collector: self.collector,
            plaintext: self.plaintext,
            tls_dir: self.tls_dir,
            join: self.join,
            agent_id: self.agent_id,
            deployment: self.deployment,
            interval_s: self.interval,
            spool_dir: self.spool_dir,
            config_file,
        };
        let settings =
            run_config::resolve(run_file, overrides, cfg.role).context("configuration")?;
        Ok((settings, cfg))
    }
}

/// `join`: the join of `run --join`, then stop.
fn join_only(args: RunArgs) -> anyhow::Result<u8> {
    let (mut settings, _) = args.settings()?;
    let Some(dir) = settings.join.as_ref().map(|p| p.dir.clone()) else {
        if settings.tls.is_some() {
            // A token line left in agent.toml by an earlier join that stopped short.
            if let Some(left) = settings.leftover_join.take() {
                if let Some(config) = &left.written_in {
                    let (secret, id) = (&left.token.secret, &left.token.id);
                    eceprobe_agent::join_forget::forget_and_say(config, secret, id, &left.dir);
                }
            }
            println!("already joined: this agent's bundle is in its TLS directory (tls_dir); the token was not used");
            return Ok(EXIT_PASS);
        }
        anyhow::bail!("give the join token: eceprobe-agent join --join TOKEN --collector https://<collector>:7443 (or join = \"...\" in [run] of agent.toml)");
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(eceprobe_agent::join::complete(&mut settings))?;
    // For the event log when a command installs it (the service's `init_logging`).
    run::log_enrolled(&settings);
    println!(
        "joined as {} (deployment '{}'): key and certificate in {}. Start the agent (eceprobe-agent run, or the service); the token is not needed any more.",
        settings.hello.agent_id,
        settings.hello.deployment,
        dir.display()
    );
    Ok(EXIT_PASS)
}

/// Ctrl-C, or SIGTERM from systemd.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the agent");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
