//! The report: the figures, the table of latencies by endpoint, the storage floor by
//! statement, the goal, and notes on what was seeded and measured.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use super::floor::FLOOR_STEPS;
use super::measure::{Measured, Series, Targets};
use super::seeding::FAILING_ROUNDS;
use super::{OverviewArgs, DEPLOYMENTS, FILTER_DEPLOYMENT};
use crate::report::Report;
use crate::stats::percentile;

/// p50, p90, p99, max in ms (nearest rank).
fn quantiles(d: &[Duration]) -> [f64; 4] {
    let mut ms: Vec<f64> = d.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let q = |p| percentile(&ms, p).unwrap_or(f64::NAN);
    [
        q(50.0),
        q(90.0),
        q(99.0),
        ms.last().copied().unwrap_or(f64::NAN),
    ]
}

/// The database and its WAL, MiB.
pub fn file_mib(db: &Path) -> f64 {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    (size(db) + size(Path::new(&wal))) as f64 / (1024.0 * 1024.0)
}

/// Writes the run's figures, `evaluations` being the gap evaluations timed while measuring
/// and `db_mib` the database's size.
pub fn write(
    report: &mut Report,
    args: &OverviewArgs,
    targets: &Targets,
    measured: &Measured,
    evaluations: &[Duration],
    db_mib: f64,
    db: &Path,
) -> Result<()> {
    let Targets {
        pages,
        dep_pages,
        gap_pages,
        severities,
        ..
    } = *targets;
    let Measured {
        series,
        floor,
        floor_steps,
        metrics_detail,
        measured,
        plans,
    } = measured;
    report.int("servers", args.servers as u64);
    report.int("deployments", DEPLOYMENTS as u64);
    report.int("history_per_check", args.history as u64);
    report.float("db_size_mib", db_mib);
    report.int("open_gaps", severities.0);
    report.int("open_warnings", severities.1);
    report.int("requests_per_kind", args.requests as u64);
    report.float("measured_s", measured.as_secs_f64());
    report.int("gap_evaluations_while_measuring", evaluations.len() as u64);
    if !evaluations.is_empty() {
        let mean = evaluations.iter().sum::<Duration>() / evaluations.len() as u32;
        report.float("gap_evaluation_mean_ms", mean.as_secs_f64() * 1e3);
    }
    let names: [(&str, String); 10] = [
        ("healthz", "/healthz (HTTP floor)".into()),
        ("overview", format!("/api/overview?page=1..{pages}")),
        (
            "overview_deployment",
            format!("/api/overview?deployment={FILTER_DEPLOYMENT}&page=1..{dep_pages}"),
        ),
        ("html_overview", format!("/?page=1..{pages} (HTML)")),
        ("gaps", format!("/api/gaps?page=1..{gap_pages}")),
        ("server", "/api/servers/{id}".into()),
        (
            "timeline",
            format!("/timeline?deployment={FILTER_DEPLOYMENT}&days=7 (HTML, SVG)"),
        ),
        (
            "timeline_fleet",
            "/api/timeline?days=30 (whole fleet)".into(),
        ),
        ("metrics", "/metrics (default form)".into()),
        ("metrics_detail", "/metrics/detail".into()),
    ];
    let mut table = String::from(
        "| endpoint | n | HTTP p50 ms | p90 | p99 | max | in-process p50 ms | p90 | p99 | max | body KiB |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let row = |name: &str, s: &Series| {
        let c = quantiles(&s.client);
        let v = quantiles(&s.server);
        let kib = s.bytes as f64 / s.client.len().max(1) as f64 / 1024.0;
        format!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {kib:.1} |\n",
            s.client.len(),
            c[0], c[1], c[2], c[3], v[0], v[1], v[2], v[3]
        )
    };
    for (key, name) in &names {
        let s = match *key {
            "metrics_detail" => metrics_detail,
            k => series.get(k).context("a request kind without figures")?,
        };
        table.push_str(&row(name, s));
        let c = quantiles(&s.client);
        let v = quantiles(&s.server);
        for (q, value) in ["p50", "p90", "p99", "max"].iter().zip(c) {
            report.float(&format!("{key}_http_{q}_ms"), value);
        }
        for (q, value) in ["p50", "p90", "p99", "max"].iter().zip(v) {
            report.float(&format!("{key}_in_process_{q}_ms"), value);
        }
        report.float(
            &format!("{key}_body_kib"),
            s.bytes as f64 / s.client.len().max(1) as f64 / 1024.0,
        );
    }
    let f = quantiles(&floor.client);
    table.push_str(&format!(
        "| storage floor: the overview page's 6 reads, raw sqlx | {} | {:.2} | {:.2} | {:.2} | {:.2} | | | | | |\n",
        floor.client.len(),
        f[0], f[1], f[2], f[3]
    ));
    for (q, value) in ["p50", "p90", "p99", "max"].iter().zip(f) {
        report.float(&format!("storage_floor_{q}_ms"), value);
    }
    table.push_str("\nstorage floor by statement (ms):\n\n| statement | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|\n");
    for (name, t) in FLOOR_STEPS.iter().zip(floor_steps) {
        let q = quantiles(t);
        table.push_str(&format!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
            q[0], q[1], q[2], q[3]
        ));
    }
    let overview = series.get("overview").context("no overview figures")?;
    let server_p99 = quantiles(&overview.server)[2];
    let client_p99 = quantiles(&overview.client)[2];
    let healthz_p50 = quantiles(&series.get("healthz").context("no healthz")?.client)[0];
    report.float("goal_overview_server_p99_max_ms", 50.0);
    table.push_str(&format!(
        "\ngoal: /api/overview p99 <= 50 ms server-side: {} (in-process p99 {server_p99:.2} ms; \
         over HTTP p99 {client_p99:.2} ms, minus the /healthz median {healthz_p50:.2} ms = \
         {:.2} ms; storage floor p99 {:.2} ms)\n",
        if server_p99 <= 50.0 { "MET" } else { "MISSED" },
        client_p99 - healthz_p50,
        f[2],
    ));
    report.text(
        "goal_overview_server_p99",
        if server_p99 <= 50.0 { "met" } else { "missed" },
    );
    report.block(table);
    report.note(format!(
        "seeded: {} servers in {DEPLOYMENTS} deployments (half services, half application), \
         the six checks each with {} results of history a minute apart (~600-byte details); \
         ~10% fail imap in their last {FAILING_ROUNDS} rounds (open gaps), ~2.5% have an \
         intercepted outlook-https and ~2% a slow smtp (warnings); policy: the default with \
         stale_after_intervals = 1440; {}",
        args.servers,
        args.history,
        match args.evaluate_every_s {
            0 => "gaps evaluated once, before measuring".to_string(),
            s => format!("the fleet's gaps re-evaluated every {s} s while measuring, as the collector's tracker does"),
        }
    ));
    report.note(format!(
        "each round: the storage floor, then /healthz, the overview, the filtered overview, \
         the HTML page, /api/gaps, a server page, a deployment's gap timeline (HTML) and \
         the fleet's 30-day timeline (JSON) and /metrics (the default form), each over HTTP (web::serve, a \
         connection per request as the dashboard closes each, opened before the clock \
         starts; request written to body read) and in-process through \
         web::router (oneshot, body collected), in alternating order; {} rounds after {} \
         warm-up rounds; /metrics/detail {} times after them (plus one warm-up)",
        args.requests, args.warmup, args.metrics_requests
    ));
    for p in plans {
        report.note(format!("plan: {p}"));
    }
    if args.db.is_some() {
        report.text("db_path", db.display().to_string());
    }
    Ok(())
}
