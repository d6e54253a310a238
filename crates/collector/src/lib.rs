//! The eceprobe collector: agents stream probe results over gRPC (`AgentLink`), the
//! collector validates them and stores them (SQLite or PostgreSQL), idempotently on (agent,
//! sequence).
//!
//! - [`admin`]: the admin CLI's requests to a collector's Query API and their tables (the
//!   `eceprobe-collector` commands, and `eceprobe-demo`'s audit).
//! - [`audits`]: connectivity audits: ordering every connected agent, deciding who
//!   answered, closing at the deadline, and the audit's verdicts, gaps and diff.
//! - [`ingest`]: the `AgentLink` service, one task per agent stream, bounded everywhere.
//! - [`checkname`]: check names (`imap`, `oauth-imap/<mailbox>`): the one parser.
//! - [`convert`]: wire results to storage rows, with the validation that names bad input.
//! - [`endpoints`]: Microsoft's published endpoint sets (the list firewall teams import).
//! - [`store`]: the crate `eceprobe-store` (SQLite or PostgreSQL); knows nothing of gRPC.
//! - [`gaps`]: the policy, the gap engine, and the tracker that records gaps opening and
//!   closing.
//! - [`latency`]: `slower_than_peers` and `latency_regression`: stage durations against
//!   the same check on the server's peers and against its own last 7 days.
//! - [`order`]: what matters first: failures, then warnings, then passes, wherever a
//!   person reads results.
//! - [`query`]: the `Query` service (servers, gaps, latest results, history).
//! - [`server`]: binds the gRPC server.
//! - [`auth`]: agent TLS: the server certificate, and which agent a client certificate is.
//! - [`civil`]: UTC calendar dates without a date-time crate.
//! - [`export`]: audit reports (Markdown, HTML, CSV, JSON) for a change ticket.
//! - [`pki`]: the collector's CA: server certificate, agent enrollment, revocation.
//! - [`join`]: enrollment with a join token: tokens, and the `Enrollment` RPC that signs an
//!   agent's own key.
//! - [`config`]: the collector's TOML configuration.
//! - [`retention`]: deletes history and closed gaps past their age.
//! - [`schedule`]: cron schedules (time zone aware) that start audits, on a clock tests control.
//! - [`web`]: the dashboard, the JSON API and `/metrics` over HTTP.
//! - [`notify`]: webhook events when gaps open or close and when audits close.

// The admin CLI's modules name the library `eceprobe_collector`, as they did in the binary.
extern crate self as eceprobe_collector;

pub mod admin;
pub mod audits;
pub mod auth;
pub mod change_request;
pub mod check_durations;
pub mod checkname;
/// UTC calendar dates (in `eceprobe-report`, which the agent's report uses too).
pub use eceprobe_report::civil;
pub mod config;
pub mod convert;
pub mod endpoints;
pub mod export;
pub mod gap_diff;
pub mod gaps;
pub mod ingest;
pub mod join;
pub mod latency;
pub mod leader;
pub mod newer;
pub mod notify;
pub mod order;
pub mod outbound;
pub mod pki;
pub mod process;
pub mod query;
pub mod result_view;
pub mod retention;
pub mod retired;
pub mod revocation_db;
pub mod schedule;
pub mod server;
pub mod store_settings;
/// The storage boundary, a crate of its own (`crates/store`).
pub use eceprobe_store as store;
pub mod web;
