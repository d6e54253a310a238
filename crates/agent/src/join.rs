//! Joining with a token (issue 19): the agent makes its own key in its TLS directory,
//! checks that the collector's certificate chain ends at the CA whose SHA-256 the token
//! names (refusing any other before it sends anything), sends the token and a certificate
//! request over the `Enrollment` RPC, and writes the certificate and the CA it gets next to
//! the key. The key never leaves this server; the token is never logged nor written here.
//!
//! Files written (owner-only on Unix; on Windows the data directory's ACL applies):
//! `agent.key` (first, and kept if a join is retried, so a retry is the same key),
//! `ca.pem`, `deployment.txt` (the token's deployment), and `agent.pem` last: a directory
//! with the three bundle files is a finished join. A token read from agent.toml is then
//! commented out there (`join_forget.rs`).
//!
//! Collectors are tried in their order: one that cannot reach, cannot sign (no `ca.key`),
//! is busy or unavailable gives way to the next; a refusal of the token or the key (bad,
//! expired, used up, revoked) is the same on every collector of the database and stops.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use eceprobe_proto::v1::enrollment_client::EnrollmentClient;
use eceprobe_proto::v1::JoinRequest;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use crate::run_config::{self, JoinPlan, RunSettings};

/// Connecting, and the handshake, within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole Join call within this (the collector decides within 15 s).
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The reply holds a certificate and the CA: far below this.
const MAX_REPLY_BYTES: usize = 64 * 1024;
/// A key file larger than this is not one of ours.
const MAX_KEY_BYTES: u64 = 64 * 1024;
/// The deployment file written next to the bundle.
pub const DEPLOYMENT_FILE: &str = "deployment.txt";

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: not a private key this agent can use ({reason}); delete it so that the agent makes a new one, then join again", path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error("making the key or the certificate request: {0}")]
    Key(#[from] rcgen::Error),
    #[error("could not reach collector {url} to join: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("collector {url} could not take the join: {message}")]
    NotHere { url: String, message: String },
    #[error("configuration: {0}")]
    Config(#[from] crate::config_error::ConfigError),
    #[error("refusing collector {url}: its certificate chain ends at a CA whose SHA-256 is {presented}, but the join token names {expected}. The URL reaches another collector (or something in between presents its own certificate): use the collector that made the token, or make a token there (eceprobe-collector token create)")]
    WrongCa {
        url: String,
        presented: String,
        expected: String,
    },
    #[error("collector {url} refused the join: {message}")]
    Refused { url: String, message: String },
    #[error("collector {url} answered the join with a CA whose SHA-256 is {presented}, not the token's {expected}: refusing it")]
    BadReply {
        url: String,
        presented: String,
        expected: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JoinError + '_ {
    move |error| JoinError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a file readable by its owner only, whole or not at all (written aside, renamed).
fn write_private(path: &Path, text: &str) -> Result<(), JoinError> {
    let aside = path.with_extension("partial");
    let _ = std::fs::remove_file(&aside);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&aside).map_err(io(&aside))?;
    file.write_all(text.as_bytes()).map_err(io(&aside))?;
    file.sync_all().map_err(io(&aside))?;
    drop(file);
    std::fs::rename(&aside, path).map_err(io(path))
}

/// The key of an interrupted join, or a new one (ECDSA P-256) written first.
fn load_or_make_key(path: &Path) -> Result<KeyPair, JoinError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_KEY_BYTES => Err(JoinError::BadKey {
            path: path.to_path_buf(),
            reason: format!("{} bytes", meta.len()),
        }),
        Ok(_) => {
            let pem = std::fs::read_to_string(path).map_err(io(path))?;
            KeyPair::from_pem(&pem).map_err(|e| JoinError::BadKey {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = KeyPair::generate()?;
            write_private(path, &key.serialize_pem())?;
            Ok(key)
        }
        Err(e) => Err(io(path)(e)),
    }
}

impl JoinError {
    /// No collector could be reached, or none could sign: what a rollout meets before the
    /// firewall opens or while the collector is down. Worth trying again later; any other
    /// error (a refused token, a wrong CA, the agent's own files) is not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            JoinError::Unreachable { .. } | JoinError::NotHere { .. }
        )
    }
}

