//! The gap timeline's read: every gap and warning that overlapped a window (opened before
//! its end, and still open or closed after its start) of one deployment, one server or
//! the whole fleet, as lanes (one per server, check and kind), bounded twice: at most
//! `max_lanes` lanes (with how many there were in all) and at most `bars_per_lane` bars
//! in a lane (its latest openings, with how many there were).
//!
//! Open gaps come from the partial indexes of open gaps, closed ones from the indexes of
//! closed gaps by deployment, by server or by time (`migrations/sqlite/0013_gap_timeline.sql`): a
//! read walks the window, never older history (the test below checks the plans).

use crate::sql::Sql;

use super::gaps::{gap, COLUMNS};
use super::rows::{column, unsigned_from_db};
use super::{read_error, GapRecord, Store, StoreError};

/// Which gaps and how many.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimelineWindow {
    /// One deployment's gaps, or every deployment's.
    pub deployment: Option<String>,
    /// One server's gaps, or every server's.
    pub agent_id: Option<String>,
    pub start_unix_ms: i64,
    pub end_unix_ms: i64,
    pub max_lanes: u32,
    pub bars_per_lane: u32,
}

/// One lane: the gaps of one (server, check, kind), oldest opened first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineLane {
    pub agent_id: String,
    pub check: String,
    pub kind: String,
    /// Gaps of this lane that overlapped the window, drawn or not.
    pub gaps_in_window: u64,
    /// The latest `bars_per_lane` of them, oldest first.
    pub gaps: Vec<GapRecord>,
}

/// The lanes read, ordered by their first opening (a change that broke several servers at
/// once puts their lanes side by side), and how many lanes overlapped the window in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    pub lanes: Vec<TimelineLane>,
    pub lanes_total: u64,
}

/// The query: `w` the gaps overlapping the window (open ones, then closed ones: each
/// half walks its own index), `lanes` the first `max_lanes` lanes with their counts, then
/// each lane's latest `bars_per_lane` gaps.
fn build(q: &TimelineWindow) -> Sql {
    let scope = |b: &mut Sql| {
        b.push(" AND opened_unix_ms <= ").push_bind(q.end_unix_ms);
        if let Some(d) = &q.deployment {
            b.push(" AND deployment = ").push_bind(d.clone());
        }
        if let Some(a) = &q.agent_id {
            b.push(" AND agent_id = ").push_bind(a.clone());
        }
    };
    let mut b = Sql::new(format!(
        "WITH w AS (SELECT {COLUMNS} FROM gaps WHERE closed_unix_ms IS NULL"
    ));
    scope(&mut b);
    b.push(format!(
        " UNION ALL SELECT {COLUMNS} FROM gaps WHERE closed_unix_ms IS NOT NULL \
         AND closed_unix_ms >= "
    ))
    .push_bind(q.start_unix_ms);
    scope(&mut b);
    b.push(
        "), lanes AS (SELECT agent_id, check_id, kind, MIN(opened_unix_ms) AS first_opened, \
         COUNT(*) AS in_window, COUNT(*) OVER () AS lanes_total FROM w \
         GROUP BY agent_id, check_id, kind \
         ORDER BY first_opened, agent_id, check_id, kind LIMIT ",
    )
    .push_bind(i64::from(q.max_lanes));
    b.push(
        ") SELECT * FROM (SELECT w.*, lanes.first_opened, lanes.in_window, lanes.lanes_total, \
         ROW_NUMBER() OVER (PARTITION BY w.agent_id, w.check_id, w.kind \
         ORDER BY w.opened_unix_ms DESC, w.gap_id DESC) AS nth \
         FROM w JOIN lanes USING (agent_id, check_id, kind)) AS ranked WHERE nth <= ",
    )
    .push_bind(i64::from(q.bars_per_lane));
    b.push(" ORDER BY first_opened, agent_id, check_id, kind, opened_unix_ms, gap_id");
    b
}

impl Store {
    /// The gaps and warnings that overlapped the query's window, as bounded lanes.
    pub async fn gap_timeline(&self, q: &TimelineWindow) -> Result<Timeline, StoreError> {
        let rows = build(q)
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| read_error("reading the gap timeline", e))?;
        let mut timeline = Timeline::default();
        for row in &rows {
            let g = gap(row)?;
            timeline.lanes_total = unsigned_from_db("gaps", column(row, "gaps", "lanes_total")?)?;
            let same_lane = timeline.lanes.last().is_some_and(|l| {
                l.agent_id == g.agent_id && l.check == g.check && l.kind == g.kind
            });
            if !same_lane {
                timeline.lanes.push(TimelineLane {
                    agent_id: g.agent_id.clone(),
                    check: g.check.clone(),
                    kind: g.kind.clone(),
                    gaps_in_window: unsigned_from_db("gaps", column(row, "gaps", "in_window")?)?,
                    gaps: Vec::new(),
                });
            }
            if let Some(lane) = timeline.lanes.last_mut() {
                lane.gaps.push(g);
            }
        }
        Ok(timeline)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tests::{on_both, open_temp};
    use crate::FoundGap;

