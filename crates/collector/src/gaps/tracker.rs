//! The tracker: evaluates the fleet's latest state against the policy and records, in the
//! store, which gaps opened and which closed. It runs on a timer (so silent agents become
//! stale gaps) and soon after new results are stored (so a fix shows within seconds), but
//! never more often than once per [`MIN_SPACING`].

use eceprobe_proto::now_ms;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::views::{agent_view, check_view};
use super::{evaluate_awake, Awake, GapFinding, Policy};
use crate::endpoints::EndpointsHandle;
use crate::leader::{Leadership, Role};
use crate::notify::Notifier;
use crate::store::metrics::ServerChecks;
use crate::store::{FoundGap, GapChanges, Store, StoreError};

/// Evaluations are at least this far apart, however fast results arrive.
pub const MIN_SPACING: Duration = Duration::from_secs(1);

/// Evaluates and records gaps; cheap to clone.
#[derive(Clone)]
pub struct Tracker {
    store: Store,
    policy: Arc<Policy>,
    stored: Arc<Notify>,
    last_evaluated: Arc<AtomicI64>,
    notifier: Notifier,
    /// Microsoft's endpoint list in use: addresses resolved for Microsoft hosts are judged
    /// against it (`address_not_microsoft`).
    endpoints: EndpointsHandle,
    /// This collector's run (see [`Tracker::begin_run`]) and when the collector was awake.
    awake: Arc<Mutex<(Option<i64>, Awake)>>,
    /// Every server's checks up or not, as of the last evaluation (`/metrics`).
    fleet: Arc<Mutex<Option<Arc<Vec<ServerChecks>>>>>,
    /// Whether this collector leads: only the leader evaluates (see `leader.rs`).
    leadership: Leadership,
}

impl Tracker {
    pub fn new(store: Store, policy: Policy) -> Tracker {
        Tracker {
            store,
            policy: Arc::new(policy),
            stored: Arc::new(Notify::new()),
            last_evaluated: Arc::new(AtomicI64::new(0)),
            notifier: Notifier::disabled(),
            endpoints: EndpointsHandle::default(),
            awake: Arc::default(),
            fleet: Arc::default(),
            leadership: Leadership::default(),
        }
    }

    /// Evaluates only while `leadership` leads, its reconcile fenced by the lease's term;
    /// default: a collector alone, which always evaluates.
    pub fn with_leadership(mut self, leadership: Leadership) -> Tracker {
        self.leadership = leadership;
        self
    }

    /// Who leads, as this collector knows it.
    pub fn leadership(&self) -> &Leadership {
        &self.leadership
    }

    /// Records that this collector is still up (its run's last sign of life), so agents'
    /// silence is measured while any collector listened. The leader does it at every
    /// evaluation; the others at every turn of [`Tracker::run`].
    pub async fn keep_alive(&self, now_unix_ms: i64) -> Result<(), StoreError> {
        let run = self.awake_lock().0;
        match run {
            Some(run) => self.store.collector_alive(run, now_unix_ms).await,
            None => Ok(()),
        }
    }

    /// Records in the store that this collector starts accepting agents at `now`, and reads
    /// when earlier runs were awake: from here on an agent's silence is measured only over
    /// the time a collector was up ([`Awake`]), so a restart or an outage of the collector
    /// never makes agents stale by itself. Call it before the first evaluation; without
    /// it every moment counts as awake.
    pub async fn begin_run(&self, now_unix_ms: i64) -> Result<(), StoreError> {
        let run = self.store.begin_collector_run(now_unix_ms).await?;
        let spans = self.store.awake_spans().await?;
        *self.awake_lock() = (Some(run), Awake::from_spans(spans));
        Ok(())
    }

    /// When the collector was awake, as the evaluations count it (the dashboard's view of
    /// staleness uses the same).
    pub fn awake(&self) -> Awake {
        self.awake_lock().1.clone()
    }

