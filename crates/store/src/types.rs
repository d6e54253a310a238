//! What goes into the store and what comes out: plain structs, no SQL.

use std::path::PathBuf;
use std::sync::Arc;

use super::MAX_RESULTS_PER_INSERT;

/// An agent (one ECE server) as it described itself, and when it was last heard from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    pub agent_id: String,
    pub hostname: String,
    pub role: String,
    pub deployment: String,
    pub agent_version: String,
    pub os: String,
    pub ece_version: String,
    pub ece_es: String,
    pub probe_interval_s: u32,
    pub seen_unix_ms: i64,
    /// ECE's Java as the agent's last Hello reported it; None: not reported (the agent
    /// predates the report, or the record predates migration 0011). Never "no Java".
    pub java: Option<JavaReport>,
}

impl AgentRecord {
    /// The unit tests' record (the integration tests have theirs in `tests/common`): a
    /// Windows services server `agent_id` of deployment `prod` running ECE 12.6(1) ES1,
    /// probing every 60 s, never seen, Java not reported; a test sets what it is about with
    /// `AgentRecord { .., ..for_test(..) }`. Production records come from an agent's Hello
    /// (the collector's `convert::agent_record`) or the database (`rows.rs`). Compiled in
    /// (hidden) because the collector's unit tests are another crate's.
    #[doc(hidden)]
    pub fn for_test(agent_id: &str) -> AgentRecord {
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
}

/// ECE's Java runtime and trust store, as an agent reported them in its Hello (issue 14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaReport {
    /// The runtime's home; "" when the agent identified none (`truststore` says why).
    pub runtime: String,
    /// The line the agent printed about the trust store: found and read, none found, or
    /// why it could not be read. Never empty.
    pub truststore: String,
}

/// An agent as stored: what it declared, and what the collector counts about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownAgent {
    pub record: AgentRecord,
    /// The highest seq stored (survives pruning).
    pub last_seq: u64,
    /// Results the agent's spool had to drop, as its last heartbeat said.
    pub spool_dropped: u64,
    /// When the collector first heard of the agent.
    pub first_seen_unix_ms: i64,
    /// Results of this agent ever set aside (the quarantine; its rows are capped, this is not).
    pub quarantined: u64,
}

/// A result that cannot be stored truthfully, set aside and acked (migration 0014).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    pub seq: u64,
    /// What was wrong, in words.
    pub reason: String,
    /// What the result claimed (check, outcome, kind, size); never its contents.
    pub summary: String,
}

/// An agent's set-aside results: how many, and the last one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Quarantine {
    pub count: u64,
    pub last_seq: u64,
    pub last_reason: String,
    pub last_summary: String,
    pub last_unix_ms: i64,
}

/// One result as an agent sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResult {
    /// The agent's sequence number for this result (at most `i64::MAX`).
    pub seq: u64,
    pub check: String,
    pub started_unix_ms: i64,
    /// `pass`, `warn` or `fail`.
    pub outcome: String,
    pub failure_kind: Option<String>,
    pub failure_stage: Option<String>,
    /// At most `i64::MAX`.
    pub duration_us: u64,
    /// Warning kinds (`tls_intercepted`, ...): plain identifiers, no commas.
    pub warning_kinds: Vec<String>,
    /// How long each stage took, microseconds, in the order they ran (`dns`, `tcp`, `tls`,
    /// ...): stage names are plain identifiers, no commas or colons. Kept beside the detail
    /// so `/metrics` never decodes blobs.
    pub stage_durations: Vec<(String, u64)>,
    /// The full result, opaque to the store.
    pub detail: Vec<u8>,
    /// The audit the result was produced for; empty for the continuous schedule.
    pub audit_id: String,
    /// What the OS resolver gave for the check's host; None when the agent did not ask it
    /// (a `resolve` override, a proxy) or got nothing.
    pub system_dns: Option<SystemDns>,
}

/// A check's host and the addresses the agent's OS resolver gave for it (`Dns.source ==
/// "system"`): what the server's DNS says, judged against Microsoft's published ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemDns {
    pub host: String,
    /// IP addresses as text (each parses as one).
    pub addresses: Vec<String>,
}

