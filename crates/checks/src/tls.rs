//! TLS: which roots this host trusts, which roots Microsoft uses, and a handshake that keeps
//! the certificate chain and both verdicts even when verification fails.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::failure::FailureKind;
use crate::report::TlsInfo;
use crate::StageError;

mod certinfo;
pub use certinfo::cert_info;

/// The roots Microsoft's services chain to (M365-FACTS.md, "Certificates"): DigiCert Global
/// Root CA/G2/G3, DigiCert TLS ECC P384 Root G5, DigiCert TLS RSA4096 Root G5, Microsoft ECC
/// and RSA Root Certificate Authority 2017. Public certificates, built in as data.
const MICROSOFT_ROOTS_PEM: &[u8] = include_bytes!("../roots/microsoft-roots.pem");

/// Where trust comes from.
#[derive(Clone, Debug)]
pub struct TrustOptions {
    /// Trust what the operating system trusts (what ECE on this host would trust).
    pub os_store: bool,
    /// Extra trusted roots: (label for errors, PEM text).
    pub extra_cas: Vec<(String, String)>,
    /// Include Microsoft's published roots among the expected roots.
    pub microsoft_roots: bool,
    /// Extra expected roots (a lab's CA standing in for Microsoft's): (label, PEM text).
    pub extra_expected_roots: Vec<(String, String)>,
}

impl Default for TrustOptions {
    fn default() -> Self {
        TrustOptions {
            os_store: true,
            extra_cas: Vec::new(),
            microsoft_roots: true,
            extra_expected_roots: Vec::new(),
        }
    }
}

/// Errors building the trust configuration; each names the source that was wrong.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{label}: no usable certificate in PEM ({reason}); give a PEM file with one or more '-----BEGIN CERTIFICATE-----' blocks")]
    BadPem { label: String, reason: String },
    #[error(
        "no trusted roots at all: the OS store is empty or disabled and no extra CA was given"
    )]
    NoRoots,
    #[error("no expected roots: enable Microsoft's roots or give expected root PEMs")]
    NoExpectedRoots,
    #[error("building the certificate verifier failed: {0}")]
    Verifier(String),
}

/// Trust built once per suite and shared by every probe.
#[derive(Clone)]
pub struct Trust {
    provider: Arc<CryptoProvider>,
    trusted: Arc<WebPkiServerVerifier>,
    expected: Arc<WebPkiServerVerifier>,
    /// Certificates of the OS store that could not be loaded (logged, not fatal).
    pub os_store_errors: usize,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust").finish_non_exhaustive()
    }
}

impl Trust {
    pub fn new(opts: &TrustOptions) -> Result<Trust, TrustError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut trusted = RootCertStore::empty();
        let mut os_store_errors = 0;
        if opts.os_store {
            let native = rustls_native_certs::load_native_certs();
            os_store_errors = native.errors.len();
            for e in &native.errors {
                tracing::warn!(error = %e, "could not load part of the OS trust store");
            }
            let (added, ignored) = trusted.add_parsable_certificates(native.certs);
            tracing::debug!(added, ignored, "loaded OS trust store");
        }
        for (label, pem) in &opts.extra_cas {
            add_pem(&mut trusted, label, pem.as_bytes())?;
        }
        if trusted.is_empty() {
            return Err(TrustError::NoRoots);
        }
        let mut expected = RootCertStore::empty();
        if opts.microsoft_roots {
            add_pem(
                &mut expected,
                "built-in Microsoft roots",
                MICROSOFT_ROOTS_PEM,
            )?;
        }
        for (label, pem) in &opts.extra_expected_roots {
            add_pem(&mut expected, label, pem.as_bytes())?;
        }
        if expected.is_empty() {
            return Err(TrustError::NoExpectedRoots);
        }
        let build = |roots: RootCertStore| {
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| TrustError::Verifier(e.to_string()))
        };
        Ok(Trust {
            trusted: build(trusted)?,
            expected: build(expected)?,
            provider,
            os_store_errors,
        })
    }

    /// Runs a TLS handshake over `stream` for `host`, within `timeout`. Returns what was seen
    /// of the session (chain, verdicts, version) whether or not the handshake succeeded.
    pub(crate) async fn handshake<S>(
        &self,
        host: &str,
        stream: S,
        alpn: &[&[u8]],
        timeout: Duration,
    ) -> (TlsInfo, Result<TlsStream<S>, StageError>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let capture = Arc::new(CapturingVerifier {
            trusted: self.trusted.clone(),
            expected: self.expected.clone(),
            seen: Mutex::new(Seen::default()),
        });
        let config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map(|b| {
                b.dangerous()
                    .with_custom_certificate_verifier(capture.clone())
                    .with_no_client_auth()
            });
        let mut config = match config {
            Ok(c) => c,
            Err(e) => {
                let err = StageError::new(FailureKind::TlsHandshakeFailed, e.to_string());
                return (TlsInfo::default(), Err(err));
            }
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let name = match ServerName::try_from(host.to_string()) {
            Ok(n) => n,
            Err(e) => {
                let err = StageError::new(
                    FailureKind::TlsHandshakeFailed,
                    format!("'{host}' is not a valid TLS server name: {e}"),
                );
                return (TlsInfo::default(), Err(err));
            }
        };
        let connector = TlsConnector::from(Arc::new(config));
        let result = tokio::time::timeout(timeout, connector.connect(name, stream)).await;
        let mut info = capture.info();
        let result = match result {
            Err(_) => Err(StageError::new(
                FailureKind::TlsTimeout,
                format!("no TLS handshake within {} ms", timeout.as_millis()),
            )),
            Ok(Err(e)) => Err(classify_tls_error(&e)),
            Ok(Ok(tls)) => {
                let (_, conn) = tls.get_ref();
                info.version = conn.protocol_version().map(version_name);
                info.cipher = conn
                    .negotiated_cipher_suite()
                    .and_then(|c| c.suite().as_str())
                    .map(String::from);
                Ok(tls)
            }
        };
        (info, result)
    }
}

