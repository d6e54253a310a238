//! `eceprobe-demo`: the whole product on one machine, for a newcomer's first minute. A collector on a fresh SQLite file, testlab as Microsoft 365 (with a tenant) on
//! loopback, and two agents in this process: a services server that also runs the OAuth
//! checks of two mailboxes, one of which has SMTP AUTH turned off, and an application server
//! whose firewall refuses 993 (IMAP) and drops 995 (POP3). It runs an audit, prints the gap
//! table and where the report is, and serves the dashboard until Ctrl-C, printing its URL
//! with a login token as Jupyter does (`--once`: exits after the
//! report, with the exit codes of `audit run --wait`).
//!
//! Nothing here is simulated beyond testlab: the agents are the real `run` loop (spool,
//! uplink, audit orders) over real gRPC, reading the `agent.toml` files the demo writes,
//! so the directory it leaves behind shows what a real installation's files look like.
//!
//! A program of its own (the collector package's `demo` feature, on by default), so the
//! `eceprobe-collector` that is deployed never links the simulated Microsoft 365.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use eceprobe_checks::{Prober, Trust};
use eceprobe_collector::gaps::{self, Policy, Tracker};
use eceprobe_collector::ingest::IngestLimits;
use eceprobe_collector::server::Bound;
use eceprobe_collector::store::Store;
use eceprobe_testlab::{Account, Endpoint, Fault, LabConfig, OAuthConfig, SmtpAuth, Testlab};
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod agent_files;
mod audit;

use agent_files::write_agent_config;
use audit::audit_and_report;

const DEPLOYMENT: &str = "demo";

/// The two servers of the demo deployment.
struct DemoServer {
    agent_id: &'static str,
    role: &'static str,
    /// Behind the firewall that refuses 993 and drops 995.
    firewalled: bool,
    /// The mailboxes whose OAuth path it tests: the services server is where ECE refreshes
    /// tokens and reads and sends mail.
    mailboxes: &'static [&'static str],
}

/// A healthy mailbox.
const SUPPORT: &str = "support@contoso.com";
/// A mailbox with SMTP AUTH turned off (`Set-CASMailbox -SmtpClientAuthenticationDisabled`):
/// it reads mail and cannot send.
const SALES: &str = "sales@contoso.com";

const SERVERS: [DemoServer; 2] = [
    DemoServer {
        agent_id: "ece-svc-01",
        role: "services",
        firewalled: false,
        mailboxes: &[SUPPORT, SALES],
    },
    DemoServer {
        agent_id: "ece-app-01",
        role: "application",
        firewalled: true,
        mailboxes: &[],
    },
];

/// The lab's tenant: both mailboxes consented, SMTP AUTH off for sales@.
fn demo_tenant() -> OAuthConfig {
    let mut oauth = OAuthConfig::healthy(SUPPORT);
    let mut sales = Account::healthy(SALES);
    sales.mailbox.smtp_auth = SmtpAuth::DisabledForMailbox;
    oauth.accounts.push(sales);
    oauth
}

#[derive(Parser)]
#[command(
    name = "eceprobe-demo",
    version,
    about = "Start here: a collector, a simulated Microsoft 365 and two agents on this machine (one behind a firewall that blocks 993/995), an audit and its report"
)]
struct DemoArgs {
    /// Log level (error, warn, info, debug, trace; default warn); ECEPROBE_LOG also works.
    #[arg(long)]
    log_level: Option<String>,
    /// Exit after the report, with `audit run --wait`'s codes: 0 no gap, 1 gaps (the demo's
    /// firewall makes some), 2 the demo could not run.
    #[arg(long)]
    once: bool,
    /// Where to keep the database, the agents' files and the report (default: a new
    /// directory under the system's temporary directory). Running again with the same
    /// directory compares the new audit with the previous one.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Seconds the agents have to answer the audit.
    #[arg(long, value_name = "N", default_value_t = 60)]
    deadline_s: u32,
}

/// Everything the demo started, stopped in reverse order.
struct Running {
    lab: Testlab,
    stop_agents: watch::Sender<bool>,
    agents: Vec<JoinHandle<anyhow::Result<()>>>,
    stop_collector: watch::Sender<bool>,
    collector: JoinHandle<Result<(), eceprobe_collector::server::ServeError>>,
    tracker: JoinHandle<()>,
    /// For the last evaluation at the end (see [`Running::stop`]).
    gaps: Tracker,
    store: Store,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop_agents.send(true);
        for agent in self.agents {
            match agent.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %format!("{e:#}"), "a demo agent failed"),
                Err(e) => tracing::warn!(error = %e, "a demo agent panicked"),
            }
        }
        let _ = self.stop_collector.send(true);
        if let Ok(Err(e)) = self.collector.await {
            tracing::warn!(error = %e, "the demo collector failed");
        }
        // The tracker stops with the collector's signal, after its evaluation in progress.
        gaps::join_or_abort(self.tracker, gaps::STOP_GRACE).await;
        // One last evaluation, so the database the demo leaves (which `serve --db` and the
        // tests open afterwards) records the gaps of the last results stored: the timer's
        // last turn may have come before the audit's results arrived.
        if let Err(e) = self.gaps.evaluate_at(eceprobe_proto::now_ms()).await {
            tracing::warn!(error = %e, "the demo's last gap evaluation failed");
        }
        self.store.close().await;
        self.lab.shutdown().await;
    }
}

