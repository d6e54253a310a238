//! What a probe reports: plain data, serialisable, with no behaviour beyond summaries.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::catalog::CheckId;
use crate::failure::{FailureKind, Finding, Stage};
use crate::oauth::ClaimsReport;

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

/// A certificate as presented, kept even when verification fails so that "down" and
/// "bad certificate" can be told apart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// DNS names of the subjectAltName extension.
    pub dns_names: Vec<String>,
    /// RFC 3339, UTC.
    pub not_after: String,
    pub not_after_unix: i64,
    /// Lower-case hex SHA-256 of the DER certificate.
    pub sha256: String,
}

/// Which kind of expected root a trusted chain ends at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RootSource {
    /// One of Microsoft's roots, built into the agent.
    Microsoft,
    /// A root the administrator declared with `[trust] expected_roots` or `--expected-roots`
    /// (a lab's CA, or an inspecting proxy the security team accepts), not one of
    /// Microsoft's.
    Declared,
}

impl RootSource {
    /// The name on the wire and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RootSource::Microsoft => "microsoft",
            RootSource::Declared => "declared",
        }
    }

    /// The wire name back; None for "" (an agent that did not say) or a name this version
    /// does not know.
    pub fn from_wire(s: &str) -> Option<RootSource> {
        match s {
            "microsoft" => Some(RootSource::Microsoft),
            "declared" => Some(RootSource::Declared),
            _ => None,
        }
    }
}

/// What the root a chain ends at is, for people: the one wording of the check table, the
/// server page and the reports. None when it was not judged.
/// `source` is None for an expected root when the agent did not say which kind (older
/// agents): then the label claims no more than "expected".
pub fn anchor_label(
    expected_root: Option<bool>,
    source: Option<RootSource>,
) -> Option<&'static str> {
    match (expected_root?, source) {
        (true, Some(RootSource::Microsoft)) => Some("a Microsoft root"),
        (true, Some(RootSource::Declared)) => Some("an expected root you declared"),
        (true, None) => Some("an expected root"),
        (false, _) => Some("an unexpected root (interception?)"),
    }
}

/// "TLSv1.3" (as the probe records it, after openssl) as people write it, "TLS 1.3"; any
/// other text as is.
pub fn tls_version_label(version: &str) -> String {
    match version.strip_prefix("TLSv") {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
            format!("TLS {n}")
        }
        _ => version.to_owned(),
    }
}

/// The TLS session, or what was seen of it before it failed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// e.g. "TLSv1.3": known once the server has answered the hello and sent its
    /// certificate, also when the certificate is then refused; None when the handshake
    /// stopped before that (refused version, reset, timeout).
    pub version: Option<String>,
    pub cipher: Option<String>,
    /// The chain as the server sent it, leaf first.
    pub chain: Vec<CertInfo>,
    /// Whether the chain verified against this host's trust (OS store + extra CAs).
    pub trusted: bool,
    /// Whether the chain verifies up to one of the expected roots (Microsoft's, and any
    /// declared), by key: for a trusted chain, its verified path's anchor; for an untrusted
    /// one, a second validation against the expected roots alone (true: a genuine chain
    /// whose root this host lacks; false: re-signed by someone else's CA). None when it
    /// could not be told (an untrusted chain broken otherwise, or no chain).
    pub expected_root: Option<bool>,
    /// Which kind of expected root it ends at: Some only when `expected_root` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_root_source: Option<RootSource>,
    /// The name of the CA the presented chain ends at (the issuer of its last certificate).
    pub chain_root: Option<String>,
    /// How ECE's Java judges the chain as sent (its trust store, no missing intermediate
    /// fetched, as JSSE's PKIX validation does); None when no Java trust store is in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub java: Option<JavaChainVerdict>,
    /// The issuer of the chain's last certificate when the server did not send it and it is
    /// no root known here (the OS store, ECE's Java, Microsoft's, the declared ones): an
    /// intermediate left out. None when the chain is complete or was trusted as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_issuer: Option<MissingIssuer>,
}

