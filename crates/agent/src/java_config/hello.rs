//! ECE's Java as `run` starts with it: loaded, logged, and told to the collector in the Hello.

use eceprobe_checks::java::{self, JavaView};
use eceprobe_proto::bounds::{self, cut};
use eceprobe_proto::v1::Hello;

use super::{load, EceJava, JavaConfig};
use crate::config_error::ConfigError;

/// Hello's `java_runtime` before the runtime's own files are read: its home, when the view
/// names one (found through it, or configured beside the store); empty when none was
/// identified. `for_run` replaces it with the runtime's version and TLS when it can.
pub fn java_runtime_line(view: &JavaView) -> String {
    match view {
        JavaView::Found {
            java_home: Some(home),
            ..
        } => home.display().to_string(),
        _ => String::new(),
    }
}

/// What `run` tells the collector of ECE's Java: the runtime line and the trust store's
/// summary, the line `check` prints (never empty: an empty one means an older agent),
/// each cut to the wire's bound as the collector would cut it.
pub fn fill_hello(hello: &mut Hello, view: &JavaView) {
    let summary = match view.summary() {
        "" => "Java trust store: (no summary)",
        s => s,
    };
    hello.java_runtime = cut(&java_runtime_line(view), bounds::JAVA_TEXT);
    hello.java_truststore = cut(summary, bounds::JAVA_TEXT);
}

/// `run` and the in-process agents: ECE's Java found as `check` finds it (a configured
/// runtime or store that cannot be used is the same configuration error), its line
/// logged, and both reported in the Hello.
pub fn for_run(cfg: &JavaConfig, hello: &mut Hello) -> Result<EceJava, ConfigError> {
    let java = load(cfg)?;
    match &java.view {
        JavaView::Error { .. } => tracing::warn!("{}", java.view.summary()),
        _ => tracing::info!("{}", java.view.summary()),
    }
    fill_hello(hello, &java.view);
    // Its version and TLS, when its files could be read: "Java 17.0.15 (/usr/lib/jvm/…):
    // TLS 1.2 and 1.3, 8 of Microsoft's 8 suites enabled".
    if let Some(Ok(rt)) = &java.runtime {
        hello.java_runtime = cut(&java::runtime_summary(rt), bounds::JAVA_TEXT);
    }
    if let Some(line) = java.runtime_line() {
        tracing::info!("{line}");
    }
    Ok(java)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use eceprobe_checks::java::JavaRequest;

    fn found(java_home: Option<&str>, summary: &str) -> JavaView {
        JavaView::Found {
            path: PathBuf::from("/jdk/lib/security/cacerts"),
            format: java::StoreFormat::Pkcs12,
            origin: java::Origin::JavaHomeEnv,
            java_home: java_home.map(PathBuf::from),
            trusted: 140,
            integrity_checked: true,
            encrypted: None,
            anchors: Vec::new(),
            summary: summary.into(),
        }
    }

    #[test]
    fn the_hello_carries_the_runtime_and_the_line_check_prints() {
        let mut hello = Hello::default();
        let line = "Java trust store: /jdk/lib/security/cacerts (PKCS12, 140 trusted certificates), as JSSE picks it for /jdk (JAVA_HOME)";
        fill_hello(&mut hello, &found(Some("/jdk"), line));
        assert_eq!(hello.java_runtime, "/jdk");
        assert_eq!(hello.java_truststore, line);

        // A store named directly, no runtime: the store is said, the runtime is not made up.
        fill_hello(&mut hello, &found(None, "Java trust store: /t.p12 (...)"));
        assert_eq!(hello.java_runtime, "");
        assert_eq!(hello.java_truststore, "Java trust store: /t.p12 (...)");

        // None and Error: no runtime, and the line still says which (never empty).
        let none = JavaView::None {
            summary: "Java: none found (set [ece] java_home ...)".into(),
        };
        fill_hello(&mut hello, &none);
        assert_eq!(
            (hello.java_runtime.as_str(), hello.java_truststore.as_str()),
            ("", none.summary())
        );
        let error = JavaView::Error {
            configured: false,
            summary: "Java trust store: /jdk/lib/security/cacerts: not a JKS or PKCS12 store"
                .into(),
        };
        fill_hello(&mut hello, &error);
        assert_eq!(hello.java_truststore, error.summary());
        assert_eq!(java_runtime_line(&error), "");

        // Bounded as the collector keeps it.
        let long_home = format!("/{}", "j".repeat(5000));
        fill_hello(
            &mut hello,
            &found(Some(&long_home), &"x".repeat(100 * 1024)),
        );
        assert!(hello.java_runtime.len() <= bounds::JAVA_TEXT);
        assert!(hello.java_truststore.len() <= bounds::JAVA_TEXT);
        assert!(hello.java_truststore.ends_with('…'));
    }

    #[test]
    fn run_refuses_a_configured_store_it_cannot_use_as_check_does() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = JavaConfig {
            request: JavaRequest {
                truststore: Some(dir.path().join("missing.p12")),
                ..Default::default()
            },
            password_file: None,
            ignore: false,
            run_check: true,
        };
        let mut hello = Hello::default();
        let e = for_run(&cfg, &mut hello).unwrap_err().to_string();
        assert!(e.starts_with("ece.java_truststore: "), "{e}");
        assert_eq!(hello.java_truststore, "");
    }
}
