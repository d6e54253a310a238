//! The fleet: N servers in the collector's database, seeded in-process through the store's
//! own methods (or a database seeded before, reused).

use eceprobe_proto::now_ms;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use eceprobe_checks::CheckId;
use eceprobe_collector::convert;
use eceprobe_collector::store::Store;
use eceprobe_proto::v1::{CheckResult, Finding, Hello, Outcome, Role};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::task::JoinSet;

use super::{OverviewArgs, DEPLOYMENTS};
use crate::payload;
use crate::report::Report;
use crate::seed::mix;

/// Every check of the catalog, in the order agents run them.
const CHECKS: [&str; CheckId::ALL.len()] = CheckId::names(CheckId::ALL);
/// Servers whose results are generated and stored at once while seeding.
const SEED_IN_FLIGHT: usize = 256;
/// The failing servers' imap fails in this many of their last rounds.
pub const FAILING_ROUNDS: usize = 3;

/// About one server in ten fails imap (a TCP timeout) in its last rounds: an open gap.
fn failing(i: usize) -> bool {
    mix(i as u64) % 10 == 0
}

/// About one in forty sees its outlook-https intercepted (outcome warn): a warning.
fn intercepted(i: usize) -> bool {
    (mix(i as u64) >> 20) % 40 == 1
}

/// About one in fifty has a slow smtp (over the policy's 5 s): a warning.
fn slow(i: usize) -> bool {
    (mix(i as u64) >> 40) % 50 == 2
}

pub fn agent_id(i: usize) -> String {
    format!("srv-{i:05}")
}

fn hello(i: usize) -> Hello {
    let id = agent_id(i);
    Hello {
        hostname: format!("{id}.contoso.local"),
        agent_id: id,
        role: if i % 2 == 0 {
            Role::Services
        } else {
            Role::Application
        } as i32,
        deployment: format!("dep-{}", i % DEPLOYMENTS),
        agent_version: "0.1.0".into(),
        os: "windows-server-2022".into(),
        ece_version: "12.6(1)".into(),
        ece_es: "ES1".into(),
        probe_interval_s: 60,
        java_runtime: crate::agent::JAVA_HOME.into(),
        java_truststore: crate::agent::java_truststore(),
    }
}

/// Server `i`'s history: `history` rounds of the six checks, a minute apart, ending now.
fn results(i: usize, history: usize, now: i64) -> Vec<CheckResult> {
    let mut out = Vec::with_capacity(history * CHECKS.len());
    for round in 0..history {
        let started = now - i64::try_from((history - round) * 60_000).unwrap_or(0);
        let last = round + 1 == history;
        for (c, check) in CHECKS.iter().enumerate() {
            let seq = (round * CHECKS.len() + c + 1) as u64;
            let fail = *check == "imap" && failing(i) && round + FAILING_ROUNDS >= history;
            let mut r = payload::check_result(seq, check, started, fail);
            if *check == "ece-url" {
                r.host = "ece.contoso.local".into();
            }
            if *check == "outlook-https" && last && intercepted(i) {
                r.outcome = Outcome::Warn as i32;
                r.warnings.push(Finding {
                    kind: "tls_intercepted".into(),
                    stage: "tls".into(),
                    detail: "the chain is trusted here but ends at 'Contoso Proxy CA', which is neither a root Microsoft uses nor an expected root you declared".into(),
                    hint: "exempt outlook.office365.com from TLS inspection (C10)".into(),
                    ..Default::default()
                });
            }
            if *check == "smtp" && last && slow(i) {
                r.duration_us = 6_400_000;
            }
            out.push(r);
        }
    }
    out
}

/// What seeding did.
struct Seeded {
    elapsed: Duration,
    results: u64,
}

/// Records every server and its history through the store (the collector's own write
/// path: one `upsert_agent` and one `insert_results` per server, batched by its writer).
async fn seed(store: &Store, servers: usize, history: usize) -> Result<Seeded> {
    let started = Instant::now();
    let now = now_ms();
    let mut tasks = JoinSet::new();
    let mut stored = 0u64;
    let mut last_log = Instant::now();
    let join = |r: Result<Result<u64>, tokio::task::JoinError>| -> Result<u64> {
        r.context("a seeding task panicked")?
    };
    for i in 0..servers {
        while tasks.len() >= SEED_IN_FLIGHT {
            if let Some(r) = tasks.join_next().await {
                stored += join(r)?;
            }
        }
        let store = store.clone();
        tasks.spawn(async move {
            let record = convert::agent_record(&hello(i), now)
                .with_context(|| format!("server {i}'s hello"))?;
            store
                .upsert_agent(&record)
                .await
                .with_context(|| format!("recording server {i}"))?;
            let rows = convert::batch_rows(&results(i, history, now))
                .with_context(|| format!("server {i}'s results"))?;
            let outcome = store
                .insert_results(&record.agent_id, rows.rows, now)
                .await
                .with_context(|| format!("storing server {i}'s results"))?;
            Ok(outcome.inserted)
        });
        if last_log.elapsed() > Duration::from_secs(10) {
            last_log = Instant::now();
            tracing::info!(servers = i, of = servers, results = stored, "seeding");
        }
    }
    while let Some(r) = tasks.join_next().await {
        stored += join(r)?;
    }
    Ok(Seeded {
        elapsed: started.elapsed(),
        results: stored,
    })
}

/// Opens the database at `db`: reused when it holds --servers servers (brought back to
/// "just heard from"), seeded when it does not exist yet.
pub async fn open(args: &OverviewArgs, db: &Path, report: &mut Report) -> Result<Store> {
    let existed = db.exists();
    let store = Store::open(db)
        .await
        .with_context(|| format!("opening {}", db.display()))?;
    if existed {
        let n = store.agents().await?.len();
        ensure!(
            n == args.servers,
            "{} holds {n} servers, not --servers {}: delete it or pass another --db",
            db.display(),
            args.servers
        );
        tracing::info!(db = %db.display(), "reusing the seeded database");
        // Seeded servers never report again: bring them back to "just heard from".
        let mut conn = SqliteConnectOptions::new()
            .filename(db)
            .busy_timeout(Duration::from_secs(30))
            .connect()
            .await?;
        sqlx::query("UPDATE agents SET seen_unix_ms = ?1")
            .bind(now_ms())
            .execute(&mut conn)
            .await
            .context("refreshing seen_unix_ms")?;
        conn.close().await?;
    } else {
        tracing::info!(servers = args.servers, history = args.history, "seeding");
        let seeded = seed(&store, args.servers, args.history).await?;
        report.float("seed_s", seeded.elapsed.as_secs_f64());
        report.int("seed_results", seeded.results);
        report.float(
            "seed_results_per_s",
            seeded.results as f64 / seeded.elapsed.as_secs_f64(),
        );
    }
    report.text("db_reused", if existed { "yes" } else { "no" });
    Ok(store)
}
