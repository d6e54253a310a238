//! The measured requests: what the dashboard has to page through, then interleaved rounds
//! of every kind of request over HTTP and in-process, with the storage floor beside them,
//! and /metrics/detail after them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use axum::Router;
use sqlx::SqliteConnection;

use super::client::{in_process, json, timed, Client};
use super::floor::{plans, storage_floor, FLOOR_STEPS};
use super::seeding::agent_id;
use super::{OverviewArgs, FILTER_DEPLOYMENT};

/// One kind of timed request.
#[derive(Default)]
pub struct Series {
    pub client: Vec<Duration>,
    pub server: Vec<Duration>,
    pub bytes: u64,
}

impl Series {
    fn add(&mut self, client: Duration, server: Option<Duration>, bytes: usize) {
        self.client.push(client);
        self.server.extend(server);
        self.bytes += bytes as u64;
    }
}

/// A target for round `i`: pages spread over the range (37 is prime to 100, so 100 rounds
/// visit every page of 100 once).
fn spread(i: usize, pages: usize) -> usize {
    1 + (i * 37) % pages.max(1)
}

/// The pages the fleet fills, from the first answers (each timed, not kept).
pub struct Targets {
    pub pages: usize,
    pub per_page: u32,
    pub dep_pages: usize,
    pub gap_pages: usize,
    /// Open gaps and open warnings over all deployments.
    pub severities: (u64, u64),
}

impl Targets {
    pub async fn discover(client: &mut Client, servers: usize) -> Result<Targets> {
        let (_, first) = timed(client, "/api/overview").await?;
        let first = json(&first, "/api/overview")?;
        let total = first["pagination"]["total"].as_u64().unwrap_or(0);
        ensure!(
            total == servers as u64,
            "the overview counts {total} servers, not {}",
            servers
        );
        let pages = first["pagination"]["pages"].as_u64().unwrap_or(1) as usize;
        let per_page = first["pagination"]["per_page"].as_u64().unwrap_or(100) as u32;
        let (_, dep) = timed(
            client,
            &format!("/api/overview?deployment={FILTER_DEPLOYMENT}"),
        )
        .await?;
        let dep_pages = json(&dep, "filtered overview")?["pagination"]["pages"]
            .as_u64()
            .unwrap_or(1) as usize;
        let (_, gaps) = timed(client, "/api/gaps").await?;
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
        Ok(Targets {
            pages,
            per_page,
            dep_pages,
            gap_pages,
            severities,
        })
    }
}

/// The figures of the measured rounds.
pub struct Measured {
    pub series: BTreeMap<&'static str, Series>,
    pub floor: Series,
    pub floor_steps: Vec<Vec<Duration>>,
    /// `/metrics/detail`, measured after the rounds.
    pub metrics_detail: Series,
    /// How long the interleaved rounds took.
    pub measured: Duration,
    /// The plans of the overview's statements.
    pub plans: Vec<String>,
}

pub async fn measure(
    args: &OverviewArgs,
    client: &mut Client,
    router: &Router,
    floor_conn: &mut SqliteConnection,
    targets: &Targets,
) -> Result<Measured> {
    let Targets {
        pages,
        per_page,
        dep_pages,
        gap_pages,
        ..
    } = *targets;
    // Interleaved rounds: every kind once per round, so noise spreads over all of them.
    let kinds = [
        "healthz",
        "overview",
        "overview_deployment",
        "html_overview",
        "gaps",
        "server",
        "timeline",
        "timeline_fleet",
        "metrics",
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
        let steps = storage_floor(floor_conn, (page as u32 - 1) * per_page, per_page).await?;
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
                // The gap timeline: one deployment's page (HTML, its SVG drawn), and the
                // whole fleet's 30 days as JSON (over the lane limit).
                "timeline" => format!("/timeline?deployment={FILTER_DEPLOYMENT}&days=7"),
                "timeline_fleet" => "/api/timeline?days=30".to_string(),
                // The default form, as a scrape job asks it (issue 20: beside the overview).
                "metrics" => "/metrics".to_string(),
                _ => format!("/api/servers/{}", agent_id((round * 7919) % args.servers)),
            };
            let ((took, answer), (inside, _)) = if round % 2 == 0 {
                let http = timed(client, &target).await?;
                (http, in_process(router, &target).await?)
            } else {
                let inside = in_process(router, &target).await?;
                (timed(client, &target).await?, inside)
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

    // The detailed form on its own after the rounds: tens of MB at fleet size.
    let mut metrics_detail = Series::default();
    for round in 0..args.metrics_requests + 1 {
        let (took, answer) = timed(client, "/metrics/detail").await?;
        let (inside, _) = in_process(router, "/metrics/detail").await?;
        // The first is a warm-up.
        if round > 0 {
            metrics_detail.add(took, Some(inside), answer.body.len());
        }
    }
    let plans = plans(floor_conn).await?;
    Ok(Measured {
        series,
        floor,
        floor_steps,
        metrics_detail,
        measured,
        plans,
    })
}