    fn awake_lock(&self) -> std::sync::MutexGuard<'_, (Option<i64>, Awake)> {
        // Nothing panics while holding the lock; a poisoned value is still whole.
        self.awake.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Webhook events for every gap that opens or closes (and, through
    /// [`Tracker::notifier`], for audits).
    pub fn with_notifier(mut self, notifier: Notifier) -> Tracker {
        self.notifier = notifier;
        self
    }

    /// The shared endpoint list (the loader's handle); default: the shipped snapshot.
    pub fn with_endpoints(mut self, endpoints: EndpointsHandle) -> Tracker {
        self.endpoints = endpoints;
        self
    }

    /// The endpoint list every reader shares: the dashboard, the API, `/metrics`, audits.
    pub fn endpoints(&self) -> EndpointsHandle {
        self.endpoints.clone()
    }

    pub fn notifier(&self) -> Notifier {
        self.notifier.clone()
    }

    /// The policy gaps are evaluated with.
    pub fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.policy)
    }

    /// Notify this when new results are stored: the next evaluation comes sooner.
    pub fn results_stored(&self) -> Arc<Notify> {
        Arc::clone(&self.stored)
    }

    /// When the recorded gaps were last brought up to date (Unix ms; 0 = not yet): by this
    /// collector, or, on one that does not lead, by the leader as the lease records it.
    pub fn last_evaluated_unix_ms(&self) -> i64 {
        self.last_evaluated.load(Ordering::Relaxed)
    }

    /// Every server's checks, up or not, as the last evaluation read them: what `/metrics`
    /// serves, so a scrape reads no fleet-sized table (the state is as old as
    /// `eceprobe_gap_evaluation_timestamp_seconds`, and agrees with the open gaps). None
    /// before the first evaluation.
    pub fn fleet_checks(&self) -> Option<Arc<Vec<ServerChecks>>> {
        self.fleet
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A turn on a collector that does not lead: its run kept alive, and the leader's last
    /// recorded evaluation taken as the time the gaps it shows are as of.
    async fn follow(&self, now_unix_ms: i64) -> Result<(), StoreError> {
        self.keep_alive(now_unix_ms).await?;
        if let Some(lease) = self.store.lease(crate::leader::LEASE).await? {
            self.last_evaluated
                .fetch_max(lease.evaluated_unix_ms, Ordering::Relaxed);
        }
        Ok(())
    }

    /// One evaluation as of `now`: reads agents and latest states, finds the gaps and
    /// records what opened and closed.
    pub async fn evaluate_at(&self, now_unix_ms: i64) -> Result<GapChanges, StoreError> {
        // Checked first (not leading: nothing read), and again by the store at the write.
        let fence = self.leadership.fence()?;
        let known = self.store.agents().await?;
        let agents: Vec<_> = known.iter().map(agent_view).collect();
        let endpoints = self.endpoints.current();
        let states = self.store.latest_states().await?;
        let checks: Vec<_> = states
            .iter()
            .filter_map(|s| check_view(s, &endpoints))
            .collect();
        let fleet = Arc::new(ServerChecks::of_fleet(&known, &states));
        let (run, awake) = self.awake_lock().clone();
        if let Some(run) = run {
            // The last sign of life a crash leaves behind: the next start counts from here.
            self.store.collector_alive(run, now_unix_ms).await?;
        }
        let found = evaluate_awake(&self.policy, &agents, &checks, now_unix_ms, &awake)
            .into_iter()
            .map(found_gap)
            .collect();
        let changes = self
            .store
            .reconcile_gaps_fenced(found, now_unix_ms, fence)
            .await?;
        *self.fleet.lock().unwrap_or_else(PoisonError::into_inner) = Some(fleet);
        self.last_evaluated
            .fetch_max(now_unix_ms, Ordering::Relaxed);
        for g in &changes.opened {
            tracing::info!(deployment = %g.deployment, agent = %g.agent_id, check = %g.check, kind = %g.kind, severity = %g.severity, detail = %g.detail, "gap opened");
        }
        for g in &changes.closed {
            tracing::info!(deployment = %g.deployment, agent = %g.agent_id, check = %g.check, kind = %g.kind, severity = %g.severity, "gap closed");
        }
        // Only after the change is recorded: an event names a gap the Query API shows.
        self.notifier.gap_changes(&changes, now_unix_ms).await;
        Ok(changes)
    }

    /// Takes a server out of service at `now` (see [`Store::retire_agent`]): its open gaps
    /// close with the reason "retired", each with its webhook event. None when no server of
    /// that id is in service.
    pub async fn retire(
        &self,
        agent_id: &str,
        now_unix_ms: i64,
    ) -> Result<Option<GapChanges>, StoreError> {
        let Some(retirement) = self.store.retire_agent(agent_id, now_unix_ms).await? else {
            return Ok(None);
        };
        let changes = GapChanges::from(retirement);
        tracing::info!(agent = %agent_id, gaps_closed = changes.closed.len(), "server retired");
        self.notifier.gap_changes(&changes, now_unix_ms).await;
        Ok(Some(changes))
    }

    /// Evaluates every `every`, and within [`MIN_SPACING`] of new results, until
    /// `shutdown` turns true (or its sender is dropped). Stopping is cooperative: an
    /// evaluation in progress finishes, its gap changes recorded *and* their webhook events
    /// enqueued, before this returns; aborting the task instead could lose the events of a
    /// change just committed. Callers await the task (bounded by [`STOP_GRACE`]) after
    /// signalling. A failed evaluation is logged and retried at the next turn.
    ///
    /// Only the leader evaluates (see [`Tracker::with_leadership`]); on another
    /// collector each turn only keeps its run alive, and a change of role starts the next
    /// turn at once, so a new leader evaluates without waiting a period.
    pub async fn run(self, every: Duration, mut shutdown: watch::Receiver<bool>) {
        let rest = every.saturating_sub(MIN_SPACING);
        let mut roles = self.leadership.subscribe();
        loop {
            if *shutdown.borrow_and_update() {
                return;
            }
            let leading = matches!(roles.now(), Role::Leading { .. });
            let turn = match leading {
                true => self.evaluate_at(now_ms()).await.map(|_| ()),
                false => self.follow(now_ms()).await,
            };
            match turn {
                Ok(()) => {}
                Err(StoreError::NotLeader { .. }) => {
                    tracing::info!("gap evaluation not recorded: this collector no longer leads (the leader evaluates)");
                }
                Err(e) if leading => {
                    tracing::warn!(error = %e, "gap evaluation failed; retrying at the next turn")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot record that this collector is up; retrying at the next turn")
                }
            }
            let wait = async {
                tokio::time::sleep(MIN_SPACING).await;
                tokio::select! {
                    () = tokio::time::sleep(rest) => {}
                    () = self.stored.notified(), if leading => {}
                    () = roles.changed() => {}
                }
            };
            tokio::select! {
                () = wait => {}
                // Only between evaluations: an evaluation is never cut short.
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }
}

/// How long a caller of [`Tracker::run`] waits, after signalling shutdown, for the
/// evaluation in progress to finish before aborting the task.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Awaits a [`Tracker::run`] task already signalled to stop, for at most `grace`; past
/// it, aborts the task with a warning (an evaluation cut short there may lose the webhook
/// events of the change it was recording).
pub async fn join_or_abort(mut task: JoinHandle<()>, grace: Duration) {
    match tokio::time::timeout(grace, &mut task).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "the gap tracker task failed"),
        Err(_) => {
            tracing::warn!(
                grace_s = grace.as_secs(),
                "the gap tracker did not stop in time; aborting it (webhook events of the evaluation in progress may be lost)"
            );
            task.abort();
        }
    }
}

