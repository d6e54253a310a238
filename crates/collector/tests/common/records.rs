//! Store records written directly by the tests that fill a store without agents.

use eceprobe_collector::store::AgentRecord;

/// A Windows services server `agent_id` of deployment `prod` running ECE 12.6(1) ES1,
/// probing every 60 s, never seen, Java not reported; a test sets what it is about with
/// `AgentRecord { .., ..agent_record(..) }`.
pub fn agent_record(agent_id: &str) -> AgentRecord {
    AgentRecord {
        agent_id: agent_id.to_owned(),
        hostname: format!("{agent_id}.ece.example"),
        role: "services".to_owned(),
        deployment: "prod".to_owned(),
        agent_version: "0.1.0".to_owned(),
        os: "windows".to_owned(),
        ece_version: "12.6(1)".to_owned(),
        ece_es: "ES1".to_owned(),
        probe_interval_s: 60,
        seen_unix_ms: 0,
        java: None,
    }
}
