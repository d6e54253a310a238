//! Who an agent is: the common name of the client certificate its TLS session presented
//! (the collector's CA verified the chain during the handshake). A Hello must name that
//! same agent, and a revoked certificate is refused, so agent A cannot report as B.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

use crate::pki::{self, PkiError, Revoked};
use crate::revocation_db::{Lookup, SharedRevocations, STALE_AFTER};

/// Why an agent without a client certificate is refused, and what to do.
pub const NO_CERTIFICATE: &str = "it presented no client certificate: join the agent with a token (eceprobe-agent run --join TOKEN, from eceprobe-collector token create) or install its bundle (eceprobe-collector enroll)";

/// The revocation list as the serving collector sees it: re-read whenever the file changes
/// (length or modification time; `revoke` appends a line), so a revocation applies at once
/// without a restart. Asked at every Hello, before every batch or heartbeat is stored, and
/// every [`crate::ingest`] sweep of the open streams. With collectors sharing a database,
/// the revocations recorded there count too ([`crate::revocation_db`]). Cheap to clone:
/// every clone shares the cache.
#[derive(Clone, Debug)]
pub struct Revocations {
    path: PathBuf,
    cache: Arc<Mutex<Cached>>,
    shared: Option<SharedRevocations>,
}

/// Why it cannot be said whether a certificate is revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    #[error(transparent)]
    File(#[from] PkiError),
    #[error("the revoked certificates in the database could not be read for {} s or more ({}); try again once the database answers", STALE_AFTER.as_secs(), match .read_s_ago { Some(s) => format!("last read {s} s ago"), None => "never read".to_owned() })]
    Stale { read_s_ago: Option<u64> },
}

#[derive(Debug, Default)]
struct Cached {
    /// The file's (length, modification time) when last read; None: never read, or missing.
    stamp: Option<(u64, Option<SystemTime>)>,
    revoked: Revoked,
}

impl Revocations {
    pub fn new(path: PathBuf) -> Revocations {
        Revocations {
            path,
            cache: Arc::default(),
            shared: None,
        }
    }

    /// Whether the certificate of this SHA-256 fingerprint is revoked now, in the file or
    /// in the database. A revocation known in either place wins over the other's error.
    pub fn is_revoked(&self, fingerprint: &str) -> Result<bool, RevocationError> {
        let shared = self.shared.as_ref().map(|s| s.lookup(fingerprint));
        if shared == Some(Lookup::Revoked) {
            return Ok(true);
        }
        if self.in_file(fingerprint)? {
            return Ok(true);
        }
        match shared {
            Some(Lookup::Unknown { read_s_ago }) => Err(RevocationError::Stale { read_s_ago }),
            _ => Ok(false),
        }
    }

    /// Whether `revoked.txt` lists the certificate.
    fn in_file(&self, fingerprint: &str) -> Result<bool, PkiError> {
        let stamp = match std::fs::metadata(&self.path) {
            Ok(m) => Some((m.len(), m.modified().ok())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                return Err(PkiError::Io {
                    path: self.path.clone(),
                    error,
                })
            }
        };
        // Nothing panics while holding the lock; a poisoned cache is re-read below anyway.
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.stamp != stamp || stamp.is_none() {
            cache.revoked = Revoked::load(&self.path)?;
            cache.stamp = stamp;
        }
        Ok(cache.revoked.contains(fingerprint))
    }
}

/// The status a revoked agent gets, at Hello or when its open stream is ended: the words
/// for the operator, and [`eceprobe_proto::refusal`] metadata so the agent stops retrying.
/// `joined`: its certificate came from a join token (it makes its own key), so the fix is
/// a new token, not a bundle.
pub fn revoked_status(agent_id: &str, joined: bool) -> Status {
    let mut metadata = MetadataMap::new();
    metadata.insert(
        eceprobe_proto::refusal::KEY,
        MetadataValue::from_static(eceprobe_proto::refusal::REVOKED),
    );
    Status::with_metadata(
        Code::PermissionDenied,
        match joined {
            true => format!(
                "the certificate of agent '{agent_id}' is revoked on this collector: to bring the server back, create a join token that allows it ({}), delete agent.key and agent.pem in the agent's tls_dir, and run the agent with the new token",
                eceprobe_proto::refusal::JOINED_FIX
            ),
            false => format!(
                "the certificate of agent '{agent_id}' is revoked on this collector: enroll the agent again (eceprobe-collector enroll {agent_id}) and install the new bundle, or join it with a token made with `eceprobe-collector token create --allow-reenroll`"
            ),
        },
        metadata,
    )
}

