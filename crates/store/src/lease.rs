//! The leader lease: which of the collectors sharing this database does the singleton work
//! (gap evaluation, retention, scheduled audits, webhook delivery), and the fence that keeps
//! a former leader's late write out.
//!
//! A lease is one row, held by one collector until its expiry; the holder renews it, anyone
//! may take it once it has expired, and each change of hands raises its `term`. Every
//! decision runs inside the writer's transaction with conditional updates, so two
//! collectors racing for an expired lease cannot both win: on PostgreSQL the second
//! UPDATE waits for the first's row lock and then finds the lease no longer expired; on
//! SQLite the writers are serialised by the file lock. Times are the database's clock, so
//! collectors whose clocks disagree still agree on when a lease ends.

use sqlx::{AnyConnection, Row};

use super::request::{settle, Pending, Reply};
use super::{Backend, Store, StoreError};

/// A lease as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The collector holding it (its name as it gave it).
    pub holder: String,
    /// Which process of that name holds it (see [`Store::take_lease`]).
    pub instance: String,
    /// Raised by one each time the lease changes hands.
    pub term: i64,
    /// When the holder took it, renewed it last, and when it ends unless renewed (the
    /// database's clock, Unix ms).
    pub acquired_unix_ms: i64,
    pub renewed_unix_ms: i64,
    pub expires_unix_ms: i64,
    /// When the holder of a term last recorded the gaps under the fence (its clock; 0:
    /// never).
    pub evaluated_unix_ms: i64,
    /// The database's clock when this was read (Unix ms): compare the times above with it,
    /// not with the reader's clock.
    pub now_unix_ms: i64,
}

impl Lease {
    /// Whether the lease was still running when it was read.
    pub fn is_current(&self) -> bool {
        self.expires_unix_ms > self.now_unix_ms
    }
}

/// The proof a writer presents that it still leads: its name and the term it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub lease: String,
    pub holder: String,
    pub term: i64,
}

const LEASE_COLUMNS: &str =
    "holder, instance, term, acquired_unix_ms, renewed_unix_ms, expires_unix_ms, evaluated_unix_ms";

pub(super) enum LeaseOp {
    Take {
        name: String,
        holder: String,
        instance: String,
        ttl_ms: i64,
        backend: Backend,
        reply: Reply<Lease>,
    },
    Release {
        name: String,
        holder: String,
        instance: String,
        backend: Backend,
        reply: Reply<bool>,
    },
}

impl LeaseOp {
    pub(super) fn rows(&self) -> usize {
        1
    }

    pub(super) fn fail(self, error: StoreError) {
        match self {
            LeaseOp::Take { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            LeaseOp::Release { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

fn db_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database {
        what: what.to_owned(),
        error: source,
    }
}

/// The database's clock in Unix ms, as an SQL expression of each dialect.
/// PostgreSQL's `clock_timestamp()`, not `now()`: the latter is the transaction's start,
/// and a batch may have waited on a lock.
pub(crate) fn now_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "SELECT CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)"
        }
        Backend::Postgres => {
            "SELECT CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT)"
        }
    }
}

pub(super) async fn db_now(conn: &mut AnyConnection, backend: Backend) -> Result<i64, StoreError> {
    sqlx::query_scalar(now_sql(backend))
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error("reading the database's clock"))
}

pub(super) async fn apply(conn: &mut AnyConnection, op: LeaseOp) -> (Pending, bool) {
    match op {
        LeaseOp::Take {
            name,
            holder,
            instance,
            ttl_ms,
            backend,
            reply,
        } => {
            let who = Who {
                holder: &holder,
                instance: &instance,
            };
            settle(reply, take(conn, &name, who, ttl_ms, backend).await)
        }
        LeaseOp::Release {
            name,
            holder,
            instance,
            backend,
            reply,
        } => {
            let who = Who {
                holder: &holder,
                instance: &instance,
            };
            settle(reply, release(conn, &name, who, backend).await)
        }
    }
}

