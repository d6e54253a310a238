//! What a page or the CLI says of a server that is not in service (retired or never seen):
//! words, so they live here and not in the store.

/// What a page or the CLI says of a server that is not in service: retired (when), or
/// unknown. The one wording of it.
pub fn not_in_service(agent_id: &str, retired_unix_ms: Option<i64>) -> String {
    match retired_unix_ms {
        Some(at) => format!(
            "server '{agent_id}' was retired on {} (eceprobe-collector retire); its gap history is kept: eceprobe-collector gaps --history --server {agent_id}",
            crate::civil::utc_minutes(at)
        ),
        None => format!("no server with agent id '{agent_id}'"),
    }
}
