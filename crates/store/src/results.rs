//! The statements of the agent and result requests, run by the writer inside a request's
//! savepoint: recording agents, storing results idempotently with the latest state, and
//! pruning history.

use sqlx::AnyConnection;

use super::{AgentRecord, InsertOutcome, NewResult, SetAside, StoreError};

fn db_error(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database {
        what: what.into(),
        error: source,
    }
}

/// A u64 the store was given, as the schema's 64-bit signed integer.
fn to_db(agent_id: &str, field: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange {
        agent_id: agent_id.to_owned(),
        field,
        value,
    })
}

/// A Hello accepted (the agent's certificate is valid, so a retired server was enrolled
/// again) puts a retired server back in service.
/// The Java columns are replaced too: an agent downgraded to one that does not report Java
/// is "not reported" again (NULL), not its old report.
const UPSERT_AGENT: &str = "INSERT INTO agents (agent_id, hostname, role, deployment, \
     agent_version, os, ece_version, ece_es, probe_interval_s, first_seen_unix_ms, \
     seen_unix_ms, java_runtime, java_truststore) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12) \
     ON CONFLICT (agent_id) DO UPDATE SET hostname = excluded.hostname, \
     role = excluded.role, deployment = excluded.deployment, \
     agent_version = excluded.agent_version, os = excluded.os, \
     ece_version = excluded.ece_version, ece_es = excluded.ece_es, \
     probe_interval_s = excluded.probe_interval_s, \
     java_runtime = excluded.java_runtime, java_truststore = excluded.java_truststore, \
     seen_unix_ms = CASE WHEN agents.seen_unix_ms >= excluded.seen_unix_ms \
     THEN agents.seen_unix_ms ELSE excluded.seen_unix_ms END, \
     retired_unix_ms = NULL";

pub(super) async fn upsert_agent(
    conn: &mut AnyConnection,
    a: &AgentRecord,
) -> Result<(), StoreError> {
    sqlx::query(UPSERT_AGENT)
        .bind(&a.agent_id)
        .bind(&a.hostname)
        .bind(&a.role)
        .bind(&a.deployment)
        .bind(&a.agent_version)
        .bind(&a.os)
        .bind(&a.ece_version)
        .bind(&a.ece_es)
        .bind(i64::from(a.probe_interval_s))
        .bind(a.seen_unix_ms)
        .bind(a.java.as_ref().map(|j| j.runtime.as_str()))
        .bind(a.java.as_ref().map(|j| j.truststore.as_str()))
        .execute(&mut *conn)
        .await
        .map_err(db_error(format!("recording agent {}", a.agent_id)))?;
    Ok(())
}

pub(super) async fn touch_agent(
    conn: &mut AnyConnection,
    agent_id: &str,
    seen_unix_ms: i64,
    spool_dropped: u64,
) -> Result<(), StoreError> {
    let spool_dropped = to_db(agent_id, "spool_dropped", spool_dropped)?;
    let done = sqlx::query(
        "UPDATE agents SET seen_unix_ms = CASE WHEN seen_unix_ms >= $2 THEN seen_unix_ms ELSE $2 END, spool_dropped = $3 \
         WHERE agent_id = $1",
    )
    .bind(agent_id)
    .bind(seen_unix_ms)
    .bind(spool_dropped)
    .execute(&mut *conn)
    .await
    .map_err(db_error(format!("marking agent {agent_id} as seen")))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::UnknownAgent {
            agent_id: agent_id.to_owned(),
            what: "touch_agent",
        });
    }
    Ok(())
}

/// The text columns a result is stored with beside its summary, as the writer binds them.
/// Public so the load generator's baselines write the very same rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredText {
    /// `tls_intercepted,slow` ('' for none).
    pub warning_kinds: String,
    /// `dns:1234,tcp:560` ('' for none).
    pub stage_durations: String,
    /// `HOST ADDRESS,ADDRESS` ('' for none).
    pub system_dns: String,
}

impl NewResult {
    pub fn stored_text(&self) -> StoredText {
        StoredText {
            warning_kinds: super::rows::join_kinds(&self.warning_kinds),
            stage_durations: super::metrics::join_stages(&self.stage_durations),
            system_dns: super::rows::join_system_dns(self.system_dns.as_ref()),
        }
    }
}

