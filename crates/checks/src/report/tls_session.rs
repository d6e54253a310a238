//! The TLS session as a probe reports it: the chain, its root, and ECE's Java's verdict on it.

use serde::{Deserialize, Serialize};

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
