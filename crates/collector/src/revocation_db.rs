//! Revocations shared by every collector of one database (issue 18): `revoke --db` records
//! into `revoked_certificates`; each serving collector re-reads that set every
//! [`REFRESH`] and refuses a certificate revoked there or in its own `revoked.txt`
//! ([`crate::auth::Revocations`]). An open stream is checked every second (ingest's sweep),
//! so a revocation made through one collector ends the agent's stream on another within a
//! few seconds.
//!
//! A failed read keeps the last set read, and says so once. Revocations are only ever added,
//! so the last set is never wrong about what it holds: a known revocation is never forgotten
//! because the database hiccupped. What the last set cannot hold is a revocation made during
//! the outage; so once no read succeeded for [`STALE_AFTER`], a certificate the last set
//! does not name is neither accepted nor refused as revoked: a new stream is refused as
//! unavailable (the agent keeps its results and tries again, or another collector), an open
//! one stays (as with an unreadable `revoked.txt`). Refusing every agent at the first failed
//! read (fail-closed at once) would turn each database blip into a fleet-wide reconnect,
//! while the database that could not be read cannot store their results either.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::store::{Store, StoreError};

/// How often a serving collector re-reads the revocations in the database.
pub const REFRESH: Duration = Duration::from_secs(2);
/// How long the last set read is trusted when reads fail (see the module's words).
pub const STALE_AFTER: Duration = Duration::from_secs(30);
/// One read's bound: a database that stopped answering holds no reader longer than this.
const READ_LIMIT: Duration = Duration::from_secs(5);

/// What the database says of one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Revoked,
    NotRevoked,
    /// Not in the last set, which is older than [`STALE_AFTER`] (or was never read).
    Unknown {
        read_s_ago: Option<u64>,
    },
}

/// The set as last read. Cheap to clone; clones share it.
#[derive(Clone, Debug, Default)]
pub struct SharedRevocations {
    state: Arc<RwLock<State>>,
}

#[derive(Debug, Default)]
struct State {
    revoked: HashSet<String>,
    /// When the last read succeeded; None: never.
    read_at: Option<Instant>,
}

impl SharedRevocations {
    pub fn new() -> SharedRevocations {
        SharedRevocations::default()
    }

    /// Reads the set again; on failure the last set stays. Returns how many are revoked.
    pub async fn refresh(&self, store: &Store) -> Result<usize, StoreError> {
        let rows = store.revocations().await?;
        let revoked: HashSet<String> = rows
            .into_iter()
            .map(|r| r.sha256.to_ascii_lowercase())
            .collect();
        let count = revoked.len();
        // Nothing panics while holding the lock; a poisoned one holds a whole set anyway.
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state.revoked = revoked;
        state.read_at = Some(Instant::now());
        Ok(count)
    }

    /// Whether the certificate of this SHA-256 fingerprint is revoked in the database.
    pub fn lookup(&self, fingerprint: &str) -> Lookup {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        if state.revoked.contains(fingerprint) {
            return Lookup::Revoked;
        }
        match state.read_at.map(|at| at.elapsed()) {
            Some(age) if age <= STALE_AFTER => Lookup::NotRevoked,
            age => Lookup::Unknown {
                read_s_ago: age.map(|a| a.as_secs()),
            },
        }
    }

    /// Re-reads every [`REFRESH`] until `stop` turns true. A failure is said once (with
    /// the store's words), and its end too.
    pub async fn follow(self, store: Store, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let read = match tokio::time::timeout(READ_LIMIT, self.refresh(&store)).await {
                Ok(Ok(count)) => Ok(count),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!(
                    "{} did not answer within {} s",
                    store.database(),
                    READ_LIMIT.as_secs()
                )),
            };
            match read {
                Ok(count) => {
                    if failing {
                        tracing::info!(
                            revoked = count,
                            "the revoked certificates in the database are readable again"
                        );
                    }
                    failing = false;
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, keep_for_s = STALE_AFTER.as_secs(), "cannot read the revoked certificates in the database: the last set read stays in force; past that long, new agent streams are refused as unavailable until a read succeeds (said once until then)");
                    }
                    failing = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_read_is_unknown_and_a_known_revocation_always_counts() {
        let shared = SharedRevocations::new();
        assert_eq!(shared.lookup("ab"), Lookup::Unknown { read_s_ago: None });
        {
            let mut s = shared.state.write().unwrap();
            s.revoked.insert("ab".into());
            s.read_at = Some(Instant::now());
        }
        assert_eq!(shared.lookup("ab"), Lookup::Revoked);
        assert_eq!(shared.lookup("cd"), Lookup::NotRevoked);
        // Reads failed for longer than the bound: what the set holds still counts, the
        // rest is not known.
        let old = Instant::now()
            .checked_sub(STALE_AFTER + Duration::from_secs(5))
            .unwrap();
        shared.state.write().unwrap().read_at = Some(old);
        assert_eq!(shared.lookup("ab"), Lookup::Revoked);
        assert!(
            matches!(shared.lookup("cd"), Lookup::Unknown { read_s_ago: Some(s) } if s >= STALE_AFTER.as_secs()),
            "{:?}",
            shared.lookup("cd")
        );
    }
}
