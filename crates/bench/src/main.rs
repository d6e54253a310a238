//! eceprobe-bench: eceprobe's full suite against a testlab (in its own process), side by
//! side with Prometheus blackbox_exporter probing the same endpoints with equivalent modules.
//!
//! Reports the suite's wall time over its slowest check, per-check latency ours/theirs, and
//! CPU time per suite, per check and per probe. See docs/BENCHMARKS.md.

mod blackbox_config;
mod cpu;
mod exporter;
mod interleave;
mod lab;
mod ours;
mod output;
mod phase;
mod stats;
mod theirs;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

use crate::cpu::CpuClock;
use crate::exporter::{Exporter, EXPORTER_BIN};
use crate::interleave::Parties;
use crate::lab::{LabProcess, CHILD_MODE};
use crate::ours::Ours;
use crate::output::Results;

const USAGE: &str = "usage: eceprobe-bench [--suites N] [--warmup N] [--threads N] [--json]

Runs eceprobe's full catalog N times against a testlab (in a child process), alternating
with blackbox_exporter (/usr/bin/prometheus-blackbox-exporter) running equivalent modules,
first all checks at once, then one check at a time, and prints a Markdown report.

  --suites N   suites (and blackbox rounds) per phase (default 50)
  --warmup N   unmeasured suites/rounds before each phase (default 5)
  --threads N  run eceprobe on a runtime with N worker threads (default 1: a
               single-threaded runtime, as eceprobe-agent runs it)
  --json       print JSON instead of Markdown";

struct Args {
    suites: usize,
    warmup: usize,
    threads: usize,
    json: bool,
}

fn parse_args(args: &[String]) -> Result<Args> {
    let mut out = Args {
        suites: 50,
        warmup: 5,
        threads: 1,
        json: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = |name: &str| -> Result<usize> {
            let v = it
                .next()
                .ok_or_else(|| anyhow!("{name} needs a number\n{USAGE}"))?;
            v.parse()
                .map_err(|_| anyhow!("{name}: '{v}' is not a number\n{USAGE}"))
        };
        match a.as_str() {
            "--suites" => out.suites = number("--suites")?,
            "--warmup" => out.warmup = number("--warmup")?,
            "--threads" => out.threads = number("--threads")?,
            "--json" => out.json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument '{other}'\n{USAGE}"),
        }
    }
    if out.suites == 0 || out.threads == 0 {
        bail!("--suites and --threads must be at least 1");
    }
    Ok(out)
}

fn main() -> Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some(CHILD_MODE) {
        let dir = argv
            .get(1)
            .ok_or_else(|| anyhow!("{CHILD_MODE} needs a directory"))?;
        return lab::run_child(Path::new(dir));
    }
    let args = parse_args(&argv)?;
    let dir = TempDir::create()?;
    let ctx = output::Context {
        command: format!(
            "cargo run --release -p eceprobe-bench -- {}",
            argv.join(" ")
        )
        .trim_end()
        .to_string(),
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model: cpu_model(),
        exporter_version: exporter_version(),
        warmup: args.warmup,
        ours_runtime: match args.threads {
            1 => "single-threaded tokio runtime (as eceprobe-agent)".into(),
            n => format!("multi-threaded tokio runtime, {n} workers"),
        },
    };
    let runtime = match args.threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .context("starting the async runtime")?;
    let results = runtime.block_on(run(&args, &dir.0))?;
    if args.json {
        let doc = output::json(&ctx, &results);
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", output::markdown(&ctx, &results));
    }
    Ok(())
}

/// Both measured runs, after checking that every probe of both sides passes. Ours runs on
/// this process's runtime (single-threaded by default, as the agent's).
async fn run(args: &Args, dir: &Path) -> Result<Results> {
    let clock = CpuClock::new()?;
    let lab = LabProcess::spawn(dir)?;
    let ours = Ours::new(&lab.info)?;
    ours.suite()
        .await
        .context("verifying our suite against the lab")?;
    let (modules, yml) = blackbox_config::modules(&lab.info, &lab.info.ca_pem_path)?;
    let exporter = Exporter::start(dir, &yml).await?;
    theirs::verify(&exporter, &modules).await?;
    let parties = Parties {
        ours: &ours,
        exporter: &exporter,
        modules: &modules,
        lab_pid: lab.pid(),
    };
    let (n, w) = (args.suites, args.warmup);
    let stat0 = clock.cpu(Some(exporter.pid()))?;
    eprintln!("{n} suites / rounds, all checks at once...");
    let (ours_suite, theirs_round) = interleave::at_once(&parties, n, w).await?;
    eprintln!("{n} rounds, one check at a time...");
    let (ours_alone, theirs_alone) = interleave::alone(&parties, n, w).await?;
    let exporter_stat_cpu = clock.cpu(Some(exporter.pid()))?.saturating_sub(stat0);
    drop(exporter);
    drop(lab);
    Ok(Results {
        ours_suite,
        ours_alone,
        theirs_round,
        theirs_alone,
        exporter_stat_cpu,
    })
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn exporter_version() -> String {
    let out = Command::new(EXPORTER_BIN).arg("--version").output();
    out.ok()
        .and_then(|o| {
            let text = [o.stdout, o.stderr].concat();
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown version".into())
}

/// A private directory for the lab CA and blackbox.yml, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn create() -> Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("eceprobe-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args> {
        let v: Vec<String> = s.split_whitespace().map(String::from).collect();
        parse_args(&v)
    }

    #[test]
    fn arguments() {
        let a = args("--suites 7 --json").unwrap();
        assert_eq!((a.suites, a.warmup, a.threads, a.json), (7, 5, 1, true));
        assert_eq!(args("--threads 2").unwrap().threads, 2);
        assert!(args("--suites").is_err());
        assert!(args("--suites 0").is_err());
        assert!(args("--bogus").is_err());
    }
}
