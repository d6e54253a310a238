//! ECE's Java and its trust store (issue 14): ECE trusts its runtime's `cacerts` /
//! `jssecacerts`, not the OS store. [`discover`] finds the store as JSSE would,
//! [`store`] reads it (JKS and PKCS12) into trust anchors; [`find`] does both and says in
//! one sentence what it found, for `check` and its `--json`.

pub mod discover;
pub mod runtime;
pub mod store;
pub mod verdict;
pub mod winsvc;

use std::path::PathBuf;

use serde::Serialize;

pub use discover::{locate, DiscoverError, Host, JavaRequest, Located, Origin};
pub use runtime::{
    read_runtime, summary as runtime_summary, tls_problems, JavaRuntime, JavaVersion, RuntimeError,
    SuiteState,
};
pub use store::{
    read_store, EncryptedCertificates, JavaTrustStore, StoreError, StoreFormat, TrustAnchor,
};

/// What `check` says about ECE's Java.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum JavaView {
    /// The store JSSE would use, read.
    Found {
        path: PathBuf,
        format: StoreFormat,
        origin: Origin,
        #[serde(skip_serializing_if = "Option::is_none")]
        java_home: Option<PathBuf>,
        trusted: usize,
        /// False: a store read without its password (none given), as JSSE does.
        integrity_checked: bool,
        /// A PKCS12 store whose certificates are encrypted and ECE's Java is given no
        /// password: JSSE skips them (they are not among `anchors`).
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted: Option<EncryptedCertificates>,
        anchors: Vec<TrustAnchor>,
        summary: String,
    },
    /// No runtime here and none configured: the checks are judged as the host sees them.
    None { summary: String },
    /// A store was found or configured but could not be read (or a configured one is missing).
    Error { configured: bool, summary: String },
}

impl JavaView {
    /// The one line `check` prints before its table.
    pub fn summary(&self) -> &str {
        match self {
            JavaView::Found { summary, .. }
            | JavaView::None { summary }
            | JavaView::Error { summary, .. } => summary,
        }
    }
    /// The trust store, when one was read (the anchors the later verification uses).
    pub fn anchors(&self) -> Option<&[TrustAnchor]> {
        match self {
            JavaView::Found { anchors, .. } => Some(anchors),
            _ => None,
        }
    }
}

/// Finds and reads ECE's trust store with the password ECE's JVM loads it with: the
/// configured one (a secret file: the administrator telling us that password), else
/// `-Djavax.net.ssl.trustStorePassword` from the options, else none. JSSE has no default
/// (OpenJDK `sun/security/ssl/TrustStoreManager.java`: the property defaults to "", and ""
/// is a null password), so neither has this: changeit is never assumed.
pub fn find(req: &JavaRequest, host: &Host, password: Option<&str>) -> JavaView {
    let configured = req.configured();
    let located = match locate(req, host) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return JavaView::None {
                summary: "Java: none found (set [ece] java_home to the runtime ECE runs on); the checks below are judged as this host sees them".into(),
            }
        }
        Err(e) => {
            return JavaView::Error {
                configured,
                summary: format!("Java trust store: {e}"),
            }
        }
    };
    let password = password
        .or(located.option_password.as_ref().map(|s| s.expose()))
        .filter(|p| !p.is_empty());
    match read_store(&located.path, password) {
        Ok(store) => {
            let n = store.anchors.len();
            let how = match (&located.origin, &located.java_home) {
                (Origin::Configured, _) => "as configured (java_truststore)".to_string(),
                (Origin::JavaOption, _) => {
                    "as -Djavax.net.ssl.trustStore in java_options names it".to_string()
                }
                (origin, Some(home)) => format!(
                    "as JSSE picks it for {}{}",
                    home.display(),
                    match origin {
                        Origin::EceService { service } =>
                            format!(" (the Java of the Windows service '{service}')"),
                        Origin::JavaHomeEnv => " (JAVA_HOME)".into(),
                        Origin::Discovered =>
                            " (found; set [ece] java_home if ECE runs on another)".into(),
                        _ => String::new(),
                    }
                ),
                (_, None) => String::new(),
            };
            let unchecked = match (&store.encrypted, store.integrity_checked) {
                (Some(e), _) => format!("; {}", encrypted_words(e, n)),
                (None, true) => String::new(),
                (None, false) => "; its password is not changeit and none is set, so it was read unchecked, as JSSE reads it without javax.net.ssl.trustStorePassword".into(),
            };
            JavaView::Found {
                summary: format!(
                    "Java trust store: {} ({}, {n} trusted certificate{}), {how}{unchecked}",
                    store.path.display(),
                    store.format,
                    if n == 1 { "" } else { "s" },
                ),
                integrity_checked: store.integrity_checked,
                encrypted: store.encrypted,
                path: store.path,
                format: store.format,
                origin: located.origin,
                java_home: located.java_home,
                trusted: n,
                anchors: store.anchors,
            }
        }
        Err(e) => JavaView::Error {
            // Found by discovery only: said, not a failure (the administrator named none).
            configured,
            summary: format!("Java trust store: {e}"),
        },
    }
}

/// Why a PKCS12 store's encrypted certificates do not count: ECE's Java is given no
/// password. `trusted`: the certificates it holds in the clear.
pub fn encrypted_words(e: &EncryptedCertificates, trusted: usize) -> String {
    let which = match (e.certificates, trusted) {
        (Some(1), 0) => "its certificate is".to_string(),
        (Some(k), 0) => format!("its {k} certificates are"),
        (Some(1), _) => "1 of its certificates is".to_string(),
        (Some(k), _) => format!("{k} of its certificates are"),
        (None, 0) => "its certificates are".to_string(),
        (None, _) => "some of its certificates are".to_string(),
    };
    let none = match e.certificates {
        Some(1) => "so it does not trust it",
        _ => "so it trusts none of them",
    };
    format!(
        "{which} encrypted and ECE's Java is given no password (no -Djavax.net.ssl.trustStorePassword in java_options), {none}; add -Djavax.net.ssl.trustStorePassword to ECE's JVM options and set [ece] java_truststore_password_file, or store them unencrypted (keytool -J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE -J-Dkeystore.pkcs12.macAlgorithm=NONE, as the JDK's own cacerts since 18)"
    )
}
