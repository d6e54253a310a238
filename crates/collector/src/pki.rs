//! The collector's own certificate authority: agents prove who they are with a client
//! certificate it issued, and the collector proves itself with a server certificate from
//! the same CA. Everything an administrator needs, without openssl:
//!
//! - `ca init` creates the CA and the collector's server certificate in a directory;
//! - `enroll <agent-id>` issues an agent certificate and writes a bundle to copy to the
//!   agent's server (agent.pem, agent.key, ca.pem);
//! - `revoke <agent-id>` revokes every certificate issued to that agent.
//!
//! The directory holds `ca.pem`, `ca.key`, `server.pem` (with the CA after it), `server.key`,
//! `issued.log` (agent id, serial, SHA-256, expiry per certificate issued) and
//! `revoked.txt` (SHA-256 of revoked certificates). Private keys are written owner-only
//! where the OS supports it.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::Decode;

pub const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
pub const SERVER_CERT: &str = "server.pem";
pub const SERVER_KEY: &str = "server.key";
pub(crate) const ISSUED: &str = "issued.log";
pub const REVOKED: &str = "revoked.txt";
/// What an enrollment bundle holds, as the agent reads it.
pub const AGENT_CERT: &str = "agent.pem";
pub const AGENT_KEY: &str = "agent.key";

const CA_NAME: &str = "eceprobe collector CA";
/// The organisation a joined agent's certificate names; its unit is the token's deployment.
pub const JOINED_ORG: &str = "eceprobe joined agent";
const CA_YEARS: i32 = 20;
pub(crate) const LEAF_YEARS: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{0} already holds a CA (ca.key); refusing to overwrite it")]
    Exists(PathBuf),
    #[error("{0} holds no CA: run `eceprobe-collector ca init --dir {0}` first")]
    NoCa(PathBuf),
    #[error("'{0}' is not an agent id: use 1-128 letters, digits, '.', '-' or '_'")]
    AgentId(String),
    #[error(
        "give at least one --name: the DNS name or IP address agents use to reach the collector"
    )]
    NoNames,
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("{path} is not a certificate this CA can use: {what}")]
    Invalid { path: PathBuf, what: String },
    #[error("no certificate was issued to agent '{0}'")]
    NotIssued(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |error| PkiError::Io {
        path: path.to_path_buf(),
        error,
    }
}

pub(crate) fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(io(path))
}

/// Writes a file readable by its owner only (private keys).
pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), PkiError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io(path))?;
    file.write_all(text.as_bytes()).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

fn write_public(path: &Path, text: &str) -> Result<(), PkiError> {
    std::fs::write(path, text).map_err(io(path))
}

pub(crate) fn append_line(path: &Path, line: &str) -> Result<(), PkiError> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io(path))?;
    writeln!(file, "{line}").map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

/// The same rule as the collector's Hello check.
pub fn valid_agent_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

pub(crate) fn serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| rcgen::Error::RingUnspecified)?;
    bytes[0] &= 0x7f; // a positive INTEGER
    Ok(SerialNumber::from(bytes.to_vec()))
}

/// Valid from yesterday (clock skew) for `years`.
pub(crate) fn validity(params: &mut CertificateParams, years: i32) {
    let now = time_now_ymd();
    let (y, m, d) = now;
    params.not_before = rcgen::date_time_ymd(y, m, d.saturating_sub(1).max(1));
    params.not_after = rcgen::date_time_ymd(y + years, m, d.min(28));
}

/// Today's UTC date, from the system clock.
fn time_now_ymd() -> (i32, u8, u8) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let days = i64::try_from(secs / 86_400).unwrap_or_default();
    let (year, month, day) = crate::civil::civil_from_days(days);
    (
        i32::try_from(year).unwrap_or(2000),
        u8::try_from(month).unwrap_or(1),
        u8::try_from(day).unwrap_or(1),
    )
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params
}

/// The CA of a directory, ready to sign.
pub(crate) fn load_ca(dir: &Path) -> Result<Issuer<'static, KeyPair>, PkiError> {
    let key_path = dir.join(CA_KEY);
    if !key_path.exists() {
        return Err(PkiError::NoCa(dir.to_path_buf()));
    }
    let key = KeyPair::from_pem(&read(&key_path)?)?;
    // The issuer needs the CA's name and key only: both are known (the name is fixed).
    Ok(Issuer::new(ca_params(), key))
}

