//! Reading: Java 8's layout, the properties syntax, the override file, versions, what is
//! not a runtime, and inputs that must not panic.

use super::read::parse_version;
use super::tests::{runtime, with_disabled, CONF, J17};
use super::*;

/// The last value of `key` (later lines override earlier, as in Properties).
fn last(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

#[test]
fn java8_jdk_layout_and_version() {
    let sec = b"jdk.tls.disabledAlgorithms=SSLv3, TLSv1, TLSv1.1, RC4, DES, MD5withRSA, \\\n    DH keySize < 1024, EC keySize < 224, 3DES_EDE_CBC, anon, NULL\n";
    let dir = runtime(
        Some("1.8.0_402"),
        "jre/lib/security/java.security",
        Some(sec),
    );
    let rt = read_runtime(dir.path(), None).unwrap();
    let v = rt.version.clone().unwrap();
    assert_eq!(
        (v.feature, v.update, v.text.as_str()),
        (8, Some(402), "1.8.0_402")
    );
    assert!(rt
        .security_file
        .as_ref()
        .unwrap()
        .ends_with("jre/lib/security/java.security"));
    assert_eq!(
        rt.disabled_algorithms.len(),
        11,
        "{:?}",
        rt.disabled_algorithms
    );
    assert!(tls_problems(&rt).is_empty());
    assert!(
        summary(&rt).ends_with("TLS 1.2, no TLS 1.3, 6 of Microsoft's 6 TLS 1.2 suites enabled")
    );
    // 8u261+ has TLS 1.3, offered by its client only when named.
    let rt = read_runtime(
        dir.path(),
        Some("-Djdk.tls.client.protocols=TLSv1.2,TLSv1.3"),
    )
    .unwrap();
    assert!(summary(&rt).ends_with("TLS 1.2 and 1.3, 8 of Microsoft's 8 suites enabled"));
    // java_home naming the JDK's jre/ folder still finds release one level up.
    let rt = read_runtime(&dir.path().join("jre"), None).unwrap();
    assert_eq!(rt.version.unwrap().feature, 8);
}

#[test]
fn properties_syntax_as_java_reads_it() {
    let text = b"# a comment ending in a backslash is not continued \\\n\
        jdk.tls.disabledAlgorithms=overridden below\n\
        ! another comment\n\
        \n\
        jdk.tls.disabledAlgorithms   :   SSLv3, \\\r\n\
        \t   \\u0054LSv1.2,\\\n\
           RC4\\\\\n\
        key\\ with\\=escapes value with spaces  \n\
        bare   value\n\
        lonely\n";
    let pairs = props::parse(text);
    let get = |k: &str| last(&pairs, k);
    assert_eq!(
        get("jdk.tls.disabledAlgorithms").unwrap(),
        "SSLv3, TLSv1.2,RC4\\"
    );
    assert_eq!(get("key with=escapes").unwrap(), "value with spaces  ");
    assert_eq!(get("bare").unwrap(), "value");
    assert_eq!(get("lonely").unwrap(), "");
    assert_eq!(pairs.len(), 5, "{pairs:?}");
    let (_d, rt) = with_disabled(J17, "SSLv3, \\\n    TLSv1.2, \\\n    RC4");
    assert_eq!(rt.disabled_algorithms, ["SSLv3", "TLSv1.2", "RC4"]);
}

#[test]
fn security_properties_override_from_the_options() {
    let (dir, base) = with_disabled(J17, "SSLv3");
    let extra = dir.path().join("extra.security");
    std::fs::write(&extra, "jdk.tls.disabledAlgorithms=TLSv1.2\n").unwrap();
    let opt = format!("-Djava.security.properties={}", extra.display());
    let rt = read_runtime(&base.java_home, Some(&opt)).unwrap();
    assert_eq!(rt.disabled_source.as_ref(), Some(&extra));
    let p = tls_problems(&rt);
    assert!(
        p.len() == 1 && p[0].contains(&extra.display().to_string()),
        "{p:?}"
    );
    // ==FILE replaces the runtime's file: a file without the property disables nothing.
    std::fs::write(&extra, "other=1\n").unwrap();
    let opt = format!("-Djava.security.properties==file://{}", extra.display());
    let rt = read_runtime(&base.java_home, Some(&opt)).unwrap();
    assert!(
        rt.override_replaces && rt.disabled_algorithms.is_empty(),
        "{rt:?}"
    );
    // A missing file and a relative one are noted, the runtime's own kept.
    let rt = read_runtime(
        &base.java_home,
        Some("-Djava.security.properties=/nonexistent/x"),
    )
    .unwrap();
    assert_eq!(
        (rt.notes.len(), rt.disabled_algorithms.len()),
        (1, 1),
        "{rt:?}"
    );
    let rt = read_runtime(
        &base.java_home,
        Some("-Djava.security.properties=x.security"),
    )
    .unwrap();
    assert!(rt.notes[0].contains("working directory"), "{rt:?}");
    // Java reads no override unless the runtime's file allows it.
    let dir = runtime(J17, CONF, Some(b"jdk.tls.disabledAlgorithms=SSLv3\n"));
    let opt = format!("-Djava.security.properties={}", extra.display());
    let rt = read_runtime(dir.path(), Some(&opt)).unwrap();
    assert!(rt.override_file.is_none() && rt.notes[0].contains("overridePropertiesFile"));
}

#[test]
fn versions_read_from_release() {
    let v = |t: &str| parse_version(t).map(|v| (v.feature, v.update));
    assert_eq!(v("17.0.15"), Some((17, Some(15))));
    assert_eq!(v("1.8.0_402"), Some((8, Some(402))));
    assert_eq!(v("1.8.0"), Some((8, None)));
    assert_eq!(v("1.7.0_80"), Some((7, Some(80))));
    assert_eq!(v("21"), Some((21, None)));
    assert_eq!(v("11.0.30+7-LTS"), Some((11, Some(30))));
    assert_eq!(v("garbage"), None);
    // A release without JAVA_VERSION: no version, said in a note, nothing judged on it.
    let dir = runtime(None, CONF, Some(b"jdk.tls.disabledAlgorithms=SSLv3\n"));
    std::fs::write(
        dir.path().join("release"),
        "JAVA_VERSION_DATE=\"2025-04-15\"\n",
    )
    .unwrap();
    let rt = read_runtime(dir.path(), None).unwrap();
    assert!(rt.version.is_none() && rt.notes.len() == 1, "{rt:?}");
    assert!(tls_problems(&rt).is_empty());
    assert!(
        summary(&rt).starts_with("Java (version unknown)"),
        "{}",
        summary(&rt)
    );
}

#[test]
fn what_is_not_a_runtime_or_not_readable() {
    let dir = tempfile::tempdir().unwrap();
    let e = read_runtime(dir.path(), None).unwrap_err().to_string();
    assert!(
        e.contains("is not a Java runtime") && e.contains("set [ece] java_home"),
        "{e}"
    );
    // A release without java.security: the version, and no judgement on the rest.
    let dir = runtime(J17, CONF, None);
    let rt = read_runtime(dir.path(), None).unwrap();
    assert!(tls_problems(&rt).is_empty());
    assert!(summary(&rt).ends_with("no java.security found, so the TLS it speaks is not known"));
    // 2 MiB of java.security.
    let dir = runtime(J17, CONF, Some(&vec![b'#'; 2 << 20]));
    let e = read_runtime(dir.path(), None).unwrap_err();
    assert!(matches!(e, RuntimeError::TooLarge(_)), "{e}");
    let e = e.to_string();
    assert!(
        e.contains(CONF) && e.contains("larger than 1 MiB") && e.contains("java_home"),
        "{e}"
    );
}

#[test]
fn garbage_never_panics() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet =
        b"\\\n\r\t =:#!,\"*_uTLSv1.2RSAGCM\xff\x00jdk.tls.disabledAlgorithms=JAVA_VERSION=1.8.0_";
    for round in 0..300 {
        let len = (next() % 400) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if round % 3 == 0 {
                    r as u8
                } else {
                    alphabet[(r % alphabet.len() as u64) as usize]
                }
            })
            .collect();
        // Every fifth round an include of garbage (followed: the version is unknown).
        let security = if round % 5 == 0 {
            [b"include ".as_slice(), &bytes].concat()
        } else {
            bytes.clone()
        };
        let dir = runtime(None, CONF, Some(&security));
        std::fs::write(dir.path().join("release"), &bytes).unwrap();
        let opts = String::from_utf8_lossy(&bytes).into_owned();
        for options in [None, Some(opts.as_str())] {
            if let Ok(rt) = read_runtime(dir.path(), options) {
                let _ = tls_problems(&rt);
                let _ = summary(&rt);
                let _ = serde_json::to_string(&rt).unwrap();
            }
        }
    }
}

