//! A check's `checklist` column is the checklist items it verifies: every item a failure or
//! warning found on it can break, as the kinds' table says ([`FailureKind::items`]), is in
//! it. Which kinds can occur on which check is written here by family, an exhaustive match,
//! so a new kind must be placed before this test compiles.

use super::*;
use crate::FailureKind;

/// Where the probe engine (or the collector, for the latency warnings) finds a kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Where {
    /// On every check that connects: the network checks and the mailboxes' OAuth checks.
    Connecting,
    /// On the checks that speak HTTPS: the HTTPS network checks and the token endpoint.
    Https,
    /// On the mail protocol checks, network (capabilities) and OAuth (logins).
    MailProtocol,
    /// On a mailbox's OAuth protocol checks (the XOAUTH2 logins).
    MailboxLogin,
    /// On the token check (the token endpoint's answer and the token's claims).
    Token,
    /// On `ece-url` only.
    EceUrl,
    /// On `ece-config` and `ece-url` (the URL's shape).
    EceUrlShape,
    /// On `ece-config`.
    EceConfig,
    /// On `ece-java`.
    EceJava,
    /// On the TLS of every connecting check, and on `ece-java`.
    JavaTrust,
}

fn found(kind: FailureKind) -> Where {
    use FailureKind as K;
    match kind {
        K::DnsNxdomain
        | K::DnsTimeout
        | K::DnsFailure
        | K::TcpRefused
        | K::TcpTimeout
        | K::TcpUnreachable
        | K::TcpError
        | K::PartialReachability
        | K::ProxyUnreachable
        | K::ProxyAuthRequired
        | K::ProxyDenied
        | K::ProxyUpstreamFailed
        | K::ProxyUnexpected
        | K::TlsUntrusted
        | K::TlsNameMismatch
        | K::TlsExpired
        | K::TlsNotYetValid
        | K::TlsVersionUnsupported
        | K::TlsHandshakeFailed
        | K::TlsTimeout
        | K::TlsClosed
        | K::TlsStalled
        | K::PathMtuBlackhole
        | K::TlsIntercepted
        | K::Slow
        | K::PacketLoss
        | K::DnsSlow
        | K::ProtocolTimeout
        | K::ProtocolUnexpected
        | K::ProtocolLineTooLong
        | K::ProtocolTooMuchData
        | K::ProtocolClosed
        | K::SlowerThanPeers
        | K::LatencyRegression => Where::Connecting,
        K::ChainIncomplete | K::JavaUntrusted => Where::JavaTrust,
        K::JavaTruststoreIncomplete | K::JavaTlsIncompatible => Where::EceJava,
        // Its items (C2, "for the ECE URL") are the ECE URL's: on Microsoft's hosts the
        // collector judges an expiring certificate itself (`cert_expiring`, C9).
        K::CertExpiringSoon => Where::EceUrl,
        K::HttpStatus | K::OpenidInvalid => Where::Https,
        K::StarttlsMissing | K::Xoauth2Missing | K::Xoauth2Malformed => Where::MailProtocol,
        K::EceUrlNotHttps => Where::EceUrlShape,
        K::OauthRefreshTokenExpired
        | K::OauthGrantRevoked
        | K::OauthSigninFrequency
        | K::OauthRedirectUriMismatch
        | K::OauthClientSecretInvalid
        | K::OauthClientSecretExpired
        | K::OauthAppNotFound
        | K::OauthConsentMissing
        | K::OauthAdminConsentRequired
        | K::OauthMfaRequired
        | K::OauthBadCredentials
        | K::OauthConditionalAccess
        | K::OauthSecurityDefaults
        | K::OauthUserOrTenantNotFound
        | K::OauthWrongCloud
        | K::OauthInvalidScope
        | K::OauthDeviceUserMismatch
        | K::OauthRefreshTokenInvalid
        | K::OauthTokenError
        | K::TokenWrongUser
        | K::TokenScopeMissing
        | K::TokenWrongAudience
        | K::TokenLifetimeUnexpected
        | K::OfflineAccessMissing => Where::Token,
        K::Xoauth2Rejected
        | K::MailboxNotConnected
        | K::SmtpAuthDisabledTenant
        | K::SmtpAuthDisabledMailbox => Where::MailboxLogin,
        K::EceVersionUnsupported
        | K::EceEsTooOld
        | K::EceUrlMissing
        | K::RedirectUriMismatch
        | K::EceVersionUndeclared => Where::EceConfig,
    }
}

fn occurs_on(kind: FailureKind, check: CheckId) -> bool {
    use CheckId as C;
    let connects = check.runs() != Runs::WhereDeclared;
    let https = matches!(check.row_dialog(), RowDialog::Https { .. });
    let mail = matches!(
        check.row_dialog(),
        RowDialog::Imap | RowDialog::Pop3 | RowDialog::Smtp
    );
    let oauth = CheckId::OAUTH.contains(&check);
    match found(kind) {
        Where::Connecting => connects,
        Where::Https => https,
        Where::MailProtocol => mail,
        Where::MailboxLogin => mail && oauth,
        Where::Token => check == C::OauthToken,
        Where::EceUrl => check == C::EceUrl,
        Where::EceUrlShape => matches!(check, C::EceUrl | C::EceConfig),
        Where::EceConfig => check == C::EceConfig,
        Where::EceJava => check == C::EceJava,
        Where::JavaTrust => connects || check == C::EceJava,
    }
}

#[test]
fn a_checks_checklist_holds_every_item_its_kinds_break() {
    let mut wrong = Vec::new();
    for check in CheckId::known() {
        let mut breaks: Vec<ChecklistItem> = FailureKind::ALL
            .into_iter()
            .filter(|k| occurs_on(*k, check))
            .flat_map(|k| k.items(check).iter().copied())
            .collect();
        breaks.sort();
        breaks.dedup();
        let missing: Vec<_> = breaks
            .iter()
            .filter(|i| !check.checklist().contains(i))
            .copied()
            .collect();
        if !missing.is_empty() {
            wrong.push(format!(
                "{check}: its kinds break {}, its checklist column says {}: {} missing",
                ChecklistItem::join(&breaks),
                ChecklistItem::join(check.checklist()),
                ChecklistItem::join(&missing)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