/// How long the lease of another process of the same name must have gone unrenewed before
/// a process takes it over. Half a lease on PostgreSQL, where two hosts given the same name
/// could both run; none on SQLite, whose collectors share a file on one host, where two
/// processes of one name (the host and the agents' port) cannot both be listening: there it
/// is always a restart, and the restarted collector evaluates at once.
fn restart_grace_ms(backend: Backend, ttl_ms: i64) -> i64 {
    match backend {
        Backend::Sqlite => 0,
        Backend::Postgres => ttl_ms / 2,
    }
}

/// A collector process: its name and its instance.
#[derive(Clone, Copy)]
struct Who<'a> {
    holder: &'a str,
    instance: &'a str,
}

/// Renews the lease when this process has it; takes it (a new term) when it has expired,
/// or when another process of the same name holds it but has missed its renewals for half
/// a lease (a restart: the old process is gone; a second running collector given the same
/// name renews every third of a lease, so it keeps the lease and the newcomer is told);
/// takes it at term 1 when never taken. Returns the lease as it stands afterwards, whoever
/// holds it.
async fn take(
    conn: &mut AnyConnection,
    name: &str,
    who: Who<'_>,
    ttl_ms: i64,
    backend: Backend,
) -> Result<Lease, StoreError> {
    let now = db_now(conn, backend).await?;
    let expires = now.saturating_add(ttl_ms);
    let renewed = sqlx::query(
        "UPDATE leader_lease SET renewed_unix_ms = $4, expires_unix_ms = $5 \
         WHERE name = $1 AND holder = $2 AND instance = $3",
    )
    .bind(name)
    .bind(who.holder)
    .bind(who.instance)
    .bind(now)
    .bind(expires)
    .execute(&mut *conn)
    .await
    .map_err(db_error("renewing the leader lease"))?
    .rows_affected();
    if renewed == 0 {
        let taken = sqlx::query(
            "UPDATE leader_lease SET holder = $2, instance = $3, term = term + 1, \
             acquired_unix_ms = $4, renewed_unix_ms = $4, expires_unix_ms = $5 \
             WHERE name = $1 AND (expires_unix_ms <= $4 OR (holder = $2 AND renewed_unix_ms <= $6))",
        )
        .bind(name)
        .bind(who.holder)
        .bind(who.instance)
        .bind(now)
        .bind(expires)
        .bind(now.saturating_sub(restart_grace_ms(backend, ttl_ms)))
        .execute(&mut *conn)
        .await
        .map_err(db_error("taking over the expired leader lease"))?
        .rows_affected();
        if taken == 0 {
            sqlx::query(
                "INSERT INTO leader_lease (name, holder, instance, term, acquired_unix_ms, \
                 renewed_unix_ms, expires_unix_ms) VALUES ($1, $2, $3, 1, $4, $4, $5) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(who.holder)
            .bind(who.instance)
            .bind(now)
            .bind(expires)
            .execute(&mut *conn)
            .await
            .map_err(db_error("taking the leader lease"))?;
        }
    }
    let row = sqlx::query(&format!(
        "SELECT {LEASE_COLUMNS} FROM leader_lease WHERE name = $1"
    ))
    .bind(name)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error("reading the leader lease"))?;
    lease(&row, now)
}

/// Ends this process's lease now (at a clean stop), so another collector takes over at once
/// instead of after the expiry. False when it did not hold it.
async fn release(
    conn: &mut AnyConnection,
    name: &str,
    who: Who<'_>,
    backend: Backend,
) -> Result<bool, StoreError> {
    let now = db_now(conn, backend).await?;
    let ended = sqlx::query(
        "UPDATE leader_lease SET expires_unix_ms = $4 WHERE name = $1 AND holder = $2 \
         AND instance = $3 AND expires_unix_ms > $4",
    )
    .bind(name)
    .bind(who.holder)
    .bind(who.instance)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db_error("releasing the leader lease"))?
    .rows_affected();
    Ok(ended > 0)
}

