//! TLS: which roots this host trusts, which roots Microsoft uses, and a handshake that keeps
//! the certificate chain and both verdicts even when verification fails.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::failure::FailureKind;
use crate::report::{RootSource, TlsInfo};
use crate::words;
use crate::StageError;

mod certinfo;
pub(crate) mod intercept;
mod java_chain;
pub(crate) mod java_judge;
mod roots;
mod verifier;
mod watch;
pub use certinfo::cert_info;
pub(crate) use roots::microsoft_roots_missing;
use roots::{KnownRoots, RootOrigin};
use verifier::{Anchors, CapturingVerifier, JavaAnchors};
pub(crate) use watch::Watched;

/// A client TLS stream over `S`, whose handshake counted the bytes it carried.
pub(crate) type ClientTls<S> = TlsStream<Watched<S>>;

/// A handshake's outcome: what was seen of the session, the stream or the failure, and how
/// many bytes the server sent during it (0 with a failure: its TLS answer never arrived).
pub(crate) type Handshake<S> = (TlsInfo, Result<ClientTls<S>, StageError>, u64);

/// The roots Microsoft's services chain to (M365-FACTS.md, "Certificates"): DigiCert Global
/// Root CA/G2/G3, DigiCert TLS ECC P384 Root G5, DigiCert TLS RSA4096 Root G5, Microsoft ECC
/// and RSA Root Certificate Authority 2017. Public certificates, built in as data.
pub(crate) const MICROSOFT_ROOTS_PEM: &[u8] = include_bytes!("../roots/microsoft-roots.pem");

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
    /// ECE's Java trust store: every chain is judged by it too, as JSSE would.
    pub java: Option<JavaTrustInput>,
}

/// ECE's Java trust store, read (see [`crate::java`]).
#[derive(Clone, Debug)]
pub struct JavaTrustInput {
    /// The file, as details name it.
    pub store: std::path::PathBuf,
    /// Its trust anchors.
    pub anchors: Vec<CertificateDer<'static>>,
    /// `keytool`'s password argument for it: `-storepass changeit`, or `-storepass:file F`
    /// when the password is in a file (never the password itself).
    pub storepass: String,
    /// Why certificates of the store do not count for ECE's Java, when some do not (a
    /// PKCS12 store's encrypted certificates and no password given): the sentence a refused
    /// chain's detail gives instead of "import the root", which would not help.
    pub unreadable: Option<String>,
}

