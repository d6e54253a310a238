//! ECE's Java trust store read by hand (checks/src/java/store.rs: JKS, and PKCS12 without a
//! password; with one through p12-keystore): the first byte picks the password ECE's JVM is
//! given (none, changeit, another, a wrong one), the rest is the file. Whatever the file
//! holds, the reading ends with the store's anchors or an error naming the file, and never
//! trusts more than the file can hold.
#![no_main]

use std::path::Path;

use eceprobe_checks::java::store::{parse_store, StoreFormat};
use libfuzzer_sys::fuzz_target;

const PATH: &str = "/opt/ece/jre/lib/security/cacerts";

fuzz_target!(|data: &[u8]| {
    let [pick, bytes @ ..] = data else { return };
    let password = match pick % 4 {
        0 => None,
        1 => Some("changeit"),
        2 => Some("Other-Pa55"),
        _ => Some("wrong"),
    };
    match parse_store(Path::new(PATH), bytes, password) {
        Ok(store) => {
            // Every anchor is a certificate taken from the file: at least a few bytes each.
            let held: usize = store.anchors.iter().map(|a| a.der.len()).sum();
            assert!(
                held <= bytes.len(),
                "{held} bytes of anchors from {}",
                bytes.len()
            );
            for a in &store.anchors {
                assert_eq!(a.sha256.len(), 64, "sha256 {}", a.sha256);
            }
            // A password given is either right (checked) or an error, never ignored.
            if password.is_some() {
                assert!(store.integrity_checked);
                assert!(store.encrypted.is_none());
            }
            if store.format == StoreFormat::Jks {
                assert!(store.encrypted.is_none());
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains(PATH),
                "an error not naming the file: {message}"
            );
        }
    }
});
