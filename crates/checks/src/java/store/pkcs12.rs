//! PKCS12 trust stores. With a password (configured, or `-Djavax.net.ssl.trustStorePassword`
//! in ECE's JVM options) through `p12-keystore`, which checks the MAC and decrypts the
//! encrypted parts. Without one, by hand, as JSSE reads it: JSSE's `TrustStoreManager`
//! (OpenJDK `src/java.base/share/classes/sun/security/ssl/TrustStoreManager.java`,
//! `loadKeyStore`) turns an unset or empty `javax.net.ssl.trustStorePassword` into a null
//! password, never changeit; `PKCS12KeyStore.engineLoad` (`sun/security/pkcs12/
//! PKCS12KeyStore.java`) given null skips every `encryptedData` ContentInfo ("skipping
//! PKCS#7 encryptedData - no password was supplied") and the MAC, and reads the `data`
//! ones. keytool writes PKCS12 certificates encrypted by default (JDK 17 included), so such a
//! store read without a password gives JSSE no anchor at all.

use std::path::Path;

use x509_cert::der::oid::ObjectIdentifier;

use super::{
    anchor, EncryptedCertificates, StoreError, TrustAnchor, DEFAULT_PASSWORD, MAX_ENTRIES,
};

const DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const CERT_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.3");
const X509_CERTIFICATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");
const FRIENDLY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
const LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
/// Oracle's trusted key usage: a trusted-certificate entry (`PKCS12KeyStore`'s CertEntry).
const TRUSTED_KEY_USAGE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113894.746875.1.1");

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const BMP_STRING: u8 = 0x1e;
const EXPLICIT_0: u8 = 0xa0;

/// A PKCS12 store read: its anchors, whether its MAC was checked, and what it holds
/// encrypted that a password-less read skipped.
pub(super) struct Read {
    pub anchors: Vec<TrustAnchor>,
    pub integrity_checked: bool,
    pub encrypted: Option<EncryptedCertificates>,
}

/// Reads a PKCS12 store with `password`, or as JSSE does without one.
pub(super) fn read(path: &Path, bytes: &[u8], password: Option<&str>) -> Result<Read, StoreError> {
    match der_outer_len(bytes) {
        Some(declared) if declared > bytes.len() => {
            return Err(StoreError::Truncated {
                path: path.to_path_buf(),
                at: bytes.len(),
            })
        }
        Some(_) => {}
        None => {
            return Err(StoreError::NotAStore {
                path: path.to_path_buf(),
            })
        }
    }
    if let Some(password) = password {
        return Ok(Read {
            anchors: with_password(path, bytes, password)?,
            integrity_checked: true,
            encrypted: None,
        });
    }
    let open = without_password(path, bytes)?;
    if open.encrypted_parts == 0 && !open.mac {
        // Password-less (as the JDK ships its cacerts since 18): nothing to check.
        return Ok(Read {
            anchors: open.anchors,
            integrity_checked: true,
            encrypted: None,
        });
    }
    // Java's default password, tried only to say more (keytool's -storepass, how many
    // certificates are encrypted): JSSE never tries it, so it never adds an anchor.
    let with_default = with_password(path, bytes, DEFAULT_PASSWORD).ok();
    let certificates = with_default
        .as_ref()
        .map(|all| all.len().saturating_sub(open.anchors.len()));
    // Encrypted parts known to hold no certificate Java would trust lose JSSE nothing.
    let encrypted =
        (open.encrypted_parts > 0 && certificates != Some(0)).then_some(EncryptedCertificates {
            parts: open.encrypted_parts,
            certificates,
        });
    Ok(Read {
        anchors: open.anchors,
        integrity_checked: with_default.is_some(),
        encrypted,
    })
}

/// The trusted-certificate bags (Oracle's trusted key usage attribute) and the
/// certificates of key entries (a local key id); other bags Java ignores, so do we.
fn with_password(
    path: &Path,
    bytes: &[u8],
    password: &str,
) -> Result<Vec<TrustAnchor>, StoreError> {
    use p12_keystore::error::Error as P12;
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(bytes, password).map_err(|e| {
        let path = path.to_path_buf();
        match e {
            P12::MacError(_) | P12::UnpadError => StoreError::WrongPassword { path },
            P12::DerError(_) | P12::InvalidVersion | P12::UnsupportedContentType => {
                StoreError::NotAStore { path }
            }
            other => StoreError::Corrupt {
                path,
                what: other.to_string(),
            },
        }
    })?;
    let mut anchors = Vec::new();
    for bag in archive.certs {
        if !bag.trusted && bag.local_key_id.is_none() {
            continue;
        }
        let key_entry = !bag.trusted;
        let alias = bag
            .friendly_name
            .clone()
            .unwrap_or_else(|| bag.cert.subject().to_string());
        anchors.push(anchor(path, alias, bag.cert.as_der().to_vec(), key_entry)?);
    }
    Ok(anchors)
}

