//! Gaps: what each server's role requires (the policy) against what its agent reports.
//!
//! `engine` evaluates the current state (pure); `tracker` runs it on a timer and after new
//! results, and records in the store when each gap opened and closed.

mod awake;
mod engine;
mod evaluated;
mod owner;
mod policy;
mod tracker;
mod views;

#[cfg(test)]
mod owner_store_tests;

pub use awake::Awake;
pub use engine::{
    evaluate, evaluate_awake, retired, AgentView, CheckView, FindingKind, GapFinding, Severity,
    NOT_ANSWERED,
};
pub use evaluated::Evaluated;
pub use owner::{
    failure_kind, owner_name, owner_of, probe_kind, OwnerFilter, OWNER_VALUES, UNKNOWN,
};
pub use policy::{Policy, PolicyError, Retriever};
pub use tracker::{found_gap, join_or_abort, Tracker, MIN_SPACING, STOP_GRACE};
pub use views::{agent_view, check_view, wire_gap};
