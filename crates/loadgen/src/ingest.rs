//! Goal 1, ingest rate: N agents over real gRPC, each sending batches and waiting for their
//! acks (at most W outstanding); then, in the same run, the raw SQLite baseline.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{Barrier, Semaphore};

use crate::agent::{self, Link};
use crate::collector::Launch;
use crate::procfs;
use crate::raw::{self, Plan};
use crate::report::Report;
use crate::stats::Summary;

#[derive(clap::Args, Debug, Clone)]
pub struct IngestArgs {
    /// Simulated agents, each with its own connection.
    #[arg(long, default_value_t = 100)]
    pub agents: usize,
    /// Results per batch (the collector accepts at most 500).
    #[arg(long, default_value_t = 50)]
    pub batch: usize,
    /// Results each agent sends.
    #[arg(long, default_value_t = 2000)]
    pub results_per_agent: u64,
    /// Batches an agent may have sent and not yet seen acked (1: wait for each ack).
    #[arg(long, default_value_t = 1)]
    pub window: usize,
    /// Agents connecting at the same time.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Skip the raw SQLite baseline.
    #[arg(long)]
    pub no_raw: bool,
}

/// What one agent did.
struct Driven {
    acked: u64,
    latencies: Vec<Duration>,
}

pub async fn run(args: &IngestArgs, launch: &Launch, report: &mut Report) -> Result<()> {
    anyhow::ensure!(args.agents > 0, "--agents must be at least 1");
    anyhow::ensure!(
        (1..=500).contains(&args.batch),
        "--batch must be 1-500 (the collector's limit)"
    );
    let window = args.window.max(1);
    let plan = Plan {
        agents: args.agents,
        batch: args.batch,
        results_per_agent: args.results_per_agent,
        base_ms: eceprobe_proto::now_ms()
            - i64::try_from(args.results_per_agent).unwrap_or(0) * 12_000,
    };
    let db = launch.dir.join("collector.db");
    let collector = launch.start("collector-ingest", &db, &[]).await?;
    let endpoint = agent::endpoint(collector.addr)?;

    let connect_started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let start = Arc::new(Barrier::new(args.agents + 1));
    let mut tasks = Vec::with_capacity(args.agents);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<Result<()>>(args.agents);
    for i in 0..args.agents {
        let endpoint = endpoint.clone();
        let gate = Arc::clone(&gate);
        let start = Arc::clone(&start);
        let ready = ready_tx.clone();
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let link = Link::open(&endpoint, agent::hello(i)).await;
            drop(permit);
            let link = match link {
                Ok(l) => {
                    let _ = ready.send(Ok(())).await;
                    l
                }
                Err(e) => {
                    let _ = ready.send(Err(anyhow::anyhow!("{e:#}"))).await;
                    return Err(e);
                }
            };
            start.wait().await;
            drive(link, plan, window).await
        }));
    }
    drop(ready_tx);
    for _ in 0..args.agents {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                return Err(e).context(format!(
                    "an agent could not connect; the collector's stderr is in {}",
                    collector.stderr_path.display()
                ))
            }
            None => break,
        }
    }
    let connect_time = connect_started.elapsed();
    tracing::info!(
        agents = args.agents,
        ?connect_time,
        "all agents connected; sending"
    );
    let cpu_before = (collector.cpu_s()?, procfs::cpu_s("self")?);
    start.wait().await;
    let started = Instant::now();
    let mut acked = 0u64;
    let mut latencies = Vec::new();
    for t in tasks {
        let d = t
            .await
            .context("an agent task panicked")?
            .with_context(|| {
                format!(
                    "an agent failed; the collector's stderr is in {}",
                    collector.stderr_path.display()
                )
            })?;
        acked += d.acked;
        latencies.extend(d.latencies);
    }
    let wall = started.elapsed();
    let collector_cpu = collector.cpu_s()? - cpu_before.0;
    let loadgen_cpu = procfs::cpu_s("self")? - cpu_before.1;
    let status = collector.status()?;
    let stopped = collector.stop().await?;
    let stored = count_results(&db).await?;

    let acks = Summary::of(&latencies);
    let rate = acked as f64 / wall.as_secs_f64();
    report.int("agents", args.agents as u64);
    report.int("batch_results", args.batch as u64);
    report.int("window_batches", window as u64);
    report.int("results_acked", acked);
    report.int("results_stored_in_db", stored);
    report.float("connect_s", connect_time.as_secs_f64());
    report.float("ingest_wall_s", wall.as_secs_f64());
    report.float("results_per_s", rate);
    report.latency("ack", &acks);
    report.float("collector_cpu_s", collector_cpu);
    report.float(
        "collector_cpu_us_per_result",
        collector_cpu * 1e6 / acked.max(1) as f64,
    );
    report.float("loadgen_cpu_s", loadgen_cpu);
    report.float("collector_peak_rss_mib", status.hwm_mib());
    report.float("collector_rss_end_mib", status.rss_mib());
    report.int("collector_threads", status.threads);
    report.float("collector_stop_s", stopped.elapsed.as_secs_f64());
    report.text("collector_exit", stopped.status);
    if stored != acked {
        report.note(format!(
            "stored rows ({stored}) differ from results acked ({acked})"
        ));
    }
    if !args.no_raw {
        let cpu = procfs::cpu_s("self")?;
        let raw = raw::run(&launch.dir.join("raw.db"), plan)
            .await
            .context("the raw SQLite baseline")?;
        let raw_cpu = procfs::cpu_s("self")? - cpu;
        let raw_rate = raw.rows as f64 / raw.db_time.as_secs_f64();
        report.int("raw_rows", raw.rows);
        report.int("raw_transactions", raw.transactions);
        report.float("raw_db_s", raw.db_time.as_secs_f64());
        report.float("raw_wall_s", raw.wall.as_secs_f64());
        report.float("raw_cpu_s", raw_cpu);
        report.float("raw_results_per_s", raw_rate);
        report.float("ratio_stored_to_raw", rate / raw_rate);
        report.float("goal_ratio_min", 0.5);
    }
    Ok(())
}

