//! Which agents are connected, to which collector, as every collector sharing the database
//! sees it (migration 0018). Each collector process keeps a liveness row renewed every few
//! seconds (the database's clock, as the lease's); each agent stream has a connection row
//! naming its collector process, written at the stream's start and deleted at its end. A
//! connection counts only while its collector was seen recently, so the agents of a
//! collector killed without a word stop counting within that bound.

use sqlx::{AnyConnection, Row};

use super::lease::db_now;
use super::request::{settle, Pending, Reply};
use super::{read_error, Backend, Store, StoreError};

/// Liveness rows of processes unseen for this long go, with their connections: a
/// collector gone for good (renamed, moved) leaves nothing behind for ever.
const FORGET_AFTER_MS: i64 = 3_600_000;

/// An agent's stream as recorded, with the collector serving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub agent_id: String,
    /// The collector's name (as in the leader lease).
    pub collector: String,
    /// Since when the stream is open (the database's clock, Unix ms).
    pub since_unix_ms: i64,
}

pub(super) enum PresenceOp {
    Started {
        collector: String,
        instance: String,
        backend: Backend,
        reply: Reply<u64>,
    },
    Seen {
        instance: String,
        backend: Backend,
        reply: Reply<bool>,
    },
    Stopped {
        instance: String,
        reply: Reply<()>,
    },
    Opened {
        agent_id: String,
        instance: String,
        stream: i64,
        backend: Backend,
        reply: Reply<()>,
    },
    Closed {
        agent_id: String,
        instance: String,
        stream: i64,
        reply: Reply<bool>,
    },
}

impl PresenceOp {
    pub(super) fn rows(&self) -> usize {
        1
    }

