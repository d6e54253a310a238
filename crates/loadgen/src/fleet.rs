//! The simulated fleet of the `ingest` scenario against one or more running collectors:
//! agent i connects to collector i mod n, all wait until every one is connected, then each
//! sends its batches and waits for their acks (at most `window` outstanding).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::{Barrier, Semaphore};

use crate::agent::{self, Link};
use crate::collector::Collector;
use crate::procfs;
use crate::raw::Plan;

/// How the agents drive the collectors.
#[derive(Clone, Copy, Debug)]
pub struct Drive {
    pub plan: Plan,
    /// Batches an agent may have sent and not yet seen acked.
    pub window: usize,
    /// Agents connecting at the same time.
    pub connect_concurrency: usize,
}

/// What the whole fleet did.
pub struct FleetRun {
    pub acked: u64,
    /// From each batch's send to the ack that covers it.
    pub latencies: Vec<Duration>,
    /// Until every agent was connected (Hello, Welcome).
    pub connect: Duration,
    /// From the start signal until the last agent saw its last ack.
    pub wall: Duration,
    /// CPU seconds of all the collectors over `wall`.
    pub collector_cpu_s: f64,
    /// CPU seconds of this process over `wall`.
    pub loadgen_cpu_s: f64,
}

/// What one agent did.
struct Driven {
    acked: u64,
    latencies: Vec<Duration>,
}

/// Where a failing agent's collector keeps its log, for the error.
fn stderr_of(collectors: &[&Collector]) -> String {
    collectors
        .iter()
        .map(|c| c.stderr_path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn run(collectors: &[&Collector], drive: Drive) -> Result<FleetRun> {
    anyhow::ensure!(!collectors.is_empty(), "no collector to drive");
    let agents = drive.plan.agents;
    let endpoints = collectors
        .iter()
        .map(|c| agent::endpoint(c.addr))
        .collect::<Result<Vec<_>>>()?;
    let connect_started = Instant::now();
    let gate = Arc::new(Semaphore::new(drive.connect_concurrency.max(1)));
    let start = Arc::new(Barrier::new(agents + 1));
    let mut tasks = Vec::with_capacity(agents);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<Result<()>>(agents.max(1));
    for i in 0..agents {
        let endpoint = endpoints[i % endpoints.len()].clone();
        let gate = Arc::clone(&gate);
        let start = Arc::clone(&start);
        let ready = ready_tx.clone();
        let (plan, window) = (drive.plan, drive.window.max(1));
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
            drive_one(link, plan, window).await
        }));
    }
    drop(ready_tx);
    for _ in 0..agents {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                return Err(e).context(format!(
                    "an agent could not connect; the collectors' stderr is in {}",
                    stderr_of(collectors)
                ))
            }
            None => break,
        }
    }
    let connect = connect_started.elapsed();
    tracing::info!(
        agents,
        collectors = collectors.len(),
        ?connect,
        "all agents connected; sending"
    );
    let collectors_cpu = || -> Result<f64> {
        collectors
            .iter()
            .map(|c| c.cpu_s())
            .try_fold(0.0, |sum, cpu| Ok(sum + cpu?))
    };
    let cpu_before = (collectors_cpu()?, procfs::cpu_s("self")?);
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
                    "an agent failed; the collectors' stderr is in {}",
                    stderr_of(collectors)
                )
            })?;
        acked += d.acked;
        latencies.extend(d.latencies);
    }
    let wall = started.elapsed();
    Ok(FleetRun {
        acked,
        latencies,
        connect,
        wall,
        collector_cpu_s: collectors_cpu()? - cpu_before.0,
        loadgen_cpu_s: procfs::cpu_s("self")? - cpu_before.1,
    })
}

/// One agent: batches of increasing seq from the welcome's last_stored_seq + 1, at most
/// `window` unacked; the latency of a batch runs from its send to the ack that covers it.
async fn drive_one(mut link: Link, plan: Plan, window: usize) -> Result<Driven> {
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
