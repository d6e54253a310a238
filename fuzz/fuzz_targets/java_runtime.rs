//! A Java runtime's `release` and `java.security` (checks/src/java/runtime.rs: the
//! properties syntax, `include`, the override file of `-Djava.security.properties`, the
//! version, jdk.tls.disabledAlgorithms judged against Microsoft's suites) with ECE's JVM
//! options. The input is four parts split at NUL bytes: release, java.security, the JVM
//! options, the override file; the first byte's low bits pick where java.security lives.
//! They are written into a folder of this process's own (a runtime is read from files) and
//! read as the agent reads ECE's runtime: a verdict always, in sentences, never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use eceprobe_checks::java::{read_runtime, runtime_summary, tls_problems};
use libfuzzer_sys::fuzz_target;

const LAYOUTS: [&str; 3] = [
    "conf/security/java.security",
    "lib/security/java.security",
    "jre/lib/security/java.security",
];

/// This process's runtime folder (fuzzing runs one input at a time per process).
fn home() -> &'static PathBuf {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        base.join(format!("eceprobe-fuzz-java-runtime-{}", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let [pick, rest @ ..] = data else { return };
    let mut parts = rest.splitn(4, |&b| b == 0);
    let release = parts.next().unwrap_or_default();
    let security = parts.next();
    let options = parts.next().map(String::from_utf8_lossy);
    let override_file = parts.next();

    let home = home();
    let _ = std::fs::remove_dir_all(home);
    std::fs::create_dir_all(home).expect("the fuzz target's own folder");
    // Bit 2: no release file (the runtime is then judged from java.security alone).
    if pick & 4 == 0 {
        std::fs::write(home.join("release"), release).expect("write release");
    }
    if let Some(security) = security {
        let path = home.join(LAYOUTS[usize::from(pick & 3) % LAYOUTS.len()]);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the security folder");
        }
        std::fs::write(&path, security).expect("write java.security");
    }
    if let Some(bytes) = override_file {
        // Options name it as ${java.home}/override.security (seeds do).
        std::fs::write(home.join("override.security"), bytes).expect("write the override");
    }

    let read = read_runtime(home, options.as_deref());
    // Nothing left behind between inputs, nor after the run.
    let _ = std::fs::remove_dir_all(home);
    let Ok(rt) = read else { return };
    let problems = tls_problems(&rt);
    let summary = runtime_summary(&rt);
    assert!(!summary.is_empty());
    if let Some(v) = &rt.version {
        assert!(
            !v.text.is_empty() && v.text.len() <= 64,
            "version {:?}",
            v.text
        );
    }
    for e in &rt.disabled_algorithms {
        assert!(!e.is_empty() && e.trim() == e, "entry {e:?}");
    }
    let suites = rt.suites();
    assert_eq!(suites.len(), 8);
    let tls12 = rt.tls12();
    let tls13 = rt.tls13() == Some(true);
    for s in &suites {
        if s.enabled {
            assert!(s.disabled_by.is_empty());
            assert!(
                if s.tls13 { tls13 } else { tls12 },
                "{} on without its protocol",
                s.name
            );
        }
    }
    if rt.no_tls() {
        assert!(!tls12 && !tls13);
        // No TLS at all is always said.
        assert!(!problems.is_empty(), "no TLS and no problem: {summary}");
    }
    for p in &problems {
        assert!(!p.is_empty());
    }
});
