//! Goal 3, gap query latency: a database of A agents and R history rows (seeded, or kept
//! from an earlier run), a collector on it, then Q sequential `Query.CurrentGaps` calls,
//! unfiltered and filtered by one deployment, from one client over one channel.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use eceprobe_proto::v1::query_client::QueryClient;
use eceprobe_proto::v1::GapsRequest;
use tonic::transport::Channel;

use crate::agent;
use crate::collector::Launch;
use crate::report::Report;
use crate::seed::{self, SeedPlan};
use crate::stats::Summary;

#[derive(clap::Args, Debug, Clone)]
pub struct GapsArgs {
    /// Agents in the database.
    #[arg(long, default_value_t = 10_000)]
    pub agents: usize,
    /// History rows in all (an equal share per agent).
    #[arg(long, default_value_t = 10_000_000)]
    pub rows: u64,
    /// Timed calls of each kind (unfiltered, filtered by one deployment).
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
    /// Keep the seeded database at this path, and reuse it when it already holds the
    /// expected agents and rows.
    #[arg(long, value_name = "PATH")]
    pub keep_db: Option<PathBuf>,
    /// Stop each kind of call after this many seconds even if fewer than --queries were
    /// made (0: no limit); the figures say how many were made.
    #[arg(long, default_value_t = 0)]
    pub max_query_s: u64,
    /// Seconds to wait for the collector's first non-empty gap list.
    #[arg(long, default_value_t = 300)]
    pub ready_timeout_s: u64,
}

/// The seeded agents only ever "report" once; a policy that calls them stale only after a
/// day keeps the gap list (failing checks) the same for the whole measurement.
const POLICY: &str = "# eceprobe-loadgen gaps: the default policy, with a long staleness\n\
                      stale_after_intervals = 1440\n";

pub async fn run(args: &GapsArgs, launch: &Launch, report: &mut Report) -> Result<()> {
    anyhow::ensure!(args.agents > 0, "--agents must be at least 1");
    let plan = SeedPlan {
        agents: args.agents,
        per_agent: args.rows / args.agents as u64,
    };
    anyhow::ensure!(plan.per_agent > 0, "--rows must be at least --agents");
    let db = match &args.keep_db {
        Some(p) => p.clone(),
        None => launch.dir.join("collector.db"),
    };
    let reused = if db.exists() {
        let (agents, rows) = seed::counts(&db).await?;
        if (agents, rows) != (plan.agents as u64, plan.rows()) {
            bail!(
                "{} holds {agents} agents and {rows} results, not the expected {} and {}: \
                 delete it or pass another --keep-db",
                db.display(),
                plan.agents,
                plan.rows()
            );
        }
        tracing::info!(db = %db.display(), "reusing the seeded database");
        true
    } else {
        // The collector creates the file with its own migrations, then stops.
        let c = launch.start("collector-migrate", &db, &[]).await?;
        let stopped = c.stop().await?;
        anyhow::ensure!(
            stopped.clean,
            "the collector did not stop cleanly: {}",
            stopped.status
        );
        tracing::info!(agents = plan.agents, rows = plan.rows(), "seeding");
        let seeded = seed::seed(&db, plan).await.context("seeding")?;
        report.float("seed_s", seeded.elapsed.as_secs_f64());
        report.float("seed_index_rebuild_s", seeded.index_rebuild.as_secs_f64());
        report.float(
            "seed_rows_per_s",
            seeded.rows as f64 / seeded.elapsed.as_secs_f64(),
        );
        false
    };
    seed::refresh_seen(&db).await?;
    let policy = launch.dir.join("policy.toml");
    std::fs::write(&policy, POLICY).with_context(|| format!("writing {}", policy.display()))?;

    let extra = ["--policy".to_string(), policy.display().to_string()];
    let started = Instant::now();
    let collector = launch.start("collector-gaps", &db, &extra).await?;
    let channel = Channel::from_shared(collector.query_url())?
        .connect()
        .await
        .context("connecting the query client")?;
    let mut client = QueryClient::new(channel).max_decoding_message_size(256 * 1024 * 1024);
    let first = wait_for_gaps(&mut client, Duration::from_secs(args.ready_timeout_s)).await;
    let ready = started.elapsed();
    let first = first.with_context(|| {
        format!(
            "the collector's stderr is in {}",
            collector.stderr_path.display()
        )
    })?;

    let all = GapsRequest::default();
    let one = GapsRequest {
        deployment: agent::deployment(0),
        ..GapsRequest::default()
    };
    let cpu = collector.cpu_s()?;
    let budget = (args.max_query_s > 0).then(|| Duration::from_secs(args.max_query_s));
    let (unfiltered, unfiltered_gaps) = time_calls(&mut client, &all, args.queries, budget).await?;
    let (filtered, filtered_gaps) = time_calls(&mut client, &one, args.queries, budget).await?;
    let query_cpu = collector.cpu_s()? - cpu;
    let status = collector.status()?;
    let stopped = collector.stop().await?;

    report.int("agents", plan.agents as u64);
    report.int("history_rows", plan.rows());
    report.text("db_reused", if reused { "yes" } else { "no" });
    report.float("db_size_mib", file_size_mib(&db));
    report.float("collector_ready_s", ready.as_secs_f64());
    report.int("first_gap_list_len", first as u64);
    report.int("gaps_unfiltered", unfiltered_gaps as u64);
    report.latency("gaps_unfiltered", &unfiltered);
    report.text("filter_deployment", one.deployment.clone());
    report.int("gaps_filtered", filtered_gaps as u64);
    report.latency("gaps_filtered", &filtered);
    report.float("goal_p99_max_ms", 20.0);
    report.float(
        "collector_cpu_ms_per_query",
        query_cpu * 1e3 / (unfiltered.count + filtered.count).max(1) as f64,
    );
    report.float("collector_peak_rss_mib", status.hwm_mib());
    report.float("collector_stop_s", stopped.elapsed.as_secs_f64());
    report.text("collector_exit", stopped.status);
    report.note(format!(
        "policy: the default, with stale_after_intervals = 1440 so the seeded agents stay \
         live; {} agents in {} fail one check",
        (0..plan.agents)
            .filter(|i| SeedPlan::failing_check(*i).is_some())
            .count(),
        plan.agents
    ));
    if args.keep_db.is_some() {
        report.text("db_path", db.display().to_string());
    }
    Ok(())
}

