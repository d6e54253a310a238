//! The eceprobe probe engine.
//!
//! For each check of the catalog ([`catalog`]) a [`Prober`] runs the stages
//! dns -> tcp -> (proxy) -> (starttls) -> tls -> protocol against every resolved address and
//! reports a [`CheckReport`]: what each stage saw and took, and for a failure its kind
//! ([`FailureKind`]) and a remediation hint naming the checklist item and the ECE process.
//!
//! The OAuth checks ([`oauth`]) grant a token as ECE does and log in with XOAUTH2 per
//! mailbox, with the same stages and reports.
//!
//! This crate knows nothing of transport to a collector or of storage.

pub mod catalog;
mod checklist;
pub mod ece;
mod failure;
/// For the fuzz targets in `fuzz/` only: not an API, no stability promised.
#[doc(hidden)]
pub mod fuzzing;
mod http;
#[cfg(windows)]
pub mod icmp_windows;
pub mod java;
mod lines;
mod mail;
mod net;
pub mod oauth;
mod probe;
mod report;
mod settings;
mod slow;
#[cfg(target_os = "linux")]
mod tcp_info_linux;
pub mod tls;
mod trace;
pub mod words;

pub use catalog::{
    catalog, CheckId, CheckSpec, Cloud, CloudHosts, HostKind, Retriever, Role, RowDialog, Runs,
    Target,
};
pub use checklist::ChecklistItem;
pub use ece::EceFacts;
pub use failure::{FailureKind, Finding, Owner, Remedy, Stage};
pub use lines::LineLimits;
pub use oauth::{
    ClaimsReport, Grant, MailboxSpec, OAuthMailboxReport, OAuthTokenReport, Protocol, Secret,
};
pub use probe::Prober;
pub use report::{
    anchor_label, tls_version_label, AddressAttempt, AddressSource, CertInfo, CheckReport,
    DnsReport, FamilyTiming, Hop, HopAnswer, JavaChainVerdict, MissingIssuer, OAuthInfo, Outcome,
    PathTrace, ProtocolInfo, RootSource, StageReport, SuiteReport, TcpStats, TlsInfo,
};
pub use settings::{
    Budgets, ProbeSettings, ProxyTarget, ResolveOverrides, Timeouts, TraceSettings,
};
pub use tls::{JavaTrustInput, Trust, TrustError, TrustOptions};

/// A stage's failure before it is placed in a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StageError {
    pub kind: FailureKind,
    pub detail: String,
}

impl StageError {
    pub(crate) fn new(kind: FailureKind, detail: String) -> Self {
        StageError { kind, detail }
    }
}