/// Joins if `settings` plan a join, then loads the bundle as `run` uses it. The plan stays
/// in `settings` until the join is made, so a failed one can be tried again.
pub async fn complete(settings: &mut RunSettings) -> Result<(), JoinError> {
    // Joined before, but the token's line is still in agent.toml (a crash or a failed
    // rewrite after agent.pem was written): rewritten now, else it would stay for good.
    if let Some(leftover) = settings.leftover_join.take() {
        crate::join_forget::forget_plan(&leftover).await;
    }
    let Some(plan) = settings.join.clone() else {
        return Ok(());
    };
    let deployment = join(&plan, &settings.collectors, &settings.hello.agent_id).await?;
    settings.join = None;
    // The token has done its work: not left in agent.toml (the certificate is in tls_dir).
    crate::join_forget::forget_plan(&plan).await;
    match &plan.configured_deployment {
        Some(said) if *said != deployment => {
            return Err(run_config::deployment_differs(said, &deployment).into())
        }
        _ => settings.hello.deployment = deployment,
    }
    let bundle = run_config::load_bundle(&plan.dir, plan.server_name.clone()).map_err(|e| {
        JoinError::Io {
            path: plan.dir.clone(),
            error: std::io::Error::other(e.to_string()),
        }
    })?;
    settings.tls = Some(bundle);
    Ok(())
}

