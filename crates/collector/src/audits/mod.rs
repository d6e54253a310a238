//! Connectivity audits: a point-in-time run of the whole catalog on every server in scope.
//!
//! Starting one orders every connected agent in scope (through ingest's [`Sessions`]) and
//! records the servers in scope: known but not connected ones are recorded as not ordered
//! (they are findings of their own). A watcher task per running audit then decides who
//! answered and closes the audit. With several collectors on one database, "connected"
//! is connected to any of them, each collector delivers the orders to its own agents, and
//! only the leader watches and closes audits ([`delivery`]).
//!
//! The answered rule: a server has answered when at least one result tagged with the audit
//! has arrived and either (a) it has a tagged result for as many checks as it has ever
//! reported (its rows in the latest-state table: its catalog as far as the collector knows),
//! or (b) no new tagged result has arrived for [`QUIET`]. (a) closes an audit as soon as the
//! last result lands; (b) covers an agent whose catalog shrank since. The agent spools a
//! whole suite's results at once, so they arrive together in practice. At the deadline,
//! servers with at least one tagged result count as answered (what is missing shows as
//! `missing` gaps); the others as not answered.
//!
//! The audit closes when every ordered server answered, or at its deadline. Watchers of
//! audits left running by a restart (or by a leader that died) start again with
//! [`Audits::resume`]. At shutdown,
//! [`Audits::stop`] lets an audit being closed enqueue its webhook events first.

pub mod answer;
mod delivery;
pub mod report;

use eceprobe_proto::now_ms;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, RwLock};

use crate::endpoints::EndpointsHandle;
use crate::gap_diff::{self, GapDiff};
use crate::gaps::Policy;
use crate::ingest::Sessions;
use crate::latency::{audit_latency_warnings, Peer};
use crate::leader::Leadership;
use crate::notify::{event, Notifier};
use crate::store::{AuditRecord, AuditServerRecord, FoundGap, KnownAgent, Store, StoreError};

/// Agents have this long to answer unless asked otherwise.
pub const DEFAULT_DEADLINE_S: u32 = 120;
pub const MAX_DEADLINE_S: u32 = 3600;
/// A server with tagged results and none new for this long has answered.
pub const QUIET: Duration = Duration::from_secs(2);
/// How often a watcher looks at an audit's progress.
const POLL: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("deadline_s {0}: at most {MAX_DEADLINE_S} seconds")]
    Deadline(u32),
    #[error("no audit with id '{0}'")]
    Unknown(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

/// An audit and how many of its servers were ordered and answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSummary {
    pub record: AuditRecord,
    pub servers: Vec<AuditServerRecord>,
}

/// Everything an audit found.
#[derive(Debug, Clone)]
pub struct AuditFindings {
    pub summary: AuditSummary,
    /// The servers' declared facts, where known.
    pub agents: Vec<KnownAgent>,
    /// Every result tagged with the audit.
    pub results: Vec<crate::store::StoredResult>,
    pub gaps: Vec<FoundGap>,
    /// Against the previous closed audit of the same scope: its id and the diff.
    pub previous: Option<(String, GapDiff)>,
    /// The policy the gaps were found with (TOML).
    pub policy: String,
}

/// Starts, watches and reads audits; cheap to clone.
#[derive(Clone)]
pub struct Audits {
    store: Store,
    sessions: Sessions,
    policy: Arc<Policy>,
    notifier: Notifier,
    /// Microsoft's endpoint list, for `address_not_microsoft` in an audit's findings.
    endpoints: EndpointsHandle,
    /// Set by [`Audits::stop`]: watchers close no more audits.
    stopping: Arc<AtomicBool>,
    /// Held (read) by a watcher from closing an audit to enqueuing its events; taken
    /// (write) by [`Audits::stop`] to wait for those in progress.
    closing: Arc<RwLock<()>>,
    /// Who leads: with a shared database only the leader watches and closes audits.
    leadership: Leadership,
    /// The audits this process watches now (one watcher each).
    watched: Arc<Mutex<HashSet<String>>>,
    /// Wakes the delivery of orders at once (an audit was just started here).
    deliver_now: Arc<Notify>,
}

