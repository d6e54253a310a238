//! The lab's PKI: a root standing in for Microsoft's roots, an intermediate that signs the
//! leaves (so chains are leaf + intermediate, like Microsoft's), a rogue CA nobody trusts and
//! a TLS-inspection proxy's CA. ECDSA P-256 throughout because it generates in microseconds,
//! which keeps `Testlab::start` fast.

use std::collections::HashMap;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::crypto::CryptoProvider;
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::clock;
use crate::config::Fault;
use crate::LabError;

/// Subject CN of the lab root CA.
pub const LAB_ROOT_CN: &str = "eceprobe testlab Root CA";
/// Subject CN of the lab intermediate that issues leaves.
pub const LAB_INTERMEDIATE_CN: &str = "eceprobe testlab TLS CA";
/// Subject CN of the interception proxy's CA (what a probe should report as the interceptor).
pub const INTERCEPTOR_CN: &str = "eceprobe testlab Interception CA";
/// Subject CN of the CA behind `Fault::UntrustedCert`.
pub const ROGUE_CN: &str = "eceprobe testlab Rogue CA";
/// The only name in the `Fault::WrongNameCert` leaf.
pub const WRONG_NAME: &str = "wrong.example.net";

/// Which certificate an address presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum CertKind {
    Good,
    Expired,
    WrongName,
    Rogue,
    Intercepted,
    /// A good leaf sent alone, without the intermediate that issued it.
    LeafOnly,
    ExpiresInDays(u32),
}

impl CertKind {
    pub(crate) fn for_fault(f: &Fault) -> CertKind {
        match f {
            Fault::UntrustedCert => CertKind::Rogue,
            Fault::ExpiredCert => CertKind::Expired,
            Fault::WrongNameCert => CertKind::WrongName,
            Fault::InterceptedCert => CertKind::Intercepted,
            Fault::MissingIntermediate => CertKind::LeafOnly,
            Fault::ExpiringCert(days) => CertKind::ExpiresInDays(*days),
            _ => CertKind::Good,
        }
    }
}

type Issuer = CertifiedIssuer<'static, KeyPair>;

pub(crate) struct Pki {
    root: Issuer,
    intermediate: Issuer,
    rogue: Issuer,
    interceptor: Issuer,
    provider: Arc<CryptoProvider>,
    /// Leaves are reused per (host, kind, alpn): several addresses of one endpoint present
    /// the same certificate, as a real load-balanced service does.
    cache: HashMap<(String, CertKind, bool), Arc<ServerConfig>>,
}

impl Pki {
    pub(crate) fn generate() -> Result<Pki, LabError> {
        let root = ca(LAB_ROOT_CN, "eceprobe testlab", None)?;
        let intermediate = ca(LAB_INTERMEDIATE_CN, "eceprobe testlab", Some(&root))?;
        let rogue = ca(ROGUE_CN, "Rogue Example Ltd", None)?;
        let interceptor = ca(INTERCEPTOR_CN, "Contoso Secure Web Gateway", None)?;
        Ok(Pki {
            root,
            intermediate,
            rogue,
            interceptor,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            cache: HashMap::new(),
        })
    }

    pub(crate) fn root_pem(&self) -> String {
        self.root.pem()
    }

    pub(crate) fn root_der(&self) -> CertificateDer<'static> {
        self.root.der().clone()
    }

    pub(crate) fn interceptor_pem(&self) -> String {
        self.interceptor.pem()
    }

    pub(crate) fn interceptor_der(&self) -> CertificateDer<'static> {
        self.interceptor.der().clone()
    }

    /// A rustls server configuration presenting the `kind` certificate for `host`.
    /// `http` adds ALPN `http/1.1`, as the HTTPS endpoints only speak HTTP/1.1.
    pub(crate) fn server_config(
        &mut self,
        host: &str,
        kind: CertKind,
        http: bool,
    ) -> Result<Arc<ServerConfig>, LabError> {
        let key = (host.to_ascii_lowercase(), kind, http);
        if let Some(cfg) = self.cache.get(&key) {
            return Ok(cfg.clone());
        }
        let (chain, leaf_key) = self.leaf(host, kind)?;
        let mut cfg = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(chain, leaf_key)?;
        if http {
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        let cfg = Arc::new(cfg);
        self.cache.insert(key, cfg.clone());
        Ok(cfg)
    }

    /// Issues a leaf and returns the chain the server sends (leaf first) with its key.
    fn leaf(
        &self,
        host: &str,
        kind: CertKind,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), LabError> {
        let name = match kind {
            CertKind::WrongName => WRONG_NAME,
            _ => host,
        };
        let mut params = CertificateParams::new(vec![name.to_string()])?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        // Microsoft's leaves live for months; "now - 30 days" keeps them valid despite
        // small clock differences between the lab and the checker.
        let (not_before, not_after) = match kind {
            CertKind::Expired => (-400, -30),
            CertKind::ExpiresInDays(days) => (-30, i64::from(days)),
            _ => (-30, 180),
        };
        set_validity(&mut params, not_before, not_after);

        let key = KeyPair::generate()?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        // The server sends the issuing CA along with the leaf: the lab intermediate for
        // genuine chains; the rogue/interception CA itself otherwise, as inspection proxies
        // do, so a checker can name the CA even when it does not trust it. `LeafOnly` is the
        // misconfigured server that sends the leaf alone.
        let issuer = match kind {
            CertKind::Rogue => &self.rogue,
            CertKind::Intercepted => &self.interceptor,
            _ => &self.intermediate,
        };
        let cert = params.signed_by(&key, issuer)?;
        let chain = match kind {
            CertKind::LeafOnly => vec![cert.der().clone()],
            _ => vec![cert.der().clone(), issuer.der().clone()],
        };
        Ok((chain, key_der))
    }
}

/// A CA certificate; self-signed when `parent` is `None`.
fn ca(cn: &str, org: &str, parent: Option<&Issuer>) -> Result<Issuer, LabError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, org);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, -365, 3650);
    let key = KeyPair::generate()?;
    match parent {
        None => {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            Ok(CertifiedIssuer::self_signed(params, key)?)
        }
        Some(parent) => {
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.use_authority_key_identifier_extension = true;
            Ok(CertifiedIssuer::signed_by(params, key, parent)?)
        }
    }
}

/// Valid from midnight UTC of today + `from_days` to midnight of today + `to_days`.
/// (Assigned field by field so the lab need not depend on rcgen's date-time crate.)
fn set_validity(params: &mut CertificateParams, from_days: i64, to_days: i64) {
    let ymd = |offset: i64| {
        let (y, m, d) = clock::civil_from_days(clock::today_plus(offset));
        rcgen::date_time_ymd(
            i32::try_from(y).unwrap_or(2000),
            u8::try_from(m).unwrap_or(1),
            u8::try_from(d).unwrap_or(1),
        )
    };
    params.not_before = ymd(from_days);
    params.not_after = ymd(to_days);
}
