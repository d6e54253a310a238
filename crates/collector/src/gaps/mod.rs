//! Gaps: what each server's role requires (the policy) against what its agent reports.
//!
//! Today this evaluates the current state; opening and closing gaps with timestamps (and
//! serving them through the Query API) builds on it.

mod engine;
mod policy;

pub use engine::{evaluate, AgentView, CheckView, FindingKind, GapFinding, Severity};
pub use policy::{Policy, PolicyError, Retriever};
