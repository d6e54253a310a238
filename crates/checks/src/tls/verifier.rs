//! The certificate verifier used for every probe handshake. It decides exactly as rustls'
//! webpki verifier does against the host's trust, and on the side records the chain and
//! whether the verified path ends at an expected (Microsoft's) root: a chain this host trusts
//! whose path ends elsewhere was re-signed by something in between.
//!
//! The path is validated once: webpki's verified path names its trust anchor, which is
//! compared with the expected roots. (Validating a second time against the expected roots
//! alone cost two more signature checks per handshake, about a fifth of a check's CPU; see
//! docs/BENCHMARKS.md.) On any failure rustls' own verifier runs, so errors are exactly its.
//!
//! A chain this host does not trust is validated a second time, against the expected roots
//! alone: a chain that verifies up to one of them is Microsoft's own (this host lacks the
//! root), one that does not was re-signed by something in between, whether or not this
//! host trusts it. Keys decide, as for a trusted chain. This costs only on the failure path.
//!
//! A refused certificate is reported one step later than rustls would: from the signature
//! check that rustls calls right after the certificate check (no network in between, in
//! TLS 1.2 and 1.3 alike), with the same error, so the same alert is sent and the
//! handshake fails just the same; but which of the two signature checks rustls calls tells
//! the TLS version, and "TLS 1.2, NOT trusted" says more than "NOT trusted". The deferred
//! error is always returned: a refused chain never completes a handshake.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{DigitallySignedStruct, ProtocolVersion, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::roots::KnownRoots;
use super::{cert_info, version_name};
use crate::report::{CertInfo, JavaChainVerdict, MissingIssuer, RootSource, TlsInfo};

/// ECE's Java trust store as webpki anchors (see `java_chain.rs`).
#[derive(Debug)]
pub(super) struct JavaAnchors {
    pub store: String,
    pub roots: RootCertStore,
    pub storepass: String,
    pub unreadable: Option<String>,
}

/// What every handshake's verifier shares: the trusted roots, the expected roots (as
/// anchors, and their keys), the signature algorithms, and rustls' verifier for the error
/// path.
#[derive(Debug)]
pub(super) struct Anchors {
    pub trusted_roots: Arc<RootCertStore>,
    pub rustls_verifier: Arc<WebPkiServerVerifier>,
    /// SubjectPublicKeyInfo of each expected root, Microsoft's first, with its kind: a
    /// path is "expected" when its anchor's key is one of these (names can be copied, keys
    /// cannot).
    pub expected_spkis: Vec<(Vec<u8>, RootSource)>,
    /// The expected roots as trust anchors, to tell whether an untrusted chain is
    /// Microsoft's own.
    pub expected_roots: RootCertStore,
    pub algorithms: WebPkiSupportedAlgorithms,
    /// ECE's Java trust store, when one is in use: every chain is judged by it too.
    pub java: Option<JavaAnchors>,
    /// Every root known here, to name a root and to tell a left-out intermediate.
    pub known: KnownRoots,
}