    pub(super) fn fail(self, error: StoreError) {
        match self {
            PresenceOp::Started { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            PresenceOp::Seen { reply, .. } | PresenceOp::Closed { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            PresenceOp::Stopped { reply, .. } | PresenceOp::Opened { reply, .. } => {
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

pub(super) async fn apply(conn: &mut AnyConnection, op: PresenceOp) -> (Pending, bool) {
    match op {
        PresenceOp::Started {
            collector,
            instance,
            backend,
            reply,
        } => settle(reply, started(conn, &collector, &instance, backend).await),
        PresenceOp::Seen {
            instance,
            backend,
            reply,
        } => settle(reply, seen(conn, &instance, backend).await),
        PresenceOp::Stopped { instance, reply } => settle(reply, forget(conn, &instance).await),
        PresenceOp::Opened {
            agent_id,
            instance,
            stream,
            backend,
            reply,
        } => {
            let done = async {
                let now = db_now(conn, backend).await?;
                sqlx::query(
                    "INSERT INTO agent_connections (agent_id, instance, stream, since_unix_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (agent_id) DO UPDATE SET \
                     instance = excluded.instance, stream = excluded.stream, \
                     since_unix_ms = excluded.since_unix_ms",
                )
                .bind(&agent_id)
                .bind(&instance)
                .bind(stream)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err(db_error("recording an agent's connection"))?;
                Ok(())
            };
            settle(reply, done.await)
        }
        PresenceOp::Closed {
            agent_id,
            instance,
            stream,
            reply,
        } => {
            let done = sqlx::query(
                "DELETE FROM agent_connections WHERE agent_id = $1 AND instance = $2 \
                 AND stream = $3",
            )
            .bind(&agent_id)
            .bind(&instance)
            .bind(stream)
            .execute(&mut *conn)
            .await
            .map(|d| d.rows_affected() > 0)
            .map_err(db_error("deleting an agent's ended connection"));
            settle(reply, done)
        }
    }
}

/// Records a collector process as alive and clears what earlier processes of its name
/// left (their liveness and connections: they are gone, this one replaces them), and what
/// processes unseen for [`FORGET_AFTER_MS`] left. Returns the connections cleared.
async fn started(
    conn: &mut AnyConnection,
    collector: &str,
    instance: &str,
    backend: Backend,
) -> Result<u64, StoreError> {
    let now = db_now(conn, backend).await?;
    sqlx::query(
        "INSERT INTO collector_liveness (instance, collector, started_unix_ms, seen_unix_ms) \
         VALUES ($1, $2, $3, $3) ON CONFLICT (instance) DO UPDATE SET \
         collector = excluded.collector, seen_unix_ms = excluded.seen_unix_ms",
    )
    .bind(instance)
    .bind(collector)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db_error("recording this collector as alive"))?;
    sqlx::query(
        "DELETE FROM collector_liveness WHERE (collector = $1 AND instance <> $2) \
         OR seen_unix_ms < $3",
    )
    .bind(collector)
    .bind(instance)
    .bind(now.saturating_sub(FORGET_AFTER_MS))
    .execute(&mut *conn)
    .await
    .map_err(db_error("clearing earlier processes of this collector"))?;
    let cleared = sqlx::query(
        "DELETE FROM agent_connections WHERE instance NOT IN \
         (SELECT instance FROM collector_liveness)",
    )
    .execute(&mut *conn)
    .await
    .map_err(db_error("clearing connections of collectors gone"))?
    .rows_affected();
    Ok(cleared)
}

/// Renews a process's liveness; false when its row was gone (cleared by a newer process of
/// its name, or forgotten): then it is recorded again, but its connections were cleared.
async fn seen(
    conn: &mut AnyConnection,
    instance: &str,
    backend: Backend,
) -> Result<bool, StoreError> {
    let now = db_now(conn, backend).await?;
    let renewed =
        sqlx::query("UPDATE collector_liveness SET seen_unix_ms = $2 WHERE instance = $1")
            .bind(instance)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(db_error("renewing this collector's liveness"))?
            .rows_affected();
    Ok(renewed > 0)
}

/// A process stopping cleanly: its liveness and connections go at once.
async fn forget(conn: &mut AnyConnection, instance: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM agent_connections WHERE instance = $1")
        .bind(instance)
        .execute(&mut *conn)
        .await
        .map_err(db_error("clearing this collector's connections"))?;
    sqlx::query("DELETE FROM collector_liveness WHERE instance = $1")
        .bind(instance)
        .execute(&mut *conn)
        .await
        .map_err(db_error("clearing this collector's liveness"))?;
    Ok(())
}

impl Store {
    /// Records the process `instance` of the collector `collector` as alive, and clears
    /// the liveness and connections earlier processes of that name left (and those of
    /// processes unseen for an hour). Returns how many connections were cleared. Call at
    /// start, before serving agents.
    pub async fn collector_started(
        &self,
        collector: &str,
        instance: &str,
    ) -> Result<u64, StoreError> {
        let backend = self.database().backend();
        let (collector, instance) = (collector.to_owned(), instance.to_owned());
        self.write(|reply| PresenceOp::Started {
            collector,
            instance,
            backend,
            reply,
        })
        .await
    }

    /// Renews the liveness of the process `instance` (every few seconds); false when its
    /// row had gone (see [`Store::collector_started`]), which the caller then calls again.
    pub async fn collector_seen(&self, instance: &str) -> Result<bool, StoreError> {
        let backend = self.database().backend();
        let instance = instance.to_owned();
        self.write(|reply| PresenceOp::Seen {
            instance,
            backend,
            reply,
        })
        .await
    }

    /// A clean stop: the process's liveness and connections go now.
    pub async fn collector_stopped(&self, instance: &str) -> Result<(), StoreError> {
        let instance = instance.to_owned();
        self.write(|reply| PresenceOp::Stopped { instance, reply })
            .await
    }

    /// The agent's stream number `stream` of the process `instance` is open: it replaces
    /// any earlier stream of the agent, on any collector.
    pub async fn agent_connected(
        &self,
        agent_id: &str,
        instance: &str,
        stream: u64,
    ) -> Result<(), StoreError> {
        let backend = self.database().backend();
        let (agent_id, instance) = (agent_id.to_owned(), instance.to_owned());
        let stream = i64::try_from(stream).unwrap_or(i64::MAX);
        self.write(|reply| PresenceOp::Opened {
            agent_id,
            instance,
            stream,
            backend,
            reply,
        })
        .await
    }

    /// That stream ended; false when a newer stream (here or elsewhere) had replaced it.
    pub async fn agent_disconnected(
        &self,
        agent_id: &str,
        instance: &str,
        stream: u64,
    ) -> Result<bool, StoreError> {
        let (agent_id, instance) = (agent_id.to_owned(), instance.to_owned());
        let stream = i64::try_from(stream).unwrap_or(i64::MAX);
        self.write(|reply| PresenceOp::Closed {
            agent_id,
            instance,
            stream,
            reply,
        })
        .await
    }

    /// The agents connected now to any collector seen within `within_ms` (the database's
    /// clock), by agent id.
    pub async fn connections(&self, within_ms: i64) -> Result<Vec<Connection>, StoreError> {
        let backend = self.database().backend();
        let now: i64 = sqlx::query_scalar(super::lease::now_sql(backend))
            .fetch_one(&self.inner.reads)
            .await
            .map_err(|e| read_error("reading the database's clock", e))?;
        let rows = sqlx::query(
            "SELECT c.agent_id, l.collector, c.since_unix_ms FROM agent_connections AS c \
             JOIN collector_liveness AS l ON l.instance = c.instance \
             WHERE l.seen_unix_ms >= $1 ORDER BY c.agent_id",
        )
        .bind(now.saturating_sub(within_ms))
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| read_error("reading the agents' connections", e))?;
        rows.iter()
            .map(|row| {
                let what = "reading the agents' connections";
                Ok(Connection {
                    agent_id: row.try_get("agent_id").map_err(|e| read_error(what, e))?,
                    collector: row.try_get("collector").map_err(|e| read_error(what, e))?,
                    since_unix_ms: row
                        .try_get("since_unix_ms")
                        .map_err(|e| read_error(what, e))?,
                })
            })
            .collect()
    }
}