/// Polls CurrentGaps until it returns something; the list's length.
async fn wait_for_gaps(client: &mut QueryClient<Channel>, timeout: Duration) -> Result<usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let r = client.current_gaps(GapsRequest::default()).await;
        match r {
            Ok(r) if !r.get_ref().gaps.is_empty() => return Ok(r.get_ref().gaps.len()),
            Ok(_) => tracing::info!("no gaps evaluated yet; waiting"),
            Err(s) => tracing::info!(status = %s, "CurrentGaps failed; waiting"),
        }
        if Instant::now() >= deadline {
            bail!(
                "CurrentGaps returned no gaps within {} s",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `n` sequential calls (fewer if the budget runs out); their latencies and the last
/// answer's length.
async fn time_calls(
    client: &mut QueryClient<Channel>,
    req: &GapsRequest,
    n: usize,
    budget: Option<Duration>,
) -> Result<(Summary, usize)> {
    let mut latencies = Vec::with_capacity(n);
    let mut len = 0;
    let mut last_log = Instant::now();
    let began = Instant::now();
    for i in 0..n {
        if budget.is_some_and(|b| began.elapsed() >= b) {
            tracing::warn!(done = i, of = n, "query time budget spent; stopping early");
            break;
        }
        let started = Instant::now();
        let r = client
            .current_gaps(req.clone())
            .await
            .map_err(|s| anyhow::anyhow!("CurrentGaps failed: {s}"))?;
        latencies.push(started.elapsed());
        len = r.get_ref().gaps.len();
        if last_log.elapsed() > Duration::from_secs(10) {
            last_log = Instant::now();
            tracing::info!(done = i + 1, of = n, deployment = %req.deployment, "querying");
        }
    }
    Ok((Summary::of(&latencies), len))
}

/// The database and its WAL, MiB.
fn file_size_mib(db: &Path) -> f64 {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    (size(db) + size(Path::new(&wal))) as f64 / (1024.0 * 1024.0)
}