/// Fails with [`StoreError::NotLeader`] unless `fence` still holds its lease at its term;
/// records `evaluated_unix_ms` as the gaps' evaluation time. Inside the writer's
/// transaction, before the fenced write: on PostgreSQL the UPDATE locks the lease row until
/// the commit, so a takeover waits for this write and any write after the takeover fails
/// here.
pub(super) async fn check(
    conn: &mut AnyConnection,
    fence: &Fence,
    evaluated_unix_ms: i64,
) -> Result<(), StoreError> {
    let held = sqlx::query(
        "UPDATE leader_lease SET evaluated_unix_ms = CASE WHEN evaluated_unix_ms >= $4 \
         THEN evaluated_unix_ms ELSE $4 END WHERE name = $1 AND holder = $2 AND term = $3",
    )
    .bind(&fence.lease)
    .bind(&fence.holder)
    .bind(fence.term)
    .bind(evaluated_unix_ms)
    .execute(&mut *conn)
    .await
    .map_err(db_error("checking the leader lease"))?
    .rows_affected();
    match held {
        0 => Err(StoreError::NotLeader {
            holder: fence.holder.clone(),
            term: fence.term,
        }),
        _ => Ok(()),
    }
}

fn lease(row: &sqlx::any::AnyRow, now_unix_ms: i64) -> Result<Lease, StoreError> {
    let get = |name: &'static str| -> Result<i64, StoreError> {
        row.try_get(name)
            .map_err(db_error("reading the leader lease"))
    };
    Ok(Lease {
        holder: row
            .try_get("holder")
            .map_err(db_error("reading the leader lease"))?,
        instance: row
            .try_get("instance")
            .map_err(db_error("reading the leader lease"))?,
        term: get("term")?,
        acquired_unix_ms: get("acquired_unix_ms")?,
        renewed_unix_ms: get("renewed_unix_ms")?,
        expires_unix_ms: get("expires_unix_ms")?,
        evaluated_unix_ms: get("evaluated_unix_ms")?,
        now_unix_ms,
    })
}

impl Store {
    /// Renews the lease `name` for `ttl_ms` when the process `instance` of the collector
    /// `holder` has it; takes it if it has expired, was never taken, or is held by another
    /// process of the same name that has not renewed it for half of `ttl_ms` (a restarted
    /// collector leads again without waiting out its old lease). Returns the
    /// lease as it stands afterwards: this process leads when the returned holder and
    /// instance are its own.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        instance: &str,
        ttl_ms: i64,
    ) -> Result<Lease, StoreError> {
        let backend = self.database().backend();
        let (name, holder, instance) = (name.to_owned(), holder.to_owned(), instance.to_owned());
        self.write(|reply| LeaseOp::Take {
            name,
            holder,
            instance,
            ttl_ms,
            backend,
            reply,
        })
        .await
    }

    /// Ends the lease `name` of this process now; false when it did not hold a running one.
    pub async fn release_lease(
        &self,
        name: &str,
        holder: &str,
        instance: &str,
    ) -> Result<bool, StoreError> {
        let backend = self.database().backend();
        let (name, holder, instance) = (name.to_owned(), holder.to_owned(), instance.to_owned());
        self.write(|reply| LeaseOp::Release {
            name,
            holder,
            instance,
            backend,
            reply,
        })
        .await
    }

    /// The lease `name` as recorded, with the database's clock; None when never taken.
    pub async fn lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let backend = self.database().backend();
        let now: i64 = sqlx::query_scalar(now_sql(backend))
            .fetch_one(&self.inner.reads)
            .await
            .map_err(|e| super::read_error("reading the database's clock", e))?;
        let row = sqlx::query(&format!(
            "SELECT {LEASE_COLUMNS} FROM leader_lease WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.inner.reads)
        .await
        .map_err(|e| super::read_error("reading the leader lease", e))?;
        row.map(|row| lease(&row, now)).transpose()
    }
}
