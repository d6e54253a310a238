//! The chain as ECE's Java sees it. JSSE's PKIX validation builds a path from the chain
//! the server sent to any certificate of the runtime's trust store, and does not fetch a
//! missing intermediate (M365-FACTS.md, "How ECE's Java decides trust"): exactly webpki's
//! path building with the store's certificates as anchors. And the other question a refused
//! chain raises: did the server leave out an intermediate?

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::AuthorityInfoAccessSyntax;
use x509_cert::Certificate;

use super::verifier::{Anchors, JavaAnchors};
use crate::report::{JavaChainVerdict, MissingIssuer};

/// id-ad-caIssuers (RFC 5280, 4.2.2.1): where the issuer's certificate is published.
const CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");

impl Anchors {
    /// Whether ECE's Java can build a path for this chain, and which root it ends at (or,
    /// refused, needs: the root the host's or the expected roots' path ended at, given as
    /// `root_key`, else the root named by the chain's last issuer, when one is known).
    /// `same_anchor`: the host's verified path ends at an anchor the Java store has too, so
    /// Java builds that path: the common case costs no second validation (two signature
    /// checks, about a fifth of a check's CPU; docs/BENCHMARKS.md).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn java_verdict(
        &self,
        java: &JavaAnchors,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
        root_key: Option<&[u8]>,
        same_anchor: bool,
    ) -> JavaChainVerdict {
        let verified = match (same_anchor, root_key) {
            (true, Some(key)) => Some(key.to_vec()),
            _ => self.java_path(java, end_entity, intermediates, server_name, now),
        };
        let trusted = verified.is_some();
        let root = match verified.as_deref().or(root_key) {
            Some(key) => self.known.by_spki(key),
            None => last_issuer(end_entity, intermediates)
                .and_then(|issuer| self.known.by_subject(&issuer)),
        };
        JavaChainVerdict {
            trusted,
            store: java.store.clone(),
            root: root.map(|r| r.named()),
            root_file: root.filter(|_| !trusted).map(|r| r.file_source()),
            storepass: java.storepass.clone(),
            unreadable: java.unreadable.clone().filter(|_| !trusted),
        }
    }

    /// JSSE's PKIX path for the chain as sent to the Java store's anchors: the anchor's key,
    /// or None when no path (or the name does not fit).
    fn java_path(
        &self,
        java: &JavaAnchors,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Option<Vec<u8>> {
        webpki::EndEntityCert::try_from(end_entity)
            .ok()
            .and_then(|cert| {
                let path = cert
                    .verify_for_usage(
                        self.algorithms.all,
                        &java.roots.roots,
                        intermediates,
                        now,
                        webpki::KeyUsage::server_auth(),
                        None,
                        None,
                    )
                    .ok()?;
                cert.verify_is_valid_for_subject_name(server_name).ok()?;
                Some(path.anchor().subject_public_key_info.as_ref().to_vec())
            })
    }

    /// The first certificate of the chain whose issuer was not sent, is not itself, and is
    /// no root known here: the intermediate the server left out. None: the chain is
    /// complete up to a root (sent or not), or cannot be parsed.
    pub(super) fn missing_issuer(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Option<MissingIssuer> {
        let certs: Vec<Certificate> = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|der| Certificate::from_der(der.as_ref()).ok())
            .collect::<Option<_>>()?;
        let subjects: Vec<String> = certs
            .iter()
            .map(|c| c.tbs_certificate.subject.to_string())
            .collect();
        certs.iter().find_map(|c| {
            let issuer = c.tbs_certificate.issuer.to_string();
            let present = subjects.contains(&issuer) || self.known.has_subject(&issuer);
            (!present).then(|| MissingIssuer {
                aia_url: ca_issuers_url(c),
                subject: issuer,
            })
        })
    }
}

/// The issuer of the chain's last certificate.
fn last_issuer(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Option<String> {
    let last = intermediates.last().unwrap_or(end_entity);
    let cert = Certificate::from_der(last.as_ref()).ok()?;
    Some(cert.tbs_certificate.issuer.to_string())
}

/// The certificate's Authority Information Access "CA Issuers" URL, if it has one.
fn ca_issuers_url(cert: &Certificate) -> Option<String> {
    let (_, aia) = cert
        .tbs_certificate
        .get::<AuthorityInfoAccessSyntax>()
        .ok()??;
    aia.0.iter().find_map(|d| match &d.access_location {
        GeneralName::UniformResourceIdentifier(uri) if d.access_method == CA_ISSUERS => {
            Some(uri.to_string())
        }
        _ => None,
    })
}
