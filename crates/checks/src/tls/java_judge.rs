//! A handshake's verdict with ECE's Java beside the host: the host may trust a chain that
//! ECE's Java cannot build (`java_untrusted`: a root missing from its trust store), and a
//! server may leave out an intermediate that Windows fetches and Java does not
//! (`chain_incomplete`). Applied after `intercept::judge`, to Microsoft's hosts (ECE's Java
//! talks to them; its own External Application URL is for browsers).

use crate::failure::FailureKind;
use crate::report::{JavaChainVerdict, MissingIssuer, TlsInfo};
use crate::StageError;

/// The verdict given what the verifier saw. A refusal for another reason (expired, name,
/// timeout) says more and is kept.
pub(crate) fn judge<T>(info: &TlsInfo, outcome: Result<T, StageError>) -> Result<T, StageError> {
    let java_refused = info.java.as_ref().is_some_and(|j| !j.trusted);
    let host_refused_chain = matches!(&outcome, Err(e) if e.kind == FailureKind::TlsUntrusted);
    if let Some(missing) = &info.missing_issuer {
        if host_refused_chain || (outcome.is_ok() && java_refused) {
            return Err(StageError::new(
                FailureKind::ChainIncomplete,
                incomplete(info, missing),
            ));
        }
    }
    let Some(java) = &info.java else {
        return outcome;
    };
    match outcome {
        Ok(_) if !java.trusted => Err(StageError::new(
            FailureKind::JavaUntrusted,
            format!(
                "this server trusts the chain, but {}",
                java_refusal(java, info)
            ),
        )),
        Err(mut e)
            if matches!(
                e.kind,
                FailureKind::TlsUntrusted | FailureKind::TlsIntercepted
            ) =>
        {
            e.detail = match java.trusted {
                true => format!(
                    "{}; ECE's Java trusts it (trust store {}): this server's own programs do not",
                    e.detail, java.store
                ),
                false => format!(
                    "{}; ECE's Java does not trust it either (trust store {})",
                    e.detail, java.store
                ),
            };
            Err(e)
        }
        other => other,
    }
}

/// "ECE's Java does not: ..." with the root and the exact `keytool` command.
fn java_refusal(java: &JavaChainVerdict, info: &TlsInfo) -> String {
    let store = &java.store;
    if let Some(why) = &java.unreadable {
        // Importing a root would not help: the JVM cannot read the store's certificates.
        let chain = match (&java.root, &info.chain_root) {
            (Some(root), _) => format!(" (it ends at {root})"),
            (None, Some(ca)) => format!(" (issued under '{ca}')"),
            (None, None) => String::new(),
        };
        return format!(
            "ECE's Java does not: its trust store {store} has no certificate it can read that the chain{chain} leads to: {why}"
        );
    }
    let Some(root) = &java.root else {
        let ca = info.chain_root.as_deref().unwrap_or("an unnamed CA");
        return format!(
            "ECE's Java does not: its trust store {store} has no certificate the chain (issued under '{ca}') leads to; import that CA's root into it with keytool -importcert, or run ECE on a Java runtime that trusts it"
        );
    };
    let file = java
        .root_file
        .as_deref()
        .unwrap_or("the root's certificate file");
    format!(
        "ECE's Java does not: its trust store {store} lacks {root}, the root the chain ends at; import it with {} and restart ECE's services, or run ECE on a newer Java runtime that has it",
        keytool_import(root, store, &java.storepass, file)
    )
}

/// The exact `keytool` command that imports the root `named` ("'CN' (SHA-1 ...)") into
/// `store`, with where its file comes from. `storepass` is keytool's password argument
/// (`-storepass changeit` when empty).
pub(crate) fn keytool_import(named: &str, store: &str, storepass: &str, file: &str) -> String {
    let storepass = match storepass {
        "" => "-storepass changeit",
        s => s,
    };
    format!(
        "keytool -importcert -noprompt -trustcacerts -alias {} -file ROOT.crt -keystore \"{store}\" {storepass} (ROOT.crt from {file})",
        keytool_alias(named)
    )
}

/// A keytool alias from a root's name: "'DigiCert Global Root G2' (SHA-1 ...)" gives
/// "digicertglobalrootg2", as Java's own cacerts names its entries.
fn keytool_alias(named: &str) -> String {
    let name = named.split('\'').nth(1).unwrap_or(named);
    let alias: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if alias.is_empty() {
        "eceprobe-root".to_string()
    } else {
        alias
    }
}