/// A finding as the store records it.
pub fn found_gap(g: GapFinding) -> FoundGap {
    FoundGap {
        agent_id: g.agent_id,
        check: g.check.to_string(),
        kind: g.kind.as_str().to_owned(),
        severity: g.severity.as_str().to_owned(),
        deployment: g.deployment,
        detail: g.detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AgentRecord, GapFilter, NewResult};
    use eceprobe_checks::CheckId;

    const T0: i64 = 1_800_000_000_000;
    const MAILBOX: &str = "oauth-imap/old@contoso.com";

    fn result(seq: u64, check: &str, outcome: &str) -> NewResult {
        NewResult {
            seq,
            check: check.to_owned(),
            started_unix_ms: T0,
            outcome: outcome.to_owned(),
            failure_kind: (outcome == "fail").then(|| "mailbox_not_connected".to_owned()),
            failure_stage: None,
            duration_us: 1_000,
            warning_kinds: Vec::new(),
            stage_durations: Vec::new(),
            system_dns: None,
            detail: Vec::new(),
            audit_id: String::new(),
        }
    }

    /// One probe cycle: the checks the default policy requires, and the mailbox's check
    /// while configured.
    fn cycle(first_seq: u64, with_mailbox: bool) -> Vec<NewResult> {
        let mut names = CheckId::names(CheckId::REQUIRED_BY_DEFAULT).to_vec();
        if with_mailbox {
            names.push(MAILBOX);
        }
        names
            .into_iter()
            .zip(first_seq..)
            .map(|(c, seq)| result(seq, c, if c == MAILBOX { "fail" } else { "pass" }))
            .collect()
    }

    async fn open_gaps(store: &Store) -> Vec<(String, String)> {
        let filter = GapFilter {
            open_only: true,
            limit: 100,
            ..GapFilter::default()
        };
        let gaps = store.gaps(&filter).await.unwrap();
        gaps.into_iter().map(|g| (g.check, g.kind)).collect()
    }

    #[tokio::test]
    async fn a_removed_mailbox_closes_its_gap_once_the_agent_reports_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("eceprobe.db")).await.unwrap();
        store
            .upsert_agent(&AgentRecord {
                seen_unix_ms: T0,
                ..AgentRecord::for_test("svc")
            })
            .await
            .unwrap();
        let tracker = Tracker::new(store.clone(), Policy::default());
        store
            .insert_results("svc", cycle(1, true), T0)
            .await
            .unwrap();
        tracker.evaluate_at(T0 + 1000).await.unwrap();
        assert_eq!(
            open_gaps(&store).await,
            [(MAILBOX.to_owned(), "failing".to_owned())]
        );

        // The mailbox is removed from the agent's configuration: cycles every minute
        // without it. Within the stale window (3 minutes) its gap stays open...
        let mut seq = 7;
        for minute in 1..=3 {
            let at = T0 + minute * 60_000;
            store
                .insert_results("svc", cycle(seq, false), at)
                .await
                .unwrap();
            seq += 5;
            tracker.evaluate_at(at + 1000).await.unwrap();
            assert_eq!(open_gaps(&store).await.len(), 1, "minute {minute}");
        }
        // ...past it, the check is retired and its gap closes.
        let at = T0 + 4 * 60_000;
        store
            .insert_results("svc", cycle(seq, false), at)
            .await
            .unwrap();
        let changes = tracker.evaluate_at(at + 1000).await.unwrap();
        assert_eq!(changes.closed.len(), 1, "{changes:?}");
        assert_eq!(changes.closed[0].check, MAILBOX);
        assert!(open_gaps(&store).await.is_empty());

        // The agent then goes silent: its catalog checks go stale, the removed mailbox not.
        tracker.evaluate_at(at + 10 * 60_000).await.unwrap();
        let open = open_gaps(&store).await;
        assert_eq!(open.len(), 5, "{open:?}");
        assert!(
            open.iter().all(|(c, k)| k == "stale" && c != MAILBOX),
            "{open:?}"
        );
        store.close().await;
    }

    #[tokio::test]
    async fn run_stops_on_its_signal_after_the_evaluation_in_progress() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("eceprobe.db")).await.unwrap();
        let tracker = Tracker::new(store.clone(), Policy::default());
        let (stop, stopping) = watch::channel(false);
        let task = tokio::spawn(tracker.clone().run(Duration::from_secs(3600), stopping));
        // It evaluates at once, then waits: the signal ends the wait.
        while tracker.last_evaluated_unix_ms() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops within the grace")
            .unwrap();
        // A dropped sender stops it too.
        let (stop, stopping) = watch::channel(false);
        let task = tokio::spawn(tracker.run(Duration::from_secs(3600), stopping));
        drop(stop);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops within the grace")
            .unwrap();
        store.close().await;
    }
}
