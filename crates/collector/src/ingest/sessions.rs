//! The agents connected now: each stream's order queue, and the servers being retired,
//! under one lock so that a retirement and a Hello of the same server never interleave.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use eceprobe_proto::v1::Order;
use tokio::sync::mpsc;

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
}

impl Sessions {
    pub fn new() -> Sessions {
        Sessions::default()
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

    /// The agents connected now.
    pub fn connected(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.map().streams.keys().cloned().collect();
        ids.sort();
        ids
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
