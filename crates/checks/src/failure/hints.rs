//! The fixes of the network, TLS, Java and ECE configuration kinds: what to change, with the
//! host and port filled in. The checklist items and who needs the endpoint are the kind's row
//! (`kinds.rs`) and the remedy's (`remedy.rs`); the OAuth kinds' fixes are in
//! `oauth_hints.rs`, the path's in `path_hints.rs`, the latency warnings' in
//! `latency_hints.rs`.

use super::row::Target;

pub(super) fn dns_nxdomain(t: &Target) -> String {
    let host = t.host;
    format!("{host} does not resolve from this server: fix the DNS servers or forwarders it uses")
}

pub(super) fn dns_unanswered(t: &Target) -> String {
    let host = t.host;
    format!("the DNS servers of this host did not resolve {host}: check that they are reachable and forward external names")
}

pub(super) fn tcp_refused(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!("TCP {port} to {host} is rejected: open outbound TCP {port} to {host} on the firewall")
}

pub(super) fn tcp_timeout(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!("TCP {port} to {host} gets no answer (silently dropped): open outbound TCP {port} to {host} on the firewall")
}

pub(super) fn tcp_unreachable(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!("no route to {host}: check this server's default route or the firewall's ICMP rejects for TCP {port}")
}

pub(super) fn tcp_error(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!("the connection to {host}:{port} failed: check the firewall and network path")
}

pub(super) fn partial_reachability(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!("only some of {host}'s addresses answer on {port}: the firewall must allow all of Microsoft's ranges for *.office365.com / login.microsoftonline.com, not single IPs")
}

pub(super) fn proxy_unreachable(_: &Target) -> String {
    "the configured HTTP proxy cannot be reached: check the proxy address and the route to it"
        .to_owned()
}

pub(super) fn proxy_auth_required(t: &Target) -> String {
    let host = t.host;
    format!(
        "the proxy asks for credentials to reach {host}: exempt {host} from proxy authentication"
    )
}

pub(super) fn proxy_denied(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!("the proxy refuses CONNECT to {host}:{port}: allow {host} on the proxy")
}

pub(super) fn proxy_upstream_failed(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!(
        "the proxy could not reach {host}:{port}: the proxy's own outbound rules or DNS block it"
    )
}

pub(super) fn proxy_unexpected(_: &Target) -> String {
    "the proxy did not answer CONNECT as an HTTP proxy: check the proxy address and port".to_owned()
}

/// An interception of a Microsoft host is `tls_intercepted`; what is left here is a chain
/// this host cannot anchor: Microsoft's own, or ECE's.
pub(super) fn tls_untrusted(t: &Target) -> String {
    let host = t.host;
    if t.check.is_microsoft() {
        format!("this server does not trust the root the certificate of {host} chains to: update the root certificates of the OS and of the Java runtime ECE uses; Microsoft's chains end at DigiCert Global Root G2 (required by Exchange Online), DigiCert Global Root CA/G3 or Microsoft's RSA/ECC Root Certificate Authority 2017")
    } else {
        format!("the certificate {host} presents does not chain to a root this server trusts: install the root of the CA that issued it in the OS and Java trust stores, or have the certificate issued by a CA they trust")
    }
}

pub(super) fn tls_name_mismatch(t: &Target) -> String {
    let host = t.host;
    format!("the certificate presented is not for {host}: something other than Microsoft answers on this address (DNS override, proxy or wrong host)")
}

pub(super) fn tls_validity(t: &Target) -> String {
    let host = t.host;
    format!("the certificate {host} presents is outside its validity dates: check this server's clock, then whether a proxy presents its own certificate")
}

pub(super) fn tls_version_unsupported(t: &Target) -> String {
    let host = t.host;
    format!("{host} only negotiated TLS below 1.2, which Microsoft 365 refuses: a middlebox is downgrading TLS, or TLS 1.2 is disabled on this host")
}

pub(super) fn tls_handshake_failed(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!("the TLS handshake with {host}:{port} failed: a firewall or proxy that inspects TLS is the usual cause; allow TLS 1.2+ to {host} untouched")
}

