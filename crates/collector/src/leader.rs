//! One leader among the collectors sharing a database. Every collector serves ingest, the
//! Query API and the dashboard; the singleton work (gap evaluation, retention, scheduled
//! audits, webhook delivery) runs only on the one holding the lease in the store (see
//! `eceprobe_store::Lease`). PostgreSQL is the arbiter: no consensus of our own.
//!
//! The [`Elector`] renews the lease every third of its length and publishes this
//! collector's [`Role`]; the singleton loops wait on a [`Leadership`] until they lead. A
//! leader that cannot renew steps down at three quarters of its lease, before any other
//! collector may take it (the lease's times are the database's clock, which runs from the
//! moment the renewal was asked, so the leader's view ends first). The gap reconcile is
//! also fenced by the term in the database, so even a leader frozen past its lease cannot
//! overwrite its successor's gaps.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::store::{Fence, Store, StoreError};

/// The lease the singleton work runs under.
pub const LEASE: &str = "singleton";
/// How long a lease lasts unless renewed ([store] lease_s): a dead leader's work moves
/// to another collector within about this long.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);
/// Shortest lease accepted: renewals every third of it must still fit a busy writer.
pub const MIN_LEASE: Duration = Duration::from_secs(3);

/// This collector's part, as last known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Not known: before the first answer from the database, or after losing it.
    Unknown,
    /// This collector holds the lease at this term.
    Leading { term: i64 },
    /// Another collector holds it.
    Following { leader: String, term: i64 },
}

/// What a collector knows of who leads; cheap to clone.
#[derive(Clone)]
pub struct Leadership {
    /// This collector's name in the lease ("host:port").
    name: Arc<str>,
    /// False for a collector alone ([`Leadership::sole`]): it leads always, unfenced.
    fenced: bool,
    /// The lease's length (zero for a collector alone): how long a takeover may take.
    lease: Duration,
    role: watch::Receiver<Role>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("name", &self.name)
            .field("role", &self.role())
            .finish()
    }
}

impl Default for Leadership {
    fn default() -> Self {
        Leadership::sole("this collector")
    }
}

impl Leadership {
    /// A collector that leads always, without a lease (tests, embedded uses).
    pub fn sole(name: &str) -> Leadership {
        // The sender is dropped: the role never changes, and waits on it end at once.
        let (_, role) = watch::channel(Role::Leading { term: 0 });
        Leadership {
            name: name.into(),
            fenced: false,
            lease: Duration::ZERO,
            role,
        }
    }

    /// A collector sharing the database whose role the caller publishes instead of an
    /// [`Elector`] (tests; anything electing by other means). Its fence is checked against
    /// the lease in the store like an elected one's.
    pub fn published(name: &str, lease: Duration) -> (watch::Sender<Role>, Leadership) {
        let (tx, role) = watch::channel(Role::Unknown);
        let leadership = Leadership {
            name: name.into(),
            fenced: true,
            lease,
            role,
        };
        (tx, leadership)
    }

