//! The read queries and the conversion of their rows into the store's structs.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{AgentRecord, CheckState, JavaReport, KnownAgent, StoreError, StoredResult, SystemDns};

/// The agents in service (retired ones are left out of every fleet-wide read).
pub(super) const SELECT_AGENTS: &str = "SELECT agent_id, hostname, role, deployment, \
     agent_version, os, ece_version, ece_es, probe_interval_s, seen_unix_ms, max_seq, \
     spool_dropped, first_seen_unix_ms, java_runtime, java_truststore, quarantined FROM agents WHERE retired_unix_ms IS NULL \
     ORDER BY agent_id";

pub(super) const SELECT_LATEST_OF_AGENT: &str = "SELECT agent_id, seq, check_id, \
     started_unix_ms, received_unix_ms, outcome, failure_kind, failure_stage, duration_us, \
     warning_kinds, detail FROM latest WHERE agent_id = $1 ORDER BY check_id";

/// The latest state of the whole fleet, without detail blobs.
pub(super) const SELECT_STATES: &str = "SELECT agent_id, check_id, seq, outcome, \
     failure_kind, warning_kinds, duration_us, received_unix_ms, system_dns FROM latest \
     ORDER BY agent_id, check_id";

/// Walks `results_by_check` backwards from the newest seq: no sort, no scan.
pub(super) const SELECT_HISTORY: &str = "SELECT agent_id, seq, check_id, \
     started_unix_ms, received_unix_ms, outcome, failure_kind, failure_stage, duration_us, \
     warning_kinds, detail FROM results WHERE agent_id = $1 AND check_id = $2 ORDER BY seq DESC LIMIT $3";

pub(super) fn column<'r, T>(
    row: &'r AnyRow,
    table: &'static str,
    name: &str,
) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(name).map_err(|e| StoreError::Corrupt {
        table,
        what: format!("column {name}: {e}"),
    })
}

/// A seq or duration as stored (INTEGER, i64) back to the u64 the store was given.
pub(super) fn unsigned_from_db(table: &'static str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        table,
        what: format!("negative value {value} where an unsigned one was stored"),
    })
}

/// The Java columns back to the report: NULL (or an empty trust store line, which no agent
/// that reports sends) is "not reported".
fn java_report(runtime: Option<String>, truststore: Option<String>) -> Option<JavaReport> {
    truststore
        .filter(|t| !t.is_empty())
        .map(|truststore| JavaReport {
            runtime: runtime.unwrap_or_default(),
            truststore,
        })
}

pub(super) fn agent(row: &AnyRow) -> Result<KnownAgent, StoreError> {
    const T: &str = "agents";
    let interval: i64 = column(row, T, "probe_interval_s")?;
    let record = AgentRecord {
        agent_id: column(row, T, "agent_id")?,
        hostname: column(row, T, "hostname")?,
        role: column(row, T, "role")?,
        deployment: column(row, T, "deployment")?,
        agent_version: column(row, T, "agent_version")?,
        os: column(row, T, "os")?,
        ece_version: column(row, T, "ece_version")?,
        ece_es: column(row, T, "ece_es")?,
        probe_interval_s: u32::try_from(interval).map_err(|_| StoreError::Corrupt {
            table: T,
            what: format!("probe_interval_s {interval} is not a u32"),
        })?,
        seen_unix_ms: column(row, T, "seen_unix_ms")?,
        java: java_report(
            column(row, T, "java_runtime")?,
            column(row, T, "java_truststore")?,
        ),
    };
    Ok(KnownAgent {
        record,
        last_seq: unsigned_from_db(T, column(row, T, "max_seq")?)?,
        spool_dropped: unsigned_from_db(T, column(row, T, "spool_dropped")?)?,
        first_seen_unix_ms: column(row, T, "first_seen_unix_ms")?,
        quarantined: unsigned_from_db(T, column(row, T, "quarantined")?)?,
    })
}

/// A row of `results` or `latest` (same columns).
pub(super) fn result(row: &AnyRow, table: &'static str) -> Result<StoredResult, StoreError> {
    Ok(StoredResult {
        agent_id: column(row, table, "agent_id")?,
        seq: unsigned_from_db(table, column(row, table, "seq")?)?,
        check: column(row, table, "check_id")?,
        started_unix_ms: column(row, table, "started_unix_ms")?,
        outcome: column(row, table, "outcome")?,
        failure_kind: column(row, table, "failure_kind")?,
        failure_stage: column(row, table, "failure_stage")?,
        duration_us: unsigned_from_db(table, column(row, table, "duration_us")?)?,
        warning_kinds: split_kinds(column(row, table, "warning_kinds")?),
        detail: column(row, table, "detail")?,
        received_unix_ms: column(row, table, "received_unix_ms")?,
    })
}

pub(super) fn state(row: &AnyRow) -> Result<CheckState, StoreError> {
    const T: &str = "latest";
    Ok(CheckState {
        agent_id: column(row, T, "agent_id")?,
        check: column(row, T, "check_id")?,
        seq: unsigned_from_db(T, column(row, T, "seq")?)?,
        outcome: column(row, T, "outcome")?,
        failure_kind: column(row, T, "failure_kind")?,
        warning_kinds: split_kinds(column(row, T, "warning_kinds")?),
        duration_us: unsigned_from_db(T, column(row, T, "duration_us")?)?,
        received_unix_ms: column(row, T, "received_unix_ms")?,
        system_dns: split_system_dns(&column::<String>(row, T, "system_dns")?),
    })
}

/// A result's system DNS answer as stored: "HOST ADDRESS,ADDRESS" ('' for none, and for
/// rows stored before 0012). Host names and IP addresses hold neither spaces nor commas.
pub(super) fn join_system_dns(dns: Option<&SystemDns>) -> String {
    match dns {
        Some(d) if !d.addresses.is_empty() => format!("{} {}", d.host, d.addresses.join(",")),
        _ => String::new(),
    }
}

fn split_system_dns(stored: &str) -> Option<SystemDns> {
    let (host, addresses) = stored.split_once(' ')?;
    Some(SystemDns {
        host: host.to_owned(),
        addresses: addresses
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Warning kinds are stored comma-separated ('' for none).
pub(super) fn join_kinds(kinds: &[String]) -> String {
    kinds.join(",")
}

fn split_kinds(stored: String) -> Vec<String> {
    stored
        .split(',')
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}