/// A result as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResult {
    pub agent_id: String,
    pub seq: u64,
    pub check: String,
    pub started_unix_ms: i64,
    pub outcome: String,
    pub failure_kind: Option<String>,
    pub failure_stage: Option<String>,
    pub duration_us: u64,
    pub warning_kinds: Vec<String>,
    pub detail: Vec<u8>,
    pub received_unix_ms: i64,
}

/// The latest state of one check on one agent, without the detail blob: what the gap engine
/// reads for the whole fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckState {
    pub agent_id: String,
    pub check: String,
    pub seq: u64,
    pub outcome: String,
    pub failure_kind: Option<String>,
    pub warning_kinds: Vec<String>,
    pub duration_us: u64,
    pub received_unix_ms: i64,
    pub system_dns: Option<SystemDns>,
}

/// A gap or warning as the engine found it now; its key is (agent, check, kind, severity).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FoundGap {
    pub agent_id: String,
    pub check: String,
    pub kind: String,
    /// `gap` or `warning`.
    pub severity: String,
    pub deployment: String,
    pub detail: String,
}

/// A gap as recorded: open while `closed_unix_ms` is None.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapRecord {
    pub gap_id: i64,
    pub deployment: String,
    pub agent_id: String,
    pub check: String,
    pub kind: String,
    pub severity: String,
    pub detail: String,
    pub opened_unix_ms: i64,
    pub closed_unix_ms: Option<i64>,
    /// Why it closed, when not because it was no longer found: "retired" (its server was
    /// retired). None while open or once fixed.
    pub close_reason: Option<String>,
}

/// Which gaps to read; every `None` filter matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GapFilter {
    pub deployment: Option<String>,
    pub agent_id: Option<String>,
    pub check: Option<String>,
    pub severity: Option<String>,
    /// Only the gaps open now; otherwise open and closed, newest opened first.
    pub open_only: bool,
    /// Only gaps still open at or closed after this time (history).
    pub since_unix_ms: Option<i64>,
    /// At most this many (capped at [`super::MAX_GAPS_LIMIT`]).
    pub limit: u32,
    /// Only the gaps of one owner, as [`KindMatch`] chooses them.
    pub kinds: Option<KindMatch>,
}

/// Gaps chosen by their stored kind and, for one kind, by the first word of their detail
/// (up to the first space): what an owner filter becomes in SQL. Built by `gaps::owner`,
/// which is where owners mean something; the store only applies it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindMatch {
    /// Gaps of these kinds.
    pub kinds: Vec<&'static str>,
    /// And gaps of this kind whose detail's first word is one of `first_words`.
    pub by_detail: &'static str,
    pub first_words: Vec<&'static str>,
    /// Instead: every gap the two above do not choose.
    pub negate: bool,
}

/// What one reconciliation changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GapChanges {
    pub opened: Vec<GapRecord>,
    pub closed: Vec<GapRecord>,
    /// Still open, with a new detail.
    pub updated: u64,
}

/// What one `insert_results` call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertOutcome {
    /// Results stored by this call.
    pub inserted: u64,
    /// Results already stored (same agent and seq), not stored again.
    pub duplicates: u64,
    /// Results newly set aside by this call (a resend of one already set aside: not counted).
    pub set_aside: u64,
    /// The highest seq stored for this agent after the insert (survives pruning).
    pub max_seq: u64,
}

