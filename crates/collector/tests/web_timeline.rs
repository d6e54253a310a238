//! The gap timeline as a user sees it, over real HTTP from the dashboard serving a real
//! SQLite file: gaps recorded at known times through the store's reconciliation (the
//! tracker's write path, with the times the test chooses) appear as bars whose positions
//! agree with the day axis, an open one runs to "now", one older than the window starts at
//! its left edge and says so, 30 days against 7, a bad `days` refused in words, the lane
//! limit, and an empty window said in words.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use eceprobe_proto::now_ms;
use std::net::SocketAddr;
use std::sync::Arc;

use common::dashboard::{get, TOKEN};
use eceprobe_collector::audits::Audits;
use eceprobe_collector::civil::{civil_from_days, utc_minutes};
use eceprobe_collector::gaps::{Policy, Tracker};
use eceprobe_collector::ingest::{IngestCounters, Sessions};
use eceprobe_collector::store::{AgentRecord, FoundGap, Store};
use eceprobe_collector::web::{self, WebState};

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

/// The dashboard on loopback, serving `store` (no tracker loop: the gaps are what the test
/// recorded).
async fn serve(store: Store) -> SocketAddr {
    let tracker = Tracker::new(store.clone(), Policy::default());
    let sessions = Sessions::new();
    let audits = Audits::new(store.clone(), sessions.clone(), tracker.policy());
    let state = WebState {
        store,
        tracker,
        sessions,
        audits,
        token: Arc::new(TOKEN.to_owned()),
        counters: Arc::new(IngestCounters::new()),
    };
    let listener = web::bind(Some("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(web::serve(listener, state, std::future::pending()));
    addr
}

fn found(agent: &str, deployment: &str, check: &str, kind: &str, severity: &str) -> FoundGap {
    FoundGap {
        agent_id: agent.into(),
        check: check.into(),
        kind: kind.into(),
        severity: severity.into(),
        deployment: deployment.into(),
        detail: match kind {
            "failing" => "tcp_refused".into(),
            _ => String::new(),
        },
    }
}

fn agent(id: &str, deployment: &str) -> AgentRecord {
    AgentRecord {
        deployment: deployment.to_owned(),
        seen_unix_ms: now_ms(),
        ..common::records::agent_record(id)
    }
}

/// A bar as drawn: its classes, its tooltip, its rectangle.
#[derive(Debug)]
struct Bar {
    class: String,
    title: String,
    x: f64,
    width: f64,
    height: f64,
}

fn attr(tag: &str, name: &str) -> String {
    let start = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
    tag[start..].split('"').next().unwrap().to_owned()
}

fn bars(page: &str) -> Vec<Bar> {
    page.split("<g class=\"bar ")
        .skip(1)
        .map(|chunk| {
            let rect = &chunk[chunk.find("<rect").unwrap()..];
            let rect = &rect[..rect.find('>').unwrap()];
            Bar {
                class: chunk.split('"').next().unwrap().to_owned(),
                title: chunk
                    .split("<title>")
                    .nth(1)
                    .unwrap()
                    .split("</title>")
                    .next()
                    .unwrap()
                    .to_owned(),
                x: attr(rect, "x").parse().unwrap(),
                width: attr(rect, "width").parse().unwrap(),
                height: attr(rect, "height").parse().unwrap(),
            }
        })
        .collect()
}

fn bar<'a>(bars: &'a [Bar], who: &str) -> &'a Bar {
    bars.iter()
        .find(|b| b.title.starts_with(who))
        .unwrap_or_else(|| panic!("no bar of {who} in {bars:?}"))
}

/// The day labels under the axis: (x, text), left to right.
fn day_labels(page: &str) -> Vec<(f64, String)> {
    page.split("<text class=\"day-label\"")
        .skip(1)
        .map(|chunk| {
            let tag = &chunk[..chunk.find('>').unwrap()];
            let text = chunk[chunk.find('>').unwrap() + 1..]
                .split('<')
                .next()
                .unwrap();
            (attr(tag, "x").parse().unwrap(), text.to_owned())
        })
        .collect()
}

/// x of an element's first `name` attribute after `marker`.
fn x_after(page: &str, marker: &str, name: &str) -> f64 {
    let rest = &page[page.find(marker).unwrap()..];
    attr(&rest[..rest.find('>').unwrap()], name)
        .parse()
        .unwrap()
}

fn month_day(day: i64) -> String {
    let (_, m, d) = civil_from_days(day);
    format!("{m:02}-{d:02}")
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 0.25, "{what}: {a} against {b}");
}

