//! `eceprobe-collector token create|list|revoke` as a real process on a real SQLite file:
//! the token is printed once, with the CA's fingerprint; the database holds its hash only
//! (the file's raw bytes are searched for the secret); list shows uses and state, never
//! the secret; revoke takes it out of use.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use eceprobe_collector::{join, pki};

fn collector(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eceprobe-collector"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn raw_db(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("eceprobe.db") {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_token_is_printed_once_stored_hashed_listed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    pki::init(&pki_dir, &["collector.contoso.local".to_string()]).unwrap();
    let db = dir.path().join("eceprobe.db");
    let (pki_s, db_s) = (pki_dir.display().to_string(), db.display().to_string());
    let (ok, out) = collector(&[
        "token",
        "create",
        "--deployment",
        "prod",
        "--expires",
        "24h",
        "--uses",
        "20",
        "--dir",
        &pki_s,
        "--db",
        &db_s,
    ]);
    assert!(ok, "{out}");
    let token = out
        .lines()
        .find(|l| l.starts_with("ej1."))
        .unwrap_or_else(|| panic!("no token in: {out}"))
        .to_owned();
    let parsed = eceprobe_proto::join_token::JoinToken::parse(&token).unwrap();
    assert_eq!(parsed.ca_sha256, join::ca_fingerprint(&pki_dir).unwrap());
    assert!(
        out.contains("20 use(s)") && out.contains("eceprobe-agent run"),
        "{out}"
    );

    let bytes = raw_db(dir.path());
    assert!(
        !contains(&bytes, &parsed.secret),
        "the secret is in the database file"
    );
    assert!(contains(&bytes, &join::secret_sha256(&parsed.secret)));

    let (ok, list) = collector(&["token", "list", "--db", &db_s]);
    assert!(ok, "{list}");
    assert!(
        list.contains(&parsed.id) && list.contains("0/20") && list.contains("usable"),
        "{list}"
    );
    assert!(!list.contains(&parsed.secret), "{list}");

    // Copied in capitals, as some terminals' fonts invite: the same token.
    let shouted = parsed.id.to_ascii_uppercase();
    let (ok, out) = collector(&["token", "revoke", &shouted, "--db", &db_s]);
    assert!(ok && out.contains("revoked"), "{out}");
    let (ok, list) = collector(&["token", "list", "--db", &db_s]);
    assert!(ok && list.contains("revoked"), "{list}");
    let (ok, out) = collector(&["token", "revoke", &parsed.id, "--db", &db_s]);
    assert!(!ok && out.contains("no standing join token"), "{out}");

    // --allow-reenroll is recorded with the token and listed.
    let (ok, out) = collector(&[
        "token",
        "create",
        "--deployment",
        "lab",
        "--allow-reenroll",
        "--dir",
        &pki_s,
        "--db",
        &db_s,
    ]);
    assert!(ok && out.contains("re-enrollment allowed"), "{out}");
    let (ok, list) = collector(&["token", "list", "--db", &db_s]);
    assert!(ok && list.contains("usable, re-enroll"), "{list}");

    // Bad input, in words.
    let (ok, out) = collector(&[
        "token",
        "create",
        "--deployment",
        "prod",
        "--expires",
        "soon",
        "--db",
        &db_s,
        "--dir",
        &pki_s,
    ]);
    assert!(!ok && out.contains("24h"), "{out}");
    let (ok, out) = collector(&[
        "token",
        "create",
        "--deployment",
        "prod",
        "--dir",
        "/nonexistent/pki",
        "--db",
        &db_s,
    ]);
    assert!(!ok && out.contains("ca init"), "{out}");
}
