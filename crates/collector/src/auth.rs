//! Who an agent is: the common name of the client certificate its TLS session presented
//! (the collector's CA verified the chain during the handshake). A Hello must name that
//! same agent, and a revoked certificate is refused, so agent A cannot report as B.

use std::path::{Path, PathBuf};

use tonic::Status;

use crate::pki::{self, PkiError, Revoked};

/// The agent-facing TLS of a collector, from its `ca init` directory.
#[derive(Clone, Debug)]
pub struct AgentTls {
    dir: PathBuf,
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

    /// Whether the session's client certificate may speak for `agent_id`. The revocation
    /// list is read on every new stream, so a revocation applies without a restart.
    pub fn authorize(
        &self,
        peer_certs: Option<&[tonic::transport::CertificateDer<'static>]>,
        agent_id: &str,
    ) -> Result<(), Status> {
        let Some(leaf) = peer_certs.and_then(|c| c.first()) else {
            return Err(Status::unauthenticated(
                "no client certificate: enroll this agent (eceprobe-collector enroll) and configure its bundle",
            ));
        };
        let revoked = Revoked::load(&self.dir.join(pki::REVOKED))
            .map_err(|e| Status::unavailable(format!("cannot read the revocation list: {e}")))?;
        if revoked.contains(&pki::fingerprint(leaf.as_ref())) {
            return Err(Status::permission_denied(
                "this agent certificate is revoked: enroll the agent again",
            ));
        }
        match pki::agent_identity(leaf.as_ref()) {
            Some(name) if name == agent_id => Ok(()),
            Some(name) => Err(Status::permission_denied(format!(
                "the certificate is agent '{name}''s; it cannot report as '{agent_id}'"
            ))),
            None => Err(Status::permission_denied(
                "the client certificate names no agent (no common name)",
            )),
        }
    }
}