#[tokio::test]
async fn bars_line_up_with_the_utc_day_axis() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.db")).await.unwrap();
    store.upsert_agent(&agent("svc-3", "prod")).await.unwrap();
    let now = now_ms();
    // Three days ago: the firewall change went in at 02:00Z and broke three servers at
    // once; two came back at 03:30, one is still down. The day is counted from 02:00Z of
    // today, not 00:00Z, so the open gap is 3 d old (not 4 d) whatever the hour of the run:
    // from 00:00Z to 02:00Z the day before is the one three days back.
    let day = (now - 2 * HOUR).div_euclid(DAY) - 3;
    let (t1, t2) = (day * DAY + 2 * HOUR, day * DAY + 3 * HOUR + 30 * 60_000);
    let stale = found("svc-4", "prod", "imap", "stale", "gap");
    let t0 = now - 10 * DAY;
    store.reconcile_gaps(vec![stale.clone()], t0).await.unwrap();
    let broken = vec![
        stale.clone(),
        found("svc-1", "prod", "imap", "failing", "gap"),
        found("svc-2", "prod", "imap", "failing", "gap"),
        found("svc-3", "prod", "smtp", "failing", "gap"),
        found("svc-2", "prod", "outlook-https", "intercepted", "warning"),
        found("lab-1", "lab", "imap", "failing", "gap"),
    ];
    store.reconcile_gaps(broken, t1).await.unwrap();
    let still = vec![stale, found("svc-3", "prod", "smtp", "failing", "gap")];
    store.reconcile_gaps(still, t2).await.unwrap();
    let web = serve(store).await;

    let r = get(web, "/timeline?deployment=prod").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page = r.body;
    assert!(page.contains("role=\"img\""), "{page}");
    // The summary screen readers get, in words (the window's ends are minutes of now).
    let label = page.split("aria-label=\"").nth(1).unwrap();
    let label = label.split('"').next().unwrap();
    assert!(
        label.starts_with("Gap timeline of deployment prod, the last 7 days (")
            && label.ends_with(
                ", UTC): 5 openings of gaps and warnings in 5 lanes (server, check, kind), \
                 2 still open."
            ),
        "{label}"
    );
    assert!(page.contains("Time in UTC"), "the axis says UTC");
    // The day of the change is labelled at its 00:00Z line, every day over a week.
    let labels = day_labels(&page);
    assert_eq!(labels.len(), 7, "{labels:?}");
    let at = |d: i64| {
        labels
            .iter()
            .find(|(_, text)| text.ends_with(&month_day(d)))
            .unwrap_or_else(|| panic!("no label for day {d} in {labels:?}"))
            .0
    };
    let (midnight, day_px) = (at(day), at(day + 1) - at(day));
    let x_of = |t: i64| midnight + (t - day * DAY) as f64 / DAY as f64 * day_px;

    let bars = bars(&page);
    assert_eq!(bars.len(), 5, "lab-1 is another deployment's: {bars:?}");
    let svc1 = bar(&bars, "svc-1 imap");
    close(svc1.x, x_of(t1), "svc-1 opens at 02:00");
    close(svc1.x + svc1.width, x_of(t2), "svc-1 closes at 03:30");
    assert!(svc1.class.starts_with("gap network"), "{svc1:?}");
    let opened = utc_minutes(t1);
    assert!(
        svc1.title.contains(&format!("Opened {opened}"))
            && svc1
                .title
                .contains(&format!("closed {} after 1 h 30 min", utc_minutes(t2)))
            && svc1.title.contains("owner network"),
        "{svc1:?}"
    );
    // Three servers broken the same minute: their bars start at the same x.
    let svc2 = bar(&bars, "svc-2 imap");
    let svc3 = bar(&bars, "svc-3 smtp");
    close(svc2.x, svc1.x, "svc-2 lines up with svc-1");
    close(svc3.x, svc1.x, "svc-3 lines up with svc-1");
    // Still open: drawn to now, as open, and said so.
    let now_x = x_after(&page, "<line class=\"now\"", "x1");
    close(svc3.x + svc3.width, now_x, "the open gap runs to now");
    assert!(svc3.class.contains("open"), "{svc3:?}");
    assert!(svc3.title.contains("still open, for 3 d"), "{svc3:?}");
    // A warning is thinner than a gap.
    let warning = bar(&bars, "svc-2 outlook-https");
    assert!(warning.class.starts_with("warning network"), "{warning:?}");
    assert!(warning.height < svc2.height, "{warning:?} against {svc2:?}");
    // Opened ten days ago: from the window's left edge, and said so.
    let svc4 = bar(&bars, "svc-4 imap");
    let left = x_after(&page, "<line class=\"axis\"", "x1");
    close(svc4.x, left, "the older gap starts at the left edge");
    assert!(svc4.class.contains("before-window"), "{svc4:?}");
    assert!(
        svc4.title.contains(&format!(
            "Opened {}, before this 7-day window starts",
            utc_minutes(t0)
        )) && svc4.title.contains("owner host"),
        "{svc4:?}"
    );
    // The same in words below the chart, and the switch to 30 days.
    assert!(page.contains("The timeline as a list"));
    assert!(
        page.contains("href=\"/timeline?deployment=prod&amp;days=30\""),
        "{page}"
    );

    // Over 30 days the stale gap opened inside the window; labels every third day.
    let month = get(web, "/timeline?deployment=prod&days=30").await.body;
    let svc4 = bar(&bars_of(&month), "svc-4 imap").x;
    assert!(svc4 > left + 100.0, "inside the 30-day window: {svc4}");
    assert!(!month.contains("before this"), "{month}");
    assert_eq!(day_labels(&month).len(), 10, "{:?}", day_labels(&month));
    assert!(month.contains("href=\"/timeline?deployment=prod&amp;days=7\""));

    // The JSON says the same.
    let api = get(web, "/api/timeline?deployment=prod&days=7").await;
    assert_eq!(api.status, 200, "{}", api.body);
    let v: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(v["days"], 7);
    assert_eq!(v["lanes_total"], 5);
    let lane = |server: &str| {
        v["lanes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["server"] == server)
            .unwrap()
            .clone()
    };
    assert_eq!(lane("svc-4")["bars"][0]["opened_before_window"], true);
    assert_eq!(
        lane("svc-3")["bars"][0]["closed_unix_ms"],
        serde_json::Value::Null
    );
    assert_eq!(lane("svc-1")["bars"][0]["closed_unix_ms"], t2);
    assert_eq!(lane("svc-1")["bars"][0]["owner"], "network");

    // The server page and the gaps page carry their own timelines.
    let server = get(web, "/servers/svc-3").await.body;
    assert_eq!(bars_of(&server).len(), 1, "svc-3's only");
    assert!(
        server.contains("href=\"/timeline?server=svc-3&amp;days=30\""),
        "{server}"
    );
    let gaps = get(web, "/gaps?deployment=lab").await.body;
    let lab = bars_of(&gaps);
    assert!(
        lab.len() == 1 && lab[0].title.starts_with("lab-1 imap"),
        "{lab:?}"
    );
    // The list under each chart has an id per scope, so the gaps page's refresh (app.js
    // reopens the `details[id]` that were open) leaves it open.
    assert!(
        gaps.contains("<details class=\"timeline-list\" id=\"timeline-list-deployment-lab\">"),
        "{gaps}"
    );
    assert!(
        server.contains("id=\"timeline-list-server-svc-3\""),
        "{server}"
    );
    assert!(page.contains("id=\"timeline-list-deployment-prod\""));
    let fleet = get(web, "/gaps").await.body;
    assert!(fleet.contains("id=\"timeline-list\""), "{fleet}");
}

