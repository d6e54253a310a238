//! The Java trust store reader against stores a real JVM's keytool builds: JKS, PKCS12
//! (encrypted as JDK 17 does, with the older PBE-SHA1-RC2-40, and unencrypted without a MAC
//! as Java's own cacerts since JDK 18), with and without the password (JSSE given none
//! skips encrypted certificates), a wrong password, truncated and foreign files, random
//! bytes. Skipped, saying why, where keytool is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use eceprobe_checks::java::store::{parse_store, MAX_STORE_BYTES};
use eceprobe_checks::java::{read_store, StoreError, StoreFormat};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

use eceprobe_testlab::jdk::keytool;

/// A self-signed root named `cn`, as PEM, with its DER.
fn root(cn: &str) -> (String, Vec<u8>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), cert.der().to_vec())
}

/// Imports each root into `store` with keytool; `extra` are JVM options (-J-D...).
fn build(
    tool: &Path,
    dir: &Path,
    store: &Path,
    kind: &str,
    pass: &str,
    roots: &[(&str, &str)],
    extra: &[&str],
) {
    for (alias, pem) in roots {
        let file = dir.join(format!("{alias}.pem"));
        std::fs::write(&file, pem).unwrap();
        let out = Command::new(tool)
            .args(extra)
            .args(["-importcert", "-noprompt", "-storetype", kind, "-keystore"])
            .arg(store)
            .args(["-storepass", pass, "-alias", alias, "-file"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "keytool: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn sha256_hex(der: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn keytool_stores_jks_and_pkcs12() {
    let Some(tool) = keytool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (pem_a, der_a) = root("Java Test Root A");
    let (pem_b, _) = root("Java Test Root B");
    let roots = [("roota", pem_a.as_str()), ("rootb", pem_b.as_str())];
    let cases: [(&str, &str, &[&str], StoreFormat); 4] = [
        ("JKS", "s3cret-jks", &[], StoreFormat::Jks),
        ("PKCS12", "s3cret-p12", &[], StoreFormat::Pkcs12),
        (
            "PKCS12",
            "s3cret-rc2",
            &[
                "-J-Dkeystore.pkcs12.certProtectionAlgorithm=PBEWithSHA1AndRC2_40",
                "-J-Dkeystore.pkcs12.macAlgorithm=HmacPBESHA1",
            ],
            StoreFormat::Pkcs12,
        ),
        // As Java's own cacerts since JDK 18: certificates in the clear, no MAC.
        (
            "PKCS12",
            "changeit",
            &[
                "-J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE",
                "-J-Dkeystore.pkcs12.macAlgorithm=NONE",
            ],
            StoreFormat::Pkcs12,
        ),
    ];
    for (i, (kind, pass, extra, format)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("store{i}"));
        build(&tool, dir.path(), &path, kind, pass, &roots, extra);
        let store = read_store(&path, Some(pass)).unwrap_or_else(|e| panic!("{kind} {i}: {e}"));
        assert_eq!(store.format, *format, "case {i}");
        assert_eq!(store.anchors.len(), 2, "case {i}");
        let a = store.anchors.iter().find(|a| a.alias == "roota").unwrap();
        assert_eq!(a.subject, "CN=Java Test Root A");
        assert_eq!(a.sha256, sha256_hex(&der_a));
        assert_eq!(a.der.as_ref(), der_a.as_slice());
        assert!(!a.key_entry);

        if *pass != "changeit" {
            let err = read_store(&path, Some("wrong")).unwrap_err();
            assert!(
                matches!(err, StoreError::WrongPassword { .. }),
                "case {i}: {err}"
            );
            let words = err.to_string();
            assert!(words.contains(&path.display().to_string()), "{words}");
            assert!(words.contains("java_truststore_password_file"), "{words}");
            // No password configured: JSSE without trustStorePassword reads JKS unchecked
            // (the same anchors) and skips PKCS12's encrypted certificates (none left).
            let unchecked = read_store(&path, None).unwrap();
            assert!(!unchecked.integrity_checked);
            match format {
                StoreFormat::Jks => assert_eq!(unchecked.anchors.len(), 2),
                StoreFormat::Pkcs12 => {
                    assert!(unchecked.anchors.is_empty(), "case {i}");
                    assert!(unchecked.encrypted.is_some(), "case {i}");
                }
            }
            assert!(store.integrity_checked);
        } else {
            // Password-less, as the JDK's own cacerts: the same anchors without one.
            assert_eq!(read_store(&path, None).unwrap().anchors.len(), 2);
        }

        // Truncated anywhere: an error, never a panic; cut in half, said as truncated.
        let bytes = std::fs::read(&path).unwrap();
        let half = parse_store(&path, &bytes[..bytes.len() / 2], Some(pass)).unwrap_err();
        assert!(
            matches!(half, StoreError::Truncated { .. }),
            "case {i}: {half}"
        );
        assert!(half.to_string().contains("truncated at byte"), "{half}");
        for cut in [1, 2, 3] {
            let e = parse_store(&path, &bytes[..cut], Some(pass)).unwrap_err();
            assert!(
                matches!(e, StoreError::Truncated { .. }),
                "case {i} cut {cut}: {e}"
            );
        }
        for cut in (0..bytes.len()).step_by(97) {
            assert!(parse_store(&path, &bytes[..cut], Some(pass)).is_err());
            assert!(parse_store(&path, &bytes[..cut], None).is_err());
        }
    }
}

#[test]
fn only_the_given_root_is_trusted() {
    let Some(tool) = keytool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (pem_a, _) = root("Java Test Root A");
    let (_, der_b) = root("Java Test Root B");
    let path = dir.path().join("cacerts");
    build(
        &tool,
        dir.path(),
        &path,
        "PKCS12",
        "changeit",
        &[("a", &pem_a)],
        &[],
    );
    let store = read_store(&path, Some("changeit")).unwrap();
    let want = sha256_hex(&der_b);
    assert!(store.anchors.iter().all(|a| a.sha256 != want));
    assert_eq!(store.anchors.len(), 1);
}

#[test]
fn the_runtimes_own_cacerts_reads_without_a_password() {
    let Some(_) = keytool() else { return };
    let mut tried = 0;
    for home in eceprobe_checks::java::discover::subdirs(Path::new("/usr/lib/jvm")) {
        let Some(path) = eceprobe_checks::java::discover::store_in_home(&home) else {
            continue;
        };
        let store = read_store(&path, None).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            store.anchors.len() > 50,
            "{}: {}",
            path.display(),
            store.anchors.len()
        );
        tried += 1;
    }
    if tried == 0 {
        eprintln!("SKIPPED: no runtime under /usr/lib/jvm has a cacerts");
    }
}

#[test]
fn foreign_files_are_errors_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let (pem, _) = root("Java Test Root A");
    let pem_path = dir.path().join("root.pem");
    std::fs::write(&pem_path, &pem).unwrap();
    let e = read_store(&pem_path, None).unwrap_err();
    assert!(matches!(e, StoreError::Pem { .. }), "{e}");
    assert!(e.to_string().contains("PEM file, not a Java trust store"));

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let e = read_store(&text, None).unwrap_err();
    assert!(e.to_string().contains("neither JKS nor PKCS12"), "{e}");

    // Over the cap: refused from its size, before a byte is read (a sparse file).
    let big = dir.path().join("big");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(MAX_STORE_BYTES + 1).unwrap();
    let e = read_store(&big, None).unwrap_err();
    assert!(matches!(e, StoreError::TooLarge { .. }), "{e}");

    let missing = dir.path().join("missing");
    let e = read_store(&missing, None).unwrap_err();
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );
}

/// Random bytes, and valid stores with random bytes changed: never a panic, never a hang.
#[test]
fn random_inputs_never_panic() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let path = Path::new("random");
    for i in 0..3000 {
        let len = (next() % 600) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        match i % 3 {
            0 if len >= 4 => bytes[..4].copy_from_slice(&[0xFE, 0xED, 0xFE, 0xED]),
            1 if len >= 1 => bytes[0] = 0x30,
            _ => {}
        }
        let _ = parse_store(path, &bytes, Some("changeit"));
        let _ = parse_store(path, &bytes, None);
    }
    let Some(tool) = keytool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (pem, _) = root("Java Test Root A");
    for kind in ["JKS", "PKCS12"] {
        let store = dir.path().join(kind);
        build(
            &tool,
            dir.path(),
            &store,
            kind,
            "changeit",
            &[("a", &pem)],
            &[],
        );
        let good = std::fs::read(&store).unwrap();
        for _ in 0..300 {
            let mut bytes = good.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            let _ = parse_store(path, &bytes, Some("changeit"));
            let _ = parse_store(path, &bytes, None);
        }
    }
}
