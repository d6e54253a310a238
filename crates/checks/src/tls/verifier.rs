//! The certificate verifier used for every probe handshake. It decides exactly as rustls'
//! webpki verifier does against the host's trust, and on the side records the chain and
//! whether the verified path ends at an expected (Microsoft's) root: a chain this host trusts
//! whose path ends elsewhere was re-signed by something in between.
//!
//! The path is validated once: webpki's verified path names its trust anchor, which is
//! compared with the expected roots. (Validating a second time against the expected roots
//! alone cost two more signature checks per handshake, about a fifth of a check's CPU; see
//! docs/BENCHMARKS.md.) On any failure rustls' own verifier runs, so errors are exactly its.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::cert_info;
use crate::report::{CertInfo, TlsInfo};

/// What every handshake's verifier shares: the trusted roots, the expected roots' keys, the
/// signature algorithms, and rustls' verifier for the error path.
#[derive(Debug)]
pub(super) struct Anchors {
    pub trusted_roots: Arc<RootCertStore>,
    pub rustls_verifier: Arc<WebPkiServerVerifier>,
    /// SubjectPublicKeyInfo of each expected root: a path is "expected" when its anchor's
    /// key is one of these (names can be copied, keys cannot).
    pub expected_spkis: Vec<Vec<u8>>,
    pub algorithms: WebPkiSupportedAlgorithms,
}

impl Anchors {
    /// Validates like rustls' `WebPkiServerVerifier` (path to a trusted root for server auth,
    /// then the name), returning whether the path's anchor is an expected root; None on
    /// any failure.
    fn expected_anchor(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Option<bool> {
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
        Some(
            self.expected_spkis
                .iter()
                .any(|k| k.as_slice() == anchor_key),
        )
    }
}

#[derive(Debug, Default)]
struct Seen {
    chain: Vec<CertInfo>,
    trusted: bool,
    expected_root: Option<bool>,
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
            version: None,
            cipher: None,
            chain_root: seen.chain.last().map(|c| c.issuer.clone()),
            chain: seen.chain.clone(),
            trusted: seen.trusted,
            expected_root: seen.expected_root,
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
        let (verdict, expected_root) =
            match self
                .anchors
                .expected_anchor(end_entity, intermediates, server_name, now)
            {
                Some(expected) => (Ok(ServerCertVerified::assertion()), Some(expected)),
                // rustls says why (its error mapping is what the taxonomy classifies).
                None => {
                    let v = self.anchors.rustls_verifier.verify_server_cert(
                        end_entity,
                        intermediates,
                        server_name,
                        ocsp_response,
                        now,
                    );
                    (v, None)
                }
            };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        *seen = Seen {
            chain,
            trusted: verdict.is_ok(),
            expected_root,
        };
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.anchors
            .rustls_verifier
            .verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.anchors
            .rustls_verifier
            .verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.anchors.rustls_verifier.supported_verify_schemes()
    }
}
