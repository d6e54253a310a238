//! PKCS12 stores as keytool writes them, read with and without the password ECE's JVM is
//! given (JSSE without `javax.net.ssl.trustStorePassword` skips encrypted certificates).
//! Skipped, saying why, where keytool is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

use super::*;
use crate::java::{find, Host, JavaRequest, JavaView};

/// keytool's options for a store as the JDK ships its cacerts since 18: no encryption, no MAC.
const OPEN: [&str; 2] = [
    "-J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE",
    "-J-Dkeystore.pkcs12.macAlgorithm=NONE",
];

use eceprobe_testlab::jdk::keytool;

/// A PKCS12 store at `dir/name` holding two fresh roots (aliases roota, rootb) under `pass`;
/// `extra`: keytool's JVM options. Their DER, in that order.
fn pkcs12(tool: &Path, dir: &Path, name: &str, pass: &str, extra: &[&str]) -> Vec<Vec<u8>> {
    let store = dir.join(name);
    let mut ders = Vec::new();
    for alias in ["roota", "rootb"] {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("Store Test {alias}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        let pem = dir.join(format!("{name}-{alias}.pem"));
        std::fs::write(&pem, cert.pem()).unwrap();
        let out = Command::new(tool)
            .args(extra)
            .args([
                "-importcert",
                "-noprompt",
                "-storetype",
                "PKCS12",
                "-keystore",
            ])
            .arg(&store)
            .args(["-storepass", pass, "-alias", alias, "-file"])
            .arg(&pem)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "keytool: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ders.push(cert.der().to_vec());
    }
    ders
}

fn ders(store: &JavaTrustStore) -> Vec<Vec<u8>> {
    let mut d: Vec<Vec<u8>> = store.anchors.iter().map(|a| a.der.to_vec()).collect();
    d.sort();
    d
}

#[test]
fn an_encrypted_pkcs12_gives_its_anchors_only_with_the_password() {
    let Some(tool) = keytool() else { return };
    let dir = tempfile::tempdir().unwrap();
    for pass in ["changeit", "Other-Pa55"] {
        let name = format!("enc-{pass}.p12");
        let mut want = pkcs12(&tool, dir.path(), &name, pass, &[]);
        want.sort();
        let path = dir.path().join(&name);

        let with = read_store(&path, Some(pass)).unwrap();
        assert_eq!(ders(&with), want, "{pass}");
        assert!(with.integrity_checked && with.encrypted.is_none());
        assert!(with
            .anchors
            .iter()
            .any(|a| a.alias == "roota" && !a.key_entry));

        // No password: JSSE's null password skips the encrypted certificates, all of them.
        let without = read_store(&path, None).unwrap();
        assert_eq!(without.format, StoreFormat::Pkcs12);
        assert!(without.anchors.is_empty(), "{pass}: {:?}", without.anchors);
        let e = without.encrypted.unwrap();
        assert_eq!(e.parts, 1, "{pass}");
        // changeit, tried only to count them (never to trust them), opens them when it is
        // the password.
        if pass == "changeit" {
            assert_eq!(e.certificates, Some(2));
            assert!(without.integrity_checked);
        } else {
            assert_eq!(e.certificates, None);
            assert!(!without.integrity_checked);
        }
        // An empty -Djavax.net.ssl.trustStorePassword is no password (JSSE: "" is null).
        let req = JavaRequest {
            truststore: Some(path.clone()),
            java_options: Some("-Djavax.net.ssl.trustStorePassword=".into()),
            ..Default::default()
        };
        let view = find(&req, &Host::default(), None);
        let JavaView::Found {
            trusted, encrypted, ..
        } = &view
        else {
            panic!("{view:?}")
        };
        assert_eq!((*trusted, encrypted.is_some()), (0, true));
        let words = view.summary();
        assert!(
            words.contains(" (PKCS12, 0 trusted certificates), as configured (java_truststore); ")
                && words.contains("encrypted and ECE's Java is given no password (no -Djavax.net.ssl.trustStorePassword in java_options), so it trusts none of them; add -Djavax.net.ssl.trustStorePassword to ECE's JVM options and set [ece] java_truststore_password_file, or store them unencrypted"),
            "{words}"
        );
        let count = if pass == "changeit" {
            "its 2 certificates are encrypted"
        } else {
            "its certificates are encrypted"
        };
        assert!(words.contains(count), "{words}");

        // The password in the JVM options, or configured: read as today.
        let req = JavaRequest {
            java_options: Some(format!("-Djavax.net.ssl.trustStorePassword={pass}")),
            ..req
        };
        let view = find(&req, &Host::default(), None);
        assert_eq!(view.anchors().map(<[_]>::len), Some(2), "{view:?}");
        assert!(!view.summary().contains("encrypted"), "{}", view.summary());
        let view = find(
            &JavaRequest {
                java_options: None,
                ..req
            },
            &Host::default(),
            Some(pass),
        );
        assert_eq!(view.anchors().map(<[_]>::len), Some(2), "{view:?}");
    }
}

#[test]
fn a_password_less_pkcs12_gives_its_anchors_without_a_password() {
    let Some(tool) = keytool() else { return };
    let dir = tempfile::tempdir().unwrap();
    // keytool still asks for a -storepass; the store keeps none (no MAC, no encryption).
    let mut want = pkcs12(&tool, dir.path(), "open.p12", "changeit", &OPEN);
    want.sort();
    let path = dir.path().join("open.p12");
    let without = read_store(&path, None).unwrap();
    assert_eq!(ders(&without), want);
    assert!(without.integrity_checked && without.encrypted.is_none());
    let mut aliases: Vec<&str> = without.anchors.iter().map(|a| a.alias.as_str()).collect();
    aliases.sort_unstable();
    assert_eq!(aliases, ["roota", "rootb"]);
    assert!(without.anchors.iter().all(|a| !a.key_entry));
    assert!(without.anchors[0].subject.starts_with("CN=Store Test root"));
    // Read with a password, the same anchors.
    assert_eq!(ders(&read_store(&path, Some("changeit")).unwrap()), want);

    // Cut anywhere, or bytes changed: an error or a store, never a panic.
    let bytes = std::fs::read(&path).unwrap();
    for cut in 0..bytes.len() {
        assert!(
            parse_store(&path, &bytes[..cut], None).is_err(),
            "cut {cut}"
        );
    }
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..2000 {
        let mut b = bytes.clone();
        for _ in 0..1 + seed % 3 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed as usize) % b.len();
            b[at] = (seed >> 32) as u8;
        }
        let _ = parse_store(&path, &b, None);
    }
}

#[test]
fn the_hand_reader_says_what_it_cannot_read() {
    let path = Path::new("x.p12");
    // SEQUENCE { INTEGER 3, ContentInfo { signedData } }: public-key protected.
    let signed: &[u8] = &[
        0x30, 0x12, 0x02, 0x01, 0x03, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
        0x01, 0x07, 0x02, 0xa0, 0x00,
    ];
    let e = parse_store(path, signed, None).unwrap_err();
    assert!(e.to_string().contains("public-key protected"), "{e}");
    // Version 2: not a PKCS12 store Java writes.
    let v2: &[u8] = &[0x30, 0x03, 0x02, 0x01, 0x02];
    assert!(matches!(
        parse_store(path, v2, None).unwrap_err(),
        StoreError::NotAStore { .. }
    ));
    // An indefinite (BER) length inside: said, not guessed at.
    let ber: &[u8] = &[0x30, 0x05, 0x02, 0x01, 0x03, 0x30, 0x80];
    let e = parse_store(path, ber, None).unwrap_err();
    assert!(e.to_string().contains("indefinite length"), "{e}");
}
