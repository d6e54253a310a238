//! What a probe reports: plain data, serialisable, with no behaviour beyond summaries.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::catalog::CheckId;
use crate::failure::{FailureKind, Finding, Stage};
use crate::oauth::ClaimsReport;

mod path_trace;
mod tls_session;

pub use path_trace::{Hop, HopAnswer, PathTrace};
pub use tls_session::{
    anchor_label, tls_version_label, CertInfo, JavaChainVerdict, MissingIssuer, RootSource, TlsInfo,
};

/// The verdict of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    /// Works, but something is degraded (interception, certificate expiring soon).
    Warn,
    Fail,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Warn => "WARN",
            Outcome::Fail => "FAIL",
        }
    }
}

/// One stage as it ran: how long it took and whether it succeeded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageReport {
    pub stage: Stage,
    pub ok: bool,
    pub duration_us: u64,
}

/// Where the addresses came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressSource {
    /// The operating system's resolver.
    System,
    /// A `resolve` override from the configuration or the command line.
    Override,
    /// Through an HTTP CONNECT proxy, which resolves the name itself.
    Proxy,
}

/// The DNS stage of a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsReport {
    pub source: AddressSource,
    pub duration_us: u64,
    /// Every address the name resolved to (for a proxy: the proxy's addresses).
    pub addresses: Vec<SocketAddr>,
    /// Only when the OS lookup took longer than its budget: the same name asked again, one
    /// lookup per address family (A alone, AAAA alone, concurrently), so that a resolver
    /// that is slow for one family only shows. Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub families: Vec<FamilyTiming>,
}

/// One address family's lookup (see `DnsReport::families`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyTiming {
    /// "ipv4" (A records) or "ipv6" (AAAA records).
    pub family: String,
    /// How long the lookup took; at a timeout, the timeout.
    pub duration_us: u64,
    /// How many distinct addresses it gave.
    pub addresses: u32,
    /// Why it gave none, in words ("no answer within 5000 ms", the resolver's error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the protocol dialog saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolInfo {
    /// The first line of the server's greeting (IMAP/POP3/SMTP).
    pub greeting: Option<String>,
    /// The Microsoft front-end server named by the greeting (decoded from its base64
    /// UTF-16LE blob for IMAP/POP3, the host in SMTP's 220 line): useful in a support case.
    pub front_end: Option<String>,
    /// Capabilities as advertised (IMAP CAPABILITY, POP3 CAPA, SMTP EHLO keywords after TLS).
    pub capabilities: Vec<String>,
    /// SASL mechanisms advertised.
    pub sasl_mechanisms: Vec<String>,
    /// SMTP: EHLO keywords before STARTTLS.
    pub capabilities_before_tls: Vec<String>,
    pub http_status: Option<u16>,
    /// login-https: the token endpoint the OpenID configuration names.
    pub token_endpoint: Option<String>,
    /// Bytes received from the server during the dialog (bounded by the limits).
    pub bytes_received: u64,
}

/// What an OAuth check saw of the grant and the token: verdicts and non-secret claims only
/// (no access token, refresh token or client secret is ever kept here).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthInfo {
    /// The mailbox the check is for (the XOAUTH2 `user=`).
    pub mailbox: String,
    /// `refresh_token` (delegated, as ECE refreshes) or `client_credentials` (app-only).
    pub grant: String,
    /// The scopes requested from the token endpoint.
    pub requested_scopes: Vec<String>,
    /// The scopes the token endpoint says it granted (its `scope` field).
    pub granted_scopes: Vec<String>,
    /// The token endpoint's `expires_in`, in seconds: what ECE's timing relies on.
    pub expires_in_s: Option<u64>,
    /// Whether the answer carried a new refresh token (Microsoft rotates them on each use).
    pub refresh_token_issued: Option<bool>,
    /// The access token's decoded claims; None when it is not a JWT (Microsoft calls it
    /// opaque) or for the login checks.
    pub claims: Option<ClaimsReport>,
    /// The token endpoint's `error` field, e.g. `invalid_grant`.
    pub error: Option<String>,
    /// The AADSTS number of the error (`error_codes[0]`).
    pub aadsts: Option<u32>,
    /// Microsoft's ids for a support case.
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
}

