//! The servers the Query API answers: their declared facts, the collector's notes on their
//! versions (`crate::newer`) and their set-aside results.

use eceprobe_proto::v1::Server;

use crate::store::{KnownAgent, Store, StoreError};

/// Every server in service (of `want`'s deployment, unless empty), unsorted.
pub(super) async fn list(store: &Store, want: &str) -> Result<Vec<Server>, StoreError> {
    // Who reported what this collector does not know: one read of the fleet's latest
    // states, no detail blobs.
    let states = store.latest_states().await?;
    let newer = crate::newer::reporting_newer(&states);
    let mut servers: Vec<Server> = Vec::new();
    for a in store.agents().await? {
        if !want.is_empty() && a.record.deployment != want {
            continue;
        }
        let quarantine = match a.quarantined {
            0 => None,
            _ => store.quarantine(&a.record.agent_id).await?,
        };
        let reported_newer = newer.contains(a.record.agent_id.as_str());
        servers.push(server(&a, reported_newer, quarantine.as_ref()));
    }
    Ok(servers)
}

/// A server as the Query API answers it. `reported_newer`: it reported a check or kind this
/// collector does not know; `quarantine`: its set-aside results, if any.
pub(super) fn server(
    known: &KnownAgent,
    reported_newer: bool,
    quarantine: Option<&crate::store::Quarantine>,
) -> Server {
    let a = &known.record;
    Server {
        version_notes: crate::newer::version_notes(&a.agent_version, reported_newer),
        collector_version: crate::newer::COLLECTOR_VERSION.to_owned(),
        quarantined: known.quarantined,
        quarantine_last: quarantine
            .map(|q| {
                format!(
                    "result #{} because {} ({})",
                    q.last_seq, q.last_reason, q.last_summary
                )
            })
            .unwrap_or_default(),
        agent_id: a.agent_id.clone(),
        hostname: a.hostname.clone(),
        role: a.role.clone(),
        deployment: a.deployment.clone(),
        agent_version: a.agent_version.clone(),
        os: a.os.clone(),
        ece_version: a.ece_version.clone(),
        ece_es: a.ece_es.clone(),
        probe_interval_s: a.probe_interval_s,
        seen_unix_ms: a.seen_unix_ms,
        last_seq: known.last_seq,
        spool_dropped: known.spool_dropped,
        // Not reported: both empty (a reporting agent's trust store line never is).
        java_runtime: a
            .java
            .as_ref()
            .map(|j| j.runtime.clone())
            .unwrap_or_default(),
        java_truststore: a
            .java
            .as_ref()
            .map(|j| j.truststore.clone())
            .unwrap_or_default(),
    }
}
