//! The dashboard at fleet size (issue 5: "works at 10,000 servers, overview p99 <= 50 ms
//! server-side"): a collector database of N servers seeded in-process through the store's
//! own methods, the dashboard served in-process as the collector serves it
//! (`eceprobe_collector::web::serve` on 127.0.0.1:0, the gap tracker re-evaluating the
//! fleet beside it), and one HTTP/1.1 keep-alive client timing sequential requests.
//!
//! Server-side time: each request is also sent, in the same round, to the same router
//! (`web::router`, with its token check and header layers) in-process through
//! `tower::ServiceExt::oneshot`, its body collected: the handler, the store reads and the
//! rendering, without hyper and the socket. The two go in alternating order, so neither
//! always runs on the cache the other warmed.
//!
//! Two baselines in the same run, interleaved with the measured requests so background
//! load hits all alike: `/healthz` round trips (the HTTP floor: the same connection, the
//! same router and layers, no store read) and the raw SQLite reads one overview page needs,
//! run with sqlx on a connection of our own to the same file (the storage floor).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use axum::body::Body;
use axum::http::{header, Request};
use axum::Router;
use eceprobe_collector::audits::Audits;
use eceprobe_collector::convert;
use eceprobe_collector::gaps::{now_ms, Policy, Tracker};
use eceprobe_collector::ingest::{IngestCounters, Sessions};
use eceprobe_collector::store::Store;
use eceprobe_collector::web::{self, WebState};
use eceprobe_proto::v1::{CheckResult, Finding, Hello, Outcome, Role};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::payload;
use crate::report::Report;
use crate::seed::mix;
use crate::stats::percentile;

#[derive(clap::Args, Debug, Clone)]
pub struct OverviewArgs {
    /// Servers (agents) in the database.
    #[arg(long, default_value_t = 10_000)]
    pub servers: usize,
    /// Timed requests of each kind (and storage-floor runs, and /healthz round trips).
    #[arg(long, default_value_t = 300)]
    pub requests: usize,
    /// Timed /metrics requests (each is tens of MB at 10,000 servers).
    #[arg(long, default_value_t = 10)]
    pub metrics_requests: usize,
    /// Untimed rounds of every kind first (page cache, statement caches, allocator).
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Results of history per check and server (one probe round a minute).
    #[arg(long, default_value_t = 10)]
    pub history: usize,
    /// Re-evaluate the fleet's gaps this often while measuring, as the collector's tracker
    /// does (its default `evaluate_every_s`); 0: never (only once before measuring).
    #[arg(long, default_value_t = 15)]
    pub evaluate_every_s: u64,
    /// The collector database: seeded here when the file does not exist, reused when it
    /// holds --servers servers (default: a fresh one in the work directory).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// Deployments the fleet is spread over: `dep-0` .. `dep-19`.
const DEPLOYMENTS: usize = 20;
/// The deployment of the filtered overview.
const FILTER_DEPLOYMENT: &str = "dep-7";
/// Every check of the catalog, in the order agents run them.
const CHECKS: [&str; 6] = [
    "login-https",
    "outlook-https",
    "imap",
    "pop3",
    "smtp",
    "ece-url",
];
/// Servers whose results are generated and stored at once while seeding.
const SEED_IN_FLIGHT: usize = 256;
/// The failing servers' imap fails in this many of their last rounds.
const FAILING_ROUNDS: usize = 3;
/// The access token of the in-process dashboard.
const TOKEN: &str = "loadgen-overview-token-0123456789abcdef0123";
/// As in the `gaps` scenario: seeded servers never report again; a day of staleness keeps
/// the gaps (and the cells) the same for the whole run.
const POLICY: &str = "stale_after_intervals = 1440\n";

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

fn agent_id(i: usize) -> String {
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
                    detail: "the chain ends at 'Contoso Proxy CA', not a Microsoft root".into(),
                    hint: "exempt outlook.office365.com from TLS inspection (C10)".into(),
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
                .insert_results(&record.agent_id, rows, now)
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

/// One answer, read to its end.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// The same request through the router in-process (no hyper, no socket): its time and
/// body length.
async fn in_process(router: &Router, target: &str) -> Result<(Duration, usize)> {
    let req = Request::get(target)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .with_context(|| format!("building GET {target}"))?;
    let started = Instant::now();
    let response = router.clone().oneshot(req).await?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .with_context(|| format!("in-process GET {target}: reading the body"))?;
    let took = started.elapsed();
    ensure!(
        status.is_success(),
        "in-process GET {target}: {status} {}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    Ok((took, body.len()))
}

/// A plain HTTP/1.1 client on one keep-alive connection.
struct Client {
    conn: BufReader<TcpStream>,
    addr: SocketAddr,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Result<Client> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to the dashboard at {addr}"))?;
        tcp.set_nodelay(true).context("TCP_NODELAY")?;
        Ok(Client {
            conn: BufReader::with_capacity(256 * 1024, tcp),
            addr,
        })
    }

    async fn get(&mut self, target: &str) -> Result<Answer> {
        let req = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n",
            self.addr
        );
        self.conn
            .get_mut()
            .write_all(req.as_bytes())
            .await
            .with_context(|| format!("sending GET {target}"))?;
        let mut line = String::new();
        self.read_line(&mut line, target).await?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("GET {target}: bad status line {line:?}"))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            self.read_line(&mut line, target).await?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let Some((name, value)) = l.split_once(':') else {
                bail!("GET {target}: bad header line {l:?}");
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().context("content-length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                self.read_line(&mut line, target).await?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .with_context(|| format!("GET {target}: bad chunk size {line:?}"))?;
                let at = body.len();
                body.resize(at + size + 2, 0);
                self.conn.read_exact(&mut body[at..]).await?;
                body.truncate(at + size);
                if size == 0 {
                    // The trailer section ends with an empty line (no trailers here).
                    break;
                }
            }
        } else {
            let n = length.with_context(|| format!("GET {target}: no content-length"))?;
            body.resize(n, 0);
            self.conn
                .read_exact(&mut body)
                .await
                .with_context(|| format!("reading the body of GET {target}"))?;
        }
        Ok(Answer { status, body })
    }

