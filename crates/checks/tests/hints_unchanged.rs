//! Every hint the probe engine can give stays word for word what it was when the kinds'
//! table replaced the parallel lists (issue 17): every kind on every check, for every role,
//! with two sample targets. The texts are too many to keep here, so their SHA-256 is kept;
//! `ECEPROBE_DUMP_HINTS=<file>` writes them all, to see what changed.

use eceprobe_checks::{CheckId, FailureKind, Role};

/// Every hint, one a line: kind, check, role, target, then the hint.
fn all_hints() -> String {
    let mut out = String::new();
    for kind in FailureKind::ALL {
        for check in CheckId::known() {
            for role in [Role::Services, Role::Application, Role::Both] {
                for (host, port) in [("outlook.office365.com", 993), ("host.example", 0)] {
                    let hint = kind.hint(check, role, host, port);
                    out.push_str(&format!(
                        "{kind}\t{}\t{role:?}\t{host}:{port}\t{hint}\n",
                        check.as_str()
                    ));
                }
            }
        }
    }
    out
}

const SHA256: &str = "b5719dcbe74cfa34ace6cc536ac31f37cf23f8ebeff5f52117c4e4ec4761833c";

#[test]
fn every_hint_is_unchanged() {
    let hints = all_hints();
    if let Ok(path) = std::env::var("ECEPROBE_DUMP_HINTS") {
        std::fs::write(&path, &hints).unwrap();
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, hints.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex, SHA256,
        "the hints changed; ECEPROBE_DUMP_HINTS=/tmp/hints.txt writes them to compare"
    );
}