/// The SHA-256 of a DER certificate, lower-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut hex = String::with_capacity(64);
    for b in digest.as_ref() {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// Creates the CA and the collector's server certificate for `names` (DNS names or IP
/// addresses) in `dir`.
pub fn init(dir: &Path, names: &[String]) -> Result<(), PkiError> {
    if names.is_empty() {
        return Err(PkiError::NoNames);
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    if dir.join(CA_KEY).exists() {
        return Err(PkiError::Exists(dir.to_path_buf()));
    }
    let ca_key = KeyPair::generate()?;
    let mut params = ca_params();
    params.serial_number = Some(serial()?);
    validity(&mut params, CA_YEARS);
    let ca_cert = params.self_signed(&ca_key)?;
    write_private(&dir.join(CA_KEY), &ca_key.serialize_pem())?;
    write_public(&dir.join(CA_CERT), &ca_cert.pem())?;

    let issuer = load_ca(dir)?;
    let mut server = CertificateParams::default();
    server.distinguished_name = DistinguishedName::new();
    server
        .distinguished_name
        .push(DnType::CommonName, &names[0]);
    for name in names {
        server.subject_alt_names.push(match name.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(name.as_str().try_into()?),
        });
    }
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    server.serial_number = Some(serial()?);
    validity(&mut server, LEAF_YEARS);
    let server_key = KeyPair::generate()?;
    let server_cert = server.signed_by(&server_key, &issuer)?;
    write_private(&dir.join(SERVER_KEY), &server_key.serialize_pem())?;
    write_public(
        &dir.join(SERVER_CERT),
        &format!("{}{}", server_cert.pem(), ca_cert.pem()),
    )?;
    tracing::info!(dir = %dir.display(), names = ?names, "collector CA created");
    Ok(())
}

/// Issues a client certificate for `agent_id` and writes the bundle (agent.pem, agent.key,
/// ca.pem) to `out`, which must not hold one already. Returns the certificate's SHA-256.
pub fn enroll(dir: &Path, agent_id: &str, out: &Path) -> Result<String, PkiError> {
    if !valid_agent_id(agent_id) {
        return Err(PkiError::AgentId(agent_id.to_owned()));
    }
    let issuer = load_ca(dir)?;
    let ca_pem = read(&dir.join(CA_CERT))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, agent_id);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let serial_number = serial()?;
    params.serial_number = Some(serial_number.clone());
    validity(&mut params, LEAF_YEARS);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    std::fs::create_dir_all(out).map_err(io(out))?;
    write_private(&out.join(AGENT_KEY), &key.serialize_pem())?;
    write_public(&out.join(AGENT_CERT), &cert.pem())?;
    write_public(&out.join(CA_CERT), &ca_pem)?;
    let sha256 = fingerprint(cert.der());
    let serial_hex: String = serial_number
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // The key's SHA-256 too: a join presenting this key once revoked is refused for good.
    let key_sha256 = fingerprint(&rcgen::PublicKeyData::subject_public_key_info(&key));
    append_line(
        &dir.join(ISSUED),
        &format!("{agent_id}\t{serial_hex}\t{sha256}\tbundle-key={key_sha256}"),
    )?;
    tracing::info!(agent = agent_id, %sha256, "agent certificate issued");
    Ok(sha256)
}

/// Revokes every certificate issued to `agent_id`; returns how many were newly revoked.
pub fn revoke(dir: &Path, agent_id: &str) -> Result<usize, PkiError> {
    revoke_listing(dir, agent_id).map(|(new, _)| new)
}