/// "TLSv1.2", as openssl and most admins' tools write it.
fn version_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        other => format!("{other:?}"),
    }
}

fn add_pem(store: &mut RootCertStore, label: &str, pem: &[u8]) -> Result<(), TrustError> {
    let bad = |reason: String| TrustError::BadPem {
        label: label.to_string(),
        reason,
    };
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        store.add(cert).map_err(|e| bad(e.to_string()))?;
        count += 1;
    }
    if count == 0 {
        return Err(bad("no CERTIFICATE block found".into()));
    }
    Ok(())
}

/// Maps a handshake error to the taxonomy.
fn classify_tls_error(e: &std::io::Error) -> StageError {
    use rustls::Error as E;
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let (kind, detail) = match tls {
        Some(E::InvalidCertificate(ce)) => (
            match ce {
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    FailureKind::TlsUntrusted
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => FailureKind::TlsNameMismatch,
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    FailureKind::TlsExpired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    FailureKind::TlsNotYetValid
                }
                _ => FailureKind::TlsUntrusted,
            },
            format!("certificate rejected: {ce:?}"),
        ),
        Some(E::AlertReceived(rustls::AlertDescription::ProtocolVersion))
        | Some(E::PeerIncompatible(_)) => (
            FailureKind::TlsVersionUnsupported,
            format!("the server refused TLS 1.2 and 1.3 ({e})"),
        ),
        Some(other) => (FailureKind::TlsHandshakeFailed, other.to_string()),
        None => match e.kind() {
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe => (
                FailureKind::TlsClosed,
                format!("connection closed during the TLS handshake ({e})"),
            ),
            _ => (FailureKind::TlsHandshakeFailed, e.to_string()),
        },
    };
    StageError::new(kind, detail)
}

#[derive(Default)]
struct Seen {
    chain: Vec<CertificateDer<'static>>,
    trusted: bool,
    expected_root: Option<bool>,
}

/// Delegates every decision to webpki (the host's trust), and on the side records the chain
/// and whether it also verifies against the expected roots alone: a chain this host trusts
/// that does not reach an expected root was re-signed by something in between.
#[derive(Debug)]
struct CapturingVerifier {
    trusted: Arc<WebPkiServerVerifier>,
    expected: Arc<WebPkiServerVerifier>,
    seen: Mutex<Seen>,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seen")
            .field("certs", &self.chain.len())
            .finish()
    }
}

impl CapturingVerifier {
    fn info(&self) -> TlsInfo {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let chain: Vec<_> = seen.chain.iter().filter_map(|c| cert_info(c)).collect();
        TlsInfo {
            version: None,
            cipher: None,
            chain_root: chain.last().map(|c| c.issuer.clone()),
            chain,
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
        let verdict = self.trusted.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        let expected_root = verdict.is_ok().then(|| {
            self.expected
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .is_ok()
        });
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        seen.trusted = verdict.is_ok();
        seen.expected_root = expected_root;
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.trusted.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.trusted.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.trusted.supported_verify_schemes()
    }
}
