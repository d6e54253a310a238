//! `eceprobe-loadgen`: measures a real collector process against the goals of issue 3
//! (ingest rate against raw SQLite, memory of connected agents, gap query latency), and
//! the dashboard at fleet size (issue 5), and reports figures, not verdicts.
//!
//! ```text
//! cargo build --release -p eceprobe-loadgen -p eceprobe-collector
//! ulimit -n 20000      # connect: one fd per agent in the loadgen and in the collector
//! target/release/eceprobe-loadgen ingest --agents 100 --batch 50 --results-per-agent 2000
//! PGPASSWORD=... target/release/eceprobe-loadgen ingest --db postgres://eceprobe@127.0.0.1:55432/eceprobe_test
//! target/release/eceprobe-loadgen connect --agents 10000
//! target/release/eceprobe-loadgen gaps --agents 10000 --rows 10000000 --keep-db /var/tmp/gaps.db
//! cargo run --release -p eceprobe-loadgen -- overview --servers 10000
//! ```
//!
//! `ingest`, `connect` and `gaps` start their own collector (`--collector-bin`, default the
//! `eceprobe-collector` next to this executable) on `127.0.0.1:0` with a database in a
//! temporary work directory (kept, and named, when a run fails), and stop it with SIGINT;
//! `ingest --db postgres://...` starts them on schemas of its own in that database.
//! `overview` runs the collector's store and dashboard in-process (no collector binary).

mod agent;
mod collector;
mod connect;
mod fleet;
mod gaps;
mod ingest;
mod latency;
mod overview;
mod payload;
mod pg;
mod pg_ingest;
mod pg_raw;
mod procfs;
mod raw;
mod report;
mod seed;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::collector::Launch;
use crate::report::Report;

#[derive(Parser)]
#[command(
    name = "eceprobe-loadgen",
    version,
    about = "Load generator for eceprobe-collector: ingest rate, connected agents' memory, gap query latency, dashboard latency, latency warnings"
)]
struct Cli {
    /// The collector binary (default: eceprobe-collector next to this executable).
    #[arg(long, global = true, value_name = "PATH")]
    collector_bin: Option<PathBuf>,
    /// The collector's --log-level (its stderr goes to a file in the work directory).
    #[arg(long, global = true, default_value = "info")]
    collector_log_level: String,
    /// The loadgen's own log level (stderr); ECEPROBE_LOG also works.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    /// One JSON object instead of the table.
    #[arg(long, global = true)]
    json: bool,
    /// Keep the work directory (databases, the collector's stderr) after a successful run.
    #[arg(long, global = true)]
    keep_work_dir: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest rate over gRPC, ack latency and peak RSS, against raw SQLite inserts; with
    /// --db postgres://..., on PostgreSQL against plain INSERTs and COPY, and two
    /// collectors sharing the database.
    Ingest(ingest::IngestArgs),
    /// The collector's memory with many agents connected and heartbeating.
    Connect(connect::ConnectArgs),
    /// CurrentGaps latency on a large seeded database.
    Gaps(gaps::GapsArgs),
    /// The dashboard's latency (overview, pages, JSON API, /metrics) at fleet size, served
    /// in-process, against /healthz and raw SQLite reads.
    Overview(overview::OverviewArgs),
    /// The latency warnings' cost (overview and server page with and without them) and
    /// false positives on a week of healthy history, served in-process.
    Latency(latency::LatencyArgs),
}

fn default_collector_bin() -> Result<PathBuf> {
    let me = std::env::current_exe().context("locating the loadgen's own executable")?;
    let dir = me
        .parent()
        .context("the loadgen's executable has no directory")?;
    Ok(dir.join("eceprobe-collector"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut filter = std::env::var("ECEPROBE_LOG").unwrap_or_else(|_| cli.log_level.clone());
    if !filter.contains('=') {
        // Index rebuilds while seeding are slow on purpose: no warning for each. The
        // collector in-process (overview) would log every seeded gap opening.
        filter.push_str(",sqlx::query=error,sqlx::postgres::notice=warn,eceprobe_collector=warn");
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eceprobe-loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let bin = match &cli.collector_bin {
        Some(b) => b.clone(),
        None => default_collector_bin()?,
    };
    let work = tempfile::Builder::new()
        .prefix("eceprobe-loadgen-")
        .tempdir()
        .context("creating the work directory")?;
    // The collector binary only for the scenarios that start one.
    let launch = || -> Result<Launch> {
        let flags = collector::ServeFlags::probe(&bin)?;
        tracing::debug!(?flags, "collector serve flags");
        Ok(Launch {
            flags,
            bin: bin.clone(),
            log_level: cli.collector_log_level.clone(),
            dir: work.path().to_path_buf(),
            keep: cli.keep_work_dir,
        })
    };
    let scenario = match &cli.command {
        Command::Ingest(_) => "ingest",
        Command::Connect(_) => "connect",
        Command::Gaps(_) => "gaps",
        Command::Overview(_) => "overview",
        Command::Latency(_) => "latency",
    };
    let mut report = Report::new(scenario, report::command_line());
    let started = Instant::now();
    let outcome = runtime.block_on(async {
        match &cli.command {
            Command::Ingest(a) => ingest::run(a, &launch()?, &mut report).await,
            Command::Connect(a) => connect::run(a, &launch()?, &mut report).await,
            Command::Gaps(a) => gaps::run(a, &launch()?, &mut report).await,
            Command::Overview(a) => overview::run(a, work.path(), &mut report).await,
            Command::Latency(a) => latency::run(a, work.path(), &mut report).await,
        }
    });
    // Whatever is still running (agents, a collector that failed) goes with the runtime.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    if let Err(e) = outcome {
        let kept = work.keep();
        return Err(e).context(format!(
            "work directory (databases, collector stderr) kept in {}",
            kept.display()
        ));
    }
    report.float("run_s", started.elapsed().as_secs_f64());
    if cli.keep_work_dir {
        let kept = work.keep();
        report.text("work_dir", kept.display().to_string());
    }
    if cli.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
