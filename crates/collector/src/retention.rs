//! Retention: raw history, closed gaps and closed audits (with the results tagged with
//! them) older than the configured ages are deleted, in bounded steps (see
//! `Store::prune_before`), once at start and then every hour. History pruning never takes
//! an audit's results: they go with their audit.

use eceprobe_proto::now_ms;
use std::time::Duration;

use crate::config::Retention;
use crate::leader::Leadership;
use crate::store::{Store, StoreError};

/// How often retention runs.
pub const EVERY: Duration = Duration::from_secs(3600);

/// What one pass deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub results: u64,
    pub gaps: u64,
    pub audits: u64,
}

fn cutoff(now_unix_ms: i64, keep: Duration) -> i64 {
    now_unix_ms.saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX))
}

/// One pass as of `now`.
pub async fn prune_once(
    store: &Store,
    retention: Retention,
    now_unix_ms: i64,
) -> Result<Pruned, StoreError> {
    let mut pruned = Pruned::default();
    if let Some(keep) = retention.results {
        pruned.results = store.prune_before(cutoff(now_unix_ms, keep)).await?;
    }
    if let Some(keep) = retention.gaps {
        pruned.gaps = store.prune_gaps_before(cutoff(now_unix_ms, keep)).await?;
    }
    if let Some(keep) = retention.audits {
        pruned.audits = store.prune_audits_before(cutoff(now_unix_ms, keep)).await?;
    }
    Ok(pruned)
}

/// Prunes now and every [`EVERY`], forever (abort the task to stop it), while this
/// collector leads (only one collector prunes a shared database). Failures are logged and
/// retried at the next pass.
pub async fn run(store: Store, retention: Retention, leadership: Leadership) {
    loop {
        if leadership.leading().await.is_none() {
            return;
        }
        match prune_once(&store, retention, now_ms()).await {
            Ok(p) if p.results + p.gaps + p.audits > 0 => {
                tracing::info!(
                    results = p.results,
                    gaps = p.gaps,
                    audits = p.audits,
                    "retention pruned old history"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention pass failed; retrying in an hour"),
        }
        tokio::time::sleep(EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AgentRecord, AuditRecord, FoundGap, NewResult};

    const DAY_MS: i64 = 24 * 3600 * 1000;

    #[tokio::test]
    async fn old_history_and_old_closed_gaps_go_current_state_stays() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).await.unwrap();
        let agent = AgentRecord::for_test("svc-1");
        store.upsert_agent(&agent).await.unwrap();
        let result = |seq: u64| NewResult {
            seq,
            check: "imap".into(),
            started_unix_ms: 0,
            outcome: "pass".into(),
            failure_kind: None,
            failure_stage: None,
            duration_us: 1,
            warning_kinds: Vec::new(),
            stage_durations: Vec::new(),
            system_dns: None,
            detail: vec![1, 2, 3],
            audit_id: String::new(),
        };
        // seq 1 arrived on day 0, seq 2 on day 40; seq 3 on day 0 too, for an audit.
        store
            .insert_results("svc-1", vec![result(1)], 0)
            .await
            .unwrap();
        let audit = |id: &str, closed: i64| AuditRecord {
            audit_id: id.into(),
            deployment: String::new(),
            started_unix_ms: 0,
            deadline_unix_ms: 1,
            closed_unix_ms: Some(closed),
            policy: String::new(),
        };
        store
            .create_audit(audit("a-old", 0), Vec::new())
            .await
            .unwrap();
        store.close_audit("a-old", 10).await.unwrap();
        let mut tagged = result(3);
        tagged.audit_id = "a-old".into();
        store
            .insert_results("svc-1", vec![tagged], 0)
            .await
            .unwrap();
        store
            .insert_results("svc-1", vec![result(2)], 40 * DAY_MS)
            .await
            .unwrap();
        let gap = FoundGap {
            agent_id: "svc-1".into(),
            check: "imap".into(),
            kind: "failing".into(),
            severity: "gap".into(),
            deployment: "prod".into(),
            detail: "tcp_refused".into(),
        };
        // One gap closed on day 1, one open since day 2.
        store.reconcile_gaps(vec![gap.clone()], 0).await.unwrap();
        store.reconcile_gaps(Vec::new(), DAY_MS).await.unwrap();
        store.reconcile_gaps(vec![gap], 2 * DAY_MS).await.unwrap();

        let keep = Retention {
            results: Some(Duration::from_secs(30 * 24 * 3600)),
            gaps: Some(Duration::from_secs(24 * 3600)),
            audits: None,
        };
        let pruned = prune_once(&store, keep, 41 * DAY_MS).await.unwrap();
        assert_eq!(
            pruned,
            Pruned {
                results: 1,
                gaps: 1,
                audits: 0
            }
        );
        let history = store.history("svc-1", "imap", 10).await.unwrap();
        // The audit's result is older than the history retention, and stays with its audit.
        assert_eq!(
            history.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![3, 2]
        );
        assert_eq!(store.audit_results("a-old").await.unwrap().len(), 1);
        // Past the audit retention, the audit goes with its results.
        let audits = Retention {
            results: None,
            gaps: None,
            audits: Some(Duration::from_secs(30 * 24 * 3600)),
        };
        let pruned = prune_once(&store, audits, 41 * DAY_MS).await.unwrap();
        assert_eq!(pruned.audits, 1);
        assert!(store.audit("a-old").await.unwrap().is_none());
        let history = store.history("svc-1", "imap", 10).await.unwrap();
        assert_eq!(history.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2]);
        // The latest state is never pruned (seq 3 was the newest imap result).
        assert_eq!(store.latest("svc-1").await.unwrap()[0].seq, 3);
        let gaps = store.gaps(&Default::default()).await.unwrap();
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].closed_unix_ms, None, "open gaps are never pruned");

        // Keeping forever prunes nothing.
        let forever = Retention {
            results: None,
            gaps: None,
            audits: None,
        };
        assert_eq!(
            prune_once(&store, forever, i64::MAX).await.unwrap(),
            Pruned::default()
        );
        store.close().await;
    }
}
