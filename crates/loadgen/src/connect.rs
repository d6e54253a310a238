//! Goal 2, memory of connected agents: A agents connect (bounded concurrency), each sends
//! Hello and one batch, then keeps its stream open with a heartbeat every few seconds;
//! once all are connected and have held a while, the collector's RSS is read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::sync::{watch, Semaphore};

use crate::agent::{self, Link};
use crate::collector::Launch;
use crate::payload;
use crate::procfs;
use crate::report::Report;

#[derive(clap::Args, Debug, Clone)]
pub struct ConnectArgs {
    /// Agents connected at once.
    #[arg(long, default_value_t = 10_000)]
    pub agents: usize,
    /// Agents connecting at the same time (keeps the accept queue from overflowing).
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Results in each agent's one batch.
    #[arg(long, default_value_t = 5)]
    pub batch: u64,
    /// Seconds between an agent's heartbeats.
    #[arg(long, default_value_t = 5)]
    pub heartbeat_s: u64,
    /// Seconds to hold every agent connected before reading the collector's memory.
    #[arg(long, default_value_t = 10)]
    pub hold_s: u64,
}

/// File descriptors the loadgen (and the collector) need beyond one per agent.
const FD_HEADROOM: u64 = 256;

pub async fn run(args: &ConnectArgs, launch: &Launch, report: &mut Report) -> Result<()> {
    let (soft, hard) = procfs::nofile_limit()?;
    let need = args.agents as u64 + FD_HEADROOM;
    if soft < need {
        bail!(
            "{} agents need about {need} open files in the loadgen and as many in the collector, \
             but the open-files limit is {soft} (hard {hard}): raise it in this shell first, \
             e.g. `ulimit -n {}`",
            args.agents,
            hard.min(need.max(20_000)),
        );
    }
    let db = launch.dir.join("collector.db");
    let collector = launch.start("collector-connect", &db, &[]).await?;
    // Let it settle, then its idle footprint.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = collector.status()?;
    let endpoint = agent::endpoint(collector.addr)?;

    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<Result<()>>(args.agents);
    let heartbeats = Arc::new(AtomicU64::new(0));
    let interval = Duration::from_secs(args.heartbeat_s.max(1));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.agents);
    for i in 0..args.agents {
        let endpoint = endpoint.clone();
        let gate = Arc::clone(&gate);
        let ready = ready_tx.clone();
        let mut stop = stop_rx.clone();
        let heartbeats = Arc::clone(&heartbeats);
        let batch = args.batch.max(1);
        // Spread the heartbeats over the interval.
        let offset = interval.mul_f64(i as f64 / args.agents as f64);
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let link = join(&endpoint, i, batch).await;
            drop(permit);
            let link = match link {
                Ok(l) => {
                    let _ = ready.send(Ok(())).await;
                    drop(ready);
                    l
                }
                Err(e) => {
                    let _ = ready.send(Err(e)).await;
                    return;
                }
            };
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = tick.tick() => {
                        if link.send_heartbeat(eceprobe_proto::now_ms()).await.is_err() {
                            break;
                        }
                        heartbeats.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            drop(link);
        }));
    }
    drop(ready_tx);
    let mut connected = 0u64;
    let mut failed = 0u64;
    let mut first_error = None;
    // Each agent reports once (its task keeps running, with its sender, after that).
    for _ in 0..args.agents {
        let Some(r) = ready_rx.recv().await else {
            break;
        };
        match r {
            Ok(()) => connected += 1,
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
        let done = connected + failed;
        if done % 1000 == 0 {
            tracing::info!(connected, failed, "agents connecting");
        }
    }
    let connect_time = started.elapsed();
    if let Some(e) = first_error {
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        let _ = collector.stop().await;
        return Err(e).context(format!(
            "{failed} of {} agents could not connect",
            args.agents
        ));
    }
    tracing::info!(
        connected,
        ?connect_time,
        hold_s = args.hold_s,
        "all agents connected; holding"
    );
    let before_hold = heartbeats.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(args.hold_s)).await;
    let held = collector.status()?;
    let me = procfs::status("self")?;
    let during_hold = heartbeats.load(Ordering::Relaxed) - before_hold;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let stopped = collector.stop().await?;

    let per_agent_kib = (held.rss_kib.saturating_sub(idle.rss_kib)) as f64 / connected as f64;
    report.int("agents_connected", connected);
    report.int("connect_failures", failed);
    report.float("connect_s", connect_time.as_secs_f64());
    report.int("heartbeat_interval_s", interval.as_secs());
    report.int("hold_s", args.hold_s);
    report.int("heartbeats_during_hold", during_hold);
    report.float("collector_idle_rss_mib", idle.rss_mib());
    report.float("collector_rss_mib", held.rss_mib());
    report.float("collector_peak_rss_mib", held.hwm_mib());
    report.float("collector_rss_per_agent_kib", per_agent_kib);
    report.int("collector_threads", held.threads);
    report.int("collector_open_fds", held.fds);
    report.float("goal_rss_max_mib", 1024.0);
    report.float("loadgen_rss_mib", me.rss_mib());
    report.int("nofile_soft_limit", soft);
    report.float("collector_stop_s", stopped.elapsed.as_secs_f64());
    report.text("collector_exit", stopped.status);
    Ok(())
}

/// Connect, Hello, one batch and its ack.
async fn join(endpoint: &tonic::transport::Endpoint, i: usize, batch: u64) -> Result<Link> {
    let mut link = Link::open(endpoint, agent::hello(i))
        .await
        .with_context(|| format!("agent {}", agent::agent_id(i)))?;
    let first = link.last_stored_seq + 1;
    let now = eceprobe_proto::now_ms();
    let results = (first..first + batch)
        .map(|s| payload::check_result(s, payload::check_of(s), now, false))
        .collect();
    link.send_batch(results).await?;
    link.next_ack().await?;
    Ok(link)
}
