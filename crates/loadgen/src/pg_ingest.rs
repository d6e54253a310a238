//! `ingest --db postgres://...`: the ingest rate on PostgreSQL, in three phases of one run,
//! each in a fresh schema of the same database:
//! 1. one collector process, every agent on it (the stored rate, as on SQLite);
//! 2. two collector processes sharing the database (one leads, both ingest), the agents
//!    split between them (agent i on collector i mod 2): their combined rate;
//! 3. the baselines (`pg_raw.rs`): the same rows by plain multi-row INSERTs, then by COPY.

use anyhow::{Context, Result};

use crate::collector::{Collector, Launch};
use crate::fleet::{self, Drive};
use crate::ingest::{report_fleet, IngestArgs};
use crate::pg::Pg;
use crate::pg_raw::{self, How, PgRawOutcome};
use crate::procfs;
use crate::report::Report;

pub async fn run(
    args: &IngestArgs,
    db: &str,
    drive: Drive,
    launch: &Launch,
    report: &mut Report,
) -> Result<()> {
    let mut pg = Pg::new(db, args.password_file.as_deref())?;
    report.text("database", pg.shown());
    let outcome = phases(&mut pg, args, drive, launch, report).await;
    if launch.keep {
        report.text("pg_schemas_kept", pg.schemas().join(" "));
    } else if let Err(e) = pg.drop_schemas().await {
        tracing::warn!(
            "the run's schemas ({}) could not be dropped: {e:#}",
            pg.schemas().join(", ")
        );
    }
    outcome
}

/// A collector on `schema` of the database, named `name`.
async fn start(pg: &Pg, launch: &Launch, schema: &str, name: &str) -> Result<Collector> {
    let config = pg.write_config(&launch.dir, name)?;
    let extra = ["--config".to_owned(), config.display().to_string()];
    launch.start(name, pg.collector_url(schema), &extra).await
}

/// Stops them; their peak memory and how they exited, under `prefix`.
async fn stop_all(report: &mut Report, prefix: &str, collectors: Vec<Collector>) -> Result<()> {
    let mut peaks = Vec::new();
    let mut exits = Vec::new();
    for c in collectors {
        peaks.push(format!("{:.1}", c.status()?.hwm_mib()));
        exits.push(c.stop().await?.status);
    }
    report.text(
        &format!("{prefix}collector_peak_rss_mib"),
        peaks.join(" / "),
    );
    report.text(&format!("{prefix}collector_exit"), exits.join(" / "));
    Ok(())
}

/// What the table shows of one writer.
struct Line {
    writer: String,
    rows: u64,
    seconds: f64,
}

impl Line {
    fn rate(&self) -> f64 {
        self.rows as f64 / self.seconds.max(1e-9)
    }
}

