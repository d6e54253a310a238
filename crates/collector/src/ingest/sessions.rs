//! The agents connected now: each stream's order queue, and the servers being retired,
//! under one lock so that a retirement and a Hello of the same server never interleave.
//!
//! With several collectors on one database ([`Sessions::shared`]), each stream is also
//! recorded in the database (`eceprobe_store::Connection`) and this process renews its
//! liveness there every [`HEARTBEAT`]: [`Sessions::connected`] then answers for every
//! collector, not only this one.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use eceprobe_proto::v1::Order;
use tokio::sync::{mpsc, watch};

use crate::store::{Store, StoreError};

/// How often a collector sharing the database renews its liveness there.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);
/// A connection counts while its collector was seen within this (three heartbeats): the
/// agents of a collector killed without a word stop counting as connected within it.
pub const ALIVE_WITHIN_MS: i64 = 15_000;

/// Orders queued per agent stream; beyond this, [`Sessions::order`] reports it busy.
const ORDER_QUEUE: usize = 4;

/// The streams (agent id -> the stream's number, its order queue) and the servers being
/// retired right now, under one lock: a server cannot be retired while it registers a
/// stream, nor register one while it is being retired.
#[derive(Default)]
struct Registry {
    streams: HashMap<String, (u64, mpsc::Sender<Order>)>,
    retiring: HashSet<String>,
}

/// The agents connected now, each with the queue of orders its stream sends down. Cheap to
/// clone; every clone is the same registry.
#[derive(Clone, Default)]
pub struct Sessions {
    inner: Arc<Mutex<Registry>>,
    next: Arc<AtomicU64>,
    /// Set when collectors share the database: where this process records its streams.
    shared: Option<Arc<Shared>>,
}

/// This process in the database: the store, its collector's name and its instance.
struct Shared {
    store: Store,
    collector: String,
    instance: String,
    /// How many agents [`Sessions::connected`] gave at the last heartbeat (-1: not yet),
    /// for `/metrics`, whose scrapes read no table.
    counted: AtomicI64,
}

impl Sessions {
    /// The registry of a collector alone on its database: who is connected is who streams
    /// to this process.
    pub fn new() -> Sessions {
        Sessions::default()
    }

    /// The registry of the collector `collector` (its name in the leader lease) sharing
    /// `store` with others: its streams are recorded there, and [`Sessions::connected`]
    /// reads every collector's. Run [`Sessions::keep_alive`] alongside.
    pub fn shared(store: Store, collector: &str) -> Sessions {
        Sessions {
            shared: Some(Arc::new(Shared {
                store,
                collector: collector.to_owned(),
                instance: crate::leader::new_instance(),
                counted: AtomicI64::new(-1),
            })),
            ..Sessions::default()
        }
    }

    /// Whether other collectors may serve agents of the same database.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, Registry> {
        // Nothing panics while holding the lock; a poisoned map is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new stream of the agent: it replaces an older one (which stops getting orders).
    /// None while the server is being retired.
    pub(super) fn register(&self, agent_id: &str) -> Option<(u64, mpsc::Receiver<Order>)> {
        let mut map = self.map();
        if map.retiring.contains(agent_id) {
            return None;
        }
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(ORDER_QUEUE);
        map.streams.insert(agent_id.to_owned(), (number, tx));
        Some((number, rx))
    }

    /// The stream ended; a newer stream of the same agent stays registered.
    pub(super) fn deregister(&self, agent_id: &str, number: u64) {
        let mut map = self.map();
        if map.streams.get(agent_id).is_some_and(|(n, _)| *n == number) {
            map.streams.remove(agent_id);
        }
    }

