use std::path::{Path, PathBuf};

use super::*;

/// A runtime folder: `release` with JAVA_VERSION (when given) and a java.security at `rel`.
pub(super) fn runtime(
    version: Option<&str>,
    rel: &str,
    security: Option<&[u8]>,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if let Some(v) = version {
        std::fs::write(
            dir.path().join("release"),
            format!("IMPLEMENTOR=\"Test\"\nJAVA_VERSION=\"{v}\"\nOS_NAME=\"Linux\"\n"),
        )
        .unwrap();
    }
    if let Some(s) = security {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    }
    dir
}

pub(super) const CONF: &str = "conf/security/java.security";
pub(super) const J17: Option<&str> = Some("17.0.15");

/// A Java 17 runtime whose java.security disables `disabled`.
pub(super) fn with_disabled(
    version: Option<&str>,
    disabled: &str,
) -> (tempfile::TempDir, JavaRuntime) {
    let body =
        format!("security.overridePropertiesFile=true\njdk.tls.disabledAlgorithms={disabled}\n");
    let dir = runtime(version, CONF, Some(body.as_bytes()));
    let rt = read_runtime(dir.path(), None).unwrap();
    (dir, rt)
}

/// This machine's default Java: /usr/lib/jvm/default-java, else the one /usr/bin/java runs.
pub(super) fn machine_java() -> Option<PathBuf> {
    let default = Path::new("/usr/lib/jvm/default-java");
    if default.join("release").is_file() {
        return Some(default.to_path_buf());
    }
    let java = std::fs::canonicalize("/usr/bin/java").ok()?;
    let home = java.parent()?.parent()?.to_path_buf();
    home.join("release").is_file().then_some(home)
}

#[test]
fn this_machines_java_speaks_microsofts_tls() {
    let Some(home) = machine_java() else {
        eprintln!("SKIPPED: no Java runtime at /usr/lib/jvm/default-java or behind /usr/bin/java");
        return;
    };
    let rt = read_runtime(&home, None).unwrap();
    let v = rt.version.clone().unwrap();
    assert!(rt.security_file.is_some(), "{rt:?}");
    assert_eq!(tls_problems(&rt), Vec::<String>::new());
    let line = summary(&rt);
    assert!(
        line.starts_with(&format!("Java {} ({})", v.text, home.display())),
        "{line}"
    );
    if v.feature == 17 {
        // Debian's 17 disables SSLv3, TLSv1, TLSv1.1, ECDH, ... and none of Microsoft's.
        assert!(
            line.ends_with(": TLS 1.2 and 1.3, 8 of Microsoft's 8 suites enabled"),
            "{line}"
        );
    }
}

#[test]
fn tls12_disabled_in_the_file_is_named_with_its_fix() {
    let (dir, rt) = with_disabled(J17, "SSLv3, TLSv1, TLSv1.1, tlsv1.2, RC4");
    let p = tls_problems(&rt);
    assert_eq!(p.len(), 1, "{p:?}");
    let file = dir.path().join(CONF).display().to_string();
    assert!(
        p[0].starts_with("TLS 1.2 is disabled: jdk.tls.disabledAlgorithms in "),
        "{p:?}"
    );
    assert!(
        p[0].contains(&file) && p[0].contains("remove tlsv1.2"),
        "{p:?}"
    );
    assert!(p[0].contains("only TLS 1.3 is left"), "{p:?}");
    assert!(summary(&rt).ends_with("TLS 1.3 only, no TLS 1.2, 2 of Microsoft's 8 suites enabled"));
    // TLSv1 and TLSv1.1 are other protocols; a condition is no name.
    let (_d, rt) = with_disabled(J17, "TLSv1, TLSv1.1, TLSv1.2 keySize < 1");
    assert!(tls_problems(&rt).is_empty());
}

#[test]
fn client_protocols_in_the_options() {
    let (_d, base) = with_disabled(J17, "SSLv3");
    let home = base.java_home.clone();
    let rt = read_runtime(&home, Some("-Xmx1g -Djdk.tls.client.protocols=TLSv1.3")).unwrap();
    let p = tls_problems(&rt);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("-Djdk.tls.client.protocols=TLSv1.3 in [ece] java_options leaves it out"));
    let rt = read_runtime(&home, Some("-Djdk.tls.client.protocols=tlsv1.2")).unwrap();
    let p = tls_problems(&rt);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("names tlsv1.2, which Java does not know"),
        "{p:?}"
    );
    let rt = read_runtime(
        &home,
        Some("-Djdk.tls.client.protocols=\" TLSv1.2 , TLSv1.3\""),
    )
    .unwrap();
    assert_eq!(
        rt.client_protocols.as_deref().unwrap(),
        ["TLSv1.2", "TLSv1.3"]
    );
    assert!(tls_problems(&rt).is_empty());
    let rt = read_runtime(&home, Some("-Djdk.tls.client.protocols=TLSv1.2")).unwrap();
    assert!(tls_problems(&rt).is_empty());
    assert!(
        summary(&rt).ends_with("TLS 1.2, no TLS 1.3, 6 of Microsoft's 6 TLS 1.2 suites enabled")
    );
}