const INSERT_RESULT: &str = "INSERT INTO results (agent_id, seq, check_id, \
     started_unix_ms, received_unix_ms, outcome, failure_kind, failure_stage, duration_us, \
     warning_kinds, detail, audit_id, stage_durations, system_dns) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
     ON CONFLICT (agent_id, seq) DO NOTHING";

/// Replaces the check's current state only with a higher seq: an older result arriving
/// late (a resend from an agent's spool) goes to history only. The row is copied from the
/// result just stored, so the two tables cannot disagree and the detail is bound once. A
/// failing result keeps the check's last success time (migration 0015); a passing one that
/// arrives late (lower seq) does not move it.
const UPSERT_LATEST: &str = "INSERT INTO latest (agent_id, seq, check_id, \
     started_unix_ms, received_unix_ms, outcome, failure_kind, failure_stage, duration_us, \
     warning_kinds, detail, stage_durations, system_dns, last_success_unix_ms) SELECT \
     agent_id, seq, check_id, started_unix_ms, received_unix_ms, outcome, failure_kind, \
     failure_stage, duration_us, warning_kinds, detail, stage_durations, system_dns, \
     CASE WHEN outcome = 'fail' THEN 0 ELSE started_unix_ms END FROM results \
     WHERE agent_id = $1 AND seq = $2 \
     ON CONFLICT (agent_id, check_id) DO UPDATE SET seq = excluded.seq, \
     started_unix_ms = excluded.started_unix_ms, received_unix_ms = excluded.received_unix_ms, \
     outcome = excluded.outcome, failure_kind = excluded.failure_kind, \
     failure_stage = excluded.failure_stage, duration_us = excluded.duration_us, \
     warning_kinds = excluded.warning_kinds, detail = excluded.detail, \
     stage_durations = excluded.stage_durations, system_dns = excluded.system_dns, \
     last_success_unix_ms = CASE WHEN excluded.outcome = 'fail' \
     THEN latest.last_success_unix_ms ELSE excluded.last_success_unix_ms END \
     WHERE excluded.seq > latest.seq";

