//! Audits across collectors sharing one database. An audit started on any of them records
//! as ordered every server in scope connected to any of them (`Sessions::connected`); each
//! collector then delivers the running audits' orders to the agents streaming to it, once
//! per server (a claim in the store, so an agent that reconnects, here or to another
//! collector, is not ordered twice, and one that moved mid-audit gets it where it is now).
//! Only the leader watches and closes audits, since closing enqueues webhook events: it
//! adopts every running audit it does not watch yet (started on another collector, or left
//! by a leader that died) at each gain of leadership and every [`LOOK_EVERY`]; a watcher
//! stops when its collector stops leading. A collector alone orders its streams itself at
//! the start and never runs this loop.

use std::collections::HashSet;
use std::sync::PoisonError;
use std::time::Duration;

use eceprobe_proto::now_ms;
use eceprobe_proto::v1::{order, Order, RunAudit};
use tokio::sync::watch;

use super::Audits;
use crate::leader::Role;
use crate::store::{AuditRecord, StoreError};

/// How often a collector sharing the database looks for orders to deliver and, leading,
/// for audits to watch.
pub const LOOK_EVERY: Duration = Duration::from_secs(1);

/// The order of an audit as an agent receives it.
pub(super) fn order_of(audit: &AuditRecord) -> Order {
    order(&audit.audit_id, audit.deadline_unix_ms)
}

fn order(audit_id: &str, deadline_unix_ms: i64) -> Order {
    Order {
        order_id: audit_id.to_owned(),
        kind: Some(order::Kind::RunAudit(RunAudit {
            audit_id: audit_id.to_owned(),
            deadline_unix_ms,
        })),
    }
}

impl Audits {
    /// With a shared database: delivers orders to this collector's agents and, while
    /// leading, adopts running audits, every [`LOOK_EVERY`] (at once when an audit starts
    /// here or the role changes), until `stopping`. Returns at once for a collector alone.
    pub async fn run_shared(self, mut stopping: watch::Receiver<bool>) {
        if !self.sessions.is_shared() {
            return;
        }
        let mut roles = self.leadership.subscribe();
        let mut tick = tokio::time::interval(LOOK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Said once per outage, not every second.
        let mut failing = false;
        loop {
            let leading = matches!(roles.now(), Role::Leading { .. });
            let looked = async {
                if leading {
                    self.resume().await?;
                }
                self.deliver().await
            };
            match looked.await {
                Ok(_) => failing = false,
                Err(StoreError::Closed) => return,
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot read the running audits to deliver their orders or watch them; trying again every second");
                    }
                    failing = true;
                }
            }
            tokio::select! {
                _ = tick.tick() => {}
                () = self.deliver_now.notified() => {}
                () = roles.changed() => {}
                _ = stopping.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Queues the running audits' undelivered orders on this collector's streams; returns
    /// how many went out.
    async fn deliver(&self) -> Result<usize, StoreError> {
        let here: HashSet<String> = self.sessions.here().into_iter().collect();
        if here.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let mut sent = 0;
        for o in self.store.undelivered_orders(now).await? {
            if !here.contains(&o.agent_id)
                || !self
                    .store
                    .claim_delivery(&o.audit_id, &o.agent_id, now)
                    .await?
            {
                continue;
            }
            if self
                .sessions
                .order(&o.agent_id, order(&o.audit_id, o.deadline_unix_ms))
            {
                sent += 1;
                tracing::info!(audit = %o.audit_id, agent = %o.agent_id, "audit order delivered to a server connected here");
            } else {
                // Its stream ended or its queue is full: the next look tries again.
                self.store
                    .unclaim_delivery(&o.audit_id, &o.agent_id)
                    .await?;
            }
        }
        Ok(sent)
    }

    /// Watches the running audits this process does not watch yet: those a previous run
    /// of the collector left, and with a shared database those started on other
    /// collectors or left by a leader that died. Only while leading.
    pub async fn resume(&self) -> Result<(), StoreError> {
        if !self.leadership.is_leading() {
            return Ok(());
        }
        for audit in self.store.running_audits().await? {
            self.spawn_watcher(audit);
        }
        Ok(())
    }

    /// One watcher per audit in this process.
    pub(super) fn spawn_watcher(&self, audit: AuditRecord) {
        let new = self
            .watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(audit.audit_id.clone());
        if new {
            let id = audit.audit_id.clone();
            let this = self.clone();
            tokio::spawn(async move {
                this.clone().watch(audit).await;
                this.watched
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
            });
        }
    }
}