async fn phases(
    pg: &mut Pg,
    args: &IngestArgs,
    drive: Drive,
    launch: &Launch,
    report: &mut Report,
) -> Result<()> {
    let mut lines = Vec::new();
    // 1. One collector.
    let one = pg.fresh_schema("one").await?;
    let collector = start(pg, launch, &one, "loadgen-1").await?;
    let fleet = fleet::run(&[&collector], drive).await?;
    stop_all(report, "", vec![collector]).await?;
    let stored = pg.count(&one, "results").await?;
    let one_rate = report_fleet(report, "", args, &fleet, stored);
    lines.push(Line {
        writer: format!("one collector, {} agents over gRPC", args.agents),
        rows: fleet.acked,
        seconds: fleet.wall.as_secs_f64(),
    });

    // 2. Two collectors, one database.
    let mut pair_rate = None;
    if !args.no_pair {
        let two = pg.fresh_schema("two").await?;
        let a = start(pg, launch, &two, "loadgen-a").await?;
        let b = start(pg, launch, &two, "loadgen-b").await?;
        let fleet = fleet::run(&[&a, &b], drive).await?;
        stop_all(report, "pair_", vec![a, b]).await?;
        let stored = pg.count(&two, "results").await?;
        let rate = report_fleet(report, "pair_", args, &fleet, stored);
        report.float("ratio_pair_to_one", rate / one_rate);
        pair_rate = Some(rate);
        lines.push(Line {
            writer: format!(
                "two collectors sharing the database, {} + {} agents",
                args.agents.div_ceil(2),
                args.agents / 2
            ),
            rows: fleet.acked,
            seconds: fleet.wall.as_secs_f64(),
        });
    }

    // 3. The baselines, into tables shaped like the results table of phase 1.
    let mut baselines = Vec::new();
    if !args.no_raw {
        let raw = pg.fresh_schema("raw").await?;
        let mut conn = pg.connect_in(&raw).await?;
        let like = format!("{one}.results");
        for (how, table, name) in [
            (How::Insert, "insert_rows", "insert"),
            (How::Copy, "copy_rows", "copy"),
        ] {
            let cpu = procfs::cpu_s("self")?;
            let out = pg_raw::run(&mut conn, table, &like, drive.plan, how)
                .await
                .with_context(|| format!("the PostgreSQL baseline ({name})"))?;
            let cpu = procfs::cpu_s("self")? - cpu;
            let stored = pg.count(&raw, table).await?;
            report_baseline(report, name, &out, cpu, stored, one_rate);
            lines.push(Line {
                writer: match how {
                    How::Insert => format!(
                        "plain INSERT, {} rows per statement, one connection",
                        args.batch
                    ),
                    How::Copy => format!(
                        "COPY (binary), {} rows per COPY, one connection",
                        args.batch
                    ),
                },
                rows: out.rows,
                seconds: out.db_time.as_secs_f64(),
            });
            baselines.push((name, out.rows as f64 / out.db_time.as_secs_f64()));
        }
        sqlx::Connection::close(conn).await.ok();
    }
    report.block(words(one_rate, pair_rate, &baselines));
    report.block(table(&lines, one_rate));
    Ok(())
}

fn report_baseline(
    report: &mut Report,
    name: &str,
    out: &PgRawOutcome,
    cpu: f64,
    stored: u64,
    one_rate: f64,
) {
    let rate = out.rows as f64 / out.db_time.as_secs_f64();
    report.int(&format!("{name}_rows"), out.rows);
    report.int(&format!("{name}_statements"), out.statements);
    report.float(&format!("{name}_db_s"), out.db_time.as_secs_f64());
    report.float(&format!("{name}_wall_s"), out.wall.as_secs_f64());
    report.float(&format!("{name}_loadgen_cpu_s"), cpu);
    report.float(&format!("{name}_rows_per_s"), rate);
    report.float(&format!("ratio_stored_to_{name}"), one_rate / rate);
    if stored != out.rows {
        report.note(format!(
            "the {name} baseline's table holds {stored} rows, not the {} written",
            out.rows
        ));
    }
}

/// The run in a sentence or two.
fn words(one: f64, pair: Option<f64>, baselines: &[(&str, f64)]) -> String {
    let mut s = format!("On PostgreSQL one collector stored {one:.0} results/s");
    let parts: Vec<String> = baselines
        .iter()
        .map(|(name, rate)| {
            let what = if *name == "copy" {
                "COPY"
            } else {
                "plain INSERTs"
            };
            format!(
                "{:.0} % of the {rate:.0} rows/s of {what}",
                one / rate * 100.0
            )
        })
        .collect();
    if !parts.is_empty() {
        s.push_str(&format!(" ({})", parts.join(", ")));
    }
    s.push('.');
    if let Some(pair) = pair {
        s.push_str(&format!(
            " Two collectors sharing the database stored {pair:.0} results/s together, {:.2} times one collector's rate.",
            pair / one
        ));
    }
    s
}

/// The figures as a Markdown table.
fn table(lines: &[Line], one: f64) -> String {
    let mut t = String::from(
        "| writer | rows | seconds | rows/s | vs one collector |\n|---|---|---|---|---|\n",
    );
    for l in lines {
        t.push_str(&format!(
            "| {} | {} | {:.1} | {:.0} | {:.2} |\n",
            l.writer,
            l.rows,
            l.seconds,
            l.rate(),
            l.rate() / one
        ));
    }
    t.push_str("seconds: from the first batch sent to the last ack (collectors); inside the statements (baselines)");
    t
}