#[test]
fn suites_disabled_by_their_components_as_jsse_decomposes_them() {
    // GCM takes both GCM pairs and TLS 1.3's; CBC the other two.
    let (_d, rt) = with_disabled(J17, "GCM, CBC");
    let p = tls_problems(&rt);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("every TLS 1.2 cipher suite Microsoft 365 accepts"),
        "{p:?}"
    );
    assert!(
        p[0].contains("lists GCM, CBC;") && !p[0].contains("only TLS 1.3"),
        "{p:?}"
    );
    assert!(summary(&rt).ends_with("TLS 1.2 and 1.3, 0 of Microsoft's 8 suites enabled"));
    // RSA is a component of every TLS 1.2 suite here; TLS 1.3's have no key exchange.
    let (_d, rt) = with_disabled(J17, "rsa");
    let p = tls_problems(&rt);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("lists rsa (only TLS 1.3's suites are left"),
        "{p:?}"
    );
    // Conditions disable no suite; ECDH is not a component of ECDHE suites.
    let (_d, rt) = with_disabled(
        J17,
        "ECDH, SHA1, DH keySize < 1024, RSA keySize < 2048, \"AES\" x",
    );
    assert!(tls_problems(&rt).is_empty());
    assert!(summary(&rt).ends_with("8 of Microsoft's 8 suites enabled"));
    // ECDHE leaves the two RSA GCM suites and TLS 1.3's.
    let (_d, rt) = with_disabled(J17, "ECDHE");
    assert!(tls_problems(&rt).is_empty());
    assert!(summary(&rt).ends_with("4 of Microsoft's 8 suites enabled"));
    let on: Vec<_> = rt
        .suites()
        .into_iter()
        .filter(|s| s.enabled)
        .map(|s| s.name)
        .collect();
    assert!(on.contains(&"TLS_RSA_WITH_AES_256_GCM_SHA384"), "{on:?}");
    // Up to 25, TLS 1.3's AES-256 suite has no AES_256_GCM component.
    let (_d, rt) = with_disabled(J17, "AES_256_GCM");
    assert!(summary(&rt).ends_with("6 of Microsoft's 8 suites enabled"));
    // SHA384: a GCM suite's handshake hash counts from JDK 11 (and 8u261) only.
    let (_d, rt) = with_disabled(J17, "SHA-384");
    assert!(summary(&rt).ends_with("4 of Microsoft's 8 suites enabled"));
    let (_d, rt) = with_disabled(Some("1.8.0_202"), "HmacSHA384");
    assert!(
        summary(&rt).ends_with("TLS 1.2, no TLS 1.3, 5 of Microsoft's 6 TLS 1.2 suites enabled")
    );
    // The property quoted whole, as JSSE strips it.
    let (_d, rt) = with_disabled(J17, "\"AES\"");
    assert_eq!(rt.disabled_algorithms, ["AES"]);
    assert_eq!(tls_problems(&rt).len(), 1);
}

#[test]
fn suites_disabled_by_name_in_any_case() {
    let names = "tls_ecdhe_rsa_with_aes_256_gcm_sha384, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, \
        TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, \
        TLS_RSA_WITH_AES_256_GCM_SHA384, TLS_RSA_WITH_AES_128_GCM_SHA256";
    let (_d, rt) = with_disabled(J17, names);
    let p = tls_problems(&rt);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("lists tls_ecdhe_rsa_with_aes_256_gcm_sha384, "),
        "{p:?}"
    );
    assert!(summary(&rt).ends_with("2 of Microsoft's 8 suites enabled"));
}

#[test]
fn wildcards_only_where_the_runtime_reads_them() {
    let (_d, rt) = with_disabled(Some("25.0.3"), "TLS_ECDHE_RSA_*, TLS_RSA_*");
    assert_eq!(tls_problems(&rt).len(), 1);
    // 17.0.15 reads a pattern as a name, which disables nothing.
    let (_d, rt) = with_disabled(J17, "TLS_ECDHE_RSA_*, TLS_RSA_*");
    assert!(tls_problems(&rt).is_empty());
    // Patterns are case-sensitive; one not starting with TLS_ breaks the whole list.
    let (_d, rt) = with_disabled(Some("25.0.3"), "TLS_rsa_*, *_CBC_*");
    let p = tls_problems(&rt);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("has \"*_CBC_*\", a pattern that does not start with TLS_"),
        "{p:?}"
    );
}

#[test]
fn java7_before_7u111_is_too_old_unless_the_options_enable_tls12() {
    let dir = runtime(
        Some("1.7.0_80"),
        "lib/security/java.security",
        Some(b"jdk.tls.disabledAlgorithms=SSLv3\n"),
    );
    let rt = read_runtime(dir.path(), None).unwrap();
    let p = tls_problems(&rt);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("says Java 1.7.0_80: its clients offer TLS 1.0 by default, not TLS 1.2"),
        "{p:?}"
    );
    assert!(
        p[0].contains("add -Djdk.tls.client.protocols=TLSv1.2"),
        "{p:?}"
    );
    assert!(summary(&rt).contains("no TLS 1.2"));
    let rt = read_runtime(dir.path(), Some("-Djdk.tls.client.protocols=TLSv1,TLSv1.2")).unwrap();
    assert!(tls_problems(&rt).is_empty());
    // https.protocols reaches HttpsURLConnection, not ECE's mail sockets: still said.
    let rt = read_runtime(dir.path(), Some("-Dhttps.protocols=TLSv1.2")).unwrap();
    let p = tls_problems(&rt);
    assert!(
        p.len() == 1 && p[0].contains("HttpsURLConnection only"),
        "{p:?}"
    );
    // 7u111 and later offer TLS 1.2 by default (JDK-7093640).
    std::fs::write(dir.path().join("release"), "JAVA_VERSION=\"1.7.0_111\"\n").unwrap();
    let rt = read_runtime(dir.path(), None).unwrap();
    assert!(tls_problems(&rt).is_empty());
    assert!(
        summary(&rt).ends_with("TLS 1.2, no TLS 1.3, 6 of Microsoft's 6 TLS 1.2 suites enabled")
    );
}
