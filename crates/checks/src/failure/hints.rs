//! The remediation hints of the network and ECE kinds, part of `FailureKind::hint`: each
//! names the checklist item and the concrete change; the OAuth kinds' hints are in
//! `oauth_hints.rs`.

use super::oauth_hints::oauth_fix;
use super::FailureKind;
use crate::catalog::{CheckId, Role};

impl FailureKind {
    /// The remediation hint: what to do, which checklist item it breaks and which ECE
    /// process needs the endpoint (from the server's role).
    pub fn hint(self, check: CheckId, role: Role, host: &str, port: u16) -> String {
        let who = check.needed_by(role);
        let fix = match self {
            FailureKind::DnsNxdomain => format!(
                "{host} does not resolve from this server: fix the DNS servers or forwarders it uses (C9)"
            ),
            FailureKind::DnsTimeout | FailureKind::DnsFailure => format!(
                "the DNS servers of this host did not resolve {host}: check that they are reachable and forward external names (C9)"
            ),
            FailureKind::TcpRefused => format!(
                "TCP {port} to {host} is rejected: open outbound TCP {port} to {host} on the firewall (C10)"
            ),
            FailureKind::TcpTimeout => format!(
                "TCP {port} to {host} gets no answer (silently dropped): open outbound TCP {port} to {host} on the firewall (C10)"
            ),
            FailureKind::TcpUnreachable => format!(
                "no route to {host}: check this server's default route or the firewall's ICMP rejects for TCP {port} (C10)"
            ),
            FailureKind::TcpError => format!(
                "the connection to {host}:{port} failed: check the firewall and network path (C10)"
            ),
            FailureKind::PartialReachability => format!(
                "only some of {host}'s addresses answer on {port}: the firewall must allow all of Microsoft's ranges for *.office365.com / login.microsoftonline.com, not single IPs (C9, C10)"
            ),
            FailureKind::ProxyUnreachable => {
                "the configured HTTP proxy cannot be reached: check the proxy address and the route to it (C8)".to_string()
            }
            FailureKind::ProxyAuthRequired => format!(
                "the proxy asks for credentials to reach {host}: exempt {host} from proxy authentication (C8, C9)"
            ),
            FailureKind::ProxyDenied => format!(
                "the proxy refuses CONNECT to {host}:{port}: allow {host} on the proxy (C9)"
            ),
            FailureKind::ProxyUpstreamFailed => format!(
                "the proxy could not reach {host}:{port}: the proxy's own outbound rules or DNS block it (C9, C10)"
            ),
            FailureKind::ProxyUnexpected => {
                "the proxy did not answer CONNECT as an HTTP proxy: check the proxy address and port (C8)".to_string()
            }
            // An interception of a Microsoft host is `TlsIntercepted`; what is left here is
            // a chain this host cannot anchor: Microsoft's own, or ECE's.
            FailureKind::TlsUntrusted if check.is_microsoft() => format!(
                "this server does not trust the root the certificate of {host} chains to: update the root certificates of the OS and of the Java runtime ECE uses; Microsoft's chains end at DigiCert Global Root G2 (required by Exchange Online), DigiCert Global Root CA/G3 or Microsoft's RSA/ECC Root Certificate Authority 2017 (C9)"
            ),
            FailureKind::TlsUntrusted => format!(
                "the certificate {host} presents does not chain to a root this server trusts: install the root of the CA that issued it in the OS and Java trust stores, or have the certificate issued by a CA they trust (C9)"
            ),
            FailureKind::TlsNameMismatch => format!(
                "the certificate presented is not for {host}: something other than Microsoft answers on this address (DNS override, proxy or wrong host) (C9)"
            ),
            FailureKind::TlsExpired | FailureKind::TlsNotYetValid => format!(
                "the certificate {host} presents is outside its validity dates: check this server's clock, then whether a proxy presents its own certificate (C9)"
            ),
            FailureKind::TlsVersionUnsupported => format!(
                "{host} only negotiated TLS below 1.2, which Microsoft 365 refuses: a middlebox is downgrading TLS, or TLS 1.2 is disabled on this host (C10)"
            ),
            FailureKind::TlsHandshakeFailed | FailureKind::TlsClosed | FailureKind::TlsTimeout => format!(
                "the TLS handshake with {host}:{port} failed: a firewall or proxy that inspects TLS is the usual cause; allow TLS 1.2+ to {host} untouched (C9, C10)"
            ),
            FailureKind::TlsStalled => super::path_hints::stalled(host, port),
            FailureKind::PathMtuBlackhole => super::path_hints::mtu_blackhole(host, port),
            FailureKind::Slow => super::path_hints::slow(host, port),
            FailureKind::PacketLoss => super::path_hints::packet_loss(host, port),
            FailureKind::DnsSlow => super::path_hints::dns_slow(host),
            FailureKind::TlsIntercepted => format!(
                "a proxy or firewall inspects TLS to {host} and re-signs it with its own CA (named in the detail), or something other than Microsoft answers for {host}: Microsoft does not support TLS inspection of Exchange Online and sign-in traffic; exclude {host} (*.office365.com, login.microsoftonline.com) from TLS inspection; only if your security team accepts the inspection, declare the proxy's root in expected_roots (C9)"
            ),
            FailureKind::ChainIncomplete => format!(
                "{host} presents its certificate without the intermediate CA that issued it (named in the detail): ECE's Java does not fetch a missing intermediate, so ECE fails where Windows and browsers, which fetch it, work; report the incomplete chain to Microsoft (or to whoever runs the proxy or load balancer in between), and as a stopgap import that intermediate into ECE's Java trust store with keytool -importcert (C9)"
            ),
            FailureKind::JavaUntrusted => format!(
                "ECE's Java runtime cannot build a path from the certificate of {host} to its trust store: import the root named in the detail with the keytool command given there (then restart ECE's services), or run ECE on a newer Java runtime whose cacerts has it; Exchange Online requires DigiCert Global Root G2 (C9)"
            ),
            FailureKind::JavaTruststoreIncomplete => {
                "ECE's Java trust store lacks roots Microsoft publishes for its services (named in the detail): today's chains pass, the next rotation to a missing root breaks ECE; import each with the keytool command in the detail, or move ECE to a newer Java runtime (C9)".to_string()
            }
            FailureKind::JavaTlsIncompatible => {
                "ECE's Java runtime cannot negotiate the TLS Microsoft 365 requires (TLS 1.2 with ECDHE_RSA or RSA and AES-GCM/CBC, or TLS 1.3): change the java.security setting or the option the detail names, or run ECE on a supported Java runtime (C10)".to_string()
            }
            FailureKind::CertExpiringSoon => format!(
                "a certificate {host} presents expires soon: if it is not Microsoft's, renew it (C2 for the ECE URL)"
            ),
            FailureKind::ProtocolTimeout
            | FailureKind::ProtocolUnexpected
            | FailureKind::ProtocolLineTooLong
            | FailureKind::ProtocolTooMuchData
            | FailureKind::ProtocolClosed => format!(
                "{host}:{port} does not speak the protocol as Microsoft 365 does: something in between (proxy, IPS, wrong DNS) answers instead (C9, C10)"
            ),
            FailureKind::StarttlsMissing => format!(
                "{host}:{port} does not offer STARTTLS: a firewall or SMTP inspection strips it; exempt {host}:587 from SMTP inspection (C10)"
            ),
            FailureKind::Xoauth2Missing => format!(
                "{host} does not advertise XOAUTH2: something in between rewrites the capabilities, or this is not Microsoft 365 (C5, C10)"
            ),
            FailureKind::HttpStatus | FailureKind::OpenidInvalid => format!(
                "{host} did not answer as Microsoft's sign-in service: a proxy or captive portal answers instead, or the tenant is wrong (C8, C9)"
            ),
            FailureKind::EceUrlNotHttps => {
                "the External Application URL must start with https:// (C2)".to_string()
            }
            FailureKind::EceVersionUnsupported => {
                "OAuth2 mail needs ECE 11.6(1) or later: upgrade ECE, and declare ece_version as the console shows it, e.g. 12.6(1) (C1)".to_string()
            }
            FailureKind::EceEsTooOld => {
                "apply the engineering special (ES, and ET where listed) Cisco publishes for this version, latest recommended: 11.6(1) ES12 + ES12 ET1, 12.0(1) ES6, 12.5(1) ES3, 12.6(1) ES1 (C1)".to_string()
            }
            FailureKind::EceUrlMissing => {
                "set the External Application URL in Partition > Apps > General settings (12.6+) or \"Web server URL or load balancer URL\" (11.5-12.5) to the https:// FQDN agents use, and declare it as ece_url (C2)".to_string()
            }
            FailureKind::RedirectUriMismatch => {
                "make the Azure app registration's redirect URI an https:// URI on the same FQDN as the External Application URL, then declare it as redirect_uri (C2, C3)".to_string()
            }
            FailureKind::EceVersionUndeclared => {
                "declare ece_version and ece_es in [run] (or --ece-version, --ece-es) as the ECE console shows them, so the minimum ES can be checked (C1)".to_string()
            }
            FailureKind::SlowerThanPeers => super::latency_hints::slower_than_peers(host, port),
            FailureKind::LatencyRegression => super::latency_hints::regression(host, port),
            oauth => oauth_fix(oauth, check).to_string(),
        };
        format!("{fix}; needed by {who}")
    }
}