/// What the kernel measured of an attempt's TCP connection (Linux `TCP_INFO`, read when the
/// dialog ended; through a proxy, the connection to the proxy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpStats {
    /// Smoothed round-trip time, in microseconds.
    pub rtt_us: u32,
    /// Its variance (mean deviation), in microseconds.
    pub rttvar_us: u32,
    /// Segments the kernel sent again during the connection (a lost SYN included).
    pub retransmits: u32,
    /// Segments it sent in all, retransmissions included.
    pub segments_out: u32,
    /// Retransmissions the peer reported it already had (DSACK): not lost, only late.
    #[serde(default)]
    pub spurious: u32,
}

impl TcpStats {
    /// Retransmissions of segments that were really lost: all of them but the spurious.
    pub fn lost(&self) -> u32 {
        self.retransmits.saturating_sub(self.spurious)
    }
}

/// One resolved address, probed through every stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressAttempt {
    pub address: SocketAddr,
    pub stages: Vec<StageReport>,
    pub tls: Option<TlsInfo>,
    pub protocol: Option<ProtocolInfo>,
    pub failure: Option<Finding>,
    pub warnings: Vec<Finding>,
    /// The connection's round trip and retransmissions, where the OS tells them (Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_info: Option<TcpStats>,
    /// The path traced after a timeout, an ICMP refusal or a stalled handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathTrace>,
    /// The address this server sends from toward `address` (the route's source, as the
    /// firewall sees it), known even when the SYN is dropped; None through a proxy (the
    /// firewall then sees the connection to the proxy) or when the OS has no route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<IpAddr>,
}

impl AddressAttempt {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// The result of one check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub check: CheckId,
    pub host: String,
    pub port: u16,
    pub outcome: Outcome,
    /// Why the check failed; None when it passed.
    pub failure: Option<Finding>,
    pub warnings: Vec<Finding>,
    pub duration_us: u64,
    /// None when the check failed before resolving (e.g. an invalid ECE URL).
    pub dns: Option<DnsReport>,
    /// The HTTP CONNECT proxy used, as host:port.
    pub via_proxy: Option<String>,
    /// Addresses probed (at most the configured maximum, in resolver order).
    pub attempts: Vec<AddressAttempt>,
    /// The attempt that represents the check: the first that passed, else the one that got
    /// furthest. Its TLS and protocol details are the check's.
    pub used_address: Option<SocketAddr>,
    /// The OAuth checks: the grant and the token's non-secret claims. Never a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthInfo>,
}

impl CheckReport {
    /// "host:port"; the host alone for checks without a port (`ece-java`'s runtime folder).
    pub fn target(&self) -> String {
        match self.port {
            0 => self.host.clone(),
            port => format!("{}:{port}", self.host),
        }
    }

    /// A check judged without network (`ece-config`, `ece-java`): the first failure is the
    /// check's, further failures follow as warnings, then the warnings.
    pub fn offline(
        check: CheckId,
        host: String,
        port: u16,
        failures: Vec<Finding>,
        warnings: Vec<Finding>,
    ) -> CheckReport {
        let mut failures = failures.into_iter();
        let failure = failures.next();
        let mut all_warnings: Vec<Finding> = failures.collect();
        all_warnings.extend(warnings);
        let outcome = match (&failure, all_warnings.is_empty()) {
            (Some(_), _) => Outcome::Fail,
            (None, false) => Outcome::Warn,
            (None, true) => Outcome::Pass,
        };
        CheckReport {
            check,
            host,
            port,
            outcome,
            failure,
            warnings: all_warnings,
            duration_us: 0,
            dns: None,
            via_proxy: None,
            attempts: Vec::new(),
            used_address: None,
            oauth: None,
        }
    }

    /// The representative attempt (see `used_address`).
    pub fn used_attempt(&self) -> Option<&AddressAttempt> {
        let used = self.used_address?;
        self.attempts.iter().find(|a| a.address == used)
    }

    /// Whether the failure (or a warning) is of this kind.
    pub fn has_kind(&self, kind: FailureKind) -> bool {
        self.failure
            .iter()
            .chain(&self.warnings)
            .any(|f| f.kind == kind)
    }
}

/// A whole suite run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuiteReport {
    /// Seconds since the Unix epoch when the suite started.
    pub started_unix: u64,
    pub duration_us: u64,
    pub checks: Vec<CheckReport>,
}

impl SuiteReport {
    pub fn all_passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome != Outcome::Fail)
    }
}