    async fn read_line(&mut self, line: &mut String, target: &str) -> Result<()> {
        line.clear();
        let n = self
            .conn
            .read_line(line)
            .await
            .with_context(|| format!("reading the answer to GET {target}"))?;
        ensure!(n > 0, "GET {target}: the dashboard closed the connection");
        Ok(())
    }
}

/// The reads `views::overview::build` makes for one page, as `store/web.rs` writes them.
const AGENT_COLUMNS: &str = "agent_id, hostname, role, deployment, agent_version, os, \
     ece_version, ece_es, probe_interval_s, seen_unix_ms, max_seq, spool_dropped, \
     first_seen_unix_ms";
const FLOOR_STEPS: [&str; 6] = [
    "agents page",
    "agents count",
    "latest of page",
    "open gaps of page",
    "agents per deployment",
    "open gaps per deployment",
];

fn in_list(n: usize) -> String {
    let marks = vec!["?"; n].join(", ");
    format!("({marks})")
}

/// The storage floor of one overview page (no filter): the six statements the view runs,
/// on our own read-only connection, rows fetched (decoded by sqlx) but not turned into
/// structs. The time of each statement.
async fn storage_floor(
    conn: &mut SqliteConnection,
    offset: u32,
    limit: u32,
) -> Result<[Duration; 6]> {
    let mut t = [Duration::ZERO; 6];
    let mut at = Instant::now();
    let mut lap = |i: usize, at: &mut Instant| {
        let now = Instant::now();
        t[i] = now - *at;
        *at = now;
    };
    let page = sqlx::query(&format!(
        "SELECT {AGENT_COLUMNS} FROM agents ORDER BY deployment, agent_id LIMIT ? OFFSET ?"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await
    .context("floor: agents page")?;
    let ids: Vec<String> = page
        .iter()
        .map(|r| sqlx::Row::try_get::<String, _>(r, "agent_id"))
        .collect::<Result<_, _>>()?;
    lap(0, &mut at);
    let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agents")
        .fetch_one(&mut *conn)
        .await
        .context("floor: count")?;
    lap(1, &mut at);
    let sql = format!(
        "SELECT agent_id, check_id, seq, outcome, failure_kind, warning_kinds, \
         duration_us, received_unix_ms FROM latest WHERE agent_id IN {} \
         ORDER BY agent_id, check_id",
        in_list(ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in &ids {
        q = q.bind(id);
    }
    let latest = q.fetch_all(&mut *conn).await.context("floor: latest")?;
    ensure!(!latest.is_empty(), "floor: no latest rows");
    lap(2, &mut at);
    let sql = format!(
        "SELECT gap_id, deployment, agent_id, check_id, kind, severity, detail, \
         opened_unix_ms, closed_unix_ms FROM gaps WHERE closed_unix_ms IS NULL \
         AND agent_id IN {} ORDER BY agent_id, check_id, kind, severity",
        in_list(ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in &ids {
        q = q.bind(id);
    }
    q.fetch_all(&mut *conn).await.context("floor: open gaps")?;
    lap(3, &mut at);
    sqlx::query(
        "SELECT deployment, COUNT(*) AS n FROM agents GROUP BY deployment ORDER BY deployment",
    )
    .fetch_all(&mut *conn)
    .await
    .context("floor: per deployment")?;
    lap(4, &mut at);
    sqlx::query(
        "SELECT deployment, severity, COUNT(*) AS n FROM gaps \
         WHERE closed_unix_ms IS NULL GROUP BY deployment, severity",
    )
    .fetch_all(&mut *conn)
    .await
    .context("floor: gaps per deployment")?;
    lap(5, &mut at);
    Ok(t)
}

/// The plans of the overview's statements, one line each.
async fn plans(conn: &mut SqliteConnection) -> Result<Vec<String>> {
    let ids = in_list(100);
    let statements = [
        format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY deployment, agent_id LIMIT 100 OFFSET 9900"),
        "SELECT COUNT(*) FROM agents".to_string(),
        format!("SELECT agent_id, check_id, seq, outcome, failure_kind, warning_kinds, duration_us, received_unix_ms FROM latest WHERE agent_id IN {ids} ORDER BY agent_id, check_id"),
        format!("SELECT gap_id FROM gaps WHERE closed_unix_ms IS NULL AND agent_id IN {ids} ORDER BY agent_id, check_id, kind, severity"),
        "SELECT deployment, COUNT(*) AS n FROM agents GROUP BY deployment ORDER BY deployment".to_string(),
        "SELECT deployment, severity, COUNT(*) AS n FROM gaps WHERE closed_unix_ms IS NULL GROUP BY deployment, severity".to_string(),
    ];
    let mut out = Vec::new();
    for (name, sql) in FLOOR_STEPS.iter().zip(statements) {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut q = sqlx::query(&explain);
        for _ in 0..sql.matches('?').count() {
            q = q.bind("x");
        }
        let rows = q.fetch_all(&mut *conn).await?;
        let detail: Vec<String> = rows
            .iter()
            .map(|r| sqlx::Row::try_get::<String, _>(r, "detail"))
            .collect::<Result<_, _>>()?;
        out.push(format!("{name}: {}", detail.join("; ")));
    }
    Ok(out)
}

/// One kind of timed request.
#[derive(Default)]
struct Series {
    client: Vec<Duration>,
    server: Vec<Duration>,
    bytes: u64,
}

impl Series {
    fn add(&mut self, client: Duration, server: Option<Duration>, bytes: usize) {
        self.client.push(client);
        self.server.extend(server);
        self.bytes += bytes as u64;
    }
}

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

/// A target for round `i`: pages spread over the range (37 is prime to 100, so 100 rounds
/// visit every page of 100 once).
fn spread(i: usize, pages: usize) -> usize {
    1 + (i * 37) % pages.max(1)
}

async fn timed(client: &mut Client, target: &str) -> Result<(Duration, Answer)> {
    let started = Instant::now();
    let answer = client.get(target).await?;
    let took = started.elapsed();
    ensure!(
        answer.status == 200,
        "GET {target}: {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
    );
    Ok((took, answer))
}

fn json(answer: &Answer, what: &str) -> Result<serde_json::Value> {
    serde_json::from_slice(&answer.body).with_context(|| format!("{what}: not JSON"))
}

pub async fn run(args: &OverviewArgs, work: &Path, report: &mut Report) -> Result<()> {
    ensure!(args.servers > 0, "--servers must be at least 1");
    ensure!(args.requests > 0, "--requests must be at least 1");
    ensure!(
        (1..=80).contains(&args.history),
        "--history must be 1-80 (one batch of at most 500 results per server)"
    );
    let db = match &args.db {
        Some(p) => p.clone(),
        None => work.join("collector.db"),
    };
    let existed = db.exists();
    let store = Store::open(&db)
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
            .filename(&db)
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

    let policy = Policy::from_toml(POLICY).context("the benchmark's policy")?;
    let tracker = Tracker::new(store.clone(), policy);
    let evaluating = Instant::now();
    tracker
        .evaluate_at(now_ms())
        .await
        .context("evaluating gaps")?;
    report.float(
        "gap_evaluation_ms",
        evaluating.elapsed().as_secs_f64() * 1e3,
    );
    // As the collector's tracker (`Tracker::run`): the fleet re-evaluated on a timer while
    // we measure, each evaluation timed.
    let evaluations = Arc::new(std::sync::Mutex::new(Vec::<Duration>::new()));
    let background = (args.evaluate_every_s > 0).then(|| {
        let tracker = tracker.clone();
        let evaluations = Arc::clone(&evaluations);
        let every = Duration::from_secs(args.evaluate_every_s);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let started = Instant::now();
                if let Err(e) = tracker.evaluate_at(now_ms()).await {
                    tracing::warn!(error = %e, "gap evaluation failed");
                }
                if let Ok(mut e) = evaluations.lock() {
                    e.push(started.elapsed());
                }
            }
        })
    });

    let sessions = Sessions::new();
    let state = WebState {
        store: store.clone(),
        tracker: tracker.clone(),
        sessions: sessions.clone(),
        audits: Audits::new(store.clone(), sessions, tracker.policy()),
        token: Arc::new(TOKEN.to_owned()),
        counters: Arc::new(IngestCounters::new()),
    };
    let listener = web::bind(Some(SocketAddr::from(([127, 0, 0, 1], 0))))
        .await
        .context("binding the dashboard")?;
    let addr = listener.local_addr()?;
    let router = web::router(state.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(web::serve(listener, state, async move {
        let _ = stopped.await;
    }));

    let mut client = Client::connect(addr).await?;
    let (_, first) = timed(&mut client, "/api/overview").await?;
    let first = json(&first, "/api/overview")?;
    let total = first["pagination"]["total"].as_u64().unwrap_or(0);
    ensure!(
        total == args.servers as u64,
        "the overview counts {total} servers, not {}",
        args.servers
    );
    let pages = first["pagination"]["pages"].as_u64().unwrap_or(1) as usize;
    let per_page = first["pagination"]["per_page"].as_u64().unwrap_or(100) as u32;
    let (_, dep) = timed(
        &mut client,
        &format!("/api/overview?deployment={FILTER_DEPLOYMENT}"),
    )
    .await?;
    let dep_pages = json(&dep, "filtered overview")?["pagination"]["pages"]
        .as_u64()
        .unwrap_or(1) as usize;
    let (_, gaps) = timed(&mut client, "/api/gaps").await?;
    let gaps = json(&gaps, "/api/gaps")?;
    let gap_pages = gaps["pagination"]["pages"].as_u64().unwrap_or(1) as usize;
    let severities = first["deployments"]
        .as_array()
        .map(|d| {
            d.iter().fold((0, 0), |(g, w), d| {
                (
                    g + d["open_gaps"].as_u64().unwrap_or(0),
                    w + d["open_warnings"].as_u64().unwrap_or(0),
                )
            })
        })
        .unwrap_or((0, 0));

    let mut floor_conn = SqliteConnectOptions::new()
        .filename(&db)
        .read_only(true)
        .connect()
        .await
        .context("opening the storage-floor connection")?;

    // Interleaved rounds: every kind once per round, so noise spreads over all of them.
    let kinds = [
        "healthz",
        "overview",
        "overview_deployment",
        "html_overview",
        "gaps",
        "server",
    ];
    let mut series: BTreeMap<&str, Series> = BTreeMap::new();
    let mut floor = Series::default();
    let mut floor_steps: Vec<Vec<Duration>> = vec![Vec::new(); FLOOR_STEPS.len()];
    let measured = Instant::now();
    for round in 0..args.warmup + args.requests {
        let keep = round >= args.warmup;
        let i = round.wrapping_sub(args.warmup);
        let page = spread(round, pages);
        let started = Instant::now();
        let steps = storage_floor(&mut floor_conn, (page as u32 - 1) * per_page, per_page).await?;
        let took = started.elapsed();
        if keep {
            floor.add(took, None, 0);
            for (all, t) in floor_steps.iter_mut().zip(steps) {
                all.push(t);
            }
        }
        for kind in kinds {
            let target = match kind {
                "healthz" => "/healthz".to_string(),
                "overview" => format!("/api/overview?page={page}"),
                "overview_deployment" => format!(
                    "/api/overview?deployment={FILTER_DEPLOYMENT}&page={}",
                    spread(round, dep_pages)
                ),
                "html_overview" => format!("/?page={page}"),
                "gaps" => format!("/api/gaps?page={}", spread(round, gap_pages)),
                _ => format!("/api/servers/{}", agent_id((round * 7919) % args.servers)),
            };
            let ((took, answer), (inside, _)) = if round % 2 == 0 {
                let http = timed(&mut client, &target).await?;
                (http, in_process(&router, &target).await?)
            } else {
                let inside = in_process(&router, &target).await?;
                (timed(&mut client, &target).await?, inside)
            };
            if keep {
                series
                    .entry(kind)
                    .or_default()
                    .add(took, Some(inside), answer.body.len());
            }
        }
        if keep && (i + 1) % 50 == 0 {
            tracing::info!(rounds = i + 1, of = args.requests, "measuring");
        }
    }
    let measured = measured.elapsed();

    let mut metrics = Series::default();
    for round in 0..args.metrics_requests + 1 {
        let (took, answer) = timed(&mut client, "/metrics").await?;
        let (inside, _) = in_process(&router, "/metrics").await?;
        // The first is a warm-up.
        if round > 0 {
            metrics.add(took, Some(inside), answer.body.len());
        }
    }
    let plans = plans(&mut floor_conn).await?;
    floor_conn.close().await?;
    let _ = stop.send(());
    serving
        .await
        .context("the dashboard task panicked")?
        .context("serving the dashboard")?;
    if let Some(b) = background {
        b.abort();
    }
    let evaluations = evaluations.lock().map(|e| e.clone()).unwrap_or_default();
    let db_mib = file_mib(&db);
    store.close().await;

    // Figures.
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
    let names: [(&str, String); 7] = [
        ("healthz", "/healthz (HTTP floor)".into()),
        ("overview", format!("/api/overview?page=1..{pages}")),
        (
            "overview_deployment",
            format!("/api/overview?deployment={FILTER_DEPLOYMENT}&page=1..{dep_pages}"),
        ),
        ("html_overview", format!("/?page=1..{pages} (HTML)")),
        ("gaps", format!("/api/gaps?page=1..{gap_pages}")),
        ("server", "/api/servers/{id}".into()),
        ("metrics", "/metrics".into()),
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
            "metrics" => &metrics,
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
    for (name, t) in FLOOR_STEPS.iter().zip(&floor_steps) {
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
         the HTML page, /api/gaps and a server page, each over HTTP (web::serve, one \
         keep-alive connection, request written to body read) and in-process through \
         web::router (oneshot, body collected), in alternating order; {} rounds after {} \
         warm-up rounds; /metrics {} times after them (plus one warm-up)",
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

/// The database and its WAL, MiB.
fn file_mib(db: &Path) -> f64 {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    (size(db) + size(Path::new(&wal))) as f64 / (1024.0 * 1024.0)
}