pub(super) async fn insert_results(
    conn: &mut AnyConnection,
    agent_id: &str,
    results: &[NewResult],
    set_aside: &[SetAside],
    received_unix_ms: i64,
) -> Result<InsertOutcome, StoreError> {
    let known: Option<i64> = sqlx::query_scalar("SELECT max_seq FROM agents WHERE agent_id = $1")
        .bind(agent_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error(format!("looking up agent {agent_id}")))?;
    let Some(mut max_seq) = known else {
        return Err(StoreError::UnknownAgent {
            agent_id: agent_id.to_owned(),
            what: "insert_results",
        });
    };
    let mut outcome = InsertOutcome::default();
    let mut highest_inserted = None;
    let mut newest_per_check: std::collections::BTreeMap<&str, i64> = Default::default();
    let mut hourly_changed: std::collections::BTreeMap<&str, bool> = Default::default();
    let mut new_timings: std::collections::BTreeMap<&str, Vec<super::latency_ingest::Recent>> =
        Default::default();
    for r in results {
        // Checked here, inside the request's savepoint: a bad value in the middle of a
        // request undoes the rows stored before it, and only them.
        let seq = to_db(agent_id, "seq", r.seq)?;
        let duration_us = to_db(agent_id, "duration_us", r.duration_us)?;
        let what = || {
            format!(
                "storing result seq {} ({}) of agent {agent_id}",
                r.seq, r.check
            )
        };
        let StoredText {
            warning_kinds,
            stage_durations: stages,
            system_dns,
        } = r.stored_text();
        let stored = sqlx::query(INSERT_RESULT)
            .bind(agent_id)
            .bind(seq)
            .bind(&r.check)
            .bind(r.started_unix_ms)
            .bind(received_unix_ms)
            .bind(&r.outcome)
            .bind(r.failure_kind.as_deref())
            .bind(r.failure_stage.as_deref())
            .bind(duration_us)
            .bind(warning_kinds)
            .bind(r.detail.as_slice())
            .bind(r.audit_id.as_str())
            .bind(&stages)
            .bind(system_dns)
            .execute(&mut *conn)
            .await
            .map_err(db_error(what()))?;
        if stored.rows_affected() == 0 {
            outcome.duplicates += 1;
            continue;
        }
        outcome.inserted += 1;
        highest_inserted = highest_inserted.max(Some(seq));
        let hourly = super::latency_ingest::record(conn, agent_id, seq, r, &stages).await?;
        *hourly_changed.entry(r.check.as_str()).or_default() |= hourly;
        new_timings
            .entry(r.check.as_str())
            .or_default()
            .push((seq, r.outcome.clone(), stages));
        let newest = newest_per_check.entry(r.check.as_str()).or_insert(seq);
        *newest = (*newest).max(seq);
    }
    // One latest-state update per check, from its newest result in this request (a batch
    // of 50 results touches 5 checks: 5 statements, not 50).
    for (check, seq) in newest_per_check {
        sqlx::query(UPSERT_LATEST)
            .bind(agent_id)
            .bind(seq)
            .execute(&mut *conn)
            .await
            .map_err(db_error(format!(
                "updating the latest state of {check} from seq {seq} of agent {agent_id}"
            )))?;
        let changed = hourly_changed.get(check).copied().unwrap_or(false);
        let new = new_timings.remove(check).unwrap_or_default();
        super::latency_ingest::settle(conn, agent_id, check, new, changed).await?;
    }
    outcome.set_aside =
        super::quarantine::set_aside(conn, agent_id, set_aside, received_unix_ms).await?;
    // A set-aside result is delivered as far as the agent is concerned: the last seq covers
    // it, so a reconnect does not resend it.
    for r in set_aside {
        highest_inserted = highest_inserted.max(Some(to_db(agent_id, "seq", r.seq)?));
    }
    // A batch is news from the agent, as a heartbeat is: it keeps the agent from going
    // stale. The last seq only ever rises.
    max_seq = max_seq.max(highest_inserted.unwrap_or(0));
    sqlx::query(
        "UPDATE agents SET max_seq = CASE WHEN max_seq >= $2 THEN max_seq ELSE $2 END, \
         seen_unix_ms = CASE WHEN seen_unix_ms >= $3 THEN seen_unix_ms ELSE $3 END \
         WHERE agent_id = $1",
    )
    .bind(agent_id)
    .bind(max_seq)
    .bind(received_unix_ms)
    .execute(&mut *conn)
    .await
    .map_err(db_error(format!(
        "updating agent {agent_id} after its results"
    )))?;
    outcome.max_seq = super::rows::unsigned_from_db("agents", max_seq)?;
    Ok(outcome)
}

/// Deletes at most `limit` history rows received before the cutoff, oldest first; results
/// tagged with an audit stay (they go with their audit).
pub(super) async fn prune(
    conn: &mut AnyConnection,
    cutoff_unix_ms: i64,
    limit: u32,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM results WHERE (agent_id, seq) IN (SELECT agent_id, seq FROM results \
         WHERE audit_id = '' AND received_unix_ms < $1 ORDER BY received_unix_ms LIMIT $2)",
    )
    .bind(cutoff_unix_ms)
    .bind(i64::from(limit))
    .execute(&mut *conn)
    .await
    .map_err(db_error(format!(
        "pruning history received before {cutoff_unix_ms} (Unix ms)"
    )))?;
    // The hourly timing samples go with the history they sample (by start time, which an
    // agent sets a moment before the collector receives the result).
    let hourly = sqlx::query(
        "DELETE FROM stage_hourly WHERE (agent_id, check_id, hour_unix_ms) IN \
         (SELECT agent_id, check_id, hour_unix_ms FROM stage_hourly \
         WHERE started_unix_ms < $1 ORDER BY started_unix_ms LIMIT $2)",
    )
    .bind(cutoff_unix_ms)
    .bind(i64::from(limit))
    .execute(&mut *conn)
    .await
    .map_err(db_error(format!(
        "pruning hourly timing samples from before {cutoff_unix_ms} (Unix ms)"
    )))?;
    Ok(done.rows_affected().max(hourly.rows_affected()))
}