/// Sortable and unique enough: the start time, then 16 bits that differ between audits
/// started in the same millisecond.
fn new_id(started_unix_ms: i64) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let salt = (nanos ^ COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37)) & 0xFFFF;
    format!("a-{started_unix_ms:013}-{salt:04x}")
}

impl Audits {
    pub fn new(store: Store, sessions: Sessions, policy: Arc<Policy>) -> Audits {
        Audits {
            store,
            sessions,
            policy,
            notifier: Notifier::disabled(),
            endpoints: EndpointsHandle::default(),
            stopping: Arc::new(AtomicBool::new(false)),
            closing: Arc::new(RwLock::new(())),
            leadership: Leadership::default(),
            watched: Arc::default(),
            deliver_now: Arc::new(Notify::new()),
        }
    }

    /// With a shared database, only the leader watches and closes audits (closing enqueues
    /// webhook events: two closers would send them twice). Default: leading alone.
    pub fn with_leadership(mut self, leadership: Leadership) -> Audits {
        self.leadership = leadership;
        self
    }

    /// The registry of connected agents this audits orders through.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// At shutdown, before the store closes: watchers close no more audits (those still
    /// running stay open and are resumed at the next start), and an audit being closed
    /// finishes, its webhook events enqueued, within `grace`. False if that took longer.
    pub async fn stop(&self, grace: Duration) -> bool {
        self.stopping.store(true, Ordering::SeqCst);
        tokio::time::timeout(grace, self.closing.write())
            .await
            .is_ok()
    }

    /// The endpoint list addresses are judged against (the collector's shared one).
    pub fn with_endpoints(mut self, endpoints: EndpointsHandle) -> Audits {
        self.endpoints = endpoints;
        self
    }

    /// Webhook events when an audit closes (its new and resolved gaps, and a summary).
    pub fn with_notifier(mut self, notifier: Notifier) -> Audits {
        self.notifier = notifier;
        self
    }

    /// Starts an audit of one deployment (empty: all) and its watcher; returns at once.
    pub async fn start(
        &self,
        deployment: &str,
        deadline_s: u32,
    ) -> Result<AuditRecord, AuditError> {
        let deadline_s = match deadline_s {
            0 => DEFAULT_DEADLINE_S,
            s if s > MAX_DEADLINE_S => return Err(AuditError::Deadline(s)),
            s => s,
        };
        let started_unix_ms = now_ms();
        let audit = AuditRecord {
            audit_id: new_id(started_unix_ms),
            deployment: deployment.to_owned(),
            started_unix_ms,
            deadline_unix_ms: started_unix_ms + i64::from(deadline_s) * 1000,
            closed_unix_ms: None,
            policy: self.policy.to_toml(),
        };
        let shared = self.sessions.is_shared();
        let connected: BTreeSet<String> = self.sessions.connected().await?.into_iter().collect();
        let servers: Vec<AuditServerRecord> = self
            .store
            .agents()
            .await?
            .into_iter()
            .filter(|a| deployment.is_empty() || a.record.deployment == deployment)
            .map(|a| {
                let id = a.record.agent_id;
                // Shared: every collector delivers to its own agents (delivery.rs); alone,
                // this one orders its streams now, and a full queue is "not ordered".
                let ordered = connected.contains(&id)
                    && (shared || self.sessions.order(&id, delivery::order_of(&audit)));
                AuditServerRecord {
                    agent_id: id,
                    ordered,
                    answered_unix_ms: None,
                }
            })
            .collect();
        let ordered = servers.iter().filter(|s| s.ordered).count();
        tracing::info!(audit = %audit.audit_id, deployment, servers = servers.len(), ordered, deadline_s, "audit started");
        if shared {
            self.store
                .create_audit_undelivered(audit.clone(), servers)
                .await?;
            self.deliver_now.notify_one();
        } else {
            self.store.create_audit(audit.clone(), servers).await?;
        }
        // A follower does not watch it: the leader adopts it within a second.
        if self.leadership.is_leading() {
            self.spawn_watcher(audit.clone());
        }
        Ok(audit)
    }

