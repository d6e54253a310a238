//! The CA's side of a join: an agent's certificate request checked and signed, recorded in
//! `issued.log` like a bundle's certificate (so `revoke` finds it), with the key's SHA-256
//! as a fourth field (`join-key=`; a bundle's is `bundle-key=`, or none before issue 19),
//! and a join's deployment as a fifth (`deployment=`: a token of another deployment cannot
//! take the id, `store/src/join_use.rs`).
//! A joined certificate names its deployment (the token's) in its subject, so the
//! collector refuses a Hello that says another (`auth.rs`).

use std::path::Path;

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, KeyUsagePurpose, PublicKeyData,
};
use rustls_pki_types::CertificateSigningRequestDer;

use crate::pki::{self, PkiError};
use crate::store::IssuedCertificate;

/// The largest certificate request accepted: an ECDSA or RSA-4096 request is far smaller.
pub const MAX_CSR_BYTES: usize = 16 * 1024;

/// A request whose signature holds (its sender has the private key), and its key's SHA-256.
pub struct Request {
    csr: CertificateSigningRequestParams,
    pub key_sha256: String,
}

/// Why a certificate request cannot be signed, in words for the agent.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the certificate request is {0} bytes: at most {MAX_CSR_BYTES}")]
    TooLarge(usize),
    #[error("the certificate request is not a PKCS#10 request signed by its own key ({0}); the agent makes it, so update the agent")]
    Invalid(String),
}

/// Reads a DER request and checks its signature (the proof the agent holds the key).
pub fn read_request(der: &[u8]) -> Result<Request, RequestError> {
    if der.len() > MAX_CSR_BYTES {
        return Err(RequestError::TooLarge(der.len()));
    }
    let csr = CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(der))
        .map_err(|e| RequestError::Invalid(e.to_string()))?;
    let key_sha256 = pki::fingerprint(&csr.public_key.subject_public_key_info());
    Ok(Request { csr, key_sha256 })
}

/// What the agent gets back.
pub struct Signed {
    pub certificate_pem: String,
    pub certificate_sha256: String,
    pub ca_pem: String,
}

/// Signs the request's key for `agent_id` of `deployment`: the certificate says what a
/// bundle's says (the agent's id, client authentication) and the deployment the token was
/// made for ([`pki::JOINED_ORG`], the deployment as its unit); nothing the request asked
/// for is copied.
pub fn sign(
    dir: &Path,
    agent_id: &str,
    deployment: &str,
    request: Request,
) -> Result<Signed, PkiError> {
    if !pki::valid_agent_id(agent_id) {
        return Err(PkiError::AgentId(agent_id.to_owned()));
    }
    let issuer = pki::load_ca(dir)?;
    let ca_pem = pki::read(&dir.join(pki::CA_CERT))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, agent_id);
    params
        .distinguished_name
        .push(DnType::OrganizationName, pki::JOINED_ORG);
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, deployment);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let serial = pki::serial()?;
    params.serial_number = Some(serial.clone());
    pki::validity(&mut params, pki::LEAF_YEARS);
    let mut csr = request.csr;
    csr.params = params;
    let cert = csr.signed_by(&issuer)?;
    let certificate_sha256 = pki::fingerprint(cert.der());
    let serial_hex: String = serial.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    pki::append_line(
        &dir.join(pki::ISSUED),
        &format!(
            "{agent_id}\t{serial_hex}\t{certificate_sha256}\tjoin-key={}\tdeployment={deployment}",
            request.key_sha256
        ),
    )?;
    Ok(Signed {
        certificate_pem: cert.pem(),
        certificate_sha256,
        ca_pem,
    })
}

/// The certificates `issued.log` records for `agent_id`, or for the key `key_sha256`
/// under any id, each with whether `revoked.txt` lists it (the store adds its own list).
pub fn history(
    dir: &Path,
    agent_id: &str,
    key_sha256: &str,
) -> Result<Vec<IssuedCertificate>, PkiError> {
    let path = dir.join(pki::ISSUED);
    let issued = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(PkiError::Io { path, error }),
    };
    let revoked = pki::Revoked::load(&dir.join(pki::REVOKED))?;
    Ok(issued
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [id, _, sha, rest @ ..] = fields.as_slice() else {
                return None;
            };
            let field = |name: &str| rest.iter().find_map(|f| f.strip_prefix(name));
            let (key, bundle) = match (field("join-key="), field("bundle-key=")) {
                (Some(k), _) => (Some(k), false),
                (None, Some(k)) => (Some(k), true),
                (None, None) => (None, true),
            };
            (*id == agent_id || key == Some(key_sha256)).then(|| IssuedCertificate {
                agent_id: (*id).to_owned(),
                sha256: sha.to_ascii_lowercase(),
                key_sha256: key.map(str::to_owned),
                bundle,
                revoked_in_file: revoked.contains(&sha.to_ascii_lowercase()),
                deployment: field("deployment=").map(str::to_owned),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_bounded_checked_signed_for_the_id_only_and_revocable() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("pki");
        pki::init(&ca, &["collector.contoso.local".into()]).unwrap();
        let too_big = vec![0u8; MAX_CSR_BYTES + 1];
        assert!(matches!(
            read_request(&too_big),
            Err(RequestError::TooLarge(_))
        ));
        let err = read_request(b"not a request").err().unwrap().to_string();
        assert!(err.contains("PKCS#10"), "{err}");

        // The request asks for another name: the certificate names the agent id only.
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "admin");
        let der = params.serialize_request(&key).unwrap().der().to_vec();
        let request = read_request(&der).unwrap();
        assert_eq!(
            request.key_sha256,
            pki::fingerprint(&key.subject_public_key_info())
        );
        let key_sha = request.key_sha256.clone();
        assert!(history(&ca, "svc-1", &key_sha).unwrap().is_empty());
        let signed = sign(&ca, "svc-1", "prod", request).unwrap();
        let cert =
            rustls_pki_types::pem::PemObject::from_pem_slice(signed.certificate_pem.as_bytes())
                .map(|c: rustls_pki_types::CertificateDer<'static>| c.to_vec())
                .unwrap();
        assert_eq!(pki::agent_identity(&cert).as_deref(), Some("svc-1"));
        assert_eq!(pki::joined_deployment(&cert).as_deref(), Some("prod"));
        // A joined certificate is not a bundle's, and `revoke` finds it; found by its key too.
        let seen = history(&ca, "svc-9", &key_sha).unwrap();
        assert_eq!(seen.len(), 1);
        assert!(!seen[0].bundle && !seen[0].revoked_in_file && seen[0].agent_id == "svc-1");
        assert_eq!(seen[0].deployment.as_deref(), Some("prod"));
        assert_eq!(pki::revoke(&ca, "svc-1").unwrap(), 1);
        assert!(history(&ca, "svc-1", "x").unwrap()[0].revoked_in_file);
        // A bundle's certificate, with its key's SHA-256, and no deployment.
        let sha = pki::enroll(&ca, "app-1", &dir.path().join("b")).unwrap();
        let seen = history(&ca, "app-1", "x").unwrap();
        assert!(seen[0].bundle && seen[0].sha256 == sha && seen[0].key_sha256.is_some());
        pki::revoke(&ca, "app-1").unwrap();
        assert!(history(&ca, "app-1", "x").unwrap()[0].revoked_in_file);
    }
}