/// Joins at the first collector that answers; returns the token's deployment.
pub async fn join(
    plan: &JoinPlan,
    collectors: &[String],
    agent_id: &str,
) -> Result<String, JoinError> {
    if !plan.dir.exists() {
        std::fs::create_dir_all(&plan.dir).map_err(io(&plan.dir))?;
        // A directory made here for the key: its owner only (Windows: ProgramData's ACL).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let owner_only = std::fs::Permissions::from_mode(0o700);
            std::fs::set_permissions(&plan.dir, owner_only).map_err(io(&plan.dir))?;
        }
    }
    let key = load_or_make_key(&plan.dir.join("agent.key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, agent_id);
    let csr_der = params.serialize_request(&key)?.der().to_vec();
    let mut last = None;
    for url in collectors {
        match join_one(plan, url, agent_id, &csr_der).await {
            Ok(deployment) => return Ok(deployment),
            Err(e @ (JoinError::Unreachable { .. } | JoinError::NotHere { .. })) => {
                tracing::warn!(error = %e, "join: trying the next collector");
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(JoinError::Unreachable {
        url: String::new(),
        reason: "no collector is configured".into(),
    }))
}

async fn join_one(
    plan: &JoinPlan,
    url: &str,
    agent_id: &str,
    csr_der: &[u8],
) -> Result<String, JoinError> {
    let server_name = match &plan.server_name {
        Some(name) => name.clone(),
        None => run_config::url_host(url.strip_prefix("https://").unwrap_or(url)).to_owned(),
    };
    let expected = &plan.token.ca_sha256;
    let ca_der = pinned_ca(url, &server_name, expected).await?;
    let ca_pem = pem("CERTIFICATE", &ca_der);
    let unreachable = |e: &(dyn std::error::Error + 'static)| JoinError::Unreachable {
        url: url.to_owned(),
        reason: crate::run::link_error(e, url),
    };
    // Only the CA the token pins is trusted: the same check again, by tonic's TLS.
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca_pem))
        .domain_name(server_name);
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| unreachable(&e))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(JOIN_TIMEOUT)
        .tls_config(tls)
        .map_err(|e| unreachable(&e))?;
    let channel = endpoint.connect().await.map_err(|e| unreachable(&e))?;
    let request = JoinRequest {
        token_id: plan.token.id.clone(),
        token_secret: plan.token.secret.clone(),
        agent_id: agent_id.to_owned(),
        csr_der: csr_der.to_vec(),
    };
    let reply = EnrollmentClient::new(channel)
        .max_decoding_message_size(MAX_REPLY_BYTES)
        .join(request)
        .await
        .map_err(|status| answered(url, &status))?
        .into_inner();
    let presented = rustls::pki_types::pem::PemObject::from_pem_slice(reply.ca_pem.as_bytes())
        .map(|c: CertificateDer<'static>| sha256_hex(c.as_ref()))
        .unwrap_or_default();
    if &presented != expected {
        return Err(JoinError::BadReply {
            url: url.to_owned(),
            presented,
            expected: expected.clone(),
        });
    }
    write_private(&plan.dir.join("ca.pem"), &reply.ca_pem)?;
    write_private(&plan.dir.join(DEPLOYMENT_FILE), &reply.deployment)?;
    write_private(&plan.dir.join("agent.pem"), &reply.certificate_pem)?;
    tracing::info!(
        agent = agent_id,
        collector = url,
        dir = %plan.dir.display(),
        deployment = %reply.deployment,
        "joined: certificate received"
    );
    Ok(reply.deployment)
}

/// A failed Join call in words: the connection failed (no answer from the collector), the
/// collector cannot take it now (another may), or it refused the join (none will).
fn answered(url: &str, status: &tonic::Status) -> JoinError {
    use tonic::Code;
    // tonic's own statuses for a broken connection carry their cause; a collector's
    // answer, decoded from its trailers, carries none.
    if let Some(cause) = std::error::Error::source(status) {
        return JoinError::Unreachable {
            url: url.to_owned(),
            reason: crate::run::link_error(cause, url),
        };
    }
    let message = crate::run::refused::escaped(status.message(), 1024);
    let url = url.to_owned();
    match status.code() {
        // No ca.key here, too many joins at once, its database away, slow, or a collector
        // without joins: another collector of the list may do it.
        Code::FailedPrecondition
        | Code::ResourceExhausted
        | Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Unimplemented
        | Code::Aborted
        | Code::Internal
        | Code::Unknown => JoinError::NotHere { url, message },
        _ => JoinError::Refused { url, message },
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A TLS handshake with the collector that accepts it only if its chain holds the CA of
/// SHA-256 `expected` and is valid under that CA (alone) for `server_name`. Returns the CA.
async fn pinned_ca(url: &str, server_name: &str, expected: &str) -> Result<Vec<u8>, JoinError> {
    let unreachable = |reason: String| JoinError::Unreachable {
        url: url.to_owned(),
        reason,
    };
    let uri: tonic::codegen::http::Uri = url
        .parse()
        .map_err(|e: tonic::codegen::http::uri::InvalidUri| unreachable(e.to_string()))?;
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|_| unreachable(format!("'{server_name}' is not a DNS name or IP address")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let pin = Arc::new(Pin {
        expected: expected.to_owned(),
        provider: provider.clone(),
        seen: Mutex::new(Seen::default()),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| unreachable(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(pin.clone())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        connector.connect(name, tcp).await
    };
    let outcome = tokio::time::timeout(CONNECT_TIMEOUT, handshake).await;
    let seen = std::mem::take(&mut *pin.seen.lock().unwrap_or_else(PoisonError::into_inner));
    if let Some(presented) = seen.wrong_ca {
        return Err(JoinError::WrongCa {
            url: url.to_owned(),
            presented,
            expected: expected.to_owned(),
        });
    }
    match outcome {
        Err(_) => Err(unreachable(format!(
            "no TLS handshake within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
        Ok(Err(e)) => Err(unreachable(crate::run::link_error(&e, url))),
        Ok(Ok(_)) => seen
            .ca
            .ok_or_else(|| unreachable("the handshake ended without the collector's chain".into())),
    }
}

#[derive(Default)]
struct Seen {
    /// The SHA-256 of the chain's last certificate, when no certificate matched the pin.
    wrong_ca: Option<String>,
    ca: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Pin {
    expected: String,
    provider: Arc<CryptoProvider>,
    seen: Mutex<Seen>,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seen")
    }
}

impl ServerCertVerifier for Pin {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain: Vec<&CertificateDer<'_>> =
            std::iter::once(end_entity).chain(intermediates).collect();
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(ca) = chain
            .iter()
            .find(|c| sha256_hex(c.as_ref()) == self.expected)
        else {
            seen.wrong_ca = chain.last().map(|c| sha256_hex(c.as_ref()));
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ));
        };
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(ca.as_ref().to_vec()))?;
        let others: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .filter(|c| c.as_ref() != ca.as_ref())
            .cloned()
            .collect();
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        let verified =
            verifier.verify_server_cert(end_entity, &others, server_name, ocsp_response, now)?;
        seen.ca = Some(ca.as_ref().to_vec());
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_connection_is_not_a_refusal_and_a_collector_that_cannot_sign_gives_way() {
        let url = "https://collector-a:7443";
        let broken = tonic::Status::from_error(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset",
        )));
        let words = answered(url, &broken).to_string();
        assert!(
            words.starts_with("could not reach collector https://collector-a:7443 to join: "),
            "{words}"
        );
        let no_ca = tonic::Status::failed_precondition("this collector cannot sign certificates");
        assert!(matches!(answered(url, &no_ca), JoinError::NotHere { .. }));
        let busy = tonic::Status::resource_exhausted("16 agents are joining right now");
        assert!(matches!(answered(url, &busy), JoinError::NotHere { .. }));
        let used_up = tonic::Status::permission_denied("join token 1 is used up");
        let words = answered(url, &used_up).to_string();
        assert_eq!(
            words,
            "collector https://collector-a:7443 refused the join: join token 1 is used up"
        );
    }
}
