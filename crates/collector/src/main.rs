//! `eceprobe-collector`: receives agents' probe results and keeps them.

mod admin;
mod demo;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use eceprobe_collector::auth::AgentTls;
use eceprobe_collector::config::Config;
use eceprobe_collector::endpoints::{EndpointsHandle, Loader};
use eceprobe_collector::gaps::{self, now_ms, Tracker};
use eceprobe_collector::ingest::IngestLimits;
use eceprobe_collector::notify::Notifier;
use eceprobe_collector::pki;
use eceprobe_collector::retention;
use eceprobe_collector::schedule::SystemClock;
use eceprobe_collector::server::{Bound, ServeOptions};
use eceprobe_collector::store::Store;
use eceprobe_proto::v1::{
    ChangeRequestRequest, CheckHistoryRequest, GapHistoryRequest, GapsRequest,
};

#[derive(Parser)]
#[command(
    name = "eceprobe-collector",
    version,
    about = "Collects eceprobe agents' results into SQLite"
)]
struct Cli {
    /// Log level (error, warn, info, debug, trace; default info, warn for `demo`);
    /// ECEPROBE_LOG also works.
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start here: a collector, a simulated Microsoft 365 and two agents on this machine
    /// (one behind a firewall that blocks 993/995), an audit and its report.
    Demo(demo::DemoArgs),
    /// Accept agents' streams and store their results.
    Serve(ServeArgs),
    /// The collector's certificate authority (for agents' TLS).
    #[command(subcommand)]
    Ca(CaCommand),
    /// Issue a certificate for an agent and write its bundle (agent.pem, agent.key, ca.pem).
    Enroll {
        /// The agent's id (what its [run] agent_id says).
        agent_id: String,
        /// The CA directory.
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// Where to write the bundle (default: bundles/AGENT_ID next to the CA directory).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Revoke every certificate issued to an agent: a running collector ends its open stream
    /// within seconds, stores nothing more from it and refuses it from then on.
    Revoke {
        agent_id: String,
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
    },
    /// Take a server out of service: it leaves the matrix and the policy, its open gaps close
    /// with the reason "retired", its history stays. Revoke its agent first; a re-enrolled
    /// agent that reports again brings it back.
    Retire {
        #[command(flatten)]
        target: Target,
        /// The server's agent id.
        server: String,
    },
    /// List the servers (agents) the collector knows.
    Servers {
        #[command(flatten)]
        target: Target,
        /// Only this deployment.
        #[arg(long)]
        deployment: Option<String>,
    },
    /// Current gaps and warnings, filterable.
    Gaps {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        deployment: Option<String>,
        #[arg(long = "server")]
        agent_id: Option<String>,
        #[arg(long)]
        check: Option<String>,
        /// gap or warning.
        #[arg(long)]
        severity: Option<String>,
        /// Who closes them: network, m365, ece, host or unknown. With --change-request: whose
        /// request, network (the default), m365 or ece.
        #[arg(long)]
        owner: Option<String>,
        /// The open gaps under a heading per team that closes them, each with its fix.
        #[arg(long, conflicts_with = "history")]
        by_owner: bool,
        /// Gaps that opened and closed, newest first, instead of the open ones.
        #[arg(long)]
        history: bool,
        /// With --history: only gaps open in the last this many hours.
        #[arg(long, value_name = "HOURS", requires = "history")]
        since_hours: Option<u32>,
        /// With --history: at most this many.
        #[arg(long, default_value_t = 50, requires = "history")]
        limit: u32,
        /// Instead of the gaps: a team's change request for the deployment, generated from
        /// its open gaps (the firewall rules, the tenant admin's PowerShell, ECE's settings),
        /// printed as the file it is (redirect it to one).
        #[arg(long, requires = "deployment", conflicts_with_all = ["history", "by_owner"])]
        change_request: bool,
        /// With --change-request: csv or md (network), ps1 (m365), md (ece); default the
        /// team's first.
        #[arg(long, requires = "change_request")]
        format: Option<String>,
    },
    /// A server's latest result for each check, with what to do.
    Show {
        #[command(flatten)]
        target: Target,
        /// The server's agent id.
        server: String,
    },
    /// The history of one check on one server, newest first.
    History {
        #[command(flatten)]
        target: Target,
        server: String,
        check: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Connectivity audits: every connected server runs the whole catalog now.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Start an audit. With --wait: print its gaps when it closes and exit 0 (no gap),
    /// 1 (gaps, including servers that did not answer) or 2 (it could not run).
    Run {
        #[command(flatten)]
        target: Target,
        /// Only this deployment (default: every deployment).
        #[arg(long)]
        deployment: Option<String>,
        /// Seconds the agents have to answer (default 120, at most 3600).
        #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
        deadline_s: u32,
        /// Wait until the audit closes and print its gaps.
        #[arg(long)]
        wait: bool,
    },
    /// Audits, newest first.
    List {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        deployment: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One audit: verdicts per server and check, gaps, and what changed since the
    /// previous audit of the same scope.
    Show {
        #[command(flatten)]
        target: Target,
        audit_id: String,
    },
    /// What changed from one audit (the earlier) to another: new, resolved, unchanged gaps.
    Diff {
        #[command(flatten)]
        target: Target,
        from: String,
        to: String,
    },
    /// A report of one audit for a change ticket: summary, what changed, each server's
    /// verdicts and findings with the checklist item and the fix, the policy in force.
    Report {
        #[command(flatten)]
        target: Target,
        audit_id: String,
        /// md (default; --json: json), html (self-contained, printable), csv or json.
        #[arg(long, value_name = "md|html|csv|json")]
        format: Option<eceprobe_collector::export::Format>,
        /// Write the report to this file (created or replaced) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Configuration file (TOML: listen, tls_dir, database, policy_file, ...; paths in it
    /// relative to its directory, the flags' to the working directory); flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address for agents (default 127.0.0.1:7443; use 0.0.0.0:7443 with --tls-dir).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Address for the admin CLI's Query API, loopback only (default 127.0.0.1:7444).
    #[arg(long)]
    query_listen: Option<SocketAddr>,
    /// The CA directory from `ca init`: agents connect with TLS and client certificates.
    #[arg(long, value_name = "DIR")]
    tls_dir: Option<PathBuf>,
    /// No TLS: agents on loopback only (demos and tests).
    #[arg(long, conflicts_with = "tls_dir")]
    plaintext: bool,
    /// The SQLite database file, created if missing (default eceprobe.db).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Role policy (TOML): which checks each server role needs. Default: the
    /// checklist's minimum (every Microsoft check for both roles).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
}

#[derive(Subcommand)]
enum CaCommand {
    /// Create the CA and the collector's server certificate.
    Init {
        /// Where the CA lives (keep it private: it holds the CA key).
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// A DNS name or IP address agents use to reach the collector. Repeatable.
        #[arg(long = "name", required = true)]
        names: Vec<String>,
    },
}

/// Where the admin commands find the collector, and how they print.
#[derive(clap::Args)]
struct Target {
    /// The collector's Query API.
    #[arg(long, default_value = "http://127.0.0.1:7444")]
    collector: String,
    /// JSON for scripts instead of a table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(cli.command, Command::Demo(_));
    let level = match (&cli.log_level, quiet) {
        (Some(level), _) => level.clone(),
        (None, true) => "warn".into(),
        (None, false) => "info".into(),
    };
    let filter = std::env::var("ECEPROBE_LOG").unwrap_or(level);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("eceprobe-collector: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        let text = match cli.command {
            Command::Demo(args) => return demo::run(args).await,
            Command::Serve(args) => {
                let mut settings = match args.config {
                    Some(path) => Config::load(&path)?,
                    None => Config::default(),
                };
                settings.listen = args.listen.unwrap_or(settings.listen);
                settings.query_listen = args.query_listen.unwrap_or(settings.query_listen);
                settings.database = args.db.unwrap_or(settings.database);
                settings.policy_file = args.policy.or(settings.policy_file);
                if args.tls_dir.is_some() {
                    settings.tls_dir = args.tls_dir;
                    settings.plaintext = false;
                }
                settings.plaintext |= args.plaintext;
                return serve(settings).await.map(|()| 0);
            }
            Command::Ca(CaCommand::Init { dir, names }) => {
                pki::init(&dir, &names)?;
                Ok(format!(
                    "CA created in {dir}: ca.pem (give it to agents), ca.key (keep it here, private),\nserver.pem and server.key for `serve --tls-dir {dir}` ({names}).\nNext: eceprobe-collector enroll <agent-id> --dir {dir}",
                    dir = dir.display(),
                    names = names.join(", ")
                ))
            }
            Command::Enroll { agent_id, dir, out } => {
                let out = out.unwrap_or_else(|| {
                    dir.parent()
                        .unwrap_or(std::path::Path::new(""))
                        .join("bundles")
                        .join(&agent_id)
                });
                let sha256 = pki::enroll(&dir, &agent_id, &out)?;
                Ok(format!(
                    "certificate for agent {agent_id} (SHA-256 {sha256}) written to {out}:\n  agent.pem, agent.key (private), ca.pem\nCopy the three files to the agent's server (e.g. C:\\ProgramData\\eceprobe\\tls) and set in its agent.toml:\n  [run]\n  collector = \"https://<collector name>:7443\"\n  agent_id = \"{agent_id}\"\n  tls_dir = '<that directory>'",
                    out = out.display()
                ))
            }
            Command::Revoke { agent_id, dir } => {
                let n = pki::revoke(&dir, &agent_id)?;
                Ok(format!("{n} certificate(s) of agent {agent_id} revoked: a running collector ends its open stream within seconds and stores nothing more from it; to take the server out of the matrix too: eceprobe-collector retire {agent_id}"))
            }
            Command::Retire { target, server } => {
                admin::retire(&target.collector, server, target.json).await
            }
            Command::Servers { target, deployment } => {
                admin::servers(
                    &target.collector,
                    deployment.unwrap_or_default(),
                    target.json,
                )
                .await
            }
            Command::Gaps {
                target,
                deployment,
                agent_id,
                check,
                severity,
                owner,
                history,
                since_hours,
                limit,
                ..
            } if history => {
                let since_unix_ms = since_hours
                    .map(|h| now_ms().saturating_sub(i64::from(h) * 3_600_000))
                    .unwrap_or(0);
                let filter = GapHistoryRequest {
                    deployment: deployment.unwrap_or_default(),
                    agent_id: agent_id.unwrap_or_default(),
                    check: check.unwrap_or_default(),
                    severity: severity.unwrap_or_default(),
                    since_unix_ms,
                    limit,
                    owner: owner.unwrap_or_default(),
                };
                admin::gap_history(&target.collector, filter, target.json).await
            }
            Command::Gaps {
                target,
                deployment,
                change_request: true,
                owner,
                format,
                ..
            } => {
                let req = ChangeRequestRequest {
                    deployment: deployment.unwrap_or_default(),
                    owner: owner.unwrap_or_default(),
                    format: format.unwrap_or_default(),
                };
                admin::change_request(&target.collector, req).await
            }
            Command::Gaps {
                target,
                deployment,
                agent_id,
                check,
                severity,
                owner,
                by_owner,
                ..
            } => {
                let filter = GapsRequest {
                    deployment: deployment.unwrap_or_default(),
                    agent_id: agent_id.unwrap_or_default(),
                    check: check.unwrap_or_default(),
                    severity: severity.unwrap_or_default(),
                    owner: owner.unwrap_or_default(),
                };
                match by_owner {
                    true => admin::gaps_by_owner(&target.collector, filter, target.json).await,
                    false => admin::gaps(&target.collector, filter, target.json).await,
                }
            }
            Command::Show { target, server } => {
                admin::show(&target.collector, server, target.json).await
            }
            Command::History {
                target,
                server,
                check,
                limit,
            } => {
                let req = CheckHistoryRequest {
                    agent_id: server,
                    check,
                    limit,
                };
                admin::history(&target.collector, req, target.json).await
            }
            Command::Audit(AuditCommand::Run {
                target,
                deployment,
                deadline_s,
                wait,
            }) => {
                let url = &target.collector;
                let deployment = deployment.unwrap_or_default();
                let (text, code) =
                    admin::audit::run(url, deployment, deadline_s, wait, target.json).await?;
                print_text(&text);
                return Ok(code);
            }
            Command::Audit(AuditCommand::List {
                target,
                deployment,
                limit,
            }) => {
                let deployment = deployment.unwrap_or_default();
                admin::audit::list(&target.collector, deployment, limit, target.json).await
            }
            Command::Audit(AuditCommand::Show { target, audit_id }) => {
                admin::audit::show(&target.collector, audit_id, target.json).await
            }
            Command::Audit(AuditCommand::Diff { target, from, to }) => {
                admin::audit::diff(&target.collector, from, to, target.json).await
            }
            Command::Audit(AuditCommand::Report {
                target,
                audit_id,
                format,
                out,
            }) => {
                use eceprobe_collector::export::Format;
                let fallback = match target.json {
                    true => Format::Json,
                    false => Format::Markdown,
                };
                let format = format.unwrap_or(fallback);
                let url = &target.collector;
                admin::audit::report(url, audit_id, format, out.as_deref()).await
            }
        }?;
        print_text(&text);
        Ok(0)
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // A refusal from the collector says what to do in its message; the gRPC code
            // and metadata around it are for developers.
            match e.downcast_ref::<tonic::Status>() {
                Some(status) => eprintln!("eceprobe-collector: {}", status.message()),
                None => eprintln!("eceprobe-collector: {e:#}"),
            }
            ExitCode::from(2)
        }
    }
}

fn print_text(text: &str) {
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
}

/// How long shutdown waits for due webhook events (the rest waits in the outbox).
const WEBHOOK_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Operators check at start that each schedule fires when they meant it to.
fn log_schedules(options: &ServeOptions) {
    let now = options.clock.now();
    tracing::info!("{} audit schedule(s)", options.schedules.len());
    for s in &options.schedules {
        let next = s.next_after(now).map(|at| s.local(at));
        let next = next.as_deref().unwrap_or("never");
        let scope = match s.deployment.as_str() {
            "" => "all",
            d => d,
        };
        tracing::info!(schedule = %s.name, cron = ?s.cron_text, deployment = scope, "audit schedule; next: {next}");
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let policy = config.policy()?;
    let db = &config.database;
    let store = Store::open(db)
        .await
        .with_context(|| format!("opening {}", db.display()))?;
    let tls = match (&config.tls_dir, config.plaintext) {
        (Some(dir), _) => Some(AgentTls::load(dir)?),
        (None, true) => None,
        (None, false) => anyhow::bail!(
            "agents need TLS: create a CA with `eceprobe-collector ca init --dir pki --name <collector name>` and serve with --tls-dir pki (or tls_dir in the configuration); --plaintext serves agents on loopback only, for demos and tests"
        ),
    };
    let bound = Bound::bind(config.listen, config.query_listen, tls).await?;
    let addr = bound.agents_addr().context("reading the bound address")?;
    let query_addr = bound.query_addr().context("reading the bound address")?;
    let token = eceprobe_collector::web::auth::load_or_generate(config.http.token_file.as_deref())?;
    let web = eceprobe_collector::web::bind(config.http.listen)
        .await
        .context("binding the dashboard ([http] listen)")?;
    let web_addr = web.local_addr().context("reading the bound address")?;
    let bound = bound.with_dashboard(web, token.clone());
    // Scripts and tests read these lines to find the ports when --listen asks for port 0.
    println!("listening on {addr}");
    println!("query on {query_addr}");
    // The one place the token is shown (as Jupyter does): the operator opens this URL. A
    // reader that stopped after two lines must not make the collector fail (EPIPE).
    {
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "dashboard on http://{web_addr}/?token={token}");
        let _ = out.flush();
    }
    tracing::info!(%addr, db = %db.display(), evaluate_every_s = config.evaluate_every.as_secs(), "collector serving");
    // Before serving, so a bad webhook (unreadable ca_file) stops the start, not an event.
    // Its outbox keeps events across restarts: those left from before go out now.
    let notifier = Notifier::start(&config.webhooks, &store).await?;
    tracing::info!("webhooks: {} configured", notifier.webhooks());
    // Microsoft's endpoint list: the kept or configured one in use before the first
    // evaluation; then looked at again every refresh period.
    let mut endpoints = Loader::new(config.endpoints.clone(), db, EndpointsHandle::default());
    endpoints.start().await;
    let tracker = Tracker::new(store.clone(), policy)
        .with_notifier(notifier.clone())
        .with_endpoints(endpoints.handle());
    // Before the first evaluation: agents' silence counts from when this run started
    // accepting, never across the collector's own downtime.
    tracker
        .begin_run(gaps::now_ms())
        .await
        .context("recording the collector's start in the database")?;
    let (stop_evaluating, evaluating_stop) = tokio::sync::watch::channel(false);
    let evaluating = tokio::spawn(tracker.clone().run(config.evaluate_every, evaluating_stop));
    let pruning = tokio::spawn(retention::run(store.clone(), config.retention));
    let (stop_endpoints, endpoints_stop) = tokio::sync::watch::channel(false);
    let refreshing = tokio::spawn(endpoints.run_refreshes(endpoints_stop));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    };
    let options = ServeOptions {
        schedules: config.schedules,
        clock: std::sync::Arc::new(SystemClock),
    };
    log_schedules(&options);
    let served = bound
        .serve_with(
            store.clone(),
            IngestLimits::default(),
            tracker,
            options,
            shutdown,
        )
        .await;
    // Cooperative: the evaluation in progress records its changes and enqueues their
    // webhook events before the tracker returns (an abort could lose them).
    let _ = stop_evaluating.send(true);
    gaps::join_or_abort(evaluating, gaps::STOP_GRACE).await;
    pruning.abort();
    // A fetch cut short loses nothing: the kept copy is replaced only whole.
    let _ = stop_endpoints.send(true);
    refreshing.abort();
    // A short grace for due events; the rest stays in the outbox for the next start.
    notifier.drain(WEBHOOK_GRACE).await;
    store.close().await;
    served?;
    Ok(())
}