    /// The lease's length: a dead leader's work moves to another collector within about
    /// this and a third more (zero for a collector alone).
    pub fn lease(&self) -> Duration {
        self.lease
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn role(&self) -> Role {
        self.role.borrow().clone()
    }

    /// Whether this collector holds a lease in the database (others may share it), rather
    /// than leading alone ([`Leadership::sole`]).
    pub fn is_shared(&self) -> bool {
        self.fenced
    }

    pub fn is_leading(&self) -> bool {
        matches!(*self.role.borrow(), Role::Leading { .. })
    }

    /// The fence a leader's gap reconcile carries: None for a collector alone, an error
    /// when this collector does not lead now.
    pub fn fence(&self) -> Result<Option<Fence>, StoreError> {
        match (self.fenced, self.role()) {
            (false, _) => Ok(None),
            (true, Role::Leading { term }) => Ok(Some(Fence {
                lease: LEASE.to_owned(),
                holder: self.name.to_string(),
                term,
            })),
            (true, Role::Following { term, .. }) => Err(StoreError::NotLeader {
                holder: self.name.to_string(),
                term,
            }),
            (true, Role::Unknown) => Err(StoreError::NotLeader {
                holder: self.name.to_string(),
                term: 0,
            }),
        }
    }

    /// Waits until the role is known (leading or following): the first answer from the
    /// database.
    pub async fn known(&self) {
        let mut role = self.role.clone();
        let _ = role.wait_for(|r| *r != Role::Unknown).await;
    }

    /// Waits until this collector leads; returns its term. None once the elector has
    /// stopped (the collector is shutting down) without it leading.
    pub async fn leading(&self) -> Option<i64> {
        let mut role = self.role.clone();
        let seen = role
            .wait_for(|r| matches!(r, Role::Leading { .. }))
            .await
            .ok()?;
        match *seen {
            Role::Leading { term } => Some(term),
            _ => None,
        }
    }

    /// Resolves when this collector no longer leads at `term` (never, for a collector
    /// alone).
    pub async fn lost(&self, term: i64) {
        let mut role = self.role.clone();
        let ended = role
            .wait_for(|r| *r != Role::Leading { term })
            .await
            .is_ok();
        if !ended {
            // The elector stopped while this collector led: only shutdown follows.
            std::future::pending::<()>().await;
        }
    }

    /// A view of the role that a loop keeps across its turns: read it with
    /// [`Roles::now`] at each turn and wait on [`Roles::changed`], so no change between
    /// the two is missed.
    pub fn subscribe(&self) -> Roles {
        Roles(self.role.clone())
    }
}

/// See [`Leadership::subscribe`].
pub struct Roles(watch::Receiver<Role>);

impl Roles {
    /// The role now, marking it seen.
    pub fn now(&mut self) -> Role {
        self.0.borrow_and_update().clone()
    }

