//! Which checks each server role needs (checklist C8-C10), from a TOML file or the
//! checklist's minimum. Every error names the key.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::Duration;

use eceprobe_checks::{CheckId, Role, Runs};
use serde::Deserialize;

use crate::latency::{LatencyThresholds, LatencyThresholdsFile};

/// How mail is retrieved (`retriever = "imap"`): the catalog's table says which checks
/// each choice relaxes.
pub use eceprobe_checks::Retriever;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    retriever: Option<Retriever>,
    /// An agent silent for this many probe intervals is stale (default 3).
    stale_after_intervals: Option<u32>,
    /// A passing check slower than this is a warning (default 5000).
    slow_ms: Option<u64>,
    /// Per role, the checks required, replacing the default: `[roles] services = [...]`.
    #[serde(default)]
    roles: BTreeMap<String, Vec<String>>,
    /// When a stage is far enough over its peers' or its own past to warn.
    latency: Option<LatencyThresholdsFile>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("policy: {0}")]
    Parse(String),
    #[error("policy: {key}: {message}")]
    Invalid { key: String, message: String },
}

/// The policy in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    required: BTreeMap<RoleKey, BTreeSet<CheckId>>,
    pub stale_after_intervals: u32,
    pub slow: Duration,
    /// `[latency]`: `slower_than_peers` and `latency_regression`.
    pub latency: LatencyThresholds,
}

/// `Role` as a map key (services, application; `both` needs the union).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum RoleKey {
    Services,
    Application,
}

impl Default for Policy {
    /// The checklist's minimum: both server kinds reach every Microsoft endpoint (C8, C10).
    fn default() -> Self {
        Policy::with_retriever(Retriever::Both)
    }
}

impl Policy {
    /// The table's default (`CheckId::default_required`) for each role.
    fn with_retriever(retriever: Retriever) -> Policy {
        let of = |role| -> BTreeSet<CheckId> {
            CheckId::known()
                .filter(|c| c.default_required(role, retriever))
                .collect()
        };
        Policy {
            required: [
                (RoleKey::Services, of(Role::Services)),
                (RoleKey::Application, of(Role::Application)),
            ]
            .into(),
            stale_after_intervals: 3,
            slow: Duration::from_secs(5),
            latency: LatencyThresholds::default(),
        }
    }

    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        let mut policy = Policy::with_retriever(file.retriever.unwrap_or_default());
        if let Some(n) = file.stale_after_intervals {
            if n == 0 {
                return Err(invalid("stale_after_intervals", "must be at least 1"));
            }
            policy.stale_after_intervals = n;
        }
        if let Some(ms) = file.slow_ms {
            policy.slow = Duration::from_millis(ms);
        }
        if let Some(latency) = file.latency {
            policy.latency = LatencyThresholds::from_file(latency)
                .map_err(|(key, message)| invalid(&key, &message))?;
        }
        for (role, checks) in file.roles {
            let key = match role.as_str() {
                "services" => RoleKey::Services,
                "application" => RoleKey::Application,
                other => {
                    return Err(invalid(
                        &format!("roles.{other}"),
                        "unknown role: use services or application",
                    ))
                }
            };
            let mut set = BTreeSet::new();
            for c in checks {
                let key = format!("roles.{role}");
                let id = CheckId::from_str(&c).map_err(|m| invalid(&key, &m))?;
                match id.runs() {
                    Runs::Network => {}
                    // Per mailbox, and required wherever a mailbox is configured.
                    Runs::PerMailbox => return Err(invalid(
                        &key,
                        &format!("{id} is checked per configured mailbox and always required where it runs; list only catalog checks"),
                    )),
                    // Runs only where ECE facts are declared (ECE's Java is found); listed
                    // here it would be "missing" on every server without them.
                    Runs::WhereDeclared => return Err(invalid(
                        &key,
                        &format!("{id} runs where the agent declares ECE facts or finds ECE's Java and is always required there; list only catalog checks"),
                    )),
                }
                set.insert(id);
            }
            policy.required.insert(key, set);
        }
        Ok(policy)
    }

    /// The policy as TOML that [`Policy::from_toml`] reads back to the same policy, every
    /// key spelled out (audits keep it as the policy they were evaluated with).
    pub fn to_toml(&self) -> String {
        let list = |k: RoleKey| {
            let names: Vec<String> = self
                .required
                .get(&k)
                .into_iter()
                .flatten()
                .map(|c| format!("\"{c}\""))
                .collect();
            names.join(", ")
        };
        format!(
            "stale_after_intervals = {}\nslow_ms = {}\n\n[roles]\nservices = [{}]\napplication = [{}]\n\n{}",
            self.stale_after_intervals,
            self.slow.as_millis(),
            list(RoleKey::Services),
            list(RoleKey::Application),
            self.latency.to_toml(),
        )
    }

    /// The checks a server of this role must pass.
    pub fn required(&self, role: Role) -> BTreeSet<CheckId> {
        let of = |k| self.required.get(&k).cloned().unwrap_or_default();
        match role {
            Role::Services => of(RoleKey::Services),
            Role::Application => of(RoleKey::Application),
            Role::Both => of(RoleKey::Services)
                .union(&of(RoleKey::Application))
                .copied()
                .collect(),
        }
    }
}

