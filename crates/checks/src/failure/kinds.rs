//! The one table of failure kinds: for each kind its name (and the names older agents sent
//! for it), the team that closes it, the checklist items it breaks, its fix, and whether a
//! firewall rule fixes it. An exhaustive match, so the compiler refuses a kind without its
//! row; everything else about a kind (`as_str`, parsing, `owner`, `blocks`,
//! `firewall_rule_fixes`, the remedy and its hint) is derived from it.

use super::row::{row, Fix, Items, KindDef};
use super::{hints as net, latency_hints as latency, oauth_hints as oauth, path_hints as path};
use super::{FailureKind, Owner};
use crate::catalog::CheckId;
use crate::ChecklistItem::{self, C1, C10, C2, C3, C4, C5, C6, C7, C8, C9};

impl FailureKind {
    /// The kind's row.
    pub(crate) fn def(self) -> KindDef {
        use FailureKind as K;
        use Fix::{Made, Text};
        use Owner::{Ece, Host, Network, M365};
        match self {
            // The path: resolution, reachability, proxies.
            K::DnsNxdomain => row("dns_nxdomain", Network, &[C9], Made(net::dns_nxdomain)),
            K::DnsTimeout => row("dns_timeout", Network, &[C9], Made(net::dns_unanswered)),
            K::DnsFailure => row("dns_failure", Network, &[C9], Made(net::dns_unanswered)),
            K::TcpRefused => row("tcp_refused", Network, &[C10], Made(net::tcp_refused)).blocking(),
            K::TcpTimeout => row("tcp_timeout", Network, &[C10], Made(net::tcp_timeout)).blocking(),
            K::TcpUnreachable => row(
                "tcp_unreachable",
                Network,
                &[C10],
                Made(net::tcp_unreachable),
            )
            .blocking(),
            K::TcpError => row("tcp_error", Network, &[C10], Made(net::tcp_error)),
            K::PartialReachability => row(
                "partial_reachability",
                Network,
                &[C9, C10],
                Made(net::partial_reachability),
            )
            .blocking(),
            K::ProxyUnreachable => row(
                "proxy_unreachable",
                Network,
                &[C8],
                Made(net::proxy_unreachable),
            ),
            K::ProxyAuthRequired => row(
                "proxy_auth_required",
                Network,
                &[C8, C9],
                Made(net::proxy_auth_required),
            ),
            K::ProxyDenied => row("proxy_denied", Network, &[C9], Made(net::proxy_denied)),
            K::ProxyUpstreamFailed => row(
                "proxy_upstream_failed",
                Network,
                &[C9, C10],
                Made(net::proxy_upstream_failed),
            ),
            K::ProxyUnexpected => row(
                "proxy_unexpected",
                Network,
                &[C8],
                Made(net::proxy_unexpected),
            ),
            // TLS: the host's trust and clock, and what in between touches the handshake.
            K::TlsUntrusted => row("tls_untrusted", Host, &[C9], Made(net::tls_untrusted)),
            K::TlsNameMismatch => row(
                "tls_name_mismatch",
                Network,
                &[C9],
                Made(net::tls_name_mismatch),
            ),
            K::TlsExpired => row("tls_expired", Host, &[C9], Made(net::tls_validity)),
            K::TlsNotYetValid => row("tls_not_yet_valid", Host, &[C9], Made(net::tls_validity)),
            K::TlsVersionUnsupported => row(
                "tls_version_unsupported",
                Network,
                &[C10],
                Made(net::tls_version_unsupported),
            ),
            K::TlsHandshakeFailed => row(
                "tls_handshake_failed",
                Network,
                &[C9, C10],
                Made(net::tls_handshake_failed),
            ),
            K::TlsTimeout => row(
                "tls_timeout",
                Network,
                &[C9, C10],
                Made(net::tls_handshake_failed),
            ),
            K::TlsClosed => row(
                "tls_closed",
                Network,
                &[C9, C10],
                Made(net::tls_handshake_failed),
            ),
            K::TlsStalled => {
                row("tls_stalled", Network, &[C9, C10], Made(path::stalled)).blocking()
            }
            K::PathMtuBlackhole => row(
                "path_mtu_blackhole",
                Network,
                &[C10],
                Made(path::mtu_blackhole),
            )
            .blocking(),
            K::TlsIntercepted => row(
                "tls_intercepted",
                Network,
                &[C9],
                Made(net::tls_intercepted),
            )
            .fixed_by_firewall_rule(),
            K::ChainIncomplete => row(
                "chain_incomplete",
                Network,
                &[C9],
                Made(net::chain_incomplete),
            ),
            // ECE's Java on this host.
            K::JavaUntrusted => row("java_untrusted", Host, &[C9], Made(net::java_untrusted)),
            K::JavaTruststoreIncomplete => row(
                "java_truststore_incomplete",
                Host,
                &[C9],
                Made(net::java_truststore_incomplete),
            ),
            K::JavaTlsIncompatible => row(
                "java_tls_incompatible",
                Host,
                &[C10],
                Made(net::java_tls_incompatible),
            ),
            K::CertExpiringSoon => row(
                "cert_expiring_soon",
                Ece,
                &[C2],
                Made(net::cert_expiring_soon),
            )
            .items_note(" for the ECE URL"),
            // A path that works, but slowly or lossily.
            K::Slow => row("slow", Network, &[C10], Made(path::slow)),
            K::PacketLoss => row("packet_loss", Network, &[C10], Made(path::packet_loss)),
            K::DnsSlow => row("dns_slow", Network, &[C9], Made(path::dns_slow)),
            // Something in between answers instead of Microsoft.
            K::ProtocolTimeout => row(
                "protocol_timeout",
                Network,
                &[C9, C10],
                Made(net::protocol_unexpected),
            ),
            K::ProtocolUnexpected => row(
                "protocol_unexpected",
                Network,
                &[C9, C10],
                Made(net::protocol_unexpected),
            ),
            K::ProtocolLineTooLong => row(
                "protocol_line_too_long",
                Network,
                &[C9, C10],
                Made(net::protocol_unexpected),
            ),
            K::ProtocolTooMuchData => row(
                "protocol_too_much_data",
                Network,
                &[C9, C10],
                Made(net::protocol_unexpected),
            ),
            K::ProtocolClosed => row(
                "protocol_closed",
                Network,
                &[C9, C10],
                Made(net::protocol_unexpected),
            ),
            K::StarttlsMissing => row(
                "starttls_missing",
                Network,
                &[C10],
                Made(net::starttls_missing),
            ),
            K::Xoauth2Missing => row(
                "xoauth2_missing",
                Network,
                &[C5, C10],
                Made(net::xoauth2_missing),
            ),
            K::HttpStatus => row(
                "http_status",
                Network,
                &[C8, C9],
                Made(net::not_sign_in_service),
            ),
            K::OpenidInvalid => row(
                "openid_invalid",
                Network,
                &[C8, C9],
                Made(net::not_sign_in_service),
            ),
            K::EceUrlNotHttps => row(
                "ece_url_not_https",
                Ece,
                &[C2],
                Made(net::ece_url_not_https),
            ),
            // The token endpoint's refusals.
            K::OauthRefreshTokenExpired => row(
                "oauth_refresh_token_expired",
                Ece,
                &[C4],
                Text(oauth::OAUTH_REFRESH_TOKEN_EXPIRED),
            ),
            K::OauthGrantRevoked => row(
                "oauth_grant_revoked",
                Ece,
                &[C4],
                Text(oauth::OAUTH_GRANT_REVOKED),
            ),
            K::OauthSigninFrequency => row(
                "oauth_signin_frequency",
                M365,
                &[C3],
                Text(oauth::OAUTH_SIGNIN_FREQUENCY),
            ),
            K::OauthRedirectUriMismatch => row(
                "oauth_redirect_uri_mismatch",
                M365,
                &[C2, C3],
                Text(oauth::OAUTH_REDIRECT_URI_MISMATCH),
            ),
            K::OauthClientSecretInvalid => row(
                "oauth_client_secret_invalid",
                Ece,
                &[C3],
                Text(oauth::OAUTH_CLIENT_SECRET_INVALID),
            ),
            K::OauthClientSecretExpired => row(
                "oauth_client_secret_expired",
                M365,
                &[C3],
                Text(oauth::OAUTH_CLIENT_SECRET_EXPIRED),
            ),
            K::OauthAppNotFound => row(
                "oauth_app_not_found",
                M365,
                &[C3],
                Text(oauth::OAUTH_APP_NOT_FOUND),
            ),
            K::OauthConsentMissing => row(
                "oauth_consent_missing",
                M365,
                &[C3],
                Text(oauth::OAUTH_CONSENT_MISSING),
            ),
            K::OauthAdminConsentRequired => row(
                "oauth_admin_consent_required",
                M365,
                &[C3],
                Text(oauth::OAUTH_ADMIN_CONSENT_REQUIRED),
            ),
            K::OauthMfaRequired => row(
                "oauth_mfa_required",
                M365,
                &[C4],
                Text(oauth::OAUTH_MFA_REQUIRED),
            ),
            K::OauthBadCredentials => row(
                "oauth_bad_credentials",
                Ece,
                &[C4],
                Text(oauth::OAUTH_BAD_CREDENTIALS),
            ),
            K::OauthConditionalAccess => row(
                "oauth_conditional_access",
                M365,
                &[C8],
                Text(oauth::OAUTH_CONDITIONAL_ACCESS),
            ),
            K::OauthSecurityDefaults => row(
                "oauth_security_defaults",
                M365,
                &[C4],
                Text(oauth::OAUTH_SECURITY_DEFAULTS),
            ),
            K::OauthUserOrTenantNotFound => row(
                "oauth_user_or_tenant_not_found",
                Ece,
                &[C3, C4],
                Text(oauth::OAUTH_USER_OR_TENANT_NOT_FOUND),
            ),
            K::OauthWrongCloud => row(
                "oauth_wrong_cloud",
                Ece,
                &[C9],
                Text(oauth::OAUTH_WRONG_CLOUD),
            ),
            K::OauthInvalidScope => row(
                "oauth_invalid_scope",
                Ece,
                &[C3],
                Text(oauth::OAUTH_INVALID_SCOPE),
            ),
            K::OauthDeviceUserMismatch => row(
                "oauth_device_user_mismatch",
                Ece,
                &[C4],
                Text(oauth::OAUTH_DEVICE_USER_MISMATCH),
            ),
            K::OauthRefreshTokenInvalid => row(
                "oauth_refresh_token_invalid",
                Ece,
                &[C4],
                Text(oauth::OAUTH_REFRESH_TOKEN_INVALID),
            ),
            K::OauthTokenError => row(
                "oauth_token_error",
                M365,
                &[C3, C4],
                Text(oauth::OAUTH_TOKEN_ERROR),
            ),
            // The token's claims.
            K::TokenWrongUser => row(
                "token_wrong_user",
                Ece,
                &[C4, C7],
                Text(oauth::TOKEN_WRONG_USER),
            ),
            K::TokenScopeMissing => row(
                "token_scope_missing",
                M365,
                &[C3],
                Text(oauth::TOKEN_SCOPE_MISSING),
            ),
            K::TokenWrongAudience => row(
                "token_wrong_audience",
                Ece,
                &[C3],
                Text(oauth::TOKEN_WRONG_AUDIENCE),
            ),
            K::TokenLifetimeUnexpected => row(
                "token_lifetime_unexpected",
                M365,
                &[C3],
                Text(oauth::TOKEN_LIFETIME_UNEXPECTED),
            ),
            K::OfflineAccessMissing => row(
                "offline_access_missing",
                M365,
                &[C3],
                Text(oauth::OFFLINE_ACCESS_MISSING),
            ),
            // The XOAUTH2 logins.
            K::Xoauth2Rejected => row("xoauth2_rejected", M365, &[], Made(oauth::xoauth2_rejected))
                .items_by_check(oauth::xoauth2_rejected_items)
                .legacy(&["pop_login_refused"]),
            K::MailboxNotConnected => row(
                "mailbox_not_connected",
                M365,
                &[C5, C6, C7],
                Made(oauth::mailbox_not_connected),
            ),
            K::SmtpAuthDisabledTenant => row(
                "smtp_auth_disabled_tenant",
                M365,
                &[C5],
                Text(oauth::SMTP_AUTH_DISABLED_TENANT),
            ),
            K::SmtpAuthDisabledMailbox => row(
                "smtp_auth_disabled_mailbox",
                M365,
                &[C5],
                Text(oauth::SMTP_AUTH_DISABLED_MAILBOX),
            ),
            K::Xoauth2Malformed => row(
                "xoauth2_malformed",
                Ece,
                &[C5, C10],
                Text(oauth::XOAUTH2_MALFORMED),
            ),
            // ECE's declared configuration (`ece-config`).
            K::EceVersionUnsupported => row(
                "ece_version_unsupported",
                Ece,
                &[C1],
                Made(net::ece_version_unsupported),
            ),
            K::EceEsTooOld => row("ece_es_too_old", Ece, &[C1], Made(net::ece_es_too_old)),
            K::EceUrlMissing => row("ece_url_missing", Ece, &[C2], Made(net::ece_url_missing)),
            K::RedirectUriMismatch => row(
                "redirect_uri_mismatch",
                M365,
                &[C2, C3],
                Made(net::redirect_uri_mismatch),
            ),
            K::EceVersionUndeclared => row(
                "ece_version_undeclared",
                Ece,
                &[C1],
                Made(net::ece_version_undeclared),
            ),
            // The collector's latency warnings.
            K::SlowerThanPeers => row(
                "slower_than_peers",
                Network,
                &[C10],
                Made(latency::slower_than_peers),
            ),
            K::LatencyRegression => row(
                "latency_regression",
                Network,
                &[C10],
                Made(latency::regression),
            ),
        }
    }

    /// The name results carry: `tcp_timeout`.
    pub fn as_str(self) -> &'static str {
        self.def().name
    }

    /// The team that closes it (the hint says how).
    pub fn owner(self) -> Owner {
        self.def().owner
    }

    /// Whether a firewall rule fixes it: the destination is refused, dropped, unreachable,
    /// stalled, black-holed or inspected on the path (see [`FailureKind::blocks`]).
    pub fn firewall_rule_fixes(self) -> bool {
        self.def().firewall_rule_fixes
    }

    /// Whether it means the path blocks the destination (refused, dropped, unreachable,
    /// stalled, black-holed): a rule that was never opened, unlike TLS inspection.
    pub fn blocks(self) -> bool {
        self.def().blocks
    }

    /// The checklist items it breaks on `check`.
    pub fn items(self, check: CheckId) -> &'static [ChecklistItem] {
        match self.def().items {
            Items::Always(items) => items,
            Items::ByCheck(items) => items(check),
        }
    }
}
