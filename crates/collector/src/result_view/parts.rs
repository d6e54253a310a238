//! The parts of a decoded result: its DNS answer, each attempt's stages, TLS and chain,
//! protocol dialog, kernel TCP figures and path trace, and what an OAuth check saw of the
//! token. Copied from the agent's message here only ([`super::CheckDetail::from_wire`]).

use eceprobe_checks::{anchor_label, RootSource};
use eceprobe_proto::v1 as pb;
use serde::Serialize;

use super::{finding, nonempty, FindingView};

/// The path traced to an attempt's address (see the agent's `PathTrace`).
#[derive(Debug, Clone, Serialize)]
pub struct PathView {
    /// `tcp_syn_ttl`, or `none` when the path was not traced (the verdict says why).
    pub method: String,
    pub port: u32,
    pub verdict: String,
    pub device: Option<String>,
    pub probes_sent: u32,
    pub duration_us: u64,
    pub hops: Vec<HopView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HopView {
    pub ttl: u32,
    /// Empty for no answer.
    pub address: String,
    pub rtt_us: Option<u64>,
    /// What answered, in words: "ICMP time exceeded", "ICMP unreachable (type 3 code 13)",
    /// "TCP reset", "SYN-ACK", "not sent: REASON", "no answer".
    pub answer: String,
}

pub(super) fn path(p: &pb::PathTrace) -> PathView {
    PathView {
        method: p.method.clone(),
        port: p.port,
        verdict: p.verdict.clone(),
        device: nonempty(&p.device),
        probes_sent: p.probes_sent,
        duration_us: p.duration_us,
        hops: p
            .hops
            .iter()
            .map(|h| HopView {
                ttl: h.ttl,
                address: h.address.clone(),
                rtt_us: h.rtt_us,
                answer: match h.answer.as_str() {
                    "time_exceeded" => "ICMP time exceeded".to_owned(),
                    "unreachable" => format!(
                        "ICMP unreachable (type {} code {})",
                        h.icmp_type, h.icmp_code
                    ),
                    "reset" => "TCP reset".to_owned(),
                    "syn_ack" => "SYN-ACK".to_owned(),
                    "echo_reply" => "ICMP echo reply".to_owned(),
                    "local" => format!("not sent: {}", h.reason),
                    "no_answer" | "" => "no answer".to_owned(),
                    other => other.to_owned(),
                },
            })
            .collect(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DnsView {
    pub source: String,
    pub duration_us: u64,
    pub addresses: Vec<String>,
    /// Only when the lookup was over its budget (`dns_slow`): one lookup per address family.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub families: Vec<DnsFamilyView>,
}

/// One address family's lookup (A alone or AAAA alone).
#[derive(Debug, Clone, Serialize)]
pub struct DnsFamilyView {
    /// "ipv4" or "ipv6".
    pub family: String,
    pub duration_us: u64,
    pub addresses: u32,
    /// Why it gave no address, in words; null when it answered.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageView {
    pub stage: String,
    pub ok: bool,
    pub duration_us: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertView {
    pub subject: String,
    pub issuer: String,
    pub dns_names: Vec<String>,
    pub not_after: String,
    pub not_after_unix: i64,
    /// Whole days from now to expiry (negative: expired).
    pub days_left: i64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsView {
    pub version: String,
    pub cipher: String,
    pub trusted: bool,
    /// The chain ends at an expected root (false: interception); None: not judged.
    pub expected_root: Option<bool>,
    /// With `expected_root` true: "microsoft" (built into the agent) or "declared" (in the
    /// agent's `expected_roots`); null when the agent did not say (older agents).
    pub expected_root_source: Option<String>,
    /// What the root is, for people ([`eceprobe_checks::anchor_label`]); null when not
    /// judged.
    pub root_label: Option<String>,
    pub chain_root: String,
    pub chain: Vec<CertView>,
    /// Whether ECE's Java trusts the chain as sent; null when no Java trust store was in
    /// use (or the agent is older than the field).
    pub java_trusted: Option<bool>,
    /// The trust store `java_trusted` was judged by; null when not judged.
    pub java_store: Option<String>,
}

impl TlsView {
    /// "ECE's Java: trusts this chain (trust store /opt/ece/jre/lib/security/cacerts)", or
    /// "does NOT trust"; None when Java did not judge the chain.
    pub fn java_line(&self) -> Option<String> {
        let verdict = match self.java_trusted? {
            true => "trusts this chain",
            false => "does NOT trust this chain",
        };
        Some(match &self.java_store {
            Some(store) => format!("ECE's Java: {verdict} (trust store {store})"),
            None => format!("ECE's Java: {verdict}"),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProtocolView {
    pub greeting: String,
    pub front_end: String,
    pub capabilities: Vec<String>,
    pub sasl_mechanisms: Vec<String>,
    pub capabilities_before_tls: Vec<String>,
    pub http_status: u32,
    pub token_endpoint: String,
}

/// What an OAuth check saw of the grant and the token (never a token): the agent's
/// `OAuthInfo` as sent. Empty strings and 0 mean not known.
#[derive(Debug, Clone, Serialize)]
pub struct OAuthView {
    pub mailbox: String,
    /// `refresh_token` or `client_credentials`.
    pub grant: String,
    pub requested_scopes: Vec<String>,
    /// The token endpoint's `scope` field.
    pub granted_scopes: Vec<String>,
    pub expires_in_s: u64,
    pub refresh_token_issued: bool,
    /// The token's user (`upn`, `unique_name` or `preferred_username`).
    pub token_user: String,
    /// `scp` and `roles` of the token.
    pub token_scopes: Vec<String>,
    pub token_roles: Vec<String>,
    /// `aud`: `https://outlook.office.com` for Exchange Online.
    pub audience: String,
    /// `exp - iat`, seconds.
    pub token_lifetime_s: i64,
    pub token_tenant_id: String,
    pub token_app_id: String,
    /// The token endpoint's `error` field and AADSTS number.
    pub error: String,
    pub aadsts: u32,
    /// Microsoft's ids for a support case.
    pub trace_id: String,
    pub correlation_id: String,
}

pub(super) fn oauth(o: &pb::OAuthInfo) -> OAuthView {
    OAuthView {
        mailbox: o.mailbox.clone(),
        grant: o.grant.clone(),
        requested_scopes: o.requested_scopes.clone(),
        granted_scopes: o.granted_scopes.clone(),
        expires_in_s: o.expires_in_s,
        refresh_token_issued: o.refresh_token_issued,
        token_user: o.token_user.clone(),
        token_scopes: o.token_scopes.clone(),
        token_roles: o.token_roles.clone(),
        audience: o.audience.clone(),
        token_lifetime_s: o.token_lifetime_s,
        token_tenant_id: o.token_tenant_id.clone(),
        token_app_id: o.token_app_id.clone(),
        error: o.error.clone(),
        aadsts: o.aadsts,
        trace_id: o.trace_id.clone(),
        correlation_id: o.correlation_id.clone(),
    }
}

/// What the agent's kernel measured of the connection (Linux agents; null otherwise).
#[derive(Debug, Clone, Serialize)]
pub struct TcpView {
    pub rtt_us: u32,
    pub rttvar_us: u32,
    pub retransmits: u32,
    /// 0 when the agent's kernel did not count them.
    pub segments_out: u32,
    /// Retransmissions the peer already had (DSACK): not lost.
    pub spurious: u32,
}

impl TcpView {
    /// "round trip 12.3 ms ± 4.1 ms, 3 of 21 segments retransmitted".
    pub fn line(&self) -> String {
        let ms = |us: u32| f64::from(us) / 1000.0;
        let of = match self.segments_out {
            0 => String::new(),
            n => format!(" of {n}"),
        };
        let needless = match self.spurious {
            0 => String::new(),
            n => format!(" ({n} needlessly: the peer had them)"),
        };
        format!(
            "round trip {:.1} ms ± {:.1} ms, {}{of} segments retransmitted{needless}",
            ms(self.rtt_us),
            ms(self.rttvar_us),
            self.retransmits
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptView {
    pub address: String,
    pub stages: Vec<StageView>,
    pub tls: Option<TlsView>,
    pub protocol: Option<ProtocolView>,
    pub failure: Option<FindingView>,
    pub warnings: Vec<FindingView>,
    pub tcp: Option<TcpView>,
    /// The path traced after a timeout, an ICMP refusal or a stall; null when none was.
    pub path: Option<PathView>,
}

pub(super) fn tls(t: &pb::Tls, now_s: i64) -> TlsView {
    // Only said of an expected root.
    let source =
        RootSource::from_wire(&t.expected_root_source).filter(|_| t.expected_root == Some(true));
    TlsView {
        version: t.version.clone(),
        cipher: t.cipher.clone(),
        trusted: t.trusted,
        expected_root: t.expected_root,
        expected_root_source: source.map(|s| s.as_str().to_owned()),
        root_label: anchor_label(t.expected_root, source).map(str::to_owned),
        chain_root: t.chain_root.clone(),
        chain: t
            .chain
            .iter()
            .map(|c| CertView {
                subject: c.subject.clone(),
                issuer: c.issuer.clone(),
                dns_names: c.dns_names.clone(),
                not_after: c.not_after.clone(),
                not_after_unix: c.not_after_unix,
                days_left: c.not_after_unix.saturating_sub(now_s).div_euclid(86_400),
                sha256: c.sha256.clone(),
            })
            .collect(),
        java_trusted: t.java_trusted,
        java_store: t.java_trusted.and_then(|_| nonempty(&t.java_store)),
    }
}

pub(super) fn protocol(p: &pb::Protocol) -> ProtocolView {
    ProtocolView {
        greeting: p.greeting.clone(),
        front_end: p.front_end.clone(),
        capabilities: p.capabilities.clone(),
        sasl_mechanisms: p.sasl_mechanisms.clone(),
        capabilities_before_tls: p.capabilities_before_tls.clone(),
        http_status: p.http_status,
        token_endpoint: p.token_endpoint.clone(),
    }
}

pub(super) fn dns(x: &pb::Dns) -> DnsView {
    DnsView {
        source: x.source.clone(),
        duration_us: x.duration_us,
        addresses: x.addresses.clone(),
        families: x
            .families
            .iter()
            .map(|f| DnsFamilyView {
                family: f.family.clone(),
                duration_us: f.duration_us,
                addresses: f.addresses,
                error: nonempty(&f.error),
            })
            .collect(),
    }
}

pub(super) fn attempt(a: &pb::Attempt, now_s: i64) -> AttemptView {
    AttemptView {
        address: a.address.clone(),
        stages: a
            .stages
            .iter()
            .map(|s| StageView {
                stage: s.stage.clone(),
                ok: s.ok,
                duration_us: s.duration_us,
            })
            .collect(),
        tls: a.tls.as_ref().map(|t| tls(t, now_s)),
        protocol: a.protocol.as_ref().map(protocol),
        failure: a.failure.as_ref().map(finding),
        warnings: a.warnings.iter().map(finding).collect(),
        tcp: a.tcp_info.as_ref().map(|t| TcpView {
            rtt_us: t.rtt_us,
            rttvar_us: t.rttvar_us,
            retransmits: t.retransmits,
            segments_out: t.segments_out,
            spurious: t.spurious,
        }),
        path: a.path.as_ref().map(path),
    }
}