    async fn watch(self, audit: AuditRecord) {
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            if !self.leadership.is_leading() {
                // Another collector leads now: it adopts the audit.
                tracing::info!(audit = %audit.audit_id, "no longer leading: this collector stops watching the audit");
                return;
            }
            match self.step(&audit, now_ms()).await {
                Ok(true) => return,
                Ok(false) => {}
                Err(StoreError::Closed) => return,
                Err(e) => {
                    tracing::warn!(audit = %audit.audit_id, error = %e, "audit watch failed; retrying")
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Marks who answered; closes the audit when all did or at the deadline. True when
    /// the audit is closed.
    async fn step(&self, audit: &AuditRecord, now: i64) -> Result<bool, StoreError> {
        let id = &audit.audit_id;
        let servers = self.store.audit_servers(id).await?;
        let mut pending: Vec<&str> = servers
            .iter()
            .filter(|s| s.ordered && s.answered_unix_ms.is_none())
            .map(|s| s.agent_id.as_str())
            .collect();
        if !pending.is_empty() {
            let progress: HashMap<String, _> = self
                .store
                .audit_progress(id)
                .await?
                .into_iter()
                .map(|p| (p.agent_id.clone(), p))
                .collect();
            let catalog = self.store.reported_checks().await?;
            let deadline = now >= audit.deadline_unix_ms;
            let mut still = Vec::new();
            for agent in pending {
                let answered = progress.get(agent).filter(|p| {
                    let quiet = now - p.last_received_unix_ms >= QUIET.as_millis() as i64;
                    let all = p.checks >= catalog.get(agent).copied().unwrap_or(0);
                    p.checks > 0 && (all || quiet || deadline)
                });
                match answered {
                    Some(p) => {
                        self.store
                            .mark_audit_answered(id, agent, p.last_received_unix_ms)
                            .await?;
                        tracing::info!(audit = %id, agent, checks = p.checks, "server answered the audit");
                    }
                    None => still.push(agent),
                }
            }
            pending = still;
            if !pending.is_empty() && !deadline {
                return Ok(false);
            }
        }
        // Closing and enqueuing its events go together: shutdown waits for both.
        let _closing = self.closing.read().await;
        if self.stopping.load(Ordering::SeqCst) {
            return Ok(true);
        }
        if self.store.close_audit(id, now).await? {
            tracing::info!(audit = %id, not_answered = pending.len(), "audit closed");
            // Only the call that closed it: a resumed or racing watcher sends nothing.
            self.notify_closed(id).await;
        }
        Ok(true)
    }

    /// The webhook events of an audit that just closed (its new and resolved gaps, then the
    /// summary), read only when webhooks are configured. Call once, from the call that
    /// closed it.
    async fn notify_closed(&self, audit_id: &str) {
        if !self.notifier.is_enabled() {
            return;
        }
        let built = async {
            let f = self.findings(audit_id).await?;
            let previous = match &f.previous {
                Some((id, diff)) => {
                    let before = self.summary(id).await?.record;
                    Some((
                        before.closed_unix_ms.unwrap_or(before.started_unix_ms),
                        diff,
                    ))
                }
                None => None,
            };
            let record = &f.summary.record;
            Ok::<_, AuditError>(event::audit(&event::AuditOutcome {
                audit_id: &record.audit_id,
                deployment: &record.deployment,
                closed_unix_ms: record.closed_unix_ms.unwrap_or_else(now_ms),
                servers: &f.summary.servers,
                gaps: &f.gaps,
                previous,
            }))
        };
        match built.await {
            Ok(events) => self.notifier.send_all(&events).await,
            Err(e) => {
                tracing::warn!(audit = audit_id, error = %e, "cannot read the closed audit; no webhook events for it")
            }
        }
    }

    pub async fn summary(&self, audit_id: &str) -> Result<AuditSummary, AuditError> {
        let record = self
            .store
            .audit(audit_id)
            .await?
            .ok_or_else(|| AuditError::Unknown(audit_id.to_owned()))?;
        let servers = self.store.audit_servers(audit_id).await?;
        Ok(AuditSummary { record, servers })
    }

    /// Audits newest first (`deployment` None: every scope).
    pub async fn list(
        &self,
        deployment: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditSummary>, AuditError> {
        let mut out = Vec::new();
        for record in self.store.audits(deployment, limit).await? {
            let servers = self.store.audit_servers(&record.audit_id).await?;
            out.push(AuditSummary { record, servers });
        }
        Ok(out)
    }

    /// The policy an audit is evaluated with: the one recorded when it started, or (for
    /// audits recorded before policies were kept) the one in force now.
    pub fn policy_of(&self, record: &AuditRecord) -> Arc<Policy> {
        if record.policy.is_empty() {
            return Arc::clone(&self.policy);
        }
        match Policy::from_toml(&record.policy) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                // Only a hand-edited database gets here; the audit still reads.
                tracing::warn!(audit = %record.audit_id, error = %e, "the audit's recorded policy does not parse; using the policy in force");
                Arc::clone(&self.policy)
            }
        }
    }

    /// The gaps of an audit, evaluated with its own policy.
    async fn gaps_of(
        &self,
        summary: &AuditSummary,
        agents: &[KnownAgent],
    ) -> Result<(Vec<crate::store::StoredResult>, Vec<FoundGap>), AuditError> {
        let results = self.store.audit_results(&summary.record.audit_id).await?;
        let at = summary.record.closed_unix_ms.unwrap_or_else(now_ms);
        let policy = self.policy_of(&summary.record);
        let endpoints = self.endpoints.current();
        let gaps = report::findings(&policy, &summary.servers, agents, &results, at, &endpoints);
        Ok((results, gaps))
    }

    pub async fn findings(&self, audit_id: &str) -> Result<AuditFindings, AuditError> {
        let summary = self.summary(audit_id).await?;
        let agents = self.store.agents().await?;
        let (results, gaps) = self.gaps_of(&summary, &agents).await?;
        let previous = match self
            .store
            .previous_closed_audit(&summary.record.deployment, &summary.record)
            .await?
        {
            Some(before) => {
                let before = self.summary(&before.audit_id).await?;
                let (_, earlier) = self.gaps_of(&before, &agents).await?;
                Some((before.record.audit_id, gap_diff::diff(&earlier, &gaps)))
            }
            None => None,
        };
        let policy = self.policy_of(&summary.record);
        // The latency warnings come after the diff: they are warnings of the report, not
        // gaps an audit opens or closes.
        let mut gaps = gaps;
        gaps.extend(
            self.latency_of(&summary, &agents, &results, &policy)
                .await?,
        );
        let policy = policy.to_toml();
        Ok(AuditFindings {
            policy,
            summary,
            agents,
            results,
            gaps,
            previous,
        })
    }

    /// `slower_than_peers` and `latency_regression` as of the audit's results, as warnings.
    async fn latency_of(
        &self,
        summary: &AuditSummary,
        agents: &[KnownAgent],
        results: &[crate::store::StoredResult],
        policy: &Policy,
    ) -> Result<Vec<FoundGap>, AuditError> {
        let servers: Vec<Peer> = summary
            .servers
            .iter()
            .filter_map(|s| agents.iter().find(|a| a.record.agent_id == s.agent_id))
            .map(|a| Peer {
                agent_id: a.record.agent_id.clone(),
                deployment: a.record.deployment.clone(),
                role: a.record.role.clone(),
            })
            .collect();
        let found = audit_latency_warnings(&self.store, &policy.latency, &servers, results).await?;
        Ok(found
            .into_iter()
            .map(|w| FoundGap {
                deployment: servers
                    .iter()
                    .find(|s| s.agent_id == w.agent_id)
                    .map(|s| s.deployment.clone())
                    .unwrap_or_default(),
                agent_id: w.agent_id,
                check: w.check,
                kind: w.kind,
                severity: "warning".to_owned(),
                detail: w.detail,
            })
            .collect())
    }

    /// What changed from audit `from` to audit `to`.
    pub async fn diff(&self, from: &str, to: &str) -> Result<GapDiff, AuditError> {
        let agents = self.store.agents().await?;
        let (_, before) = self.gaps_of(&self.summary(from).await?, &agents).await?;
        let (_, after) = self.gaps_of(&self.summary(to).await?, &agents).await?;
        Ok(gap_diff::diff(&before, &after))
    }
}

#[cfg(test)]
mod tests;