/// Revokes every certificate issued to `agent_id` in `revoked.txt`; returns how many were
/// newly revoked there, and the fingerprints of all of them (for the shared database).
pub fn revoke_listing(dir: &Path, agent_id: &str) -> Result<(usize, Vec<String>), PkiError> {
    let issued_path = dir.join(ISSUED);
    let issued = match std::fs::read_to_string(&issued_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(&issued_path)(e)),
    };
    let theirs: Vec<&str> = issued
        .lines()
        .filter_map(|l| {
            let mut fields = l.split('\t');
            (fields.next() == Some(agent_id))
                .then(|| fields.nth(1))
                .flatten()
        })
        .collect();
    if theirs.is_empty() {
        return Err(PkiError::NotIssued(agent_id.to_owned()));
    }
    let revoked_path = dir.join(REVOKED);
    let already = Revoked::load(&revoked_path)?;
    let mut count = 0;
    for sha in &theirs {
        if !already.contains(sha) {
            append_line(&revoked_path, &format!("{sha} {agent_id}"))?;
            count += 1;
        }
    }
    Ok((count, theirs.into_iter().map(str::to_owned).collect()))
}

/// The revoked fingerprints, as `revoked.txt` lists them (first word of each line).
#[derive(Debug, Default)]
pub struct Revoked(HashSet<String>);

impl Revoked {
    /// A missing file means nothing is revoked.
    pub fn load(path: &Path) -> Result<Revoked, PkiError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Revoked(
                text.lines()
                    .filter_map(|l| l.split_whitespace().next())
                    .filter(|w| !w.starts_with('#'))
                    .map(str::to_ascii_lowercase)
                    .collect(),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Revoked::default()),
            Err(e) => Err(io(path)(e)),
        }
    }

    pub fn contains(&self, sha256: &str) -> bool {
        self.0.contains(sha256)
    }
}

/// The agent id a client certificate names (its subject's common name).
pub fn agent_identity(der: &[u8]) -> Option<String> {
    subject_text(der, ObjectIdentifier::new_unwrap("2.5.4.3"))
}

/// The deployment a joined agent's certificate was issued for (its unit, under
/// [`JOINED_ORG`]); None for a bundle's certificate (and a join's from before issue 19).
pub fn joined_deployment(der: &[u8]) -> Option<String> {
    let org = subject_text(der, ObjectIdentifier::new_unwrap("2.5.4.10"))?;
    (org == JOINED_ORG)
        .then(|| subject_text(der, ObjectIdentifier::new_unwrap("2.5.4.11")))
        .flatten()
}

/// The first value of attribute `oid` in a certificate's subject, as text.
fn subject_text(der: &[u8], oid: ObjectIdentifier) -> Option<String> {
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    for rdn in cert.tbs_certificate.subject.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid == oid {
                let value = atv.value.decode_as::<String>().ok().or_else(|| {
                    atv.value
                        .decode_as::<x509_cert::der::asn1::PrintableStringRef<'_>>()
                        .ok()
                        .map(|s| s.to_string())
                })?;
                return Some(value);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_enroll_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("pki");
        init(&ca, &["collector.contoso.local".into(), "127.0.0.1".into()]).unwrap();
        assert!(matches!(init(&ca, &["x".into()]), Err(PkiError::Exists(_))));
        let bundle = dir.path().join("svc-1");
        let sha = enroll(&ca, "svc-1", &bundle).unwrap();
        let pem = std::fs::read_to_string(bundle.join(AGENT_CERT)).unwrap();
        let der = rustls_pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
            .map(|c: rustls_pki_types::CertificateDer<'static>| c.to_vec())
            .unwrap();
        assert_eq!(agent_identity(&der).as_deref(), Some("svc-1"));
        assert_eq!(fingerprint(&der), sha);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(bundle.join(AGENT_KEY))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            enroll(&ca, "bad id", &dir.path().join("x")),
            Err(PkiError::AgentId(_))
        ));
        assert_eq!(revoke(&ca, "svc-1").unwrap(), 1);
        assert_eq!(revoke(&ca, "svc-1").unwrap(), 0, "already revoked");
        assert!(Revoked::load(&ca.join(REVOKED)).unwrap().contains(&sha));
        assert!(matches!(revoke(&ca, "nobody"), Err(PkiError::NotIssued(_))));
        let err = enroll(&dir.path().join("none"), "a", &bundle).unwrap_err();
        assert!(err.to_string().contains("ca init"), "{err}");
    }
}
