//! A real JVM as referee: for each jdk.tls.disabledAlgorithms value, the protocols and
//! suites a default client socket enables (with `-Djava.security.properties=FILE`, which
//! appends to the runtime's java.security) against this module's judgement of the same
//! runtime and option. Runs on every runtime under /usr/lib/jvm with a release file (here
//! 17.0.15 and 25.0.3); skipped without javac.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

const PROGRAM: &str = r#"import javax.net.ssl.*;
public class TlsDefaults {
    public static void main(String[] a) throws Exception {
        SSLSocket s = (SSLSocket) SSLSocketFactory.getDefault().createSocket();
        System.out.println("protocols=" + String.join(",", s.getEnabledProtocols()));
        System.out.println("suites=" + String.join(",", s.getEnabledCipherSuites()));
    }
}
"#;

const CASES: &[&str] = &[
    "SSLv3, TLSv1, TLSv1.1",
    "TLSv1.2, TLSv1.3",
    "tlsv1.2",
    "GCM",
    "AES",
    "SHA384",
    "RSA",
    "ECDHE",
    "ECDHE_RSA",
    "ECDH",
    "AES_256_GCM",
    "HmacSHA256",
    "CBC",
    "TLS_RSA_*",
    "TLS_rsa_*",
    "TLS_*_GCM_*",
    "tls_ecdhe_rsa_with_aes_256_gcm_sha384, TLS_RSA_WITH_AES_128_GCM_SHA256",
    "RSA keySize < 4096, DH keySize < 2048",
    "*_CBC_*",
];

/// Whole files for the option, beside which `inc.security` disables TLSv1.2 and GCM: JDK
/// 24+ follows `include`, earlier ones read it as a property.
const FILES: &[&str] = &[
    "include inc.security\n",
    "jdk.tls.disabledAlgorithms=TLSv1.2\ninclude ${java.home}/conf/security/java.security\n",
    "include missing.security\n",
    "include case.security\n",
];

fn runtimes() -> Vec<PathBuf> {
    let mut homes: Vec<PathBuf> = crate::java::discover::subdirs(Path::new("/usr/lib/jvm"))
        .into_iter()
        .filter(|h| h.join("release").is_file() && h.join("bin/java").is_file())
        .filter_map(|h| std::fs::canonicalize(h).ok())
        .collect();
    homes.sort();
    homes.dedup();
    homes
}

#[test]
fn a_real_jvm_agrees_with_the_judgement() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("TlsDefaults.java"), PROGRAM).unwrap();
    let compiled = Command::new("javac")
        .args(["--release", "8", "-d"])
        .arg(dir.path())
        .arg(dir.path().join("TlsDefaults.java"))
        .status();
    if !compiled.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: javac is not here or failed");
        return;
    }
    let homes = runtimes();
    if homes.is_empty() {
        eprintln!("SKIPPED: no runtime under /usr/lib/jvm");
        return;
    }
    let file = dir.path().join("case.security");
    let mut compared = 0;
    std::fs::write(
        dir.path().join("inc.security"),
        "jdk.tls.disabledAlgorithms=TLSv1.2, GCM\n",
    )
    .unwrap();
    let bodies: Vec<String> = CASES
        .iter()
        .map(|c| format!("jdk.tls.disabledAlgorithms={c}\n"))
        .chain(FILES.iter().map(|f| f.to_string()))
        .collect();
    for home in &homes {
        for case in &bodies {
            std::fs::write(&file, case).unwrap();
            let option = format!("-Djava.security.properties={}", file.display());
            let rt = read_runtime(home, Some(&option)).unwrap();
            assert_eq!(
                rt.override_file.as_ref(),
                Some(&file),
                "{}: {rt:?}",
                home.display()
            );
            let out = Command::new(home.join("bin/java"))
                .arg(&option)
                .arg("-cp")
                .arg(dir.path())
                .arg("TlsDefaults")
                .output()
                .unwrap();
            let what = format!("{} with {case:?}", home.display());
            let problems = tls_problems(&rt);
            if !out.status.success() {
                // Only a list JSSE refuses leaves the JVM without TLS.
                assert!(
                    problems
                        .iter()
                        .any(|p| p.contains("makes no TLS connection at all")),
                    "{what}: the JVM failed ({}) and no problem says so: {problems:?}",
                    String::from_utf8_lossy(&out.stderr)
                );
                compared += 1;
                continue;
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            let list = |key: &str| -> Vec<String> {
                stdout
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .map(|v| v.split(',').map(str::to_string).collect())
                    .unwrap_or_default()
            };
            let (protocols, suites) = (list("protocols="), list("suites="));
            let has = |p: &str| protocols.iter().any(|x| x == p);
            assert_eq!(rt.tls12(), has("TLSv1.2"), "{what}: {protocols:?}");
            assert_eq!(rt.tls13(), Some(has("TLSv1.3")), "{what}: {protocols:?}");
            for s in rt.suites() {
                let on = suites.iter().any(|x| x == s.name);
                assert_eq!(s.enabled, on, "{what}: {} ({:?})", s.name, s.disabled_by);
            }
            compared += 1;
        }
        eprintln!(
            "referee: {} agreed on {} cases",
            home.display(),
            bodies.len()
        );
    }
    assert_eq!(compared, homes.len() * bodies.len());
}
