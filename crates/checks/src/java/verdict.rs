//! The `ece-java` check: ECE's Java runtime judged without network. Its trust store against
//! the roots Microsoft publishes for its services (`java_truststore_incomplete`, a warning:
//! today's chains may pass, the next rotation would not), and the TLS the runtime can speak
//! (`java_tls_incompatible`, from its `release` and `java.security`; see `runtime.rs`).
//! The chains themselves are judged per check, as the host and as ECE's Java see them
//! (`tls::java_judge`).

use crate::catalog::{CheckId, Role};
use crate::failure::{FailureKind, Finding, Stage};
use crate::report::CheckReport;
use crate::tls::{java_judge::keytool_import, microsoft_roots_missing};

use super::JavaView;

/// What `ece-java` judges besides the trust store: the runtime's TLS, already in words.
#[derive(Debug, Clone, Default)]
pub struct RuntimeJudgement {
    /// The runtime's folder, when known (the check's target).
    pub java_home: Option<String>,
    /// Each a sentence naming the file, the setting and the fix.
    pub tls_problems: Vec<String>,
}

/// The check, where a trust store was read; None where no Java was found (nothing to judge,
/// no failure: the host's view stands) or it could not be read (`check` says why).
/// `storepass` is keytool's password argument for the store (never the password).
pub fn evaluate(
    view: &JavaView,
    storepass: &str,
    runtime: &RuntimeJudgement,
) -> Option<CheckReport> {
    let JavaView::Found {
        path,
        anchors,
        java_home,
        encrypted,
        ..
    } = view
    else {
        return None;
    };
    let store = path.display().to_string();
    let host = runtime
        .java_home
        .clone()
        .or_else(|| java_home.as_ref().map(|h| h.display().to_string()))
        .unwrap_or_else(|| store.clone());
    let finding = |kind: FailureKind, detail: String| Finding {
        kind,
        stage: Stage::Config,
        hint: kind.hint(CheckId::EceJava, Role::Both, &host, 0),
        detail,
        device: None,
    };
    let failures: Vec<Finding> = runtime
        .tls_problems
        .iter()
        .map(|p| finding(FailureKind::JavaTlsIncompatible, p.clone()))
        .collect();
    let ders: Vec<_> = anchors.iter().map(|a| a.der.clone()).collect();
    let missing = microsoft_roots_missing(&ders);
    let mut warnings = Vec::new();
    if let (false, Some(e)) = (missing.is_empty(), encrypted) {
        // Importing would not help: the JVM reads none of the store's encrypted certificates.
        warnings.push(finding(
            FailureKind::JavaTruststoreIncomplete,
            format!(
                "ECE's Java trust store {store}, as ECE's Java reads it, lacks {} of the {} roots Microsoft publishes for its services: {}",
                missing.len(),
                microsoft_roots_missing(&[]).len(),
                super::encrypted_words(e, anchors.len())
            ),
        ));
    } else if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|r| r.named()).collect();
        let commands: Vec<String> = missing
            .iter()
            .map(|r| keytool_import(&r.named(), &store, storepass, &r.file_source()))
            .collect();
        warnings.push(finding(
            FailureKind::JavaTruststoreIncomplete,
            format!(
                "ECE's Java trust store {store} lacks {} of the {} roots Microsoft publishes for its services: {}; a chain that moves to one of them will fail in ECE; import each: {}, then restart ECE's services",
                missing.len(),
                microsoft_roots_missing(&[]).len(),
                names.join(", "),
                commands.join("; ")
            ),
        ));
    }
    Some(CheckReport::offline(
        CheckId::EceJava,
        host,
        0,
        failures,
        warnings,
    ))
}