/// A client certificate allowed to speak for its agent.
#[derive(Debug, Clone)]
pub struct Authorized {
    /// Its SHA-256, by which the stream is watched for revocation.
    pub fingerprint: String,
    /// Issued by a join (not a bundle): a revoked one is told to get a new token.
    pub joined: bool,
}

/// The agent-facing TLS of a collector, from its `ca init` directory.
#[derive(Clone, Debug)]
pub struct AgentTls {
    dir: PathBuf,
    revocations: Revocations,
    server_cert: String,
    server_key: String,
    ca_cert: String,
}

impl AgentTls {
    pub fn load(dir: &Path) -> Result<AgentTls, PkiError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|error| match error.kind() {
                std::io::ErrorKind::NotFound => PkiError::NoCa(dir.to_path_buf()),
                _ => PkiError::Io { path, error },
            })
        };
        Ok(AgentTls {
            dir: dir.to_path_buf(),
            revocations: Revocations::new(dir.join(pki::REVOKED)),
            server_cert: read(pki::SERVER_CERT)?,
            server_key: read(pki::SERVER_KEY)?,
            ca_cert: read(pki::CA_CERT)?,
        })
    }

    /// The server certificate chain and key, and the CA agents' certificates must come
    /// from (PEM), for the TLS listener (`server/agent_tls.rs`).
    pub(crate) fn pems(&self) -> (&str, &str, &str) {
        (&self.server_cert, &self.server_key, &self.ca_cert)
    }

    /// The CA directory (`ca init`): joins are signed with its key.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The revocation list this collector checks.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Refuses also the certificates revoked in the database `shared` follows (collectors
    /// sharing one database).
    pub fn with_shared_revocations(mut self, shared: SharedRevocations) -> AgentTls {
        self.revocations.shared = Some(shared);
        self
    }

    /// Whether the session's client certificate may speak for `agent_id` of `deployment`
    /// (a joined certificate names the deployment its token was made for); Ok with the
    /// certificate's SHA-256 fingerprint, by which the stream is watched for revocation.
    pub fn authorize(
        &self,
        peer_certs: Option<&[tonic::transport::CertificateDer<'static>]>,
        agent_id: &str,
        deployment: &str,
    ) -> Result<Authorized, Status> {
        let Some(leaf) = peer_certs.and_then(|c| c.first()) else {
            return Err(Status::unauthenticated(NO_CERTIFICATE));
        };
        let fingerprint = pki::fingerprint(leaf.as_ref());
        let joined = pki::joined_deployment(leaf.as_ref());
        let revoked = self
            .revocations
            .is_revoked(&fingerprint)
            .map_err(|e| Status::unavailable(format!("cannot read the revocation list: {e}")))?;
        if revoked {
            return Err(revoked_status(agent_id, joined.is_some()));
        }
        if let Some(issued_for) = joined.as_deref().filter(|d| *d != deployment) {
            return Err(Status::permission_denied(format!(
                "agent '{agent_id}' joined deployment '{}' (its certificate was issued for it by the join token), but its Hello says deployment '{}': remove deployment from [run] of agent.toml (the agent then uses the joined one, from deployment.txt in its tls_dir) or set it to '{}'; a server moving to another deployment joins again with a token made for it (--allow-reenroll)",
                issued_for.escape_default(),
                eceprobe_proto::bounds::cut(deployment, 128).escape_default(),
                issued_for.escape_default()
            )));
        }
        let joined = joined.is_some();
        match pki::agent_identity(leaf.as_ref()) {
            Some(name) if name == agent_id => Ok(Authorized {
                fingerprint,
                joined,
            }),
            Some(name) => Err(Status::permission_denied(format!(
                "the certificate is agent '{name}''s; it cannot report as '{agent_id}'"
            ))),
            None => Err(Status::permission_denied(
                "the client certificate names no agent (no common name)",
            )),
        }
    }
}
