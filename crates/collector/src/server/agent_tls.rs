//! The agents' TLS listener. Handshakes are accepted here rather than by tonic's
//! `ServerTlsConfig`, which drops a failed handshake with a debug line and no peer address:
//! an administrator must see which address was refused and why ("its certificate was not
//! issued by this collector's CA"). Each connection gets its own verifier (one
//! `ServerConfig` per handshake, chosen after the ClientHello) that records the client's
//! chain, so the log line can name the certificate it refused.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use eceprobe_checks::tls::cert_info;
use eceprobe_checks::words::{self, Seen};
use eceprobe_checks::CertInfo;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{
    Acceptor, ServerSessionMemoryCache, StoresServerSessions, WebPkiClientVerifier,
};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    AlertDescription, CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore,
    ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};

use super::certless::{
    AgentConn, PerSource, CERTLESS_LIFETIME, MAX_CERTLESS, MAX_CERTLESS_PER_SOURCE,
};
use crate::auth::AgentTls;

/// A TLS handshake that has not finished by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at once; a connection beyond them is closed at once, so a flood
/// of idle connections (each may hold its handshake for [`HANDSHAKE_TIMEOUT`]) cannot use
/// up the file descriptors that agents' streams and SQLite need.
const MAX_HANDSHAKES: usize = 256;

/// Refusals logged one by one per minute; beyond them (a port scan, a misconfigured fleet)
/// they are counted and said in one line when the next minute starts.
const REFUSALS_LOGGED_PER_MINUTE: u32 = 30;
/// Handshaken connections waiting for the gRPC server to take them.
const READY_QUEUE: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum AgentTlsError {
    #[error("the TLS directory's {what} is not usable PEM: {reason}")]
    Pem { what: &'static str, reason: String },
    #[error("the agents' TLS configuration: {0}")]
    Config(String),
}

/// What every handshake shares: the server's certificate, the agents' CA, the session cache.
#[derive(Clone)]
pub(super) struct AgentAcceptor {
    provider: Arc<CryptoProvider>,
    cert: Arc<SingleCertAndKey>,
    verifier: Arc<dyn ClientCertVerifier>,
    sessions: Arc<dyn StoresServerSessions>,
}

impl AgentAcceptor {
    pub(super) fn new(tls: &AgentTls) -> Result<AgentAcceptor, AgentTlsError> {
        let (cert_pem, key_pem, ca_pem) = tls.pems();
        let pem = |what: &'static str| {
            move |e: rustls_pki_types::pem::Error| AgentTlsError::Pem {
                what,
                reason: e.to_string(),
            }
        };
        let config = |e: rustls::Error| AgentTlsError::Config(words::tls(&e, &Seen::nothing()));
        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem("server certificate"))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(pem("server key"))?;
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots
                .add(ca.map_err(pem("CA certificate"))?)
                .map_err(config)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                // A client certificate is asked for, verified when presented, but not
                // required: an agent joining with a token has none yet, and the Enrollment
                // RPC is all it can use without one. AgentLink refuses a stream without a
                // certificate at Hello (auth.rs), and says so in the log.
                .allow_unauthenticated()
                .build()
                .map_err(|e| AgentTlsError::Config(e.to_string()))?;
        let cert = CertifiedKey::from_der(chain, key, &provider).map_err(config)?;
        Ok(AgentAcceptor {
            provider,
            cert: Arc::new(SingleCertAndKey::from(cert)),
            verifier,
            // Shared by every connection's config, as tonic's single config shared it.
            sessions: ServerSessionMemoryCache::new(256),
        })
    }

    /// The configuration of one handshake, with its own recording verifier.
    fn config(&self, verifier: Arc<Recording>) -> Result<Arc<ServerConfig>, rustls::Error> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(rustls::DEFAULT_VERSIONS)?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(self.cert.clone());
        config.session_storage = self.sessions.clone();
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }

    /// One handshake, within the timeout.
    async fn handshake(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, Refusal> {
        let recording = Arc::new(Recording::new(self.verifier.clone()));
        let work = async {
            let start = LazyConfigAcceptor::new(Acceptor::default(), tcp)
                .await
                .map_err(Refusal::BeforeHello)?;
            let config = self
                .config(recording.clone())
                .map_err(|e| Refusal::Refused {
                    reason: words::tls(&e, &Seen::nothing()),
                    tcp: None,
                })?;
            start
                .into_stream(config)
                .into_fallible()
                .await
                .map_err(|(e, tcp)| Refusal::Refused {
                    reason: reason(&e, &recording),
                    tcp: Some(tcp),
                })
        };
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, work).await {
            Err(_) => Err(Refusal::Timeout),
            Ok(r) => r,
        }
    }
}

