//! `eceprobe-collector`: receives agents' probe results and keeps them.

mod cli;
mod migrate;
mod token_cmd;

use eceprobe_proto::now_ms;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use cli::{AuditCommand, CaCommand, Cli, Command};
use eceprobe_collector::admin;
use eceprobe_collector::auth::AgentTls;
use eceprobe_collector::config::Config;
use eceprobe_collector::endpoints::{EndpointsHandle, Loader};
use eceprobe_collector::gaps::{self, Tracker};
use eceprobe_collector::ingest::IngestLimits;
use eceprobe_collector::leader;
use eceprobe_collector::notify::Notifier;
use eceprobe_collector::pki;
use eceprobe_collector::retention;
use eceprobe_collector::revocation_db::SharedRevocations;
use eceprobe_collector::schedule::SystemClock;
use eceprobe_collector::server::{Bound, ServeOptions};
use eceprobe_collector::store::Store;
use eceprobe_proto::v1::{
    ChangeRequestRequest, CheckHistoryRequest, GapHistoryRequest, GapsRequest,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match eceprobe_collector::process::start(
        "eceprobe-collector",
        cli.log_level.clone(),
        "info",
    ) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let text = match cli.command {
            Command::Demo { .. } => {
                eprintln!("{}", cli::DEMO_MOVED);
                return Ok(2);
            }
            Command::Serve(args) => {
                let mut settings = match args.config {
                    Some(path) => Config::load(&path)?,
                    None => Config::default(),
                };
                settings.listen = args.listen.unwrap_or(settings.listen);
                settings.query_listen = args.query_listen.unwrap_or(settings.query_listen);
                if let Some(db) = args.db {
                    if let Some(path) = settings.store.apply_flag(&db)? {
                        settings.database = path;
                    }
                }
                settings.policy_file = args.policy.or(settings.policy_file);
                if args.tls_dir.is_some() {
                    settings.tls_dir = args.tls_dir;
                    settings.plaintext = false;
                }
                settings.plaintext |= args.plaintext;
                return serve(settings).await.map(|()| 0);
            }
            Command::Migrate(args) => {
                let (text, code) = migrate::run(args).await?;
                print_text(&text);
                return Ok(code);
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
            Command::Revoke {
                agent_id,
                dir,
                db,
                config,
            } => revoke(&agent_id, &dir, db, config).await,
            Command::Token(command) => token_cmd::run(command).await,
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

/// Ctrl-C, or SIGTERM on Unix (what systemd and `kill` send): either stops serving cleanly,
/// so the leader lease is released and due webhook events go out.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
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

/// `revoke`: into the CA directory's `revoked.txt` (this collector), and into the
/// database when one is given (every collector sharing it).
async fn revoke(
    agent_id: &str,
    dir: &std::path::Path,
    db: Option<String>,
    config: Option<std::path::PathBuf>,
) -> anyhow::Result<String> {
    let file = dir.join(pki::REVOKED);
    let (new, all) = pki::revoke_listing(dir, agent_id)?;
    let then =
        format!("to take the server out of the matrix too: eceprobe-collector retire {agent_id}");
    if db.is_none() && config.is_none() {
        return Ok(format!("{new} certificate(s) of agent {agent_id} revoked, recorded in {}: the collector serving from {} ends the agent's open stream within seconds and stores nothing more from it (collectors sharing a database: give --db or --config so all of them refuse it); {then}", file.display(), dir.display()));
    }
    let mut settings = match &config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(db) = db {
        if let Some(path) = settings.store.apply_flag(&db)? {
            settings.database = path;
        }
    }
    let database = settings.store.database(&settings.database)?;
    let store = Store::connect(&database).await?;
    let at = now_ms();
    let rows = all
        .iter()
        .map(|sha256| eceprobe_collector::store::Revocation {
            sha256: sha256.clone(),
            agent_id: agent_id.to_owned(),
            revoked_unix_ms: at,
        })
        .collect();
    let recorded = store.record_revocations(rows).await;
    store.close().await;
    let in_db = recorded.with_context(|| {
        format!(
            "recording the revocation in {database} (it is in {} already)",
            file.display()
        )
    })?;
    Ok(format!("{new} certificate(s) of agent {agent_id} revoked, recorded in {} and in {database} ({in_db} new there): every collector of that database ends the agent's open stream within seconds, stores nothing more from it and refuses it from then on; {then}", file.display()))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let policy = config.policy()?;
    let db = &config.database;
    let database = config.store.database(db)?;
    // The error names the database (never its password) and the cause.
    let store = Store::connect(&database).await?;
    // The revocations recorded in the database (by `revoke --db` on any collector sharing
    // it): read once before serving (a start that cannot read them fails), then followed.
    // Plaintext agents have no certificate to revoke: nothing to follow.
    let shared_revocations = match &config.tls_dir {
        Some(_) => {
            let shared = SharedRevocations::new();
            shared
                .refresh(&store)
                .await
                .context("reading the revoked certificates from the database")?;
            Some(shared)
        }
        None => None,
    };
    let tls = match (&config.tls_dir, config.plaintext) {
        (Some(dir), _) => {
            let tls = AgentTls::load(dir)?;
            Some(match &shared_revocations {
                Some(shared) => tls.with_shared_revocations(shared.clone()),
                None => tls,
            })
        }
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
    // One leader among the collectors sharing the database (a lone collector leads itself
    // within its first renewal): it evaluates gaps, prunes, runs scheduled audits and
    // delivers webhooks; every collector serves agents, the Query API and the dashboard.
    let name = (config.store.collector_name.clone())
        .unwrap_or_else(|| leader::default_name(config.listen.port()));
    let lease = config.store.lease.unwrap_or(leader::DEFAULT_LEASE);
    let (elector, leadership) = leader::elect(store.clone(), &name, lease);
    let (stop_electing, electing_stop) = tokio::sync::watch::channel(false);
    let electing = tokio::spawn(elector.run(electing_stop));
    // The first answer before serving, so a lone collector (or the first of several)
    // evaluates at its first turn rather than one period later; bounded: a database slow
    // to answer only delays the first evaluation.
    if tokio::time::timeout(lease / 3, leadership.known())
        .await
        .is_err()
    {
        tracing::warn!("no answer from the database about the leader lease yet; serving meanwhile");
    }
    tracing::info!(%addr, %database, collector = %name, lease_s = lease.as_secs(), evaluate_every_s = config.evaluate_every.as_secs(), "collector serving");
    // Before serving, so a bad webhook (unreadable ca_file) stops the start, not an event.
    // Its outbox keeps events across restarts: those left from before go out now.
    let notifier = Notifier::start_led(&config.webhooks, &store, leadership.clone()).await?;
    tracing::info!("webhooks: {} configured", notifier.webhooks());
    // Microsoft's endpoint list: the kept or configured one in use before the first
    // evaluation; then looked at again every refresh period.
    let mut endpoints = Loader::new(config.endpoints.clone(), db, EndpointsHandle::default());
    endpoints.start().await;
    let tracker = Tracker::new(store.clone(), policy)
        .with_notifier(notifier.clone())
        .with_endpoints(endpoints.handle())
        .with_leadership(leadership.clone());
    // Before the first evaluation: agents' silence counts from when this run started
    // accepting, never across the collector's own downtime.
    tracker
        .begin_run(eceprobe_proto::now_ms())
        .await
        .context("recording the collector's start in the database")?;
    let (stop_evaluating, evaluating_stop) = tokio::sync::watch::channel(false);
    let evaluating = tokio::spawn(tracker.clone().run(config.evaluate_every, evaluating_stop));
    let pruning = tokio::spawn(retention::run(
        store.clone(),
        config.retention,
        leadership.clone(),
    ));
    let (stop_revocations, revocations_stop) = tokio::sync::watch::channel(false);
    let following = shared_revocations
        .map(|shared| tokio::spawn(shared.follow(store.clone(), revocations_stop)));
    let (stop_endpoints, endpoints_stop) = tokio::sync::watch::channel(false);
    let refreshing = tokio::spawn(endpoints.run_refreshes(endpoints_stop));
    let shutdown = async {
        stop_signal().await;
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
    let _ = stop_revocations.send(true);
    if let Some(following) = following {
        let _ = following.await;
    }
    // A fetch cut short loses nothing: the kept copy is replaced only whole.
    let _ = stop_endpoints.send(true);
    refreshing.abort();
    // A short grace for due events; the rest stays in the outbox for the next start.
    notifier.drain(WEBHOOK_GRACE).await;
    // Last of the singleton work: the lease is released so another collector leads now.
    let _ = stop_electing.send(true);
    if electing.await.is_err() {
        tracing::warn!(
            "the leader election task failed; another collector takes over once the lease expires"
        );
    }
    store.close().await;
    served?;
    Ok(())
}
