//! The one table from a token endpoint error's AADSTS number to a failure kind
//! (M365-FACTS.md, "Token endpoint errors"). The decision uses the number only, never the
//! description text, whose wording Microsoft changes and translates.

use crate::failure::FailureKind;

/// (AADSTS numbers, kind, what it means). First match wins.
const TABLE: &[(&[u32], FailureKind, &str)] = &[
    (
        &[70008, 700082],
        FailureKind::OauthRefreshTokenExpired,
        "refresh token expired (inactivity or maximum age)",
    ),
    (
        &[50173],
        FailureKind::OauthGrantRevoked,
        "grant revoked, sign in again",
    ),
    (
        &[70043],
        FailureKind::OauthSigninFrequency,
        "Conditional Access sign-in frequency",
    ),
    (
        &[50011],
        FailureKind::OauthRedirectUriMismatch,
        "redirect URI does not match the app registration",
    ),
    (
        &[7000215, 7000218],
        FailureKind::OauthClientSecretInvalid,
        "invalid or missing client secret",
    ),
    (
        &[7000222],
        FailureKind::OauthClientSecretExpired,
        "client secret expired",
    ),
    (
        &[700016],
        FailureKind::OauthAppNotFound,
        "application not found in the tenant",
    ),
    (&[65001], FailureKind::OauthConsentMissing, "no consent"),
    (
        &[90094],
        FailureKind::OauthAdminConsentRequired,
        "admin consent required",
    ),
    (
        &[50076, 50079],
        FailureKind::OauthMfaRequired,
        "multi-factor authentication required or not enrolled",
    ),
    (
        &[50126],
        FailureKind::OauthBadCredentials,
        "bad user name or password",
    ),
    (
        &[53003],
        FailureKind::OauthConditionalAccess,
        "blocked by Conditional Access",
    ),
    (
        &[530035],
        FailureKind::OauthSecurityDefaults,
        "blocked by security defaults",
    ),
    (
        &[50020, 50034, 90002],
        FailureKind::OauthUserOrTenantNotFound,
        "user or tenant not found",
    ),
    (
        &[90038],
        FailureKind::OauthWrongCloud,
        "tenant in another national cloud",
    ),
    (
        &[70011, 28002],
        FailureKind::OauthInvalidScope,
        "invalid scope",
    ),
    (
        &[81012],
        FailureKind::OauthDeviceUserMismatch,
        "the device's user differs from the chosen user",
    ),
    (
        &[9002313],
        FailureKind::OauthRefreshTokenInvalid,
        "malformed or unknown refresh token",
    ),
];

/// The kind for an AADSTS number, and a short meaning; unknown numbers (and a missing
/// one) are [`FailureKind::OauthTokenError`].
pub fn classify(code: Option<u32>) -> (FailureKind, &'static str) {
    code.and_then(|c| TABLE.iter().find(|(codes, _, _)| codes.contains(&c)))
        .map(|(_, kind, meaning)| (*kind, *meaning))
        .unwrap_or((FailureKind::OauthTokenError, "token endpoint error"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_maps_each_documented_code() {
        let cases = [
            (70008, FailureKind::OauthRefreshTokenExpired),
            (700082, FailureKind::OauthRefreshTokenExpired),
            (50173, FailureKind::OauthGrantRevoked),
            (70043, FailureKind::OauthSigninFrequency),
            (50011, FailureKind::OauthRedirectUriMismatch),
            (7000215, FailureKind::OauthClientSecretInvalid),
            (7000222, FailureKind::OauthClientSecretExpired),
            (700016, FailureKind::OauthAppNotFound),
            (65001, FailureKind::OauthConsentMissing),
            (90094, FailureKind::OauthAdminConsentRequired),
            (50076, FailureKind::OauthMfaRequired),
            (50079, FailureKind::OauthMfaRequired),
            (50126, FailureKind::OauthBadCredentials),
            (53003, FailureKind::OauthConditionalAccess),
            (530035, FailureKind::OauthSecurityDefaults),
            (50020, FailureKind::OauthUserOrTenantNotFound),
            (50034, FailureKind::OauthUserOrTenantNotFound),
            (90002, FailureKind::OauthUserOrTenantNotFound),
            (90038, FailureKind::OauthWrongCloud),
            (70011, FailureKind::OauthInvalidScope),
            (28002, FailureKind::OauthInvalidScope),
            (81012, FailureKind::OauthDeviceUserMismatch),
            (9002313, FailureKind::OauthRefreshTokenInvalid),
        ];
        for (code, kind) in cases {
            assert_eq!(classify(Some(code)).0, kind, "AADSTS{code}");
        }
        assert_eq!(classify(Some(12345)).0, FailureKind::OauthTokenError);
        assert_eq!(classify(None).0, FailureKind::OauthTokenError);
    }

    #[test]
    fn no_code_is_listed_twice() {
        let mut seen = std::collections::HashSet::new();
        for (codes, _, _) in TABLE {
            for c in *codes {
                assert!(seen.insert(*c), "AADSTS{c} twice");
            }
        }
    }
}