/// ECE's Java's view of one chain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JavaChainVerdict {
    /// Whether a path can be built from the chain as sent to an anchor of the trust store.
    pub trusted: bool,
    /// The trust store judged by.
    pub store: String,
    /// The root the chain ends at (or needs), when known: named with its SHA-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// Where that root's file can be had for `keytool -importcert -file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_file: Option<String>,
    /// The `keytool` password argument for this store: `-storepass changeit`, or
    /// `-storepass:file <the configured password file>` (never the password itself).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storepass: String,
    /// Refused, and the store holds certificates ECE's Java cannot read (encrypted, no
    /// password given): why, in words, with the fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// An intermediate the server did not send.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingIssuer {
    /// Its subject, as the last certificate sent names its issuer.
    pub subject: String,
    /// The last certificate's Authority Information Access "CA Issuers" URL, which Windows
    /// and browsers fetch it from (Java and rustls do not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aia_url: Option<String>,
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

/// What answered the probes of one hop of a path trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum HopAnswer {
    /// ICMP time exceeded: a router on the way, which passes the SYN on.
    TimeExceeded,
    /// ICMP destination unreachable (ICMPv6: type 1), with its type and code: the device
    /// that sent it refuses the SYN.
    Unreachable { icmp_type: u8, code: u8 },
    /// A TCP reset from the address probed: the port is closed there, or a device
    /// answering for it refuses.
    Reset,
    /// A SYN-ACK from the address probed: the destination (or a device answering for it)
    /// accepts the connection.
    SynAck,
    /// An ICMP echo reply from the address probed (the ICMP trace of Windows): the
    /// destination is reached, by ICMP.
    EchoReply,
    /// This server did not send the SYN (no route, its own firewall), in words.
    Local { reason: String },
    /// Nothing within the wait.
    NoAnswer,
}

/// One hop of a path trace: the probes sent with this TTL and what came back first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub ttl: u8,
    /// The address that answered; None for no answer.
    pub address: Option<IpAddr>,
    /// From sending the SYN to the answer, in microseconds.
    pub rtt_us: Option<u64>,
    pub answer: HopAnswer,
}

/// The path to an address that did not answer or refused, traced with TCP SYNs of
/// increasing TTL to the same port (or why it was not traced).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathTrace {
    /// `tcp_syn_ttl` (SYNs with TTL 1, 2, ...; each answer read from the socket's error
    /// queue; Linux), `icmp_echo_ttl` (ICMP echoes with TTL 1, 2, ..., as tracert; Windows:
    /// the TCP path may differ), or `none` when the path was not traced (the verdict says
    /// why).
    pub method: String,
    pub port: u16,
    pub hops: Vec<Hop>,
    /// What the trace shows, in a sentence naming the device.
    pub verdict: String,
    /// The device that refused the SYN, or the last one that answered before silence.
    pub device: Option<IpAddr>,
    /// SYNs sent.
    pub probes_sent: u32,
    pub duration_us: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_say_no_more_than_is_known() {
        let label = |e, s| anchor_label(e, s);
        assert_eq!(
            label(Some(true), Some(RootSource::Microsoft)),
            Some("a Microsoft root")
        );
        assert_eq!(
            label(Some(true), Some(RootSource::Declared)),
            Some("an expected root you declared")
        );
        // An agent that did not say which kind.
        assert_eq!(label(Some(true), None), Some("an expected root"));
        assert_eq!(
            label(Some(false), None),
            Some("an unexpected root (interception?)")
        );
        assert_eq!(label(None, None), None);
        for s in [RootSource::Microsoft, RootSource::Declared] {
            assert_eq!(RootSource::from_wire(s.as_str()), Some(s));
        }
        assert_eq!(RootSource::from_wire(""), None);
        assert_eq!(tls_version_label("TLSv1.3"), "TLS 1.3");
        assert_eq!(tls_version_label("TLSv1_1"), "TLSv1_1");
    }
}
