//! Every root this agent knows of, by name, key and SHA-1: Microsoft's, the declared ones,
//! the extra CAs, the OS store's and ECE's Java trust store's. Two questions need them: is
//! the issuer of a chain's last certificate a root somewhere (else the server left out an
//! intermediate), and which root, named and fingerprinted, must ECE's Java import.

use std::collections::HashSet;
use std::fmt::Write;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use x509_cert::der::Decode;
use x509_cert::Certificate;

/// Where a known root came from, which says where its file can be had for `keytool`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RootOrigin {
    /// Built in (M365-FACTS.md, "Certificates").
    Microsoft,
    /// A PEM file the administrator gave (`--ca-file`, `expected_roots`): its label,
    /// "<key> <path>".
    File(String),
    /// This host's OS store.
    Os,
    /// ECE's Java trust store.
    Java,
}

/// A root, as a person recognises it and as a verified path names it.
#[derive(Clone, Debug)]
pub(crate) struct KnownRoot {
    /// RFC 4514, as `CertInfo` writes subjects and issuers.
    pub subject: String,
    /// Its SubjectPublicKeyInfo as webpki's trust anchors carry it.
    pub spki: Vec<u8>,
    /// Upper-case hex, as Windows and keytool show thumbprints.
    pub sha1: String,
    pub origin: RootOrigin,
}

impl KnownRoot {
    /// The certificate's common name, else its whole subject.
    pub fn common_name(&self) -> &str {
        self.subject
            .split(',')
            .find_map(|rdn| rdn.trim().strip_prefix("CN="))
            .unwrap_or(&self.subject)
    }

    /// "DigiCert Global Root G2 (SHA-1 DF3C24F9...)": how a detail names it.
    pub fn named(&self) -> String {
        format!("'{}' (SHA-1 {})", self.common_name(), self.sha1)
    }

    /// Where the administrator gets the root's file for `keytool -importcert -file`.
    pub fn file_source(&self) -> String {
        match &self.origin {
            RootOrigin::Microsoft => match microsoft_download(self.common_name()) {
                Some(url) => format!("{url} (check that its SHA-1 is {})", self.sha1),
                None => format!(
                    "the root's publisher (check that its SHA-1 is {})",
                    self.sha1
                ),
            },
            // "<key> <path>": the file the administrator gave.
            RootOrigin::File(label) => label
                .split_once(' ')
                .map_or(label.clone(), |(_, path)| path.to_string()),
            RootOrigin::Os => format!(
                "this server's certificate store, exported to a file (certmgr.msc, Trusted Root Certification Authorities, SHA-1 {})",
                self.sha1
            ),
            RootOrigin::Java => "the trust store it is already in".to_string(),
        }
    }
}

/// Where Microsoft's and DigiCert's repositories publish the built-in roots.
fn microsoft_download(cn: &str) -> Option<&'static str> {
    Some(match cn {
        "DigiCert Global Root CA" => "https://cacerts.digicert.com/DigiCertGlobalRootCA.crt",
        "DigiCert Global Root G2" => "https://cacerts.digicert.com/DigiCertGlobalRootG2.crt",
        "DigiCert Global Root G3" => "https://cacerts.digicert.com/DigiCertGlobalRootG3.crt",
        "DigiCert TLS ECC P384 Root G5" => {
            "https://cacerts.digicert.com/DigiCertTLSECCP384RootG5.crt"
        }
        "DigiCert TLS RSA4096 Root G5" => {
            "https://cacerts.digicert.com/DigiCertTLSRSA4096RootG5.crt"
        }
        "Microsoft ECC Root Certificate Authority 2017" => {
            "https://www.microsoft.com/pkiops/certs/Microsoft%20ECC%20Root%20Certificate%20Authority%202017.crt"
        }
        "Microsoft RSA Root Certificate Authority 2017" => {
            "https://www.microsoft.com/pkiops/certs/Microsoft%20RSA%20Root%20Certificate%20Authority%202017.crt"
        }
        _ => return None,
    })
}

/// The roots known, first origin first (Microsoft's before the OS store's copy of the same).
#[derive(Debug, Default)]
pub(crate) struct KnownRoots {
    roots: Vec<KnownRoot>,
    subjects: HashSet<String>,
}

