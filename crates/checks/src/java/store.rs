//! Reading a Java trust store as JSSE does: JKS (Java 8's cacerts, `0xFEEDFEED`) read here
//! by hand, PKCS12 (later runtimes) in [`pkcs12`]. Both give the trust anchors: the
//! trusted-certificate entries and, as JSSE's `TrustStoreUtil` does, the first certificate
//! of each private-key entry.
//!
//! The password is the one ECE's JVM loads the store with: `-Djavax.net.ssl.trustStorePassword`
//! (or the administrator's `java_truststore_password_file`, the same password), else none.
//! JSSE never falls back to changeit (OpenJDK `sun/security/ssl/TrustStoreManager.java`,
//! `loadKeyStore`: an unset or empty property is a null password). Without one a JKS store
//! is read unchecked (its certificates are in the clear) and a PKCS12 store gives only its
//! unencrypted certificates (see [`pkcs12`]).
//!
//! Everything is bounded: the file's size is checked before it is read, every length and
//! count against the bytes that remain. A wrong password, a truncated or corrupt file, a
//! file of another kind: each an error in words naming the file and the fix, never a panic.

use std::io::Read;
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use serde::Serialize;

use crate::tls::cert_info;

mod pkcs12;
#[cfg(test)]
mod tests;

/// The largest trust store read (Java's cacerts is about 200 KiB).
pub const MAX_STORE_BYTES: u64 = 16 * 1024 * 1024;
/// The most entries a store may declare (Java's cacerts has about 150).
pub const MAX_ENTRIES: u32 = 100_000;
/// Java's default trust store password: what keytool's `-storepass` likely is. Tried only
/// to say more (whether a store read unchecked has it), never to trust a certificate.
pub const DEFAULT_PASSWORD: &str = "changeit";

const JKS_MAGIC: u32 = 0xFEED_FEED;
const JCEKS_MAGIC: u32 = 0xCECE_CECE;
const JKS_WHITENER: &[u8] = b"Mighty Aphrodite";
const SHA1_LEN: usize = 20;

/// The two formats Java's trust stores come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StoreFormat {
    #[serde(rename = "JKS")]
    Jks,
    #[serde(rename = "PKCS12")]
    Pkcs12,
}

impl std::fmt::Display for StoreFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreFormat::Jks => "JKS",
            StoreFormat::Pkcs12 => "PKCS12",
        })
    }
}

/// One certificate the runtime trusts.
#[derive(Debug, Clone, Serialize)]
pub struct TrustAnchor {
    /// The entry's alias (PKCS12: its friendly name, when it has one).
    pub alias: String,
    pub subject: String,
    pub sha256: String,
    /// From a private-key entry (its first certificate), not a trusted-certificate entry.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub key_entry: bool,
    /// The certificate, for the verification the next stages do.
    #[serde(skip)]
    pub der: CertificateDer<'static>,
}

/// A trust store read: where, which format, and its anchors.
#[derive(Debug, Clone, Serialize)]
pub struct JavaTrustStore {
    pub path: PathBuf,
    pub format: StoreFormat,
    pub anchors: Vec<TrustAnchor>,
    /// False for a store read without a password given whose password is not changeit:
    /// JSSE without `javax.net.ssl.trustStorePassword` reads it so, unchecked, and so do we.
    pub integrity_checked: bool,
    /// A PKCS12 store read without a password that holds certificates encrypted: JSSE,
    /// given none, skips them, and so do we (they are not in `anchors`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<EncryptedCertificates>,
}

/// Certificates a PKCS12 store holds encrypted, out of reach of a JVM given no password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EncryptedCertificates {
    /// The encrypted parts (PKCS#7 `encryptedData`) skipped; keytool writes one.
    pub parts: usize,
    /// The certificates Java would trust in them, when Java's default password changeit
    /// opens them (counted only); None when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificates: Option<usize>,
}