/// What a password-less read finds.
struct Open {
    anchors: Vec<TrustAnchor>,
    /// `encryptedData` ContentInfos, which a null password cannot open.
    encrypted_parts: usize,
    /// Whether the store carries a MAC (unchecked without a password, as in JSSE).
    mac: bool,
}

/// PFX ::= SEQUENCE { version 3, authSafe ContentInfo (data), macData OPTIONAL };
/// authSafe's content: SEQUENCE OF ContentInfo, each `data` (SafeContents in the clear)
/// or `encryptedData` (skipped, counted).
fn without_password(path: &Path, bytes: &[u8]) -> Result<Open, StoreError> {
    let not_a_store = || StoreError::NotAStore {
        path: path.to_path_buf(),
    };
    let mut outer = Der::new(path, bytes);
    let pfx = outer.expect(SEQUENCE, "the store")?;
    let mut pfx = Der::new(path, pfx);
    if pfx.expect(INTEGER, "its version")? != [3] {
        return Err(not_a_store());
    }
    let auth_safe =
        data_content(path, pfx.expect(SEQUENCE, "its contents")?)?.ok_or_else(|| {
            corrupt(
                path,
                "its contents are signed (public-key protected), which Java does not read",
            )
        })?;
    let mac = !pfx.done();
    let mut safes = Der::new(path, auth_safe);
    let mut safes = Der::new(path, safes.expect(SEQUENCE, "its contents")?);
    let mut open = Open {
        anchors: Vec::new(),
        encrypted_parts: 0,
        mac,
    };
    let mut seen = 0u32;
    while !safes.done() {
        let info = safes.expect(SEQUENCE, "a part")?;
        match data_content(path, info)? {
            Some(contents) => safe_contents(path, contents, &mut open.anchors, &mut seen)?,
            None if oid_of(path, info)? == ENCRYPTED_DATA.as_bytes() => open.encrypted_parts += 1,
            None => {
                return Err(corrupt(
                    path,
                    "a part is neither data nor encrypted data (public-key protected), which Java does not read",
                ))
            }
        }
    }
    Ok(open)
}

/// ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }: the OCTET
/// STRING's bytes of a `data` one; None for another type.
fn data_content<'a>(path: &Path, info: &'a [u8]) -> Result<Option<&'a [u8]>, StoreError> {
    let mut d = Der::new(path, info);
    if d.expect(OID, "a part's type")? != DATA.as_bytes() {
        return Ok(None);
    }
    let mut content = Der::new(path, d.expect(EXPLICIT_0, "a part's content")?);
    Ok(Some(content.expect(OCTET_STRING, "a part's content")?))
}

fn oid_of<'a>(path: &Path, info: &'a [u8]) -> Result<&'a [u8], StoreError> {
    Der::new(path, info).expect(OID, "a part's type")
}

/// SafeContents ::= SEQUENCE OF SafeBag { bagId, bagValue [0], bagAttributes SET OPTIONAL }:
/// the certificate bags, as `PKCS12KeyStore.loadSafeContents` keeps them.
fn safe_contents(
    path: &Path,
    contents: &[u8],
    anchors: &mut Vec<TrustAnchor>,
    seen: &mut u32,
) -> Result<(), StoreError> {
    let mut outer = Der::new(path, contents);
    let mut bags = Der::new(path, outer.expect(SEQUENCE, "a part's entries")?);
    while !bags.done() {
        *seen += 1;
        if *seen > MAX_ENTRIES {
            return Err(corrupt(
                path,
                format!("it holds over {MAX_ENTRIES} entries"),
            ));
        }
        let mut bag = Der::new(path, bags.expect(SEQUENCE, "an entry")?);
        let id = bag.expect(OID, "an entry's type")?;
        let value = bag.expect(EXPLICIT_0, "an entry's value")?;
        if id != CERT_BAG.as_bytes() {
            continue; // keys, secrets: no anchor without their certificate
        }
        let mut attrs = Attrs::default();
        if !bag.done() {
            attributes(path, bag.expect(SET, "an entry's attributes")?, &mut attrs)?;
        }
        // CertBag ::= SEQUENCE { certId OID, certValue [0] EXPLICIT OCTET STRING }
        let mut cert_bag = Der::new(path, value);
        let mut cert_bag = Der::new(path, cert_bag.expect(SEQUENCE, "a certificate entry")?);
        if cert_bag.expect(OID, "a certificate's type")? != X509_CERTIFICATE.as_bytes() {
            return Err(corrupt(path, "a certificate entry is not X.509"));
        }
        let mut cert = Der::new(path, cert_bag.expect(EXPLICIT_0, "a certificate")?);
        let der = cert.expect(OCTET_STRING, "a certificate")?;
        if !attrs.trusted && !attrs.key_id {
            continue; // neither a trusted certificate nor a key's: Java ignores it
        }
        let alias = attrs.alias.unwrap_or_else(|| {
            crate::tls::cert_info(&der.to_vec().into())
                .map(|i| i.subject)
                .unwrap_or_default()
        });
        anchors.push(anchor(path, alias, der.to_vec(), !attrs.trusted)?);
    }
    Ok(())
}