impl Default for TrustOptions {
    fn default() -> Self {
        TrustOptions {
            os_store: true,
            extra_cas: Vec::new(),
            microsoft_roots: true,
            extra_expected_roots: Vec::new(),
            java: None,
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
    anchors: Arc<Anchors>,
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
        let mut known = KnownRoots::default();
        let mut os_store_errors = 0;
        if opts.os_store {
            let native = rustls_native_certs::load_native_certs();
            os_store_errors = native.errors.len();
            for e in &native.errors {
                tracing::warn!(error = %e, "could not load part of the OS trust store");
            }
            for der in &native.certs {
                known.add(der, RootOrigin::Os);
            }
            let (added, ignored) = trusted.add_parsable_certificates(native.certs);
            tracing::debug!(added, ignored, "loaded OS trust store");
        }
        for (label, pem) in &opts.extra_cas {
            add_pem(&mut trusted, label, pem.as_bytes())?;
            known_pem(&mut known, pem.as_bytes(), RootOrigin::File(label.clone()));
        }
        if trusted.is_empty() {
            return Err(TrustError::NoRoots);
        }
        // Microsoft's first: a declared root that is also one of Microsoft's is labelled
        // Microsoft's (the first match wins).
        let mut expected_spkis = Vec::new();
        let mut expected_roots = RootCertStore::empty();
        if opts.microsoft_roots {
            let mut microsoft = RootCertStore::empty();
            add_pem(
                &mut microsoft,
                "built-in Microsoft roots",
                MICROSOFT_ROOTS_PEM,
            )?;
            expected_spkis.extend(spkis(&microsoft, RootSource::Microsoft));
            expected_roots.roots.extend(microsoft.roots);
            // Named first: the OS store's copy of a Microsoft root is downloadable too.
            let mut first = KnownRoots::default();
            known_pem(&mut first, MICROSOFT_ROOTS_PEM, RootOrigin::Microsoft);
            first.extend(known);
            known = first;
        }
        for (label, pem) in &opts.extra_expected_roots {
            let mut declared = RootCertStore::empty();
            add_pem(&mut declared, label, pem.as_bytes())?;
            known_pem(&mut known, pem.as_bytes(), RootOrigin::File(label.clone()));
            expected_spkis.extend(spkis(&declared, RootSource::Declared));
            expected_roots.roots.extend(declared.roots);
        }
        if expected_spkis.is_empty() {
            return Err(TrustError::NoExpectedRoots);
        }
        let trusted = Arc::new(trusted);
        let rustls_verifier =
            WebPkiServerVerifier::builder_with_provider(trusted.clone(), provider.clone())
                .build()
                .map_err(|e| TrustError::Verifier(e.to_string()))?;
        let java = opts.java.as_ref().map(|j| {
            let mut roots = RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(j.anchors.iter().cloned());
            tracing::debug!(added, ignored, store = %j.store.display(), "loaded ECE's Java trust store");
            for der in &j.anchors {
                known.add(der, RootOrigin::Java);
            }
            JavaAnchors {
                store: j.store.display().to_string(),
                roots,
                storepass: j.storepass.clone(),
                unreadable: j.unreadable.clone(),
            }
        });
        let anchors = Anchors {
            trusted_roots: trusted,
            rustls_verifier,
            expected_spkis,
            expected_roots,
            algorithms: provider.signature_verification_algorithms,
            java,
            known,
        };
        Ok(Trust {
            anchors: Arc::new(anchors),
            provider,
            os_store_errors,
        })
    }

    /// Runs a TLS handshake over `stream` for `host`, within `timeout`. Returns what was seen
    /// of the session (chain, verdicts, version) whether or not the handshake succeeded. A
    /// timeout after the ClientHello went out with not one byte back is `tls_stalled` (the
    /// server's flight is lost on the way); one after the server answered is `tls_timeout`.
    pub(crate) async fn handshake<S>(
        &self,
        host: &str,
        stream: S,
        alpn: &[&[u8]],
        timeout: Duration,
    ) -> Handshake<S>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let capture = Arc::new(CapturingVerifier::new(self.anchors.clone()));
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
                let err = StageError::new(
                    FailureKind::TlsHandshakeFailed,
                    words::tls(&e, &words::Seen::nothing()),
                );
                return (TlsInfo::default(), Err(err), 0);
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
                return (TlsInfo::default(), Err(err), 0);
            }
        };
        let connector = TlsConnector::from(Arc::new(config));
        let (stream, counts) = Watched::new(stream);
        let result = tokio::time::timeout(timeout, connector.connect(name, stream)).await;
        // On a refused certificate `info` already has the version (the verifier learnt it).
        let mut info = capture.info();
        let (sent, received) = (counts.written(), counts.read());
        let ms = timeout.as_millis();
        let result = match result {
            Err(_) if sent > 0 && received == 0 => Err(StageError::new(
                FailureKind::TlsStalled,
                format!("the ClientHello ({sent} bytes) went out but not one byte of the server's TLS answer arrived within {ms} ms"),
            )),
            Err(_) if received > 0 => Err(StageError::new(
                FailureKind::TlsTimeout,
                format!("no TLS handshake within {ms} ms (the server sent {received} bytes, then nothing more)"),
            )),
            Err(_) => Err(StageError::new(
                FailureKind::TlsTimeout,
                format!("no TLS handshake within {ms} ms"),
            )),
            Ok(Err(e)) => Err(classify_tls_error(&e, host, &info)),
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
        (info, result, received)
    }
}

/// "TLSv1.2", as openssl and most admins' tools write it.
fn version_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        // rustls negotiates only 1.2 and 1.3; anything else is named by its number.
        other => format!("TLS version 0x{:04x}", u16::from(other)),
    }
}

/// The SubjectPublicKeyInfo of each root in `store`, with where it came from.
fn spkis(
    store: &RootCertStore,
    source: RootSource,
) -> impl Iterator<Item = (Vec<u8>, RootSource)> + '_ {
    store
        .roots
        .iter()
        .map(move |a| (a.subject_public_key_info.as_ref().to_vec(), source))
}

/// Adds a PEM's certificates to the known roots (already validated by `add_pem`).
fn known_pem(known: &mut KnownRoots, pem: &[u8], origin: RootOrigin) {
    for der in CertificateDer::pem_slice_iter(pem).flatten() {
        known.add(&der, origin.clone());
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

/// Maps a handshake error to the taxonomy, in words with what the verifier saw (dates,
/// names, the issuer).
fn classify_tls_error(e: &std::io::Error, host: &str, info: &TlsInfo) -> StageError {
    use rustls::Error as E;
    let seen = words::Seen::new(Some(host), &info.chain);
    let (kind, detail) = match words::tls_inside(e) {
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
            words::certificate(ce, &seen),
        ),
        Some(E::AlertReceived(rustls::AlertDescription::ProtocolVersion)) => (
            FailureKind::TlsVersionUnsupported,
            "the server refused TLS 1.2 and 1.3 (it answered with a protocol version alert)"
                .to_string(),
        ),
        Some(other @ E::PeerIncompatible(_)) => (
            FailureKind::TlsVersionUnsupported,
            format!(
                "the server refused TLS 1.2 and 1.3 ({})",
                words::tls(other, &seen)
            ),
        ),
        Some(other) => (FailureKind::TlsHandshakeFailed, words::tls(other, &seen)),
        None => match e.kind() {
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe => (
                FailureKind::TlsClosed,
                format!(
                    "connection closed during the TLS handshake ({})",
                    words::io(e)
                ),
            ),
            _ => (FailureKind::TlsHandshakeFailed, words::io(e)),
        },
    };
    StageError::new(kind, detail)
}
