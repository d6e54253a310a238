//! Goal 1, ingest rate: N agents over real gRPC, each sending batches and waiting for their
//! acks (at most W outstanding); then, in the same run, the raw SQLite baseline. With
//! `--db postgres://...` the same against PostgreSQL (`pg_ingest.rs`).

use std::path::Path;

use anyhow::{Context, Result};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::collector::Launch;
use crate::fleet::{self, Drive, FleetRun};
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
    /// Skip the baseline (raw SQLite; on PostgreSQL the plain INSERTs and COPY).
    #[arg(long)]
    pub no_raw: bool,
    /// PostgreSQL instead of a SQLite file: postgres://USER@HOST:PORT/DB. The user needs
    /// CREATE on the database: each phase runs in a schema of its own, dropped at the end.
    /// The password from --password-file, the URL or PGPASSWORD.
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
    /// With --db: a file holding the PostgreSQL password on its first line.
    #[arg(long, value_name = "FILE", requires = "db")]
    pub password_file: Option<std::path::PathBuf>,
    /// With --db: skip the phase with two collectors sharing the database.
    #[arg(long, requires = "db")]
    pub no_pair: bool,
}

impl IngestArgs {
    /// The run's fleet and pace, checked.
    pub fn drive(&self) -> Result<Drive> {
        anyhow::ensure!(self.agents > 0, "--agents must be at least 1");
        anyhow::ensure!(
            (1..=500).contains(&self.batch),
            "--batch must be 1-500 (the collector's limit)"
        );
        Ok(Drive {
            plan: Plan {
                agents: self.agents,
                batch: self.batch,
                results_per_agent: self.results_per_agent,
                base_ms: eceprobe_proto::now_ms()
                    - i64::try_from(self.results_per_agent).unwrap_or(0) * 12_000,
            },
            window: self.window.max(1),
            connect_concurrency: self.connect_concurrency.max(1),
        })
    }
}

pub async fn run(args: &IngestArgs, launch: &Launch, report: &mut Report) -> Result<()> {
    let drive = args.drive()?;
    if let Some(db) = &args.db {
        return crate::pg_ingest::run(args, db, drive, launch, report).await;
    }
    let plan = drive.plan;
    let db = launch.dir.join("collector.db");
    let collector = launch.start("collector-ingest", &db, &[]).await?;
    let fleet = fleet::run(&[&collector], drive).await?;
    let status = collector.status()?;
    let stopped = collector.stop().await?;
    let stored = count_results(&db).await?;

    let rate = report_fleet(report, "", args, &fleet, stored);
    report.float("collector_peak_rss_mib", status.hwm_mib());
    report.float("collector_rss_end_mib", status.rss_mib());
    report.int("collector_threads", status.threads);
    report.float("collector_stop_s", stopped.elapsed.as_secs_f64());
    report.text("collector_exit", stopped.status);
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

/// A collector run's figures, each name after `prefix` (the SQLite scenario's names with
/// ""); returns the stored rate (results acked per second).
pub fn report_fleet(
    report: &mut Report,
    prefix: &str,
    args: &IngestArgs,
    fleet: &FleetRun,
    stored: u64,
) -> f64 {
    let acked = fleet.acked;
    let rate = acked as f64 / fleet.wall.as_secs_f64();
    if prefix.is_empty() {
        report.int("agents", args.agents as u64);
        report.int("batch_results", args.batch as u64);
        report.int("window_batches", args.window.max(1) as u64);
    }
    let name = |n: &str| format!("{prefix}{n}");
    report.int(&name("results_acked"), acked);
    report.int(&name("results_stored_in_db"), stored);
    report.float(&name("connect_s"), fleet.connect.as_secs_f64());
    report.float(&name("ingest_wall_s"), fleet.wall.as_secs_f64());
    report.float(&name("results_per_s"), rate);
    report.latency(&name("ack"), &Summary::of(&fleet.latencies));
    report.float(&name("collector_cpu_s"), fleet.collector_cpu_s);
    report.float(
        &name("collector_cpu_us_per_result"),
        fleet.collector_cpu_s * 1e6 / acked.max(1) as f64,
    );
    report.float(&name("loadgen_cpu_s"), fleet.loadgen_cpu_s);
    if stored != acked {
        report.note(format!(
            "{prefix}stored rows ({stored}) differ from results acked ({acked})"
        ));
    }
    rate
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