/// Why a trust store could not be read; each sentence names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read the Java trust store {path}: {error}")]
    Read { path: PathBuf, error: String },
    #[error("the Java trust store {path} is {size} bytes, over the {MAX_STORE_BYTES}-byte limit: it is not a trust store; set java_truststore to the runtime's cacerts")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("wrong password for the Java trust store {path}: set java_truststore_password_file to a file holding its password, the one ECE's JVM is given with -Djavax.net.ssl.trustStorePassword")]
    WrongPassword { path: PathBuf },
    #[error("{path} is a PEM file, not a Java trust store: import it with keytool -importcert into the runtime's cacerts, or set java_truststore to that cacerts")]
    Pem { path: PathBuf },
    #[error("{path} is not a Java trust store (neither JKS nor PKCS12): set java_truststore to the runtime's lib/security/cacerts")]
    NotAStore { path: PathBuf },
    #[error("{path} is a JCEKS keystore, which this agent does not read: convert it with keytool -importkeystore -deststoretype PKCS12, or set java_truststore to the runtime's cacerts")]
    Jceks { path: PathBuf },
    #[error("the Java trust store {path} is truncated at byte {at}: restore it from the runtime's installation or a backup")]
    Truncated { path: PathBuf, at: usize },
    #[error("the Java trust store {path} is corrupt: {what}; restore it from the runtime's installation or a backup")]
    Corrupt { path: PathBuf, what: String },
}

/// Reads the trust store at `path` with `password`, the one ECE's JVM is given; None: as
/// JSSE reads it without one.
pub fn read_store(path: &Path, password: Option<&str>) -> Result<JavaTrustStore, StoreError> {
    let read_err = |e: std::io::Error| StoreError::Read {
        path: path.to_path_buf(),
        error: crate::words::io(&e),
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    if size > MAX_STORE_BYTES {
        return Err(StoreError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // Bounded again: the file may grow between the check and the read.
    file.take(MAX_STORE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_STORE_BYTES {
        return Err(StoreError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
        });
    }
    parse_store(path, &bytes, password)
}

/// Parses a trust store's bytes (`path` only names it in errors).
pub fn parse_store(
    path: &Path,
    bytes: &[u8],
    password: Option<&str>,
) -> Result<JavaTrustStore, StoreError> {
    let given = password.is_some();
    let mut integrity_checked = true;
    let mut encrypted = None;
    let magic = bytes
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let (format, anchors) = match magic {
        Some(JKS_MAGIC) => {
            // The digest is checked with changeit when none is given only to know keytool's
            // -storepass: JSSE reads the same certificates either way.
            let (anchors, digest_ok) = jks(path, bytes, password.unwrap_or(DEFAULT_PASSWORD))?;
            if !digest_ok {
                if given {
                    return Err(StoreError::WrongPassword {
                        path: path.to_path_buf(),
                    });
                }
                integrity_checked = false;
            }
            (StoreFormat::Jks, anchors)
        }
        Some(JCEKS_MAGIC) => {
            return Err(StoreError::Jceks {
                path: path.to_path_buf(),
            })
        }
        _ if bytes.first() == Some(&0x30) => {
            let read = pkcs12::read(path, bytes, password)?;
            integrity_checked = read.integrity_checked;
            encrypted = read.encrypted;
            (StoreFormat::Pkcs12, read.anchors)
        }
        // The start of JKS's magic, cut short.
        None if !bytes.is_empty() && JKS_MAGIC.to_be_bytes().starts_with(bytes) => {
            return Err(StoreError::Truncated {
                path: path.to_path_buf(),
                at: bytes.len(),
            })
        }
        _ if looks_like_pem(bytes) => {
            return Err(StoreError::Pem {
                path: path.to_path_buf(),
            })
        }
        _ => {
            return Err(StoreError::NotAStore {
                path: path.to_path_buf(),
            })
        }
    };
    Ok(JavaTrustStore {
        path: path.to_path_buf(),
        format,
        anchors,
        integrity_checked,
        encrypted,
    })
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    head.windows(11).any(|w| w == b"-----BEGIN ")
}

fn anchor(
    path: &Path,
    alias: String,
    der: Vec<u8>,
    key_entry: bool,
) -> Result<TrustAnchor, StoreError> {
    let der = CertificateDer::from(der);
    let info = cert_info(&der).ok_or_else(|| StoreError::Corrupt {
        path: path.to_path_buf(),
        what: format!("the entry '{alias}' holds a certificate that is not X.509"),
    })?;
    Ok(TrustAnchor {
        alias,
        subject: info.subject,
        sha256: info.sha256,
        key_entry,
        der,
    })
}

/// A bounded reader over the JKS bytes: every read checks what remains.
struct Cursor<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(StoreError::Truncated {
                path: self.path.to_path_buf(),
                at: self.bytes.len(),
            })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u16(&mut self) -> Result<u16, StoreError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, StoreError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// Java's `DataInput.readUTF`: a u16 length, then modified UTF-8 (read leniently).
    fn utf(&mut self) -> Result<String, StoreError> {
        let n = self.u16()?;
        Ok(String::from_utf8_lossy(self.take(usize::from(n))?).into_owned())
    }
    /// A u32 length, then that many bytes.
    fn blob(&mut self) -> Result<&'a [u8], StoreError> {
        let n = self.u32()?;
        self.take(usize::try_from(n).unwrap_or(usize::MAX))
    }
    fn corrupt(&self, what: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.to_path_buf(),
            what: what.into(),
        }
    }
}

