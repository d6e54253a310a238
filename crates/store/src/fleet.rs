//! The collector's own life and the servers an operator took out of service: the spans the
//! collector was awake (so an agent's silence is measured only while someone listened) and
//! retirement (a server leaves the matrix, its open gaps closed with the reason "retired").

use sqlx::AnyConnection;

use super::request::{settle, Pending, Reply};
use super::{GapChanges, GapRecord, Store, StoreError};

/// Runs older than this (by their last sign of life) are deleted at the next start: an
/// agent silent for that long is stale whatever the collector did meanwhile.
const RUNS_KEPT_MS: i64 = 90 * 24 * 3600 * 1000;

/// One span the collector was up and accepting agents: from its start until it was last
/// known alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwakeSpan {
    pub started_unix_ms: i64,
    pub alive_unix_ms: i64,
}

/// A server taken out of service by `retire`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retirement {
    pub agent_id: String,
    /// Its gaps that were open and are now closed with the reason "retired".
    pub closed: Vec<GapRecord>,
}

pub(super) enum FleetOp {
    BeginRun {
        at_unix_ms: i64,
        reply: Reply<i64>,
    },
    Alive {
        run_id: i64,
        at_unix_ms: i64,
        reply: Reply<()>,
    },
    Retire {
        agent_id: String,
        at_unix_ms: i64,
        reply: Reply<Option<Retirement>>,
    },
}

impl FleetOp {
    pub(super) fn rows(&self) -> usize {
        1
    }

    pub(super) fn fail(self, error: StoreError) {
        match self {
            FleetOp::BeginRun { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            FleetOp::Alive { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            FleetOp::Retire { reply, .. } => {
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

pub(super) async fn apply(conn: &mut AnyConnection, op: FleetOp) -> (Pending, bool) {
    match op {
        FleetOp::BeginRun { at_unix_ms, reply } => settle(reply, begin_run(conn, at_unix_ms).await),
        FleetOp::Alive {
            run_id,
            at_unix_ms,
            reply,
        } => settle(reply, alive(conn, run_id, at_unix_ms).await),
        FleetOp::Retire {
            agent_id,
            at_unix_ms,
            reply,
        } => settle(reply, retire(conn, &agent_id, at_unix_ms).await),
    }
}

async fn begin_run(conn: &mut AnyConnection, at: i64) -> Result<i64, StoreError> {
    sqlx::query("DELETE FROM collector_runs WHERE alive_unix_ms < $1")
        .bind(at.saturating_sub(RUNS_KEPT_MS))
        .execute(&mut *conn)
        .await
        .map_err(db_error("deleting old collector runs"))?;
    // A clock that ran fast left runs in the future: they end now at the latest.
    sqlx::query(
        "UPDATE collector_runs SET started_unix_ms = CASE WHEN started_unix_ms <= $1 THEN started_unix_ms ELSE $1 END, \
         alive_unix_ms = CASE WHEN alive_unix_ms <= $1 THEN alive_unix_ms ELSE $1 END WHERE alive_unix_ms > $1",
    )
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(db_error("bounding collector runs recorded in the future"))?;
    sqlx::query_scalar(
        "INSERT INTO collector_runs (started_unix_ms, alive_unix_ms) VALUES ($1, $1) \
         RETURNING run_id",
    )
    .bind(at)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error("recording the collector's start"))
}

async fn alive(conn: &mut AnyConnection, run_id: i64, at: i64) -> Result<(), StoreError> {
    // Only forward, and never before the start (a clock stepped back).
    sqlx::query(
        "UPDATE collector_runs SET alive_unix_ms = CASE WHEN alive_unix_ms >= $2 THEN alive_unix_ms ELSE $2 END WHERE run_id = $1",
    )
    .bind(run_id)
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(db_error("recording that the collector is alive"))?;
    Ok(())
}

async fn retire(
    conn: &mut AnyConnection,
    agent_id: &str,
    at: i64,
) -> Result<Option<Retirement>, StoreError> {
    let done = sqlx::query(
        "UPDATE agents SET retired_unix_ms = $2 WHERE agent_id = $1 AND retired_unix_ms IS NULL",
    )
    .bind(agent_id)
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(db_error("retiring a server"))?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let rows = sqlx::query(&format!(
        "UPDATE gaps SET closed_unix_ms = CASE WHEN opened_unix_ms >= $2 THEN opened_unix_ms ELSE $2 END, close_reason = 'retired' \
         WHERE agent_id = $1 AND closed_unix_ms IS NULL RETURNING {}",
        super::gaps::COLUMNS
    ))
    .bind(agent_id)
    .bind(at)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error("closing a retired server's gaps"))?;
    let closed = rows
        .iter()
        .map(super::gaps::gap)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Retirement {
        agent_id: agent_id.to_owned(),
        closed,
    }))
}

impl Store {
    /// Records that the collector starts accepting agents now; returns the run's id, to be
    /// kept alive with [`Store::collector_alive`].
    pub async fn begin_collector_run(&self, at_unix_ms: i64) -> Result<i64, StoreError> {
        self.write(|reply| FleetOp::BeginRun { at_unix_ms, reply })
            .await
    }

    /// Moves the run's last sign of life forward to `at`.
    pub async fn collector_alive(&self, run_id: i64, at_unix_ms: i64) -> Result<(), StoreError> {
        self.write(|reply| FleetOp::Alive {
            run_id,
            at_unix_ms,
            reply,
        })
        .await
    }

    /// The spans the collector was awake, oldest first.
    pub async fn awake_spans(&self) -> Result<Vec<AwakeSpan>, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT started_unix_ms, alive_unix_ms FROM collector_runs ORDER BY run_id",
        )
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| super::read_error("reading the collector's runs", e))?;
        Ok(rows
            .into_iter()
            .map(|(started_unix_ms, alive_unix_ms)| AwakeSpan {
                started_unix_ms,
                alive_unix_ms,
            })
            .collect())
    }

    /// Takes a server out of service: it leaves the matrix and the policy, its open gaps
    /// close with the reason "retired", its history stays. None when no server of that id
    /// is in service.
    pub async fn retire_agent(
        &self,
        agent_id: &str,
        at_unix_ms: i64,
    ) -> Result<Option<Retirement>, StoreError> {
        let agent_id = agent_id.to_owned();
        self.write(|reply| FleetOp::Retire {
            agent_id,
            at_unix_ms,
            reply,
        })
        .await
    }

    /// When the server was retired, if it is (None: in service, or unknown).
    pub async fn retired_since(&self, agent_id: &str) -> Result<Option<i64>, StoreError> {
        let at: Option<Option<i64>> =
            sqlx::query_scalar("SELECT retired_unix_ms FROM agents WHERE agent_id = $1")
                .bind(agent_id)
                .fetch_optional(&self.inner.reads)
                .await
                .map_err(|e| super::read_error("reading whether a server is retired", e))?;
        Ok(at.flatten())
    }
}

impl From<Retirement> for GapChanges {
    /// The retirement as gap changes, for the webhook events of the gaps it closed.
    fn from(r: Retirement) -> GapChanges {
        GapChanges {
            opened: Vec::new(),
            closed: r.closed,
            updated: 0,
        }
    }
}