/// One agent: batches of increasing seq from the welcome's last_stored_seq + 1, at most
/// `window` unacked; the latency of a batch runs from its send to the ack that covers it.
async fn drive(mut link: Link, plan: Plan, window: usize) -> Result<Driven> {
    let mut next = link.last_stored_seq + 1;
    let end = next + plan.results_per_agent;
    let mut outstanding: VecDeque<(u64, Instant)> = VecDeque::with_capacity(window);
    let mut out = Driven {
        acked: 0,
        latencies: Vec::with_capacity(plan.results_per_agent as usize / plan.batch.max(1) + 1),
    };
    let mut acked_to = link.last_stored_seq;
    loop {
        while outstanding.len() < window && next < end {
            let last = (next + plan.batch as u64 - 1).min(end - 1);
            let results = (next..=last).map(|s| plan.result(s)).collect();
            let sent = Instant::now();
            link.send_batch(results).await?;
            outstanding.push_back((last, sent));
            next = last + 1;
        }
        if outstanding.is_empty() {
            break;
        }
        let up_to = link.next_ack().await?;
        while let Some(&(last, sent)) = outstanding.front() {
            if last > up_to {
                break;
            }
            out.latencies.push(sent.elapsed());
            outstanding.pop_front();
        }
        acked_to = acked_to.max(up_to);
    }
    out.acked = acked_to - link.last_stored_seq;
    Ok(out)
}

/// Rows in the collector's results table, read after it stopped.
async fn count_results(db: &Path) -> Result<u64> {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .with_context(|| format!("opening {}", db.display()))?;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM results")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(u64::try_from(n).unwrap_or(0))
}