#[test]
fn includes_where_the_runtime_follows_them() {
    let body = b"security.overridePropertiesFile=true\n\
        jdk.tls.disabledAlgorithms=SSLv3\n\
        include extra/b.security\n";
    for (version, followed) in [("25.0.3", true), ("17.0.15", false)] {
        let dir = runtime(Some(version), CONF, Some(body));
        let b = dir.path().join("conf/security/extra/b.security");
        std::fs::create_dir_all(b.parent().unwrap()).unwrap();
        std::fs::write(&b, "jdk.tls.disabledAlgorithms=TLSv1.2\n").unwrap();
        let rt = read_runtime(dir.path(), None).unwrap();
        assert_eq!(rt.included_files.len(), usize::from(followed), "{rt:?}");
        assert_eq!(tls_problems(&rt).len(), usize::from(followed), "{rt:?}");
        if followed {
            assert_eq!(rt.disabled_source.as_ref(), Some(&b));
        }
        // A missing include leaves 25 without TLS; 17 reads it as a property.
        std::fs::remove_file(&b).unwrap();
        let rt = read_runtime(dir.path(), None).unwrap();
        let p = tls_problems(&rt);
        assert_eq!(
            (p.len(), rt.no_tls()),
            (usize::from(followed), followed),
            "{p:?}"
        );
        if followed {
            assert!(p[0].contains("includes ") && p[0].contains("no TLS connection at all"));
            assert!(summary(&rt).contains("no TLS at all"));
        }
    }
    // Included within itself; ${java.home}; a property this check does not know.
    let dir = runtime(Some("25.0.3"), CONF, Some(b"include java.security\n"));
    let rt = read_runtime(dir.path(), None).unwrap();
    assert!(rt
        .include_failure
        .unwrap()
        .contains("already being included"));
    let extra = b"include ${java.home}/x.security\ninclude ${user.dir}/y.security\n";
    let dir = runtime(Some("25.0.3"), CONF, Some(extra));
    std::fs::write(
        dir.path().join("x.security"),
        "jdk.tls.disabledAlgorithms=RSA\n",
    )
    .unwrap();
    let rt = read_runtime(dir.path(), None).unwrap();
    assert_eq!(rt.disabled_algorithms, ["RSA"]);
    assert!(rt.notes.iter().any(|n| n.contains("${user.dir}")), "{rt:?}");
    let rt = read_runtime(dir.path(), Some("-Duser.dir=/nonexistent")).unwrap();
    assert!(rt
        .include_failure
        .unwrap()
        .contains("/nonexistent/y.security"));
}
