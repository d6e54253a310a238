//! The command line's definitions (clap): every subcommand and flag with its help text.
//! `main.rs` dispatches them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// What `eceprobe-collector demo` says: the demo is a program of its own.
pub(crate) const DEMO_MOVED: &str = "eceprobe-collector: the demo is a program of its own now, eceprobe-demo, so that the collector you deploy does not carry the simulated Microsoft 365. `cargo build --release` builds it beside the collector: run ./target/release/eceprobe-demo (same options: --once, --dir DIR, --deadline-s N).";

#[derive(Parser)]
#[command(
    name = "eceprobe-collector",
    version,
    about = "Collects eceprobe agents' results into SQLite or PostgreSQL"
)]
pub(crate) struct Cli {
    /// Log level (error, warn, info, debug, trace; default info); ECEPROBE_LOG also works.
    #[arg(long, global = true)]
    pub(crate) log_level: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Moved: the demo is `eceprobe-demo` (this says so, for the commands people remember).
    #[command(hide = true)]
    Demo {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Accept agents' streams and store their results.
    Serve(ServeArgs),
    /// Copy a SQLite store into a PostgreSQL database, every table, then compare the counts.
    ///
    /// Stop the collector first: migrate holds the SQLite file's write lock while it copies
    /// (a collector still writing it makes migrate stop with that reason), and whatever a
    /// collector writes into the file afterwards is not in the copy. An older collector's
    /// file is brought to this build's schema first, as `serve` would; a newer one's is
    /// refused. The target's schema is created if it is empty. Interrupted (Ctrl-C, a lost
    /// connection), run it again: it resumes where it stopped and copies nothing twice. A
    /// target holding rows that did not come from this file is refused untouched.
    /// Exit 0: every table's count matches; 1: a count differs (named); 2: an error.
    Migrate(MigrateArgs),
    /// The collector's certificate authority (for agents' TLS).
    #[command(subcommand)]
    Ca(CaCommand),
    /// Issue a certificate for an agent and write its bundle (agent.pem, agent.key, ca.pem).
    Enroll {
        /// The agent's id (what its [run] agent_id says).
        agent_id: String,
        /// The CA directory.
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// Where to write the bundle (default: bundles/AGENT_ID next to the CA directory).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Revoke every certificate issued to an agent: a running collector ends its open stream
    /// within seconds, stores nothing more from it and refuses it from then on.
    Revoke {
        agent_id: String,
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// Also record the revocation in this database (as `serve --db` takes it), so every
        /// collector sharing it refuses the agent within seconds, not only this one.
        #[arg(long, value_name = "FILE|URL")]
        db: Option<String>,
        /// Also record it in the database of this configuration (as `serve --config`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Join tokens: a server joins with one, makes its own key and gets its certificate
    /// (the bundle of `enroll` is not needed then).
    #[command(subcommand)]
    Token(crate::token_cmd::TokenCommand),
    /// Take a server out of service: it leaves the matrix and the policy, its open gaps close
    /// with the reason "retired", its history stays. Revoke its agent first; a re-enrolled
    /// agent that reports again brings it back.
    Retire {
        #[command(flatten)]
        target: Target,
        /// The server's agent id.
        server: String,
    },
    /// List the servers (agents) the collector knows.
    Servers {
        #[command(flatten)]
        target: Target,
        /// Only this deployment.
        #[arg(long)]
        deployment: Option<String>,
    },
    /// Current gaps and warnings, filterable.
    Gaps {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        deployment: Option<String>,
        #[arg(long = "server")]
        agent_id: Option<String>,
        #[arg(long)]
        check: Option<String>,
        /// gap or warning.
        #[arg(long)]
        severity: Option<String>,
        /// Who closes them: network, m365, ece, host or unknown. With --change-request: whose
        /// request, network (the default), m365 or ece.
        #[arg(long)]
        owner: Option<String>,
        /// The open gaps under a heading per team that closes them, each with its fix.
        #[arg(long, conflicts_with = "history")]
        by_owner: bool,
        /// Gaps that opened and closed, newest first, instead of the open ones.
        #[arg(long)]
        history: bool,
        /// With --history: only gaps open in the last this many hours.
        #[arg(long, value_name = "HOURS", requires = "history")]
        since_hours: Option<u32>,
        /// With --history: at most this many.
        #[arg(long, default_value_t = 50, requires = "history")]
        limit: u32,
        /// Instead of the gaps: a team's change request for the deployment, generated from
        /// its open gaps (the firewall rules, the tenant admin's PowerShell, ECE's settings),
        /// printed as the file it is (redirect it to one).
        #[arg(long, requires = "deployment", conflicts_with_all = ["history", "by_owner"])]
        change_request: bool,
        /// With --change-request: csv or md (network), ps1 (m365), md (ece); default the
        /// team's first.
        #[arg(long, requires = "change_request")]
        format: Option<String>,
    },
    /// A server's latest result for each check, with what to do.
    Show {
        #[command(flatten)]
        target: Target,
        /// The server's agent id.
        server: String,
    },
    /// The history of one check on one server, newest first.
    History {
        #[command(flatten)]
        target: Target,
        server: String,
        check: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Connectivity audits: every connected server runs the whole catalog now.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Start an audit. With --wait: print its gaps when it closes and exit 0 (no gap),
    /// 1 (gaps, including servers that did not answer) or 2 (it could not run).
    Run {
        #[command(flatten)]
        target: Target,
        /// Only this deployment (default: every deployment).
        #[arg(long)]
        deployment: Option<String>,
        /// Seconds the agents have to answer (default 120, at most 3600).
        #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
        deadline_s: u32,
        /// Wait until the audit closes and print its gaps.
        #[arg(long)]
        wait: bool,
    },
    /// Audits, newest first.
    List {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        deployment: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One audit: verdicts per server and check, gaps, and what changed since the
    /// previous audit of the same scope.
    Show {
        #[command(flatten)]
        target: Target,
        audit_id: String,
    },
    /// What changed from one audit (the earlier) to another: new, resolved, unchanged gaps.
    Diff {
        #[command(flatten)]
        target: Target,
        from: String,
        to: String,
    },
    /// A report of one audit for a change ticket: summary, what changed, each server's
    /// verdicts and findings with the checklist item and the fix, the policy in force.
    Report {
        #[command(flatten)]
        target: Target,
        audit_id: String,
        /// md (default; --json: json), html (self-contained, printable), csv or json.
        #[arg(long, value_name = "md|html|csv|json")]
        format: Option<eceprobe_collector::export::Format>,
        /// Write the report to this file (created or replaced) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Configuration file (TOML: listen, tls_dir, database, policy_file, ...; paths in it
    /// relative to its directory, the flags' to the working directory); flags override it.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Address for agents (default 127.0.0.1:7443; use 0.0.0.0:7443 with --tls-dir).
    #[arg(long)]
    pub(crate) listen: Option<SocketAddr>,
    /// Address for the admin CLI's Query API, loopback only (default 127.0.0.1:7444).
    #[arg(long)]
    pub(crate) query_listen: Option<SocketAddr>,
    /// The CA directory from `ca init`: agents connect with TLS and client certificates.
    #[arg(long, value_name = "DIR")]
    pub(crate) tls_dir: Option<PathBuf>,
    /// No TLS: agents on loopback only (demos and tests).
    #[arg(long, conflicts_with = "tls_dir")]
    pub(crate) plaintext: bool,
    /// The store: a SQLite file, created if missing (default eceprobe.db), or a
    /// PostgreSQL database, postgres://USER@HOST:PORT/NAME?sslmode=verify-full (its
    /// password from [store] password_file or PGPASSWORD, never in a shared command line).
    #[arg(long, value_name = "FILE|URL")]
    pub(crate) db: Option<String>,
    /// Role policy (TOML): which checks each server role needs. Default: the
    /// checklist's minimum (every Microsoft check for both roles).
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,
}

#[derive(clap::Args)]
pub(crate) struct MigrateArgs {
    /// The collector's SQLite file (`database` in collector.toml, default eceprobe.db).
    #[arg(long, value_name = "FILE")]
    pub(crate) from: PathBuf,
    /// The PostgreSQL database, postgres://USER@HOST:PORT/NAME?sslmode=verify-full: empty,
    /// or one an interrupted migrate left. Its password from --password-file or PGPASSWORD,
    /// never in a shared command line.
    #[arg(long, value_name = "URL")]
    pub(crate) to: String,
    /// A file holding the PostgreSQL password on its first line (as [store] password_file).
    #[arg(long, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,
    /// Rows per transaction on PostgreSQL (what an interruption can leave half done).
    #[arg(long, value_name = "N", default_value_t = eceprobe_collector::store::DEFAULT_CHUNK_ROWS)]
    pub(crate) chunk_rows: usize,
}

#[derive(Subcommand)]
pub(crate) enum CaCommand {
    /// Create the CA and the collector's server certificate.
    Init {
        /// Where the CA lives (keep it private: it holds the CA key).
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// A DNS name or IP address agents use to reach the collector. Repeatable.
        #[arg(long = "name", required = true)]
        names: Vec<String>,
    },
}

/// Where the admin commands find the collector, and how they print.
#[derive(clap::Args)]
pub(crate) struct Target {
    /// The collector's Query API.
    #[arg(long, default_value = "http://127.0.0.1:7444")]
    pub(crate) collector: String,
    /// JSON for scripts instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}
