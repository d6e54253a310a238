//! Whose chain a Microsoft host presented, judged by the key of the root it verifies up to
//! (see `verifier.rs`): a chain that reaches none of the expected roots was re-signed by a
//! TLS-inspecting proxy, a failure naming its CA whether or not this host trusts that CA;
//! a genuine chain whose root this host lacks stays untrusted, and says so.

use crate::failure::FailureKind;
use crate::report::{anchor_label, TlsInfo};
use crate::StageError;

/// The verdict of a handshake with a Microsoft host, given what the verifier saw. Only an
/// untrusted chain's refusal or a completed handshake is re-judged; every other failure
/// (timeout, reset, expiry, name) says more about where the connection died and is kept.
pub(crate) fn judge<T>(info: &TlsInfo, outcome: Result<T, StageError>) -> Result<T, StageError> {
    let untrusted = match &outcome {
        Ok(_) => None,
        Err(e) if e.kind == FailureKind::TlsUntrusted => Some(e.detail.as_str()),
        Err(_) => return outcome,
    };
    let ca = info.chain_root.as_deref().unwrap_or("an unnamed CA");
    match (info.expected_root, untrusted) {
        (Some(false), None) => Err(StageError::new(
            FailureKind::TlsIntercepted,
            format!(
                "the chain is trusted here but ends at '{ca}', which is neither a root Microsoft uses nor an expected root you declared: '{ca}' inspects TLS to this host"
            ),
        )),
        (Some(false), Some(refusal)) => Err(StageError::new(
            FailureKind::TlsIntercepted,
            format!(
                "{refusal}; the chain does not verify up to any root Microsoft uses nor an expected root you declared: '{ca}' inspects TLS to this host"
            ),
        )),
        (Some(true), Some(refusal)) => {
            let root = anchor_label(Some(true), info.expected_root_source).unwrap_or("an expected root");
            Err(StageError::new(
                FailureKind::TlsUntrusted,
                format!("{refusal}; the chain verifies up to {root}, which this server does not trust"),
            ))
        }
        _ => outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::RootSource;

    fn info(expected_root: Option<bool>, source: Option<RootSource>) -> TlsInfo {
        TlsInfo {
            expected_root,
            expected_root_source: source,
            chain_root: Some("Contoso Inspection CA".into()),
            ..TlsInfo::default()
        }
    }

    fn refused() -> Result<(), StageError> {
        Err(StageError::new(
            FailureKind::TlsUntrusted,
            "issued by 'Contoso Inspection CA', which this server does not trust".into(),
        ))
    }

    #[test]
    fn someone_elses_chain_is_interception_naming_its_ca_trusted_or_not() {
        for outcome in [Ok(()), refused()] {
            let e = judge(&info(Some(false), None), outcome).unwrap_err();
            assert_eq!(e.kind, FailureKind::TlsIntercepted);
            assert!(
                e.detail.contains("'Contoso Inspection CA' inspects TLS"),
                "{}",
                e.detail
            );
        }
    }

    #[test]
    fn microsofts_chain_without_its_root_here_stays_untrusted() {
        let e = judge(&info(Some(true), Some(RootSource::Microsoft)), refused()).unwrap_err();
        assert_eq!(e.kind, FailureKind::TlsUntrusted);
        assert!(
            e.detail
                .ends_with("verifies up to a Microsoft root, which this server does not trust"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn what_cannot_be_judged_is_left_as_it_was() {
        // An untrusted chain broken in another way, a genuine trusted chain, other failures.
        assert_eq!(
            judge(&info(None, None), refused()).unwrap_err().kind,
            FailureKind::TlsUntrusted
        );
        assert!(judge(&info(Some(true), Some(RootSource::Microsoft)), Ok(())).is_ok());
        let expired: Result<(), _> =
            Err(StageError::new(FailureKind::TlsExpired, "expired".into()));
        assert_eq!(
            judge(&info(Some(false), None), expired).unwrap_err().kind,
            FailureKind::TlsExpired
        );
    }
}