    fn found(agent: &str, deployment: &str, kind: &str) -> FoundGap {
        FoundGap {
            agent_id: agent.into(),
            check: "imap".into(),
            kind: kind.into(),
            severity: "gap".into(),
            deployment: deployment.into(),
            detail: "tcp_refused".into(),
        }
    }

    /// Each half of the read walks an index of its scope; none scans the gaps table.
    #[tokio::test]
    async fn the_timeline_walks_indexes_of_its_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).await.unwrap();
        for (deployment, agent, index) in [
            (Some("prod"), None, "gaps_closed_by_deployment"),
            (None, Some("svc-1"), "gaps_closed_by_agent"),
            (None, None, "gaps_by_closed"),
        ] {
            let q = TimelineWindow {
                deployment: deployment.map(str::to_owned),
                agent_id: agent.map(str::to_owned),
                start_unix_ms: 1,
                end_unix_ms: 2,
                max_lanes: 60,
                bars_per_lane: 50,
            };
            // The plan does not depend on the values: bind placeholders' worth of them.
            let sql = format!("EXPLAIN QUERY PLAN {}", build(&q).text());
            let mut explain = sqlx::query(&sql);
            for _ in 0..sql.matches('$').count() {
                explain = explain.bind(deployment.or(agent).unwrap_or("x"));
            }
            let plan: Vec<String> = explain
                .fetch_all(&store.inner.reads)
                .await
                .unwrap()
                .iter()
                .map(|r| sqlx::Row::get::<String, _>(r, "detail"))
                .collect();
            assert!(plan.iter().any(|p| p.contains(index)), "{plan:?}");
            assert!(
                !plan.iter().any(|p| p.starts_with("SCAN gaps")),
                "{deployment:?} {agent:?}: {plan:?}"
            );
        }
        store.close().await;
    }

    on_both! {
        /// Lanes by first opening, bounded with the count of all; a lane's latest bars only.
        async fn lanes_and_bars_are_bounded_and_counted() {
            let (_dir, store) = open_temp().await;
            let day = 86_400_000;
            // Before the window: opened and closed (not in it), opened and still open (in it).
            store
                .reconcile_gaps(vec![found("old", "prod", "failing")], 0)
                .await
                .unwrap();
            store.reconcile_gaps(vec![], day).await.unwrap();
            store
                .reconcile_gaps(vec![found("b", "prod", "stale")], day)
                .await
                .unwrap();
            // In the window: a flapping gap on "a", then "c" in another deployment.
            for i in 0..5 {
                let t = 10 * day + i * 1000;
                let open = vec![found("b", "prod", "stale"), found("a", "prod", "failing")];
                store.reconcile_gaps(open, t).await.unwrap();
                store
                    .reconcile_gaps(vec![found("b", "prod", "stale")], t + 500)
                    .await
                    .unwrap();
            }
            store
                .reconcile_gaps(
                    vec![found("b", "prod", "stale"), found("c", "lab", "failing")],
                    11 * day,
                )
                .await
                .unwrap();
            let q = |deployment: Option<&str>, max_lanes| TimelineWindow {
                deployment: deployment.map(str::to_owned),
                agent_id: None,
                start_unix_ms: 5 * day,
                end_unix_ms: 12 * day,
                max_lanes,
                bars_per_lane: 3,
            };
            let t = store.gap_timeline(&q(Some("prod"), 60)).await.unwrap();
            assert_eq!(t.lanes_total, 2);
            let keys: Vec<_> = t.lanes.iter().map(|l| l.agent_id.as_str()).collect();
            assert_eq!(keys, ["b", "a"], "ordered by first opening");
            let a = &t.lanes[1];
            assert_eq!(a.gaps_in_window, 5);
            let opened: Vec<i64> = a.gaps.iter().map(|g| g.opened_unix_ms).collect();
            assert_eq!(opened, [10 * day + 2000, 10 * day + 3000, 10 * day + 4000]);
            let all = store.gap_timeline(&q(None, 1)).await.unwrap();
            assert_eq!((all.lanes.len(), all.lanes_total), (1, 3));
            store.close().await;
        }
    }
}