fn incomplete(info: &TlsInfo, missing: &MissingIssuer) -> String {
    let n = info.chain.len();
    let sent = match n {
        1 => "only its own certificate".to_string(),
        n => format!("{n} certificates"),
    };
    let fetch = match &missing.aia_url {
        Some(url) => format!(
            "; Windows and browsers fetch it from {url} and work, ECE's Java and this agent do not fetch it"
        ),
        None => "; Windows and browsers may fetch it, ECE's Java and this agent do not".into(),
    };
    format!(
        "the server sent {sent} but not '{}', the intermediate that issued it, which is no root this server, ECE's Java or Microsoft's list has: no path can be built from the chain as sent{fetch}",
        missing.subject
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn java(trusted: bool) -> JavaChainVerdict {
        JavaChainVerdict {
            trusted,
            store: "/opt/jre/lib/security/cacerts".into(),
            root: Some(
                "'DigiCert Global Root G2' (SHA-1 DF3C24F9BFD666761B268073FE06D1CC8D4F82A4)".into(),
            ),
            root_file: Some("https://cacerts.digicert.com/DigiCertGlobalRootG2.crt".into()),
            storepass: String::new(),
            unreadable: None,
        }
    }

    fn info(java: Option<JavaChainVerdict>, missing: Option<MissingIssuer>) -> TlsInfo {
        TlsInfo {
            java,
            missing_issuer: missing,
            chain_root: Some("CN=DigiCert Global Root G2".into()),
            ..TlsInfo::default()
        }
    }

    fn refused() -> Result<(), StageError> {
        Err(StageError::new(
            FailureKind::TlsUntrusted,
            "issued by 'X', which this server does not trust".into(),
        ))
    }

    #[test]
    fn host_trusts_java_does_not_names_the_root_store_and_command() {
        let e = judge(&info(Some(java(false)), None), Ok(())).unwrap_err();
        assert_eq!(e.kind, FailureKind::JavaUntrusted);
        assert!(e.detail.starts_with("this server trusts the chain, but ECE's Java does not: its trust store /opt/jre/lib/security/cacerts lacks 'DigiCert Global Root G2' (SHA-1 DF3C24F9BFD666761B268073FE06D1CC8D4F82A4)"), "{}", e.detail);
        assert!(e.detail.contains("keytool -importcert -noprompt -trustcacerts -alias digicertglobalrootg2 -file ROOT.crt -keystore \"/opt/jre/lib/security/cacerts\" -storepass changeit (ROOT.crt from https://cacerts.digicert.com/DigiCertGlobalRootG2.crt)"), "{}", e.detail);
    }

    /// A store whose certificates ECE's Java cannot read (encrypted, no password): the
    /// detail says why instead of "import the root", which would not help.
    #[test]
    fn an_unreadable_store_is_said_not_an_import() {
        let why = "its 3 certificates are encrypted and ECE's Java is given no password";
        let unreadable = |root: bool| JavaChainVerdict {
            unreadable: Some(why.into()),
            root: java(false).root.filter(|_| root),
            ..java(false)
        };
        let e = judge(&info(Some(unreadable(true)), None), Ok(())).unwrap_err();
        assert_eq!(e.kind, FailureKind::JavaUntrusted);
        assert_eq!(e.detail, format!("this server trusts the chain, but ECE's Java does not: its trust store /opt/jre/lib/security/cacerts has no certificate it can read that the chain (it ends at 'DigiCert Global Root G2' (SHA-1 DF3C24F9BFD666761B268073FE06D1CC8D4F82A4)) leads to: {why}"));
        let e = judge(&info(Some(unreadable(false)), None), Ok(())).unwrap_err();
        assert_eq!(e.detail, format!("this server trusts the chain, but ECE's Java does not: its trust store /opt/jre/lib/security/cacerts has no certificate it can read that the chain (issued under 'CN=DigiCert Global Root G2') leads to: {why}"));
        assert!(!e.detail.contains("keytool -importcert"), "{}", e.detail);
    }

    #[test]
    fn both_views_are_said_when_the_host_refuses() {
        let e = judge(&info(Some(java(true)), None), refused()).unwrap_err();
        assert_eq!(e.kind, FailureKind::TlsUntrusted);
        assert!(e.detail.ends_with("; ECE's Java trusts it (trust store /opt/jre/lib/security/cacerts): this server's own programs do not"), "{}", e.detail);
        let e = judge(&info(Some(java(false)), None), refused()).unwrap_err();
        assert!(
            e.detail.ends_with(
                "ECE's Java does not trust it either (trust store /opt/jre/lib/security/cacerts)"
            ),
            "{}",
            e.detail
        );
    }

    #[test]
    fn a_left_out_intermediate_is_chain_incomplete_for_either_view() {
        let missing = MissingIssuer {
            subject: "CN=eceprobe testlab TLS CA".into(),
            aia_url: Some("http://ca.example/tls.crt".into()),
        };
        for (j, outcome) in [(Some(java(false)), Ok(())), (None, refused())] {
            let e = judge(&info(j, Some(missing.clone())), outcome).unwrap_err();
            assert_eq!(e.kind, FailureKind::ChainIncomplete);
            assert!(
                e.detail
                    .contains("not 'CN=eceprobe testlab TLS CA', the intermediate"),
                "{}",
                e.detail
            );
            assert!(
                e.detail.contains("fetch it from http://ca.example/tls.crt"),
                "{}",
                e.detail
            );
        }
    }

    #[test]
    fn agreement_and_other_failures_are_left_as_they_were() {
        assert!(judge(&info(Some(java(true)), None), Ok(())).is_ok());
        assert!(judge(&info(None, None), Ok(())).is_ok());
        let expired: Result<(), _> =
            Err(StageError::new(FailureKind::TlsExpired, "expired".into()));
        let e = judge(&info(Some(java(false)), None), expired).unwrap_err();
        assert_eq!(
            (e.kind, e.detail.as_str()),
            (FailureKind::TlsExpired, "expired")
        );
    }
}