#[derive(Default)]
struct Attrs {
    alias: Option<String>,
    key_id: bool,
    trusted: bool,
}

/// Attribute ::= SEQUENCE { attrId OID, attrValues SET OF ANY }.
fn attributes(path: &Path, set: &[u8], attrs: &mut Attrs) -> Result<(), StoreError> {
    let mut set = Der::new(path, set);
    while !set.done() {
        let mut attr = Der::new(path, set.expect(SEQUENCE, "an attribute")?);
        let id = attr.expect(OID, "an attribute's type")?;
        let mut values = Der::new(path, attr.expect(SET, "an attribute's values")?);
        if id == TRUSTED_KEY_USAGE.as_bytes() {
            attrs.trusted = true;
        } else if id == LOCAL_KEY_ID.as_bytes() {
            attrs.key_id = true;
        } else if id == FRIENDLY_NAME.as_bytes() {
            let name = values.expect(BMP_STRING, "an entry's name")?;
            let units: Vec<u16> = name
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
                .collect();
            attrs.alias = Some(String::from_utf16_lossy(&units));
        }
    }
    Ok(())
}

fn corrupt(path: &Path, what: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// A bounded DER reader: one-byte tags, definite lengths of up to four bytes, each checked
/// against what its container holds.
struct Der<'p, 'a> {
    path: &'p Path,
    bytes: &'a [u8],
    at: usize,
}

impl<'p, 'a> Der<'p, 'a> {
    fn new(path: &'p Path, bytes: &'a [u8]) -> Self {
        Der { path, bytes, at: 0 }
    }

    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    /// The next element's content, which must be tagged `tag`; `what` names it in errors.
    fn expect(&mut self, tag: u8, what: &str) -> Result<&'a [u8], StoreError> {
        let bad = |why: &str| corrupt(self.path, format!("{what} {why}"));
        let rest = self.bytes.get(self.at..).unwrap_or_default();
        let (&found, rest) = rest.split_first().ok_or_else(|| bad("is missing"))?;
        if found != tag {
            return Err(bad(&format!("has DER tag 0x{found:02x}, not 0x{tag:02x}")));
        }
        let (&first, rest) = rest.split_first().ok_or_else(|| bad("is cut short"))?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 {
                return Err(bad(
                    "has an indefinite length (BER), which Java's keytool never writes",
                ));
            }
            if n > 4 || rest.len() < n {
                return Err(bad("has a length that cannot be"));
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |len, &b| (len << 8) | usize::from(b));
            (len, &rest[n..])
        };
        let content = rest.get(..len).ok_or_else(|| bad("runs past its end"))?;
        self.at = self.bytes.len() - rest.len() + len;
        Ok(content)
    }
}

/// The total length (header and content) the outer DER SEQUENCE declares; None when the
/// bytes do not start with a definite-length SEQUENCE.
fn der_outer_len(bytes: &[u8]) -> Option<usize> {
    if bytes.first() != Some(&0x30) {
        return None;
    }
    // A header cut short declares more than there is: truncated.
    let Some(&first) = bytes.get(1) else {
        return Some(usize::MAX);
    };
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        let Some(&b) = bytes.get(2 + i) else {
            return Some(usize::MAX);
        };
        len = (len << 8) | usize::from(b);
    }
    len.checked_add(2 + n)
}