fn invalid(key: &str, message: &str) -> PolicyError {
    PolicyError::Invalid {
        key: key.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_the_catalogs_per_role_and_retriever() {
        for (text, retriever) in [
            ("", Retriever::Both),
            ("retriever = \"imap\"", Retriever::Imap),
            ("retriever = \"pop3\"", Retriever::Pop3),
        ] {
            let p = Policy::from_toml(text).unwrap();
            for role in [Role::Services, Role::Application, Role::Both] {
                let table: BTreeSet<CheckId> = CheckId::known()
                    .filter(|c| c.default_required(role, retriever))
                    .collect();
                assert_eq!(p.required(role), table, "{role:?} {retriever:?}");
            }
        }
    }

    #[test]
    fn default_is_the_checklist_minimum() {
        let p = Policy::default();
        for role in [Role::Services, Role::Application, Role::Both] {
            assert_eq!(p.required(role).len(), 5, "{role:?}");
            assert!(!p.required(role).contains(&CheckId::EceUrl));
        }
    }

    #[test]
    fn the_toml_form_reads_back_to_the_same_policy() {
        for text in [
            "",
            "retriever = \"pop3\"\nslow_ms = 1500\nstale_after_intervals = 7",
            "[roles]\napplication = [\"login-https\", \"smtp\"]\nservices = []",
            "[latency]\nfactor = 2.5\nmargin_ms = 150\nmin_peers = 5\nmin_baseline_hours = 48",
        ] {
            let p = Policy::from_toml(text).unwrap();
            let round = Policy::from_toml(&p.to_toml()).unwrap();
            assert_eq!(round, p, "{}", p.to_toml());
        }
        assert!(Policy::default().to_toml().contains(
            "services = [\"login-https\", \"outlook-https\", \"imap\", \"pop3\", \"smtp\"]"
        ));
    }

    #[test]
    fn retriever_relaxes_the_other_protocol() {
        let p = Policy::from_toml("retriever = \"imap\"").unwrap();
        assert!(p.required(Role::Services).contains(&CheckId::Imap));
        assert!(!p.required(Role::Services).contains(&CheckId::Pop3));
    }

    #[test]
    fn roles_can_be_replaced_and_errors_name_the_key() {
        let p = Policy::from_toml("[roles]\napplication = [\"login-https\", \"smtp\"]").unwrap();
        assert_eq!(p.required(Role::Application).len(), 2);
        assert_eq!(p.required(Role::Services).len(), 5);
        assert_eq!(p.required(Role::Both).len(), 5);
        let err = Policy::from_toml("[roles]\nservices = [\"ftp\"]")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("roles.services") && err.contains("ftp"),
            "{err}"
        );
        let err = Policy::from_toml("[roles]\ndb = []")
            .unwrap_err()
            .to_string();
        assert!(err.contains("roles.db"), "{err}");
        let err = Policy::from_toml("stale_after_intervals = 0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("stale_after_intervals"), "{err}");
        let err = Policy::from_toml("[latency]\nrecent = 1")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("latency.recent") && err.contains("3 to 10 results"),
            "{err}"
        );
        let err = Policy::from_toml("retriver = \"imap\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("retriver"), "{err}");
    }

    #[test]
    fn oauth_checks_are_not_listed_per_role() {
        let err =
            Policy::from_toml("[roles]\nservices = [\"imap\", \"oauth-imap\"]\n").unwrap_err();
        assert!(err.to_string().contains("roles.services"), "{err}");
        assert!(err.to_string().contains("per configured mailbox"), "{err}");
        let err = Policy::from_toml("[roles]\napplication = [\"ece-config\"]\n").unwrap_err();
        assert!(err.to_string().contains("roles.application"), "{err}");
        assert!(err.to_string().contains("declares ECE facts"), "{err}");
    }
}
