//! Enrollment with a join token (issue 19): the operator creates a token
//! (`eceprobe-collector token create`), the agent makes its own key and joins with the
//! token and a certificate request over the `Enrollment` RPC, and gets its certificate.
//! The private key never leaves the agent's server; the token's secret is kept here as its
//! SHA-256 only, and neither it nor the token is ever logged (its id is, and is no secret).
//!
//! The RPC is served on the agents' listener, which accepts TLS without a client
//! certificate for it (`server/agent_tls.rs`); `AgentLink` still refuses a stream without
//! one (`auth.rs`).

mod recheck;
pub mod sign;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use eceprobe_proto::join_token::{JoinToken, ID_HEX, SECRET_HEX};
use eceprobe_proto::v1::enrollment_server::Enrollment;
use eceprobe_proto::v1::{JoinReply, JoinRequest};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tonic::{Request, Response, Status};

use crate::pki::{self, PkiError};
use crate::store::{self, JoinRefusal, NewJoinToken, Store};

/// A join that has not been answered by then is refused (the store or the disk hangs).
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(15);
/// Joins handled at once; more are told to try again (a flood cannot queue up writes).
const MAX_JOINS_AT_ONCE: usize = 16;
/// Largest Join message accepted: the request and the token's parts.
pub const MAX_JOIN_MESSAGE_BYTES: usize = sign::MAX_CSR_BYTES + 4096;

/// A token, made: the text for the operator (holds the secret) and the row to store.
pub struct Minted {
    pub token: JoinToken,
    pub record: NewJoinToken,
}

/// The SHA-256 of the CA certificate in `ca.pem` of `dir`, as tokens carry it.
pub fn ca_fingerprint(dir: &Path) -> Result<String, PkiError> {
    let path = dir.join(pki::CA_CERT);
    let pem = match std::fs::read_to_string(&path) {
        Ok(pem) => pem,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PkiError::NoCa(dir.to_path_buf()))
        }
        Err(error) => return Err(PkiError::Io { path, error }),
    };
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| PkiError::Invalid {
        path,
        what: e.to_string(),
    })?;
    Ok(pki::fingerprint(der.as_ref()))
}

/// The SHA-256 of a token's secret, as stored.
pub fn secret_sha256(secret: &str) -> String {
    pki::fingerprint(secret.as_bytes())
}

fn random_hex(chars: usize) -> Result<String, PkiError> {
    let mut bytes = vec![0u8; chars / 2];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| rcgen::Error::RingUnspecified)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A new token for the CA of `dir`: 160 random bits of secret, 48 of id.
pub fn mint(
    dir: &Path,
    deployment: &str,
    valid_for: Duration,
    max_uses: u32,
    allow_reenroll: bool,
) -> Result<Minted, PkiError> {
    let token = JoinToken {
        id: random_hex(ID_HEX)?,
        secret: random_hex(SECRET_HEX)?,
        ca_sha256: ca_fingerprint(dir)?,
    };
    let record = NewJoinToken {
        id: token.id.clone(),
        secret_sha256: secret_sha256(&token.secret),
        deployment: deployment.to_owned(),
        valid_for_ms: i64::try_from(valid_for.as_millis()).unwrap_or(i64::MAX),
        max_uses: i64::from(max_uses),
        allow_reenroll,
    };
    Ok(Minted { token, record })
}

/// The `Enrollment` service: signs with the CA of `ca_dir` (the collector's `--tls-dir`).
#[derive(Clone)]
pub struct JoinService {
    store: Store,
    ca_dir: PathBuf,
    at_once: Arc<tokio::sync::Semaphore>,
}

impl JoinService {
    pub fn new(store: Store, ca_dir: PathBuf) -> JoinService {
        JoinService {
            store,
            ca_dir,
            at_once: Arc::new(tokio::sync::Semaphore::new(MAX_JOINS_AT_ONCE)),
        }
    }

