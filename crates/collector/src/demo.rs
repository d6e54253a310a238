//! `eceprobe-collector demo`: the whole product on one machine, for a newcomer's first
//! minute. A collector on a fresh SQLite file, testlab as Microsoft 365 (with a tenant) on
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

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use eceprobe_checks::{Prober, Trust};
use eceprobe_collector::checkname::CheckName;
use eceprobe_collector::export::{self, Format};
use eceprobe_collector::gaps::{self, Policy, Tracker};
use eceprobe_collector::ingest::IngestLimits;
use eceprobe_collector::server::Bound;
use eceprobe_collector::store::Store;
use eceprobe_proto::v1::{AuditReport, GetAuditRequest, ListAuditsRequest, ListServersRequest};
use eceprobe_testlab::{Account, Endpoint, Fault, LabConfig, OAuthConfig, SmtpAuth, Testlab};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin;

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

#[derive(clap::Args)]
pub struct DemoArgs {
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

pub async fn run(args: DemoArgs) -> anyhow::Result<u8> {
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

/// A TOML basic string: quotes and backslashes escaped (Windows paths have backslashes).
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
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

/// Writes `<agent id>.toml`: an ordinary agent configuration, pointed at testlab with
/// resolve overrides (the real host names stay, for SNI and certificate checks).
fn write_agent_config(
    dir: &Path,
    server: &DemoServer,
    lab: &Testlab,
    lab_ca: &Path,
    collector: SocketAddr,
    tenant: &OAuthConfig,
) -> anyhow::Result<PathBuf> {
    let mut resolve = Vec::new();
    for ep in Endpoint::ALL {
        let addrs = lab.addrs(ep);
        // The firewalled server reaches IMAP and POP3 only through the blocked addresses.
        let pick = match (server.firewalled, ep) {
            (true, Endpoint::Imap | Endpoint::Pop3) => addrs.get(1),
            _ => addrs.first(),
        };
        let addr = pick.with_context(|| format!("testlab has no address for {}", ep.name()))?;
        let spec = format!("{}:{}:{addr}", ep.host(lab.hostnames()), ep.real_port());
        resolve.push(toml_string(&spec));
    }
    let ca = toml_string(&lab_ca.display().to_string());
    let spool = toml_string(
        &dir.join(format!("spool-{}", server.agent_id))
            .display()
            .to_string(),
    );
    let text = format!(
        "# eceprobe demo agent: the {role} server {id}.\n\
         role = \"{role}\"\n\
         ece_url = {ece}\n\
         resolve = [{resolve}]\n\n\
         [trust]\n\
         # testlab's CA stands in for Microsoft's roots.\n\
         os_store = false\n\
         ca_files = [{ca}]\n\
         expected_roots = [{ca}]\n\n\
         [ece]\n\
         # The lab's roots are in no Java trust store: judge as the host sees it.\n\
         ignore_java = true\n\n\
         [timeouts]\n\
         # A dropped port (the firewall's 995) costs this long; the real default is 5000.\n\
         tcp_ms = 3000\n\n\
         [run]\n\
         collector = \"http://{collector}\"\n\
         plaintext = true\n\
         agent_id = \"{id}\"\n\
         deployment = \"{DEPLOYMENT}\"\n\
         interval_s = 300\n\
         spool_dir = {spool}\n\
         ece_version = \"12.6(1)\"\n\
         ece_es = \"ES3\"\n",
        role = server.role,
        id = server.agent_id,
        ece = toml_string(&format!("https://{}/", lab.hostnames().ece)),
        resolve = resolve.join(", "),
    );
    let mut text = text;
    for mailbox in server.mailboxes {
        text.push_str(&mailbox_table(dir, server, mailbox, tenant)?);
    }
    let path = dir.join(format!("{}.toml", server.agent_id));
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A `[[mailbox]]` table, its refresh token written beside the configuration as the agent
/// wants it (owner-only on Unix, DPAPI-protected on Windows).
fn mailbox_table(
    dir: &Path,
    server: &DemoServer,
    mailbox: &str,
    tenant: &OAuthConfig,
) -> anyhow::Result<String> {
    let account = tenant
        .accounts
        .iter()
        .find(|a| a.user == mailbox)
        .with_context(|| format!("the demo tenant has no account {mailbox}"))?;
    let local = mailbox.split('@').next().unwrap_or(mailbox);
    let file = dir.join(format!("{}-{local}.refresh", server.agent_id));
    let token = eceprobe_checks::Secret::new(&account.refresh_token);
    eceprobe_agent::secret_file::write_atomic(&file, &token)
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(format!(
        "\n[[mailbox]]\n\
         address = {address}\n\
         client_id = {client_id}\n\
         refresh_token_file = {file}\n\
         protocols = [\"imap\", \"smtp\"]\n",
        address = toml_string(mailbox),
        client_id = toml_string(&tenant.client_id),
        file = toml_string(&file.display().to_string()),
    ))
}

/// Waits until both agents have said hello (an audit orders only connected agents).
async fn wait_for_agents(query_url: &str) -> anyhow::Result<()> {
    let mut query = admin::client(query_url).await?;
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let known = query
            .list_servers(ListServersRequest {
                deployment: DEPLOYMENT.into(),
            })
            .await?
            .into_inner()
            .servers
            .len();
        if known == SERVERS.len() {
            // Registered for orders right after being recorded: give that a moment.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < give_up,
            "only {known} of {} demo agents connected within 30 s",
            SERVERS.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn audit_and_report(query_url: &str, dir: &Path, deadline_s: u32) -> anyhow::Result<u8> {
    wait_for_agents(query_url).await?;
    println!(
        "\nRunning an audit of deployment '{DEPLOYMENT}' (every server runs every check now)...\n"
    );
    let (text, code) =
        admin::audit::run(query_url, DEPLOYMENT.into(), deadline_s, true, false).await?;
    print!("{text}");
    let report = latest_report(query_url).await?;
    let blocked = blocked_lines(&report);
    if !blocked.is_empty() {
        println!("\nWhat each server cannot do:");
        for line in blocked {
            println!("  {line}");
        }
    }
    let id = report
        .audit
        .as_ref()
        .map(|a| a.audit_id.clone())
        .unwrap_or_default();
    println!();
    for format in [Format::Markdown, Format::Html] {
        let path = dir.join(format!("audit-{id}.{}", format.extension()));
        std::fs::write(&path, export::render(&report, format))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("report: {}", path.display());
    }
    Ok(code)
}

async fn latest_report(query_url: &str) -> anyhow::Result<AuditReport> {
    let mut query = admin::client(query_url).await?;
    let audits = query
        .list_audits(ListAuditsRequest {
            deployment: DEPLOYMENT.into(),
            limit: 1,
        })
        .await?
        .into_inner()
        .audits;
    let audit = audits.first().context("the audit is not recorded")?;
    Ok(query
        .get_audit(GetAuditRequest {
            audit_id: audit.audit_id.clone(),
        })
        .await?
        .into_inner())
}

/// One line per failing check: the server, the address and port it cannot reach (or the
/// mailbox Microsoft refuses), how.
fn blocked_lines(report: &AuditReport) -> Vec<String> {
    let mut out = Vec::new();
    for s in &report.servers {
        for v in s.verdicts.iter().filter(|v| v.outcome == "fail") {
            let name = CheckName::parse(&v.check).ok();
            let mailbox_check = name
                .as_ref()
                .and_then(|n| Some((n.id().as_str(), n.mailbox()?)));
            let line = match mailbox_check {
                Some((check, mailbox)) => format!(
                    "{} ({}) reaches {} but {mailbox} is refused for {check}: {} at the {} stage",
                    s.agent_id, s.role, v.target, v.failure_kind, v.stage
                ),
                None => format!(
                    "{} ({}) cannot reach {} for {}: {} at the {} stage",
                    s.agent_id, s.role, v.target, v.check, v.failure_kind, v.stage
                ),
            };
            out.push(line);
        }
    }
    out
}