impl KnownRoots {
    /// Adds a root; an unparseable certificate is skipped (it anchors nothing either).
    pub fn add(&mut self, der: &CertificateDer<'_>, origin: RootOrigin) {
        let Some(root) = known_root(der, origin) else {
            return;
        };
        self.subjects.insert(root.subject.clone());
        self.roots.push(root);
    }

    /// Appends another's roots after these.
    pub fn extend(&mut self, other: KnownRoots) {
        self.subjects.extend(other.subjects);
        self.roots.extend(other.roots);
    }

    pub fn by_spki(&self, spki: &[u8]) -> Option<&KnownRoot> {
        self.roots.iter().find(|r| r.spki == spki)
    }

    /// The first root of this subject (a chain's issuer names it, its key is not known).
    pub fn by_subject(&self, subject: &str) -> Option<&KnownRoot> {
        self.roots.iter().find(|r| r.subject == subject)
    }

    /// Whether a certificate of this subject is a root (or anchor) anywhere known.
    pub fn has_subject(&self, subject: &str) -> bool {
        self.subjects.contains(subject)
    }
}

/// Microsoft's published roots whose key is in none of `anchors` (ECE's Java trust store):
/// by key, as a path's anchor is matched, so a re-encoded name still counts.
pub(crate) fn microsoft_roots_missing(anchors: &[CertificateDer<'_>]) -> Vec<KnownRoot> {
    let mut java = KnownRoots::default();
    for der in anchors {
        java.add(der, RootOrigin::Java);
    }
    microsoft_roots()
        .roots
        .into_iter()
        .filter(|r| java.by_spki(&r.spki).is_none())
        .collect()
}

/// The built-in Microsoft roots, known.
fn microsoft_roots() -> KnownRoots {
    let mut known = KnownRoots::default();
    for der in CertificateDer::pem_slice_iter(super::MICROSOFT_ROOTS_PEM).flatten() {
        known.add(&der, RootOrigin::Microsoft);
    }
    known
}

fn known_root(der: &CertificateDer<'_>, origin: RootOrigin) -> Option<KnownRoot> {
    let cert = Certificate::from_der(der.as_ref()).ok()?;
    let anchor = webpki::anchor_from_trusted_cert(der).ok()?;
    Some(KnownRoot {
        subject: cert.tbs_certificate.subject.to_string(),
        spki: anchor.subject_public_key_info.as_ref().to_vec(),
        sha1: sha1_hex(der.as_ref()),
        origin,
    })
}

/// Upper-case hex SHA-1 of a certificate, as thumbprints are shown.
pub(crate) fn sha1_hex(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    let mut out = String::with_capacity(40);
    for b in digest.as_ref() {
        let _ = write!(out, "{b:02X}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsofts_roots_are_named_fingerprinted_and_downloadable() {
        let known = microsoft_roots();
        let all: Vec<_> = known.roots.iter().collect();
        assert_eq!(all.len(), 7);
        let g2 = all
            .iter()
            .find(|r| r.common_name() == "DigiCert Global Root G2")
            .unwrap();
        // M365-FACTS.md: MC1224565's root.
        assert_eq!(g2.sha1, "DF3C24F9BFD666761B268073FE06D1CC8D4F82A4");
        assert_eq!(
            g2.named(),
            "'DigiCert Global Root G2' (SHA-1 DF3C24F9BFD666761B268073FE06D1CC8D4F82A4)"
        );
        for r in &all {
            assert!(
                r.file_source().starts_with("https://"),
                "{}: {}",
                r.subject,
                r.file_source()
            );
            assert!(known.has_subject(&r.subject));
            assert!(known.by_spki(&r.spki).is_some());
        }
    }

    #[test]
    fn missing_microsoft_roots_are_matched_by_key() {
        let all: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(super::super::MICROSOFT_ROOTS_PEM)
                .map(Result::unwrap)
                .collect();
        assert!(microsoft_roots_missing(&all).is_empty());
        let missing = microsoft_roots_missing(&all[1..]);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].common_name(), "DigiCert Global Root CA");
        assert_eq!(microsoft_roots_missing(&[]).len(), 7);
    }

    #[test]
    fn a_files_root_points_at_that_file() {
        let r = KnownRoot {
            subject: "CN=Lab Root,O=Lab".into(),
            spki: Vec::new(),
            sha1: "AB".into(),
            origin: RootOrigin::File("--ca-file /etc/lab/root.pem".into()),
        };
        assert_eq!(r.common_name(), "Lab Root");
        assert_eq!(r.file_source(), "/etc/lab/root.pem");
    }
}