/// The agents' connections once their TLS handshake succeeded, for tonic's
/// `serve_with_incoming_shutdown`; every refusal is logged with the peer and the reason.
/// Those without a client certificate are bounded (`certless.rs`).
pub(super) fn incoming(
    listener: TcpListener,
    acceptor: AgentAcceptor,
) -> impl Stream<Item = Result<AgentConn<TlsStream<TcpStream>>, io::Error>> + Send + 'static {
    let (tx, rx) = mpsc::channel(READY_QUEUE);
    tokio::spawn(accept_loop(listener, acceptor, tx));
    ReceiverStream::new(rx).map(Ok)
}

/// Accepts until the server drops the stream; each handshake runs in its own task, so a
/// slow peer holds up no other.
async fn accept_loop(
    listener: TcpListener,
    acceptor: AgentAcceptor,
    tx: mpsc::Sender<AgentConn<TlsStream<TcpStream>>>,
) {
    let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    let certless = Arc::new(tokio::sync::Semaphore::new(MAX_CERTLESS));
    let per_source = PerSource::default();
    let budget = Arc::new(LogBudget::default());
    loop {
        let accepted = tokio::select! {
            () = tx.closed() => return,
            a = listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(error = %words::io(&e), "cannot accept an agent connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&handshakes).try_acquire_owned() else {
            budget.note(
                &peer,
                &format!("{MAX_HANDSHAKES} TLS handshakes already in progress; connection closed"),
            );
            continue;
        };
        // Small replies (acks) must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        let budget = Arc::clone(&budget);
        let certless = Arc::clone(&certless);
        let per_source = per_source.clone();
        tokio::spawn(async move {
            let handshake = acceptor.handshake(tcp).await;
            drop(slot);
            match handshake {
                Ok(tls) if tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty()) => {
                    let _ = tx.send(AgentConn::trusted(tls)).await;
                }
                // Dropped when refused: closed at once (a joining agent tries again after
                // its backoff). Its source's share first, so one host cannot take them all.
                Ok(tls) => match per_source.take(peer.ip()) {
                    None => budget.note(
                        &peer,
                        &format!("{MAX_CERTLESS_PER_SOURCE} connections without a client certificate (agents joining) are open from this address already; connection closed"),
                    ),
                    Some(source) => match certless.try_acquire_owned() {
                        Ok(slot) => {
                            let conn = AgentConn::bounded(tls, slot, source, CERTLESS_LIFETIME);
                            let _ = tx.send(conn).await;
                        }
                        Err(_) => budget.note(
                            &peer,
                            &format!("{MAX_CERTLESS} connections without a client certificate (agents joining) are open already; connection closed"),
                        ),
                    },
                },
                Err(refusal) => refusal.log(peer, &budget).await,
            }
        });
    }
}

/// Why a connection did not become an agent's TLS session.
#[derive(Debug)]
enum Refusal {
    /// Before or at the ClientHello.
    BeforeHello(io::Error),
    /// During the handshake, in words; the connection, to close it gently.
    Refused {
        reason: String,
        tcp: Option<TcpStream>,
    },
    Timeout,
}

/// How long a refused agent's connection is kept open for its TLS alert to arrive.
const LINGER: Duration = Duration::from_secs(1);

/// The refusals logged in the current minute, and those counted beyond the budget.
#[derive(Default)]
struct LogBudget {
    state: Mutex<(Option<tokio::time::Instant>, u32, u32)>,
}

impl LogBudget {
    /// Logs "agent refused at TLS" for `peer`, within the budget; beyond it, counts.
    fn note(&self, peer: &SocketAddr, reason: &str) {
        let now = tokio::time::Instant::now();
        let suppressed_before;
        let log_this;
        {
            // Nothing panics while holding the lock; a poisoned count is still a count.
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let (window, logged, suppressed) = &mut *state;
            let fresh = window.is_none_or(|w| now.duration_since(w) >= Duration::from_secs(60));
            if fresh {
                suppressed_before = std::mem::take(suppressed);
                *window = Some(now);
                *logged = 0;
            } else {
                suppressed_before = 0;
            }
            log_this = *logged < REFUSALS_LOGGED_PER_MINUTE;
            match log_this {
                true => *logged += 1,
                false => *suppressed += 1,
            }
        }
        if suppressed_before > 0 {
            tracing::warn!(
                suppressed = suppressed_before,
                "{suppressed_before} more agents refused at TLS in the previous minute, not logged one by one"
            );
        }
        match log_this {
            true => tracing::warn!(%peer, %reason, "agent refused at TLS"),
            false => tracing::debug!(%peer, %reason, "agent refused at TLS"),
        }
    }
}

