//! The client TLS of every outbound HTTPS call (webhooks, Microsoft's endpoint list).

use std::sync::Arc;

use eceprobe_checks::words;
use tokio_rustls::TlsConnector;

/// The OS trust store, as every outbound HTTPS call of the collector trusts it.
pub(crate) fn os_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "could not load part of the OS trust store");
    }
    roots.add_parsable_certificates(native.certs);
    roots
}

/// The client TLS of every outbound HTTPS call (webhooks, Microsoft's endpoint list): these
/// roots, rustls' safe defaults, HTTP/1.1.
pub(crate) fn client_tls(roots: rustls::RootCertStore) -> Result<TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(tls)))
}

/// A failed handshake with a webhook receiver or Microsoft's endpoint service, in words: the
/// certificate's dates and names as rustls reports them, trusted or not by this collector.
pub(crate) fn tls_words(e: &std::io::Error) -> String {
    match words::tls_inside(e) {
        Some(t) => words::tls(t, &words::Seen::nothing().relying("this collector")),
        None => words::io(e),
    }
}