/// Why a store operation failed; the message names what failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // The underlying error is in each message, so it is a plain field (`error`), not a
    // `source`: printed through anyhow's `{:#}` chain it would appear twice.
    #[error("cannot create the database directory {path}: {error}")]
    CreateDir {
        path: PathBuf,
        error: std::io::Error,
    },
    /// `database` names it in words ("the SQLite database PATH", "the PostgreSQL database
    /// USER@HOST:PORT/NAME"), never with a password.
    #[error("cannot open {database}: {error}{fix}")]
    Open {
        database: String,
        error: sqlx::Error,
        /// What to look at, in words ('' when the cause says it all).
        fix: &'static str,
    },
    #[error("cannot apply the schema migrations to {database}: {error}")]
    Migrate {
        database: String,
        error: sqlx::migrate::MigrateError,
    },
    #[error(
        "{database} is not eceprobe's: it holds other tables ({tables}) and no eceprobe schema; give the collector an empty database of its own"
    )]
    NotOurs { database: String, tables: String },
    #[error(
        "{database} has schema version {found}, newer than this collector's {known}: a newer eceprobe-collector wrote it; run that version or a later one (a downgrade would lose what the newer schema holds)"
    )]
    NewerSchema {
        database: String,
        found: i64,
        known: i64,
    },
    /// A statement failed; `what` says what the store was doing.
    #[error("{what}: {error}")]
    Database { what: String, error: sqlx::Error },
    /// The batch transaction this request was part of failed as a whole (nothing of it
    /// was stored); `stage` says where.
    #[error("the write transaction failed at {stage}; nothing of it was stored: {error}")]
    Transaction {
        stage: &'static str,
        error: Arc<sqlx::Error>,
    },
    #[error("unknown agent {agent_id}: upsert_agent must record it before {what}")]
    UnknownAgent {
        agent_id: String,
        what: &'static str,
    },
    #[error(
        "{field} {value} of agent {agent_id} is out of range: the store keeps values up to {max}",
        max = i64::MAX
    )]
    OutOfRange {
        agent_id: String,
        field: &'static str,
        value: u64,
    },
    #[error(
        "{count} results in one insert for agent {agent_id}: at most {max} per call",
        max = MAX_RESULTS_PER_INSERT
    )]
    TooManyResults { agent_id: String, count: usize },
    #[error("corrupt row in table {table}: {what}")]
    Corrupt { table: &'static str, what: String },
    #[error("the store is closed")]
    Closed,
    /// A fenced write by a collector that no longer holds the leader lease at its term.
    #[error("this collector ({holder}) no longer leads (its term {term} has passed to another collector): the write was not made; the leader does it")]
    NotLeader { holder: String, term: i64 },
    /// A request's statements passed the write timeout: the connection is taken for lost;
    /// whether they were stored is unknown (results sent again are stored once).
    #[error("{database} did not answer within the write timeout ([store] write_timeout_s); whether this write was stored is not known (results sent again are stored once); the collector connects again")]
    TimedOut { database: String },
    /// The connection to the database broke during the write (PostgreSQL stopped, a network
    /// cut): nothing of the write was stored; the writer connects again for the next one.
    #[error("lost the connection to {database} ({error}); {outcome}; it can be sent again once the database is reachable")]
    ConnectionLost {
        database: String,
        error: Arc<sqlx::Error>,
        outcome: &'static str,
    },
    /// The write connection was lost and connecting again failed (PostgreSQL stopped, a
    /// network cut): nothing of the request was stored; it can be sent again later.
    #[error("{0}; nothing was stored, the write can be sent again once it is reachable")]
    Unavailable(Arc<StoreError>),
    /// Connecting again took longer than the write timeout: a path that drops packets
    /// silently (a NAT or firewall that forgot the flow) would otherwise hold every write.
    #[error("{database} did not answer a new connection within {seconds} s (the write timeout, [store] write_timeout_s): check the network path to it")]
    ConnectTimedOut { database: String, seconds: u64 },
}

/// An audit as recorded: a point-in-time run of the whole catalog on every server in scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub audit_id: String,
    /// Empty: every deployment.
    pub deployment: String,
    pub started_unix_ms: i64,
    pub deadline_unix_ms: i64,
    /// None while running.
    pub closed_unix_ms: Option<i64>,
    /// The role policy in force when the audit started, as TOML ('' for audits recorded
    /// before policies were kept: read with the policy in force now).
    pub policy: String,
}

/// A server in an audit's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditServerRecord {
    pub agent_id: String,
    /// False: it was not connected when the audit started, so it was never ordered.
    pub ordered: bool,
    /// None: it has not answered (yet).
    pub answered_unix_ms: Option<i64>,
}

/// What has arrived from one server for an audit so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditProgress {
    pub agent_id: String,
    /// Distinct checks with a result tagged with the audit.
    pub checks: u64,
    /// When the last tagged result was received.
    pub last_received_unix_ms: i64,
}
