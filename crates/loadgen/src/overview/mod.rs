//! The dashboard at fleet size (issue 5: "works at 10,000 servers, overview p99 <= 50 ms
//! server-side"): a collector database of N servers seeded in-process through the store's
//! own methods, the dashboard served in-process as the collector serves it
//! (`eceprobe_collector::web::serve` on 127.0.0.1:0, the gap tracker re-evaluating the
//! fleet beside it), and one HTTP/1.1 client timing sequential requests (a connection per request: the
//! dashboard closes each).
//!
//! Server-side time: each request is also sent, in the same round, to the same router
//! (`web::router`, with its token check and header layers) in-process through
//! `tower::ServiceExt::oneshot`, its body collected: the handler, the store reads and the
//! rendering, without hyper and the socket. The two go in alternating order, so neither
//! always runs on the cache the other warmed.
//!
//! Two baselines in the same run, interleaved with the measured requests so background
//! load hits all alike: `/healthz` round trips (the HTTP floor: the same connection, the
//! same router and layers, no store read) and the raw SQLite reads one overview page needs,
//! run with sqlx on a connection of our own to the same file (the storage floor).
//!
//! Here the run end to end; the fleet is seeded in [`seeding`], requests are made by
//! [`client`], the storage floor is read by [`floor`], the rounds are timed by [`measure`]
//! and the report is written by [`figures`].

mod client;
mod figures;
mod floor;
mod measure;
mod seeding;

pub use client::in_process;

use eceprobe_proto::now_ms;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use eceprobe_collector::audits::Audits;
use eceprobe_collector::gaps::{Policy, Tracker};
use eceprobe_collector::ingest::{IngestCounters, Sessions};
use eceprobe_collector::web::{self, WebState};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::report::Report;
use client::Client;
use measure::Targets;

#[derive(clap::Args, Debug, Clone)]
pub struct OverviewArgs {
    /// Servers (agents) in the database.
    #[arg(long, default_value_t = 10_000)]
    pub servers: usize,
    /// Timed requests of each kind (and storage-floor runs, and /healthz round trips).
    #[arg(long, default_value_t = 300)]
    pub requests: usize,
    /// Timed /metrics/detail requests (each is tens of MB at 10,000 servers); the default
    /// /metrics is in every round.
    #[arg(long, default_value_t = 10)]
    pub metrics_requests: usize,
    /// Untimed rounds of every kind first (page cache, statement caches, allocator).
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Results of history per check and server (one probe round a minute).
    #[arg(long, default_value_t = 10)]
    pub history: usize,
    /// Re-evaluate the fleet's gaps this often while measuring, as the collector's tracker
    /// does (its default `evaluate_every_s`); 0: never (only once before measuring).
    #[arg(long, default_value_t = 15)]
    pub evaluate_every_s: u64,
    /// The collector database: seeded here when the file does not exist, reused when it
    /// holds --servers servers (default: a fresh one in the work directory).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// Deployments the fleet is spread over: `dep-0` .. `dep-19`.
const DEPLOYMENTS: usize = 20;
/// The deployment of the filtered overview.
const FILTER_DEPLOYMENT: &str = "dep-7";
/// The access token of the in-process dashboard.
pub const TOKEN: &str = "loadgen-overview-token-0123456789abcdef0123";
/// As in the `gaps` scenario: seeded servers never report again; a day of staleness keeps
/// the gaps (and the cells) the same for the whole run.
const POLICY: &str = "stale_after_intervals = 1440\n";

pub async fn run(args: &OverviewArgs, work: &Path, report: &mut Report) -> Result<()> {
    ensure!(args.servers > 0, "--servers must be at least 1");
    ensure!(args.requests > 0, "--requests must be at least 1");
    ensure!(
        (1..=80).contains(&args.history),
        "--history must be 1-80 (one batch of at most 500 results per server)"
    );
    let db = match &args.db {
        Some(p) => p.clone(),
        None => work.join("collector.db"),
    };
    let store = seeding::open(args, &db, report).await?;

    let policy = Policy::from_toml(POLICY).context("the benchmark's policy")?;
    let tracker = Tracker::new(store.clone(), policy);
    let evaluating = Instant::now();
    tracker
        .evaluate_at(now_ms())
        .await
        .context("evaluating gaps")?;
    report.float(
        "gap_evaluation_ms",
        evaluating.elapsed().as_secs_f64() * 1e3,
    );
    // As the collector's tracker (`Tracker::run`): the fleet re-evaluated on a timer while
    // we measure, each evaluation timed.
    let evaluations = Arc::new(std::sync::Mutex::new(Vec::<Duration>::new()));
    let background = (args.evaluate_every_s > 0).then(|| {
        let tracker = tracker.clone();
        let evaluations = Arc::clone(&evaluations);
        let every = Duration::from_secs(args.evaluate_every_s);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let started = Instant::now();
                if let Err(e) = tracker.evaluate_at(now_ms()).await {
                    tracing::warn!(error = %e, "gap evaluation failed");
                }
                if let Ok(mut e) = evaluations.lock() {
                    e.push(started.elapsed());
                }
            }
        })
    });

    let sessions = Sessions::new();
    let state = WebState {
        store: store.clone(),
        tracker: tracker.clone(),
        sessions: sessions.clone(),
        audits: Audits::new(store.clone(), sessions, tracker.policy()),
        token: Arc::new(TOKEN.to_owned()),
        counters: seeded_durations(),
    };
    let listener = web::bind(Some(SocketAddr::from(([127, 0, 0, 1], 0))))
        .await
        .context("binding the dashboard")?;
    let addr = listener.local_addr()?;
    let router = web::router(state.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(web::serve(listener, state, async move {
        let _ = stopped.await;
    }));

    let mut client = Client::connect(addr).await?;
    let targets = Targets::discover(&mut client, args.servers).await?;

    let mut floor_conn = SqliteConnectOptions::new()
        .filename(&db)
        .read_only(true)
        .connect()
        .await
        .context("opening the storage-floor connection")?;

    let measured = measure::measure(args, &mut client, &router, &mut floor_conn, &targets).await?;
    floor_conn.close().await?;
    let _ = stop.send(());
    serving
        .await
        .context("the dashboard task panicked")?
        .context("serving the dashboard")?;
    if let Some(b) = background {
        b.abort();
    }
    let evaluations = evaluations.lock().map(|e| e.clone()).unwrap_or_default();
    let db_mib = figures::file_mib(&db);
    store.close().await;

    figures::write(report, args, &targets, &measured, &evaluations, db_mib, &db)
}

/// Ingest's counters with one observation per seeded check, so /metrics carries the
/// check-duration histogram's lines as a running collector's does (loadgen seeds the store
/// directly, without ingest).
fn seeded_durations() -> Arc<IngestCounters> {
    let counters = IngestCounters::new();
    counters
        .durations()
        .observe(crate::payload::CHECKS.iter().map(|c| (*c, 250_000)));
    Arc::new(counters)
}