fn main() -> ExitCode {
    let args = DemoArgs::parse();
    let runtime =
        match eceprobe_collector::process::start("eceprobe-demo", args.log_level.clone(), "warn") {
            Ok(runtime) => runtime,
            Err(code) => return code,
        };
    match runtime.block_on(run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("eceprobe-demo: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: DemoArgs) -> anyhow::Result<u8> {
    let dir = match args.dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("eceprobe-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = std::fs::canonicalize(&dir).with_context(|| format!("reading {}", dir.display()))?;
    println!("eceprobe demo in {}", dir.display());
    let started = start(&dir).await?;
    let query_url = started.query_url.clone();
    let outcome = audit_and_report(&query_url, &dir, args.deadline_s).await;
    let code = match outcome {
        Ok(code) => code,
        Err(e) => {
            started.running.stop().await;
            return Err(e);
        }
    };
    if !args.once {
        let target = match query_url.as_str() {
            "http://127.0.0.1:7444" => String::new(),
            other => format!(" --collector {other}"),
        };
        // Scripts (and the browser test) read this line for the URL.
        println!("\ndashboard on {}", started.dashboard);
        println!("\nServing until Ctrl-C. Open the dashboard above, or ask the collector as an operator would:");
        for command in [
            "servers",
            "gaps",
            "gaps --by-owner",
            "show ece-app-01",
            "audit run --wait",
            // The firewall rules the blocked ports ask for, and the tenant's PowerShell.
            "gaps --change-request --deployment demo",
            "gaps --change-request --deployment demo --owner m365",
        ] {
            println!("  eceprobe-collector {command}{target}");
        }
        let _ = tokio::signal::ctrl_c().await;
        println!("stopping");
    }
    started.running.stop().await;
    Ok(code)
}

struct Started {
    running: Running,
    query_url: String,
    /// The dashboard's URL with its login token (a new token every run).
    dashboard: String,
}

async fn start(dir: &Path) -> anyhow::Result<Started> {
    // Microsoft 365. IMAP and POP3 have a second address each: what the application
    // server's firewall leaves of them (993 refused, 995 dropped).
    let tenant = demo_tenant();
    let lab_config = LabConfig::healthy()
        .addresses(Endpoint::Imap, vec![Fault::None, Fault::Refuse])
        .addresses(Endpoint::Pop3, vec![Fault::None, Fault::BlackHole])
        .oauth(tenant.clone());
    let lab = Testlab::start(lab_config)
        .await
        .context("starting testlab")?;
    let (lab_ca, _) = lab.write_ca_files(dir).context("writing the lab CA")?;
    println!(
        "testlab: a simulated Microsoft 365 on loopback ({}, {}, {})",
        lab.hostnames().login,
        lab.hostnames().outlook,
        lab.hostnames().smtp
    );

    let db = dir.join("demo.db");
    let store = Store::open(&db)
        .await
        .with_context(|| format!("opening {}", db.display()))?;
    let tracker = Tracker::new(store.clone(), Policy::default());
    tracker
        .begin_run(eceprobe_proto::now_ms())
        .await
        .context("recording the collector's start")?;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    // The Query API on its usual port when free, so the admin commands need no --collector.
    let usual = SocketAddr::from(([127, 0, 0, 1], 7444));
    let bound = match Bound::bind(loopback, usual, None).await {
        Ok(bound) => bound,
        Err(_) => Bound::bind(loopback, loopback, None).await?,
    };
    let token = eceprobe_collector::web::auth::load_or_generate(None)?;
    let web = eceprobe_collector::web::bind(None)
        .await
        .context("binding the dashboard")?;
    let dashboard = format!(
        "http://{}/?token={token}",
        web.local_addr().context("reading the bound address")?
    );
    let bound = bound.with_dashboard(web, token);
    let agents_addr = bound.agents_addr().context("reading the bound address")?;
    let query_addr = bound.query_addr().context("reading the bound address")?;
    println!(
        "collector: agents on {agents_addr}, Query API on {query_addr}, database {}",
        db.display()
    );
    let (stop_collector, mut collector_stop) = watch::channel(false);
    let last_evaluation = tracker.clone();
    let tracking = tokio::spawn(
        tracker
            .clone()
            .run(Duration::from_secs(5), collector_stop.clone()),
    );
    let collector = tokio::spawn(bound.serve(
        store.clone(),
        IngestLimits::default(),
        tracker,
        async move {
            let _ = collector_stop.wait_for(|s| *s).await;
        },
    ));

    let (stop_agents, agents_stop) = watch::channel(false);
    let mut agents = Vec::new();
    for server in &SERVERS {
        let config = write_agent_config(dir, server, &lab, &lab_ca, agents_addr, &tenant)?;
        let (mut settings, probes) = eceprobe_agent::load_run_config(&config)?;
        // Both agents run on this machine; they report as the servers they stand for.
        settings.hello.hostname = format!("{}.contoso.local", server.agent_id);
        let trust = Trust::new(&probes.trust).context("the demo agent's trust")?;
        let prober = Prober::new(probes.settings, trust);
        agents.push(tokio::spawn(eceprobe_agent::run::run_with_mailboxes(
            settings,
            prober,
            probes.specs,
            probes.mailboxes,
            probes.ece_facts,
            agents_stop.clone(),
        )));
        let what = match (server.firewalled, server.mailboxes.is_empty()) {
            (true, _) => ", behind a firewall that refuses 993 and drops 995".to_string(),
            (false, false) => format!(
                ", with the OAuth checks of {} (SMTP AUTH is off for {SALES})",
                server.mailboxes.join(" and ")
            ),
            (false, true) => String::new(),
        };
        println!(
            "agent {} ({} server{what}): {}",
            server.agent_id,
            server.role,
            config.display()
        );
    }
    let running = Running {
        lab,
        stop_agents,
        agents,
        stop_collector,
        collector,
        tracker: tracking,
        gaps: last_evaluation,
        store,
    };
    Ok(Started {
        running,
        query_url: format!("http://{query_addr}"),
        dashboard,
    })
}