pub(super) fn tls_intercepted(t: &Target) -> String {
    let host = t.host;
    format!("a proxy or firewall inspects TLS to {host} and re-signs it with its own CA (named in the detail), or something other than Microsoft answers for {host}: Microsoft does not support TLS inspection of Exchange Online and sign-in traffic; exclude {host} (*.office365.com, login.microsoftonline.com) from TLS inspection; only if your security team accepts the inspection, declare the proxy's root in expected_roots")
}

pub(super) fn chain_incomplete(t: &Target) -> String {
    let host = t.host;
    format!("{host} presents its certificate without the intermediate CA that issued it (named in the detail): ECE's Java does not fetch a missing intermediate, so ECE fails where Windows and browsers, which fetch it, work; report the incomplete chain to Microsoft (or to whoever runs the proxy or load balancer in between), and as a stopgap import that intermediate into ECE's Java trust store with keytool -importcert")
}

pub(super) fn java_untrusted(t: &Target) -> String {
    let host = t.host;
    format!("ECE's Java runtime cannot build a path from the certificate of {host} to its trust store: import the root named in the detail with the keytool command given there (then restart ECE's services), or run ECE on a newer Java runtime whose cacerts has it; Exchange Online requires DigiCert Global Root G2")
}

pub(super) fn java_truststore_incomplete(_: &Target) -> String {
    "ECE's Java trust store lacks roots Microsoft publishes for its services (named in the detail): today's chains pass, the next rotation to a missing root breaks ECE; import each with the keytool command in the detail, or move ECE to a newer Java runtime".to_owned()
}

pub(super) fn java_tls_incompatible(_: &Target) -> String {
    "ECE's Java runtime cannot negotiate the TLS Microsoft 365 requires (TLS 1.2 with ECDHE_RSA or RSA and AES-GCM/CBC, or TLS 1.3): change the java.security setting or the option the detail names, or run ECE on a supported Java runtime".to_owned()
}

pub(super) fn cert_expiring_soon(t: &Target) -> String {
    let host = t.host;
    format!("a certificate {host} presents expires soon: if it is not Microsoft's, renew it")
}

pub(super) fn protocol_unexpected(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!("{host}:{port} does not speak the protocol as Microsoft 365 does: something in between (proxy, IPS, wrong DNS) answers instead")
}

pub(super) fn starttls_missing(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!("{host}:{port} does not offer STARTTLS: a firewall or SMTP inspection strips it; exempt {host}:587 from SMTP inspection")
}

pub(super) fn xoauth2_missing(t: &Target) -> String {
    let host = t.host;
    format!("{host} does not advertise XOAUTH2: something in between rewrites the capabilities, or this is not Microsoft 365")
}

pub(super) fn not_sign_in_service(t: &Target) -> String {
    let host = t.host;
    format!("{host} did not answer as Microsoft's sign-in service: a proxy or captive portal answers instead, or the tenant is wrong")
}

pub(super) fn ece_url_not_https(_: &Target) -> String {
    "the External Application URL must start with https://".to_owned()
}

pub(super) fn ece_version_unsupported(_: &Target) -> String {
    "OAuth2 mail needs ECE 11.6(1) or later: upgrade ECE, and declare ece_version as the console shows it, e.g. 12.6(1)".to_owned()
}

pub(super) fn ece_es_too_old(_: &Target) -> String {
    "apply the engineering special (ES, and ET where listed) Cisco publishes for this version, latest recommended: 11.6(1) ES12 + ES12 ET1, 12.0(1) ES6, 12.5(1) ES3, 12.6(1) ES1".to_owned()
}

pub(super) fn ece_url_missing(_: &Target) -> String {
    "set the External Application URL in Partition > Apps > General settings (12.6+) or \"Web server URL or load balancer URL\" (11.5-12.5) to the https:// FQDN agents use, and declare it as ece_url".to_owned()
}

pub(super) fn redirect_uri_mismatch(_: &Target) -> String {
    "make the Azure app registration's redirect URI an https:// URI on the same FQDN as the External Application URL, then declare it as redirect_uri".to_owned()
}

pub(super) fn ece_version_undeclared(_: &Target) -> String {
    "declare ece_version and ece_es in [run] (or --ece-version, --ece-es) as the ECE console shows them, so the minimum ES can be checked".to_owned()
}