/// JKS: magic, version (1 or 2), count, entries, then SHA-1 over the password as UTF-16BE,
/// "Mighty Aphrodite" and everything before the digest.
/// The anchors, and whether the digest matched `password`.
fn jks(path: &Path, bytes: &[u8], password: &str) -> Result<(Vec<TrustAnchor>, bool), StoreError> {
    if bytes.len() < 12 + SHA1_LEN {
        return Err(StoreError::Truncated {
            path: path.to_path_buf(),
            at: bytes.len(),
        });
    }
    let body_len = bytes.len() - SHA1_LEN;
    let mut c = Cursor {
        path,
        bytes: &bytes[..body_len],
        at: 4,
    };
    let version = c.u32()?;
    if version != 1 && version != 2 {
        return Err(c.corrupt(format!("version {version} is not JKS's 1 or 2")));
    }
    let count = c.u32()?;
    if count > MAX_ENTRIES {
        return Err(c.corrupt(format!(
            "it declares {count} entries, over the limit of {MAX_ENTRIES}"
        )));
    }
    let cert = |c: &mut Cursor<'_>| -> Result<Vec<u8>, StoreError> {
        if version == 2 {
            let kind = c.utf()?;
            if kind != "X.509" {
                return Err(c.corrupt(format!("a certificate of type '{kind}', not X.509")));
            }
        }
        Ok(c.blob()?.to_vec())
    };
    let mut anchors = Vec::new();
    for _ in 0..count {
        let tag = c.u32()?;
        let alias = c.utf()?;
        let _timestamp = c.take(8)?;
        match tag {
            1 => {
                let _protected_key = c.blob()?;
                let chain = c.u32()?;
                if chain > MAX_ENTRIES {
                    return Err(c.corrupt(format!(
                        "the entry '{alias}' declares a chain of {chain} certificates"
                    )));
                }
                for i in 0..chain {
                    let der = cert(&mut c)?;
                    if i == 0 {
                        anchors.push(anchor(path, alias.clone(), der, true)?);
                    }
                }
            }
            2 => {
                let der = cert(&mut c)?;
                anchors.push(anchor(path, alias, der, false)?);
            }
            other => return Err(c.corrupt(format!("an entry of unknown kind {other}"))),
        }
    }
    if c.at != body_len {
        // Entries end before the digest: the digest is over what they cover and more.
        return Err(c.corrupt(format!(
            "{} bytes after the last entry",
            body_len.saturating_sub(c.at)
        )));
    }
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    for unit in password.encode_utf16() {
        ctx.update(&unit.to_be_bytes());
    }
    ctx.update(JKS_WHITENER);
    ctx.update(&bytes[..body_len]);
    let digest_ok = ctx.finish().as_ref() == &bytes[body_len..];
    Ok((anchors, digest_ok))
}
