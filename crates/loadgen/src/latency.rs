//! The cost and the false positives of the latency warnings (`slower_than_peers`,
//! `latency_regression`; issue 13 item 2) on a week of history: N servers x C checks x D
//! days of results at one probe round per interval, seeded in-process through the store's
//! own write path (so the hourly timing samples are written as ingest writes them), with
//! ordinary jitter and rare spikes but no server actually slower than the others.
//!
//! Measured in-process through the dashboard's router (`web::router`, token and headers
//! included, body collected), alternating: the overview (one page of every server), a
//! server page, and the feature alone on the same servers (`latency::latency_warnings`,
//! its store reads and judgment), so "the page without the feature" is the page's time
//! minus the feature's, in the same run. The warnings found on this healthy fleet are the
//! false positives.

use eceprobe_proto::now_ms;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use eceprobe_checks::CheckId;
use eceprobe_collector::audits::Audits;
use eceprobe_collector::convert;
use eceprobe_collector::gaps::{Policy, Tracker};
use eceprobe_collector::ingest::{IngestCounters, Sessions};
use eceprobe_collector::latency::latency_warnings;
use eceprobe_collector::store::Store;
use eceprobe_collector::web::{self, WebState};
use eceprobe_proto::v1::{CheckResult, Hello, Role};
use tokio::task::JoinSet;

use crate::overview::in_process;
use crate::payload;
use crate::report::Report;
use crate::seed::mix;
use crate::stats::Summary;

#[derive(clap::Args, Debug, Clone)]
pub struct LatencyArgs {
    /// Servers, all in one deployment, half services and half application.
    #[arg(long, default_value_t = 50)]
    pub servers: usize,
    /// Checks per server: the six of the catalog, then OAuth checks of mailboxes.
    #[arg(long, default_value_t = 30)]
    pub checks: usize,
    /// Days of history.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Seconds between probe rounds.
    #[arg(long, default_value_t = 300)]
    pub interval_s: u32,
    /// Timed requests of each kind.
    #[arg(long, default_value_t = 50)]
    pub requests: usize,
}

/// The access token of the in-process dashboard.
pub const TOKEN: &str = crate::overview::TOKEN;

const CATALOG: [&str; CheckId::ALL.len()] = CheckId::names(CheckId::ALL);
const OAUTH: [&str; CheckId::OAUTH.len()] = CheckId::names(CheckId::OAUTH);

fn check_names(n: usize) -> Vec<String> {
    let mut out: Vec<String> = CATALOG.iter().map(|c| c.to_string()).collect();
    let mut mailbox = 0;
    while out.len() < n {
        for c in OAUTH {
            out.push(format!("{c}/mbx{mailbox}@contoso.com"));
        }
        mailbox += 1;
    }
    out.truncate(n);
    out
}

fn agent_id(i: usize) -> String {
    format!("srv-{i:03}")
}

/// Ordinary jitter: each stage 0.7-1.3 x its base, the server 0.8-1.6 x the fleet (some
/// are farther away), and one probe in 50 a spike of 3-20 x.
fn noisy(r: &mut CheckResult, server: usize, seq: u64) {
    let site = 80 + mix(server as u64) % 81; // percent
    for (k, a) in r.attempts.iter_mut().enumerate() {
        for (j, s) in a.stages.iter_mut().enumerate() {
            let h = mix(seq.wrapping_mul(131) ^ ((server as u64) << 40) ^ ((k * 8 + j) as u64));
            let jitter = 70 + h % 61; // percent
            let spike = if (h >> 20) % 50 == 0 {
                3 + (h >> 30) % 18
            } else {
                1
            };
            s.duration_us = s.duration_us * site / 100 * jitter / 100 * spike;
        }
    }
}