    /// Resolves when the role differs from the one [`Roles::now`] last read (never, for a
    /// collector alone, whose role cannot change).
    pub async fn changed(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Keeps this collector's claim on the lease and publishes its role.
pub struct Elector {
    store: Store,
    name: Arc<str>,
    /// This process among those that ran under `name`: a restart takes the lease back at
    /// once (see `Store::take_lease`).
    instance: String,
    lease: Duration,
    role: watch::Sender<Role>,
}

/// A process's instance: its pid and 64 random bits (a pid alone repeats across hosts and
/// reboots).
pub(crate) fn new_instance() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    // Without randomness the pid and the time still tell this process apart.
    let random = match ring::rand::SystemRandom::new().fill(&mut bytes) {
        Ok(()) => u64::from_be_bytes(bytes),
        Err(_) => u64::try_from(eceprobe_proto::now_ms()).unwrap_or(0),
    };
    format!("{}-{random:016x}", std::process::id())
}

/// The elector of a collector named `name` (unique among the collectors sharing the
/// database: "host:port"), and the leadership it publishes.
pub fn elect(store: Store, name: &str, lease: Duration) -> (Elector, Leadership) {
    let name: Arc<str> = name.into();
    let (tx, rx) = watch::channel(Role::Unknown);
    let leadership = Leadership {
        name: Arc::clone(&name),
        fenced: true,
        lease: lease.max(MIN_LEASE),
        role: rx,
    };
    let elector = Elector {
        store,
        name,
        instance: new_instance(),
        lease: lease.max(MIN_LEASE),
        role: tx,
    };
    (elector, leadership)
}

impl Elector {
    /// Renews or seeks the lease every third of its length until `shutdown`; then, if
    /// leading, steps down and releases the lease so another collector takes over at once.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let every = self.lease / 3;
        let ttl_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        // Until when this collector may act as leader without a newer renewal.
        let mut valid_until: Option<Instant> = None;
        // When the database last answered the lease.
        let mut answered = Instant::now();
        // Since when another process of this name has held the lease.
        let mut same_name_since: Option<Instant> = None;
        loop {
            if *shutdown.borrow_and_update() {
                break;
            }
            let asked = Instant::now();
            self.step_down_if_past(&mut valid_until);
            // Bounded by the renewal period, and by the step-down time when that comes
            // first: a database that does not answer must not keep a leader believing past
            // its lease.
            let bound = match valid_until {
                Some(until) => (asked + every).min(until),
                None => asked + every,
            };
            let taking = self
                .store
                .take_lease(LEASE, &self.name, &self.instance, ttl_ms);
            let answer = tokio::time::timeout_at(bound, taking).await;
            let answered_now = matches!(answer, Ok(Ok(_)));
            match answer {
                Ok(Ok(lease)) if lease.holder == *self.name && lease.instance == self.instance => {
                    if let Role::Leading { term } = *self.role.borrow() {
                        if term != lease.term {
                            // Renewals keep the term: someone held the lease in between.
                            tracing::warn!(collector = %self.name, from = term, to = lease.term, "the leader lease changed hands while this collector led: another running collector uses the same name; give each its own [store] collector_name");
                        }
                    }
                    valid_until = Some(asked + self.lease * 3 / 4);
                    self.publish(Role::Leading { term: lease.term });
                }
                Ok(Ok(lease)) => {
                    valid_until = None;
                    if lease.holder == *self.name {
                        // An earlier process of this name (a restart) stops renewing and is
                        // replaced within half a lease; one that goes on renewing is a
                        // second running collector given the same name.
                        let since = *same_name_since.get_or_insert(asked);
                        if asked.saturating_duration_since(since) > self.lease {
                            tracing::error!(collector = %self.name, "another running collector uses this collector's name and holds the leader lease: give each collector its own [store] collector_name (this one stays a follower meanwhile)");
                        } else {
                            tracing::info!(collector = %self.name, "the leader lease is held by an earlier process of this collector's name: taken over once it has not been renewed for half a lease");
                        }
                    } else {
                        same_name_since = None;
                    }
                    self.publish(Role::Following {
                        leader: lease.holder,
                        term: lease.term,
                    });
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot renew or seek the leader lease; trying again");
                }
                Err(_) => {
                    tracing::warn!(
                        waited_ms = bound.saturating_duration_since(asked).as_millis() as u64,
                        "the database did not answer the leader lease in time; trying again"
                    );
                }
            }
            if answered_now {
                answered = asked;
            } else if asked.saturating_duration_since(answered) > self.lease
                && matches!(*self.role.borrow(), Role::Following { .. })
            {
                // A follower cut off from the database no longer knows who leads: it
                // stops saying so.
                self.publish(Role::Unknown);
            }
            self.step_down_if_past(&mut valid_until);
            // Wake for the next renewal, or at the step-down time if it comes first.
            let next = match valid_until {
                Some(until) => (asked + every).min(until),
                None => asked + every,
            };
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        let led = matches!(*self.role.borrow(), Role::Leading { .. });
        self.publish(Role::Unknown);
        if led {
            match self
                .store
                .release_lease(LEASE, &self.name, &self.instance)
                .await
            {
                Ok(_) => tracing::info!("leader lease released: another collector takes it at its next ask (within a third of the lease)"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot release the leader lease; another collector takes over once it expires")
                }
            }
        }
    }

    /// Past the step-down time without a renewal: this collector stops acting as leader,
    /// before the database may give the lease to another.
    fn step_down_if_past(&self, valid_until: &mut Option<Instant>) {
        if let Some(until) = *valid_until {
            if Instant::now() >= until {
                *valid_until = None;
                tracing::warn!("this collector could not renew its leader lease in time: it stops the singleton work (gap evaluation, retention, scheduled audits, webhook delivery) until it leads again");
                self.publish(Role::Unknown);
            }
        }
    }

    fn publish(&self, role: Role) {
        let changed = self.role.send_if_modified(|current| {
            if *current == role {
                return false;
            }
            *current = role.clone();
            true
        });
        if !changed {
            return;
        }
        match &role {
            Role::Leading { term } => {
                tracing::info!(collector = %self.name, term, "this collector leads: it evaluates gaps, prunes, runs scheduled audits and delivers webhooks")
            }
            Role::Following { leader, term } => {
                tracing::info!(collector = %self.name, leader = %leader, term, "another collector leads; this one serves agents, the Query API and the dashboard")
            }
            Role::Unknown => {}
        }
    }
}

/// This collector's default name in the lease: the host's name and the agents' port as
/// configured (not as bound: a restart keeps its name), so collectors on one host differ
/// and a restarted collector takes its lease back at once.
pub fn default_name(agents_port: u16) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|h| !h.is_empty() && h.len() <= 253)
        .unwrap_or_else(|| "collector".to_owned());
    format!("{host}:{agents_port}")
}