impl Anchors {
    /// Validates like rustls' `WebPkiServerVerifier` (path to a trusted root for server auth,
    /// then the name), returning which kind of expected root the path's anchor is (None
    /// inside: not an expected root), the anchor's key, and whether ECE's Java store has
    /// that very anchor (then Java builds the same path: no second validation); None on any
    /// failure.
    fn expected_anchor(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Option<(Option<RootSource>, Vec<u8>, bool)> {
        let cert = webpki::EndEntityCert::try_from(end_entity).ok()?;
        let path = cert
            .verify_for_usage(
                self.algorithms.all,
                &self.trusted_roots.roots,
                intermediates,
                now,
                webpki::KeyUsage::server_auth(),
                None,
                None,
            )
            .ok()?;
        cert.verify_is_valid_for_subject_name(server_name).ok()?;
        let anchor_key = path.anchor().subject_public_key_info.as_ref();
        let in_java = self
            .java
            .as_ref()
            .is_some_and(|j| j.roots.roots.iter().any(|t| t == path.anchor()));
        Some((self.source_of(anchor_key), anchor_key.to_vec(), in_java))
    }

    /// Which kind of expected root has this key; None: not an expected root.
    fn source_of(&self, anchor_key: &[u8]) -> Option<RootSource> {
        self.expected_spkis
            .iter()
            .find(|(k, _)| k.as_slice() == anchor_key)
            .map(|(_, source)| *source)
    }

    /// For a chain this host does not trust: whether it verifies up to an expected root
    /// (Some(Some(kind)), with that root's key), or cannot reach any (Some(None): issued by
    /// someone else's CA). None when that cannot be told (the chain is broken in another
    /// way, e.g. expired or a bad signature), so an unjudged chain is never called an
    /// interception. The name is not checked: the question is whose chain it is, not
    /// whether it fits the host.
    fn untrusted_anchor(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Option<(Option<RootSource>, Option<Vec<u8>>)> {
        let cert = webpki::EndEntityCert::try_from(end_entity).ok()?;
        let verified = cert.verify_for_usage(
            self.algorithms.all,
            &self.expected_roots.roots,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        );
        match verified {
            Ok(path) => {
                let key = path.anchor().subject_public_key_info.as_ref();
                Some((self.source_of(key), Some(key.to_vec())))
            }
            Err(webpki::Error::UnknownIssuer) => Some((None, None)),
            Err(_) => None,
        }
    }
}

#[derive(Debug, Default)]
struct Seen {
    chain: Vec<CertInfo>,
    trusted: bool,
    /// The expected root the chain verifies up to: Some(Some(kind)) an expected root,
    /// Some(None) none of them; None not judged (an untrusted chain broken otherwise).
    anchor: Option<Option<RootSource>>,
    /// Learnt from the signature check rustls calls after the certificate check.
    version: Option<String>,
    /// The certificate's refusal, returned by that signature check (see the module doc).
    refused: Option<rustls::Error>,
    java: Option<JavaChainVerdict>,
    missing: Option<MissingIssuer>,
}

/// A verifier per handshake (it records what that handshake saw).
#[derive(Debug)]
pub(super) struct CapturingVerifier {
    anchors: Arc<Anchors>,
    seen: Mutex<Seen>,
}

impl CapturingVerifier {
    pub(super) fn new(anchors: Arc<Anchors>) -> Self {
        CapturingVerifier {
            anchors,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// What the handshake saw of the chain (version and cipher are the caller's to fill).
    pub(super) fn info(&self) -> TlsInfo {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        TlsInfo {
            version: seen.version.clone(),
            cipher: None,
            chain_root: seen.chain.last().map(|c| c.issuer.clone()),
            chain: seen.chain.clone(),
            trusted: seen.trusted,
            expected_root: seen.anchor.map(|a| a.is_some()),
            expected_root_source: seen.anchor.flatten(),
            java: seen.java.clone(),
            missing_issuer: seen.missing.clone(),
        }
    }

    /// The signature check of a handshake in `version`: records the version, then returns
    /// the certificate's refusal if there was one, else `check`'s verdict.
    fn signature(
        &self,
        version: ProtocolVersion,
        check: impl FnOnce() -> Result<HandshakeSignatureValid, rustls::Error>,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let refused = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.version = Some(version_name(version));
            seen.refused.take()
        };
        match refused {
            Some(e) => Err(e),
            None => check(),
        }
    }
}

impl ServerCertVerifier for CapturingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain: Vec<CertInfo> = std::iter::once(end_entity)
            .chain(intermediates)
            .filter_map(cert_info)
            .collect();
        let a = &self.anchors;
        let (verdict, mut anchor, root_key, java_has_anchor) =
            match a.expected_anchor(end_entity, intermediates, server_name, now) {
                Some((anchor, key, in_java)) => (
                    Ok(ServerCertVerified::assertion()),
                    Some(anchor),
                    Some(key),
                    in_java,
                ),
                // rustls says why (its error mapping is what the taxonomy classifies).
                None => {
                    let v = a.rustls_verifier.verify_server_cert(
                        end_entity,
                        intermediates,
                        server_name,
                        ocsp_response,
                        now,
                    );
                    let judged = match &v {
                        Err(_) => a.untrusted_anchor(end_entity, intermediates, now),
                        Ok(_) => None,
                    };
                    let (anchor, key) = judged.map_or((None, None), |(s, k)| (Some(s), k));
                    (v, anchor, key, false)
                }
            };
        let java = a.java.as_ref().map(|j| {
            a.java_verdict(
                j,
                end_entity,
                intermediates,
                server_name,
                now,
                root_key.as_deref(),
                java_has_anchor,
            )
        });
        // Only a refused chain can lack an intermediate (a complete one is not asked).
        let missing = match verdict.is_err() || java.as_ref().is_some_and(|j| !j.trusted) {
            true => a.missing_issuer(end_entity, intermediates),
            false => None,
        };
        if missing.is_some() && verdict.is_err() {
            // Whose chain it is cannot be told without its intermediate: not an interception.
            anchor = None;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        *seen = Seen {
            chain,
            trusted: verdict.is_ok(),
            anchor,
            version: None,
            refused: verdict.err(),
            java,
            missing,
        };
        // Deferred to the signature check, which returns it (see the module doc).
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(ProtocolVersion::TLSv1_2, || {
            self.anchors
                .rustls_verifier
                .verify_tls12_signature(message, cert, dss)
        })
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(ProtocolVersion::TLSv1_3, || {
            self.anchors
                .rustls_verifier
                .verify_tls13_signature(message, cert, dss)
        })
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.anchors.rustls_verifier.supported_verify_schemes()
    }
}