    async fn decide(&self, r: JoinRequest) -> Result<JoinReply, Status> {
        if !pki::valid_agent_id(&r.agent_id) {
            return Err(Status::invalid_argument(format!(
                "'{}' is not an agent id: use 1-128 letters, digits, '.', '-' or '_' (agent_id in [run])",
                eceprobe_proto::bounds::cut(&r.agent_id, 128)
            )));
        }
        let token_ok = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !token_ok(&r.token_id, ID_HEX) || !token_ok(&r.token_secret, SECRET_HEX) {
            return Err(Status::invalid_argument(
                "the join token is not valid: copy it whole, as `eceprobe-collector token create` printed it",
            ));
        }
        let request =
            sign::read_request(&r.csr_der).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let token_id = r.token_id.to_ascii_lowercase();
        let secret = secret_sha256(&r.token_secret.to_ascii_lowercase());
        // The token first, read only: a junk request costs one database read, not a read
        // of the CA's key and of issued.log and revoked.txt.
        self.store
            .check_join_token(&token_id, &secret, &r.agent_id, &request.key_sha256)
            .await
            .map_err(|e| Status::unavailable(format!("the collector's database: {e}; try again")))?
            .map_err(|refusal| refused(&token_id, &r.agent_id, refusal))?;
        let ca_dir = self.ca_dir.clone();
        let agent = r.agent_id.clone();
        let key = request.key_sha256.clone();
        let issued = tokio::task::spawn_blocking(move || {
            // Signing needs the CA key: check it is here before a use of the token is spent.
            pki::load_ca(&ca_dir)?;
            sign::history(&ca_dir, &agent, &key)
        })
        .await
        .map_err(|_| Status::internal("the join's task stopped"))?
        .map_err(no_ca)?;
        let before = recheck::revoked_now(&self.store, &issued).await?;
        let joined = self
            .store
            .use_join_token(store::JoinRequest {
                token_id: token_id.clone(),
                secret_sha256: secret,
                agent_id: r.agent_id.clone(),
                key_sha256: request.key_sha256.clone(),
                issued,
            })
            .await
            .map_err(|e| Status::unavailable(format!("the collector's database: {e}; try again")))?
            .map_err(|refusal| refused(&token_id, &r.agent_id, refusal))?;
        let ca_dir = self.ca_dir.clone();
        let agent = r.agent_id.clone();
        let deployment = joined.deployment.clone();
        let superseded = joined.superseded.clone();
        let key = request.key_sha256.clone();
        let signed = tokio::task::spawn_blocking(move || {
            // The database holds the earlier keys' revocation (every collector of it reads
            // it); revoked.txt holds it too, as `revoke` writes both.
            let listed = superseded.iter().try_for_each(|sha| {
                pki::append_line(&ca_dir.join(pki::REVOKED), &format!("{sha} {agent}"))
            });
            if let Err(e) = listed {
                tracing::warn!(agent = %agent, error = %e, "the re-enrolled agent's earlier certificates are revoked in the database but could not be added to revoked.txt: add them with `eceprobe-collector revoke` after the new certificate is in place, or fix the file's permissions");
            }
            let signed = sign::sign(&ca_dir, &agent, &deployment, request)?;
            let after = sign::history(&ca_dir, &agent, &key)?;
            Ok::<_, PkiError>((signed, after))
        })
        .await
        .map_err(|_| Status::internal("the join's task stopped"))?
        .map_err(no_ca)?;
        let (signed, after) = signed;
        let seen = recheck::Seen {
            before: &before,
            superseded: &joined.superseded,
            after,
        };
        recheck::revoked_meanwhile(
            &self.store,
            &self.ca_dir,
            &r.agent_id,
            seen,
            &signed.certificate_sha256,
        )
        .await?;
        tracing::info!(
            agent = %r.agent_id,
            token = %token_id,
            deployment = %joined.deployment,
            sha256 = %signed.certificate_sha256,
            reenrolled = joined.reenrolled,
            retry = joined.retry,
            revoked_earlier = joined.superseded.len(),
            "agent joined: certificate issued"
        );
        Ok(JoinReply {
            certificate_pem: signed.certificate_pem,
            ca_pem: signed.ca_pem,
            deployment: joined.deployment,
        })
    }
}

fn no_ca(e: PkiError) -> Status {
    Status::failed_precondition(format!(
        "this collector cannot sign certificates: {e}; join on the collector that holds the CA key (ca.key)"
    ))
}

