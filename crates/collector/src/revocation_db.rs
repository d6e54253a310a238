//! Revocations shared by every collector of one database (issue 18): `revoke --db` records
//! into `revoked_certificates`; each serving collector reads what is new there every
//! [`REFRESH`] and refuses a certificate revoked there or in its own `revoked.txt`
//! ([`crate::auth::Revocations`]).
//!
//! The first read takes the whole set (the newest [`MAX_REVOCATIONS`] if the table holds
//! more: a cap leaves out the oldest, never the newest). Each later read takes only the
//! revocations timed from [`OVERLAP`] before the newest one known: a revocation's time is
//! the revoking host's clock and its row may commit a little after another's, and the
//! overlap covers both. Revocations are only ever added, so the set is complete when it
//! holds as many as the table: every read also counts the table (an index scan, no rows
//! sent), and a set that holds fewer (a revocation timed further back, by a host whose
//! clock was behind) is read whole again. An open stream is checked every second (ingest's sweep),
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

use crate::store::{Revocation, Store, StoreError, MAX_REVOCATIONS};

/// How often a serving collector re-reads the revocations in the database.
pub const REFRESH: Duration = Duration::from_secs(2);
/// How long the last set read is trusted when reads fail (see the module's words).
pub const STALE_AFTER: Duration = Duration::from_secs(30);
/// How far before the newest revocation known each read starts again (see the module's
/// words).
pub const OVERLAP: Duration = Duration::from_secs(60);
/// The most revocations one incremental read takes; a read that fills it reads the whole
/// set instead.
const PAGE: u32 = 10_000;
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
    /// The newest revocation's time known (Unix ms); None: the set was never read.
    newest_unix_ms: Option<i64>,
    /// When the last read succeeded; None: never.
    read_at: Option<Instant>,
}

impl SharedRevocations {
    pub fn new() -> SharedRevocations {
        SharedRevocations::default()
    }

    /// Reads what is new in the database (the whole set at first, or when the set is found
    /// incomplete); on failure the last set stays. Returns how many are revoked.
    pub async fn refresh(&self, store: &Store) -> Result<usize, StoreError> {
        let newest = self.read().newest_unix_ms;
        // Counted before reading: a set read afterwards holds at least these.
        let count = store.revocations_count().await?;
        let whole =
            usize::try_from(count.min(MAX_REVOCATIONS.unsigned_abs())).unwrap_or(usize::MAX);
        if let Some(newest) = newest {
            let from = newest.saturating_sub(OVERLAP.as_millis() as i64);
            let new = store.revocations_from(from, PAGE).await?;
            if new.len() < PAGE as usize {
                let mut state = self.write();
                merge(&mut state, new);
                if state.revoked.len() >= whole {
                    state.read_at = Some(Instant::now());
                    return Ok(state.revoked.len());
                }
                tracing::info!(known = state.revoked.len(), in_database = count, "a revocation timed before the newest one known was recorded (its host's clock is behind): reading the whole set again");
            }
        }
        let all = store.revocations().await?;
        let mut state = self.write();
        state.revoked.clear();
        state.newest_unix_ms = None;
        merge(&mut state, all);
        state.read_at = Some(Instant::now());
        Ok(state.revoked.len())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one holds a whole set anyway.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the certificate of this SHA-256 fingerprint is revoked in the database.
    pub fn lookup(&self, fingerprint: &str) -> Lookup {
        let state = self.read();
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

    /// Reads what is new every [`REFRESH`] until `stop` turns true. A failure is said once (with
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

/// Adds revocations to the set, keeping the newest time seen.
fn merge(state: &mut State, rows: Vec<Revocation>) {
    for r in rows {
        state.newest_unix_ms = Some(match state.newest_unix_ms {
            Some(t) => t.max(r.revoked_unix_ms),
            None => r.revoked_unix_ms,
        });
        state.revoked.insert(r.sha256.to_ascii_lowercase());
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

    fn revoked(sha: &str, at: i64) -> Revocation {
        Revocation {
            sha256: sha.to_owned(),
            agent_id: "svc-1".to_owned(),
            revoked_unix_ms: at,
        }
    }

    #[tokio::test]
    async fn later_reads_take_what_is_new_and_a_revocation_timed_in_the_past_is_not_missed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("eceprobe.db")).await.unwrap();
        let shared = SharedRevocations::new();
        assert_eq!(shared.refresh(&store).await.unwrap(), 0);
        let hour = 3_600_000;
        store
            .record_revocations(vec![revoked("aa", 10 * hour), revoked("bb", 20 * hour)])
            .await
            .unwrap();
        assert_eq!(shared.refresh(&store).await.unwrap(), 2);
        assert_eq!(shared.read().newest_unix_ms, Some(20 * hour));
        // A revocation after the newest: read incrementally.
        store
            .record_revocations(vec![revoked("cc", 21 * hour)])
            .await
            .unwrap();
        assert_eq!(shared.refresh(&store).await.unwrap(), 3);
        assert_eq!(shared.lookup("cc"), Lookup::Revoked);
        // One timed long before (a host whose clock is behind): past the overlap, yet found,
        // as the set then holds fewer than the table.
        store
            .record_revocations(vec![revoked("dd", hour)])
            .await
            .unwrap();
        assert_eq!(shared.refresh(&store).await.unwrap(), 4);
        assert_eq!(shared.lookup("dd"), Lookup::Revoked);
        assert_eq!(shared.lookup("ee"), Lookup::NotRevoked);
        store.close().await;
    }
}