async fn seed(store: &Store, args: &LatencyArgs, now: i64) -> Result<u64> {
    let rounds = u64::from(args.days) * 86_400 / u64::from(args.interval_s.max(1));
    let checks = Arc::new(check_names(args.checks));
    let start = now - rounds as i64 * i64::from(args.interval_s) * 1000;
    let mut tasks = JoinSet::new();
    for i in 0..args.servers {
        let (store, checks) = (store.clone(), Arc::clone(&checks));
        let interval_ms = i64::from(args.interval_s) * 1000;
        tasks.spawn(async move {
            let hello = Hello {
                agent_id: agent_id(i),
                hostname: format!("{}.contoso.local", agent_id(i)),
                role: if i % 2 == 0 {
                    Role::Services
                } else {
                    Role::Application
                } as i32,
                deployment: "prod".into(),
                agent_version: "0.1.0".into(),
                probe_interval_s: 300,
                ..Hello::default()
            };
            let record = convert::agent_record(&hello, now)?;
            store.upsert_agent(&record).await?;
            let mut seq = 0u64;
            let mut batch = Vec::with_capacity(convert::MAX_BATCH);
            let mut stored = 0;
            for round in 0..rounds {
                let started = start + round as i64 * interval_ms;
                for check in checks.iter() {
                    seq += 1;
                    let mut r = payload::check_result(seq, check, started, false);
                    noisy(&mut r, i, seq);
                    batch.push(r);
                    if batch.len() == convert::MAX_BATCH {
                        let rows = convert::batch_rows(&batch)?;
                        stored += store
                            .insert_results(&record.agent_id, rows.rows, now)
                            .await?
                            .inserted;
                        batch.clear();
                    }
                }
            }
            if !batch.is_empty() {
                let rows = convert::batch_rows(&batch)?;
                stored += store
                    .insert_results(&record.agent_id, rows.rows, now)
                    .await?
                    .inserted;
            }
            anyhow::Ok(stored)
        });
    }
    let mut stored = 0;
    while let Some(r) = tasks.join_next().await {
        stored += r.context("a seeding task panicked")??;
    }
    Ok(stored)
}

pub async fn run(args: &LatencyArgs, work: &Path, report: &mut Report) -> Result<()> {
    ensure!(
        args.servers > 0 && args.checks > 0,
        "--servers and --checks must be at least 1"
    );
    let db = work.join("collector.db");
    let store = Store::open(&db).await.context("opening the database")?;
    let now = now_ms();
    let seeding = Instant::now();
    let results = seed(&store, args, now).await?;
    let seed_s = seeding.elapsed().as_secs_f64();
    report.int("seed_results", results);
    report.float("seed_s", seed_s);
    report.float("seed_results_per_s", results as f64 / seed_s);

    let policy = Policy::from_toml("stale_after_intervals = 1440\n")?;
    let tracker = Tracker::new(store.clone(), policy.clone());
    tracker.evaluate_at(now_ms()).await?;
    let sessions = Sessions::new();
    let state = WebState {
        store: store.clone(),
        tracker: tracker.clone(),
        sessions: sessions.clone(),
        audits: Audits::new(store.clone(), sessions, tracker.policy()),
        token: Arc::new(TOKEN.to_owned()),
        counters: Arc::new(IngestCounters::new()),
    };
    let router = web::router(state);
    let ids: Vec<String> = (0..args.servers).map(agent_id).collect();
    let page = format!("/api/overview?per_page={}", args.servers.min(500));
    let th = &policy.latency;

    let (mut overview, mut server, mut feature_page, mut feature_one) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut warnings = 0;
    for round in 0..args.requests + 3 {
        let one = &ids[round % ids.len()];
        let (t_overview, _) = in_process(&router, &page).await?;
        let started = Instant::now();
        let found = latency_warnings(&store, th, &ids).await?;
        let t_feature_page = started.elapsed();
        let (t_server, _) = in_process(&router, &format!("/api/servers/{one}")).await?;
        let started = Instant::now();
        latency_warnings(&store, th, std::slice::from_ref(one)).await?;
        let t_feature_one = started.elapsed();
        warnings = found.len();
        if round < 3 {
            continue; // warm-up
        }
        overview.push(t_overview);
        feature_page.push(t_feature_page);
        server.push(t_server);
        feature_one.push(t_feature_one);
    }
    let judged = args.servers * args.checks;
    report.int("checks_judged", judged as u64);
    report.int("latency_warnings_found", warnings as u64);
    report.float(
        "false_positive_rate_pct",
        warnings as f64 * 100.0 / judged as f64,
    );
    for (name, d) in [
        ("overview", &overview),
        ("overview_latency_part", &feature_page),
        ("server_page", &server),
        ("server_page_latency_part", &feature_one),
    ] {
        report.latency(name, &Summary::of(d));
    }
    let median = |d: &[Duration]| Summary::of(d).p50_ms;
    report.float(
        "overview_without_latency_p50_ms",
        median(&overview) - median(&feature_page),
    );
    report.float(
        "server_page_without_latency_p50_ms",
        median(&server) - median(&feature_one),
    );
    store.close().await;
    report.float(
        "db_mib",
        std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0,
    );
    Ok(())
}