impl Refusal {
    async fn log(self, peer: SocketAddr, budget: &LogBudget) {
        let (reason, tcp) = match self {
            Refusal::BeforeHello(e) => match words::tls_inside(&e) {
                Some(t) => (peer_tls(t), None),
                None => {
                    // A TCP check (a load balancer, a port scan) that closes without a
                    // word is not an agent refused.
                    tracing::debug!(%peer, reason = %words::io(&e), "connection closed before TLS");
                    return;
                }
            },
            Refusal::Refused { reason, tcp } => (reason, tcp),
            Refusal::Timeout => (
                format!("no TLS handshake within {} s", HANDSHAKE_TIMEOUT.as_secs()),
                None,
            ),
        };
        budget.note(&peer, &reason);
        if let Some(tcp) = tcp {
            linger(tcp).await;
        }
    }
}

/// Closes a refused agent's connection so that it reads the alert saying why: rustls has
/// written the alert, but closing with the agent's unread bytes (a TLS 1.3 client sends its
/// first data before it hears of the refusal) would reset the connection and lose it. So:
/// our end first, then what the agent still sends is read and dropped, briefly and bounded.
async fn linger(mut tcp: TcpStream) {
    let _ = tcp.shutdown().await;
    let drain = async {
        let mut sink = [0u8; 4096];
        let mut total = 0usize;
        while total < 64 * 1024 {
            match tcp.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// The reason for a failed handshake, with the certificate the agent presented.
fn reason(e: &io::Error, recording: &Recording) -> String {
    let Some(tls) = words::tls_inside(e) else {
        return words::io(e);
    };
    let rustls::Error::InvalidCertificate(ce) = tls else {
        return peer_tls(tls);
    };
    let (chain, original) = recording.seen();
    match (&original, chain.first()) {
        (Some(CertificateError::UnknownIssuer | CertificateError::BadSignature), Some(leaf)) => {
            format!(
                "its certificate '{}' was not issued by this collector's CA (it names '{}' as issuer, but another key signed it): a bundle from another collector, or from before the CA was made again; enroll the agent here",
                leaf.subject, leaf.issuer
            )
        }
        _ => {
            let ce = original.as_ref().unwrap_or(ce);
            let seen = Seen::new(None, &chain).relying("this collector");
            words::certificate(ce, &seen).replacen("the certificate", "its certificate", 1)
        }
    }
}

/// A TLS error of the handshake, said of the peer (an agent, or what claims to be one).
fn peer_tls(e: &rustls::Error) -> String {
    use rustls::Error as E;
    // No arm for `NoCertificatesPresented`: the handshake allows a client without a
    // certificate (a joining agent); such a client is refused after TLS, by the gate
    // (`cert_gate.rs`) or at Hello (`auth.rs`), with `auth::NO_CERTIFICATE`'s words.
    match e {
        E::AlertReceived(
            a @ (AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::DecryptError
            | AlertDescription::CertificateUnknown),
        ) => format!(
            "it does not trust this collector's certificate (it sent the alert '{}'): its ca.pem is another collector's; enroll the agent here",
            words::alert(*a)
        ),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            "it does not speak TLS (an agent whose collector URL is http://?)".to_string()
        }
        other => words::tls(other, &Seen::nothing()),
    }
}

/// A handshake's verifier: decides as rustls' `WebPkiClientVerifier`, and keeps the chain
/// and rustls' own verdict for the log.
#[derive(Debug)]
struct Recording {
    inner: Arc<dyn ClientCertVerifier>,
    seen: Mutex<(Vec<CertInfo>, Option<CertificateError>)>,
}

impl Recording {
    fn new(inner: Arc<dyn ClientCertVerifier>) -> Recording {
        Recording {
            inner,
            seen: Mutex::new((Vec::new(), None)),
        }
    }

    fn seen(&self) -> (Vec<CertInfo>, Option<CertificateError>) {
        // Nothing panics while holding the lock; a poisoned value is still whole.
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ClientCertVerifier for Recording {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_client_cert(end_entity, intermediates, now);
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .filter_map(cert_info)
            .collect();
        let original = match &verdict {
            Err(rustls::Error::InvalidCertificate(ce)) => Some(ce.clone()),
            _ => None,
        };
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = (chain, original);
        match verdict {
            // Every collector's CA has the same name, so webpki finds "the" issuer by name
            // and then the signature fails: to the agent that means "not from this CA",
            // which is the unknown_ca alert, not decrypt_error.
            Err(rustls::Error::InvalidCertificate(CertificateError::BadSignature)) => Err(
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            ),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