/// A refusal in words, with the fix; the token's id only, never its secret.
fn refused(id: &str, agent: &str, refusal: JoinRefusal) -> Status {
    match refusal {
        JoinRefusal::Unknown => Status::permission_denied(format!(
            "join token {id} is not known to this collector, or its secret differs: create one with `eceprobe-collector token create` on a collector of this database, and copy it whole"
        )),
        JoinRefusal::Revoked => Status::permission_denied(format!(
            "join token {id} was revoked: create a new one with `eceprobe-collector token create`"
        )),
        JoinRefusal::Expired { expires_unix_ms } => Status::permission_denied(format!(
            "join token {id} expired at {}: create a new one with `eceprobe-collector token create --expires ...`",
            crate::civil::utc_minutes(expires_unix_ms)
        )),
        JoinRefusal::UsedUp { max_uses } => Status::permission_denied(format!(
            "join token {id} is used up (all its {max_uses} uses are spent): create a new one with `eceprobe-collector token create --uses N`"
        )),
        JoinRefusal::AlreadyEnrolled { key_sha256 } => Status::already_exists(format!(
            "agent id '{agent}' is already enrolled with another key (SHA-256 {key_sha256}): a reinstalled server joins with a token made with `token create --allow-reenroll`; a different server needs its own agent_id"
        )),
        JoinRefusal::BundleEnrolled { cert_sha256 } => Status::already_exists(format!(
            "agent id '{agent}' already has a certificate from `eceprobe-collector enroll` (SHA-256 {cert_sha256}): join with a token made with `token create --allow-reenroll` (the bundle's certificate is then revoked)"
        )),
        JoinRefusal::AgentRevoked { cert_sha256 } => Status::permission_denied(format!(
            "agent id '{agent}' was revoked (its certificate SHA-256 {cert_sha256} is on the revocation list): it joins again only with a token made with `eceprobe-collector token create --allow-reenroll`, and with a new key (delete agent.key and agent.pem in the agent's tls_dir first)"
        )),
        JoinRefusal::OtherDeployment { current, token } => Status::permission_denied(format!(
            "agent id '{agent}' belongs to deployment '{current}', but join token {id} was made for deployment '{token}': a token of one deployment cannot take another's agent; join with a token made for '{current}' (`eceprobe-collector token create --deployment {current}`), or give this server its own agent_id for '{token}'"
        )),
        JoinRefusal::RetriesSpent { certificates } => Status::resource_exhausted(format!(
            "agent id '{agent}' already got {certificates} certificates for this key with join token {id} (a join repeated after a lost reply is free only {} times): find why agent.pem in the agent's tls_dir does not stay (its permissions, a cleanup tool), then join with a new token (`eceprobe-collector token create`)",
            store::MAX_CERTIFICATES_PER_KEY
        )),
        JoinRefusal::KeyRevoked { agent_id, cert_sha256 } => Status::permission_denied(format!(
            "this key was revoked (certificate SHA-256 {cert_sha256} of agent '{}') and is never accepted again: delete agent.key and agent.pem in the agent's tls_dir so that it makes a new key, then join with a token made with `eceprobe-collector token create --allow-reenroll`",
            agent_id.escape_default()
        )),
    }
}

#[tonic::async_trait]
impl Enrollment for JoinService {
    async fn join(&self, request: Request<JoinRequest>) -> Result<Response<JoinReply>, Status> {
        let peer = request
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let r = request.into_inner();
        // From a client not yet trusted: cut and with control characters escaped, so a
        // refusal's log line cannot forge others (as `ingest` does for a Hello's name).
        let printable = |text: &str, max: usize| -> String {
            eceprobe_proto::bounds::cut(text, max)
                .chars()
                .flat_map(char::escape_default)
                .collect()
        };
        let (agent, token) = (printable(&r.agent_id, 128), printable(&r.token_id, ID_HEX));
        let Ok(_slot) = self.at_once.try_acquire() else {
            return Err(Status::resource_exhausted(format!(
                "{MAX_JOINS_AT_ONCE} agents are joining right now: try again in a few seconds"
            )));
        };
        let outcome = match tokio::time::timeout(JOIN_TIMEOUT, self.decide(r)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Status::deadline_exceeded(format!(
                "the join was not decided within {} s (the collector's database or disk is slow): try again",
                JOIN_TIMEOUT.as_secs()
            ))),
        };
        if let Err(status) = &outcome {
            let reason = status.message().escape_default();
            tracing::warn!(%peer, %agent, %token, %reason, "join refused");
        }
        outcome.map(Response::new)
    }
}