    /// The agents streaming to this process now, sorted.
    pub fn here(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.map().streams.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The agents connected now, sorted: to this collector alone, or to any collector
    /// alive within [`ALIVE_WITHIN_MS`] when the database is shared. The one answer to
    /// "who is connected" (the overview, a server's page, /metrics, retire's refusal, an
    /// audit's orders).
    pub async fn connected(&self) -> Result<Vec<String>, StoreError> {
        let Some(shared) = &self.shared else {
            return Ok(self.here());
        };
        let mut ids: Vec<String> = shared
            .store
            .connections(ALIVE_WITHIN_MS)
            .await?
            .into_iter()
            .map(|c| c.agent_id)
            .collect();
        // A stream of this process whose row could not be written still counts.
        ids.extend(self.here());
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// How many agents are connected, without a read: [`Sessions::connected`] as of the
    /// last heartbeat (at most [`HEARTBEAT`] old) when the database is shared, else now.
    pub fn connected_count(&self) -> usize {
        let counted = match &self.shared {
            Some(shared) => shared.counted.load(Ordering::Relaxed),
            None => -1,
        };
        usize::try_from(counted).unwrap_or_else(|_| self.map().streams.len())
    }

    /// Records a stream that opened (shared database only); a failure is logged, not
    /// fatal: the agent streams anyway, and this collector still counts it.
    pub(super) async fn opened(&self, agent_id: &str, number: u64) {
        if let Some(shared) = &self.shared {
            if let Err(e) = shared
                .store
                .agent_connected(agent_id, &shared.instance, number)
                .await
            {
                tracing::warn!(agent = agent_id, error = %e, "cannot record the agent's connection in the database; other collectors do not see it connected");
            }
        }
    }

    /// Deregisters a stream that ended, here and in the database.
    pub(super) async fn closed(&self, agent_id: &str, number: u64) {
        self.deregister(agent_id, number);
        if let Some(shared) = &self.shared {
            if let Err(e) = shared
                .store
                .agent_disconnected(agent_id, &shared.instance, number)
                .await
            {
                tracing::warn!(agent = agent_id, error = %e, "cannot record the end of the agent's connection; it stops counting once this collector's liveness lapses");
            }
        }
    }

    /// Records this process as alive (clearing what earlier processes of its name left),
    /// then renews that every [`HEARTBEAT`] until `stopping`; then clears its rows. Nothing
    /// for a collector alone. Call before serving agents: `started` resolves once the
    /// first record is written (or failed).
    pub async fn keep_alive(
        self,
        started: tokio::sync::oneshot::Sender<()>,
        mut stopping: watch::Receiver<bool>,
    ) {
        let Some(shared) = self.shared.clone() else {
            let _ = started.send(());
            return;
        };
        let start = || async {
            match shared
                .store
                .collector_started(&shared.collector, &shared.instance)
                .await
            {
                Ok(cleared) => {
                    tracing::info!(collector = %shared.collector, cleared, "this collector's agents are recorded in the database for the other collectors");
                    true
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot record this collector as alive in the database; other collectors do not count its agents as connected until it can");
                    false
                }
            }
        };
        let mut recorded = start().await;
        let _ = started.send(());
        if recorded {
            self.count(&shared).await;
        }
        let mut beat = tokio::time::interval(HEARTBEAT);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        beat.tick().await;
        loop {
            tokio::select! {
                _ = beat.tick() => {}
                _ = stopping.wait_for(|stop| *stop) => break,
            }
            if !recorded {
                recorded = start().await;
                if recorded {
                    self.record_all(&shared).await;
                }
                continue;
            }
            match shared.store.collector_seen(&shared.instance).await {
                Ok(true) => self.count(&shared).await,
                Ok(false) => {
                    // Cleared while this process ran (a process of the same name started,
                    // or this one was silent for an hour): record it and its streams again.
                    tracing::warn!(collector = %shared.collector, "this collector's record in the database was cleared by another process of its name: give each collector its own [store] collector_name");
                    recorded = false;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot renew this collector's liveness in the database; other collectors stop counting its agents as connected after 15 s");
                }
            }
        }
        if let Err(e) = shared.store.collector_stopped(&shared.instance).await {
            tracing::warn!(error = %e, "cannot clear this collector's connections at shutdown; they stop counting after 15 s");
        }
    }

    /// Counts the agents connected for [`Sessions::connected_count`]; on a failed read the
    /// last count stays.
    async fn count(&self, shared: &Shared) {
        if let Ok(ids) = self.connected().await {
            let n = i64::try_from(ids.len()).unwrap_or(i64::MAX);
            shared.counted.store(n, Ordering::Relaxed);
        }
    }

    /// Records every stream of this process again (after its record was recreated).
    async fn record_all(&self, shared: &Shared) {
        let streams: Vec<(String, u64)> = self
            .map()
            .streams
            .iter()
            .map(|(id, (n, _))| (id.clone(), *n))
            .collect();
        for (agent_id, number) in streams {
            if let Err(e) = shared
                .store
                .agent_connected(&agent_id, &shared.instance, number)
                .await
            {
                tracing::warn!(agent = %agent_id, error = %e, "cannot record the agent's connection in the database");
            }
        }
    }

    /// Holds off the agent's streams while its server is retired: None when it is
    /// connected now (it would be back at its next Hello); else no stream of it registers
    /// until the guard is dropped.
    pub fn begin_retire(&self, agent_id: &str) -> Option<RetiringGuard> {
        let mut map = self.map();
        if map.streams.contains_key(agent_id) || !map.retiring.insert(agent_id.to_owned()) {
            return None;
        }
        Some(RetiringGuard {
            sessions: self.clone(),
            agent_id: agent_id.to_owned(),
        })
    }

    /// Queues an order for the agent's stream; false when it is not connected or its queue
    /// is full.
    pub fn order(&self, agent_id: &str, order: Order) -> bool {
        let tx = self.map().streams.get(agent_id).map(|(_, tx)| tx.clone());
        tx.is_some_and(|tx| tx.try_send(order).is_ok())
    }
}

/// A server being retired (see [`Sessions::begin_retire`]); dropping it lets its agent
/// register streams again.
pub struct RetiringGuard {
    sessions: Sessions,
    agent_id: String,
}

impl Drop for RetiringGuard {
    fn drop(&mut self) {
        self.sessions.map().retiring.remove(&self.agent_id);
    }
}

/// A stream registered while its Hello is still being answered: deregistered on drop
/// unless handed on (`number` taken), so a failed or abandoned Hello leaves no "connected"
/// server behind.
pub(super) struct PendingStream<'a> {
    pub(super) sessions: &'a Sessions,
    pub(super) agent_id: &'a str,
    pub(super) number: Option<u64>,
}

impl Drop for PendingStream<'_> {
    fn drop(&mut self) {
        if let Some(number) = self.number {
            self.sessions.deregister(self.agent_id, number);
        }
    }
}