fn bars_of(page: &str) -> Vec<Bar> {
    bars(page)
}

#[tokio::test]
async fn bad_days_are_refused_and_an_empty_window_is_said_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.db")).await.unwrap();
    let web = serve(store).await;
    let page = get(web, "/timeline?days=14").await;
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains(
            "days '14': the timeline covers the last 7 or the last 30 days: use days=7 or days=30"
        ),
        "{}",
        page.body
    );
    let api = get(web, "/api/timeline?deployment=prod&days=abc").await;
    assert_eq!(api.status, 400);
    let v: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert!(
        v["error"].as_str().unwrap().starts_with("days 'abc': "),
        "{v}"
    );

    let empty = get(web, "/timeline?deployment=prod").await;
    assert_eq!(empty.status, 200);
    assert!(
        empty
            .body
            .contains("No gap or warning was open in the last 7 days for deployment prod."),
        "{}",
        empty.body
    );
    assert!(
        !empty.body.contains("<svg class=\"timeline\""),
        "no empty chart"
    );
    let month = get(web, "/timeline?days=30").await.body;
    assert!(month.contains("No gap or warning was open in the last 30 days for every deployment."));
}

#[tokio::test]
async fn lanes_beyond_sixty_are_counted_and_linked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.db")).await.unwrap();
    let fleet: Vec<FoundGap> = (0..65)
        .map(|i| found(&format!("app-{i:02}"), "big", "imap", "failing", "gap"))
        .collect();
    store.reconcile_gaps(fleet, now_ms() - HOUR).await.unwrap();
    let web = serve(store).await;
    let page = get(web, "/timeline?deployment=big").await.body;
    assert_eq!(bars(&page).len(), 60);
    assert!(
        page.contains("... and 5 more lanes not drawn (the first 60 by first opening are): see <a href=\"/gaps?deployment=big\">the gaps page</a>"),
        "{page}"
    );
    assert!(
        page.contains("5 more lanes not drawn."),
        "the summary says it too"
    );
}
