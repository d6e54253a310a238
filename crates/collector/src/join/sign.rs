//! The CA's side of a join: an agent's certificate request checked and signed, recorded in
//! `issued.log` like a bundle's certificate (so `revoke` finds it), with the key's SHA-256
//! as a fourth field that tells a joined certificate from a bundle's.

use std::path::Path;

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, KeyUsagePurpose, PublicKeyData,
};
use rustls_pki_types::CertificateSigningRequestDer;

use crate::pki::{self, PkiError};

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

/// Signs the request's key for `agent_id`: the certificate says only what a bundle's says
/// (the agent's id, client authentication); nothing the request asked for is copied.
pub fn sign(dir: &Path, agent_id: &str, request: Request) -> Result<Signed, PkiError> {
    if !pki::valid_agent_id(agent_id) {
        return Err(PkiError::AgentId(agent_id.to_owned()));
    }
    let issuer = pki::load_ca(dir)?;
    let ca_pem = pki::read(&dir.join(pki::CA_CERT))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, agent_id);
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
            "{agent_id}\t{serial_hex}\t{certificate_sha256}\tjoin-key={}",
            request.key_sha256
        ),
    )?;
    Ok(Signed {
        certificate_pem: cert.pem(),
        certificate_sha256,
        ca_pem,
    })
}

/// The SHA-256 of a certificate issued to `agent_id` by `enroll` (a bundle: its key was
/// made here) that is not revoked, if any: such an agent is enrolled with another key.
pub fn bundle_certificate(dir: &Path, agent_id: &str) -> Result<Option<String>, PkiError> {
    let path = dir.join(pki::ISSUED);
    let issued = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(PkiError::Io { path, error }),
    };
    let revoked = pki::Revoked::load(&dir.join(pki::REVOKED))?;
    Ok(issued.lines().find_map(|line| {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            [id, _, sha] if *id == agent_id && !revoked.contains(sha) => Some((*sha).to_owned()),
            _ => None,
        }
    }))
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
        assert_eq!(bundle_certificate(&ca, "svc-1").unwrap(), None);
        let signed = sign(&ca, "svc-1", request).unwrap();
        let cert =
            rustls_pki_types::pem::PemObject::from_pem_slice(signed.certificate_pem.as_bytes())
                .map(|c: rustls_pki_types::CertificateDer<'static>| c.to_vec())
                .unwrap();
        assert_eq!(pki::agent_identity(&cert).as_deref(), Some("svc-1"));
        // A joined certificate is not a bundle's, and `revoke` finds it.
        assert_eq!(bundle_certificate(&ca, "svc-1").unwrap(), None);
        assert_eq!(pki::revoke(&ca, "svc-1").unwrap(), 1);
        // A bundle's certificate counts until it is revoked.
        let sha = pki::enroll(&ca, "app-1", &dir.path().join("b")).unwrap();
        assert_eq!(bundle_certificate(&ca, "app-1").unwrap(), Some(sha));
        pki::revoke(&ca, "app-1").unwrap();
        assert_eq!(bundle_certificate(&ca, "app-1").unwrap(), None);
    }
}
