//! What a granted token says about the setup: the user it was issued for against the
//! mailbox (checklist C4, the SSO pitfall), its scopes or app roles against the protocols
//! probed, its audience, `offline_access`, and its lifetime (C3). The answer's documented
//! fields come first; decoded claims add what they can and are never required.

use super::claims::ClaimsReport;
use super::token::{Grant, TokenGrant, OFFLINE_ACCESS};
use super::{MailboxSpec, Protocol};
use crate::failure::FailureKind;

/// The lifetime the checklist expects, in seconds (C3: 60 minutes).
pub const EXPECTED_LIFETIME_S: i64 = 3600;
/// `exp - iat` may exceed `expires_in` by the few minutes Microsoft backdates `iat` for
/// clock skew; within this window a token counts as "60 minutes".
const LIFETIME_SLACK_BELOW_S: i64 = 120;
const LIFETIME_SLACK_ABOVE_S: i64 = 420;

/// Audiences of Exchange Online (the resource URLs and its application id).
const EXCHANGE_AUDIENCES: &[&str] = &[
    "https://outlook.office.com",
    "https://outlook.office365.com",
    "00000002-0000-0ff1-ce00-000000000000",
];

/// Failures (most telling first) and warnings, as (kind, detail).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Diagnosis {
    pub failures: Vec<(FailureKind, String)>,
    pub warnings: Vec<(FailureKind, String)>,
}

pub(crate) fn diagnose(
    spec: &MailboxSpec,
    grant: &TokenGrant,
    claims: Option<&ClaimsReport>,
) -> Diagnosis {
    let mut d = Diagnosis::default();
    let delegated = matches!(spec.grant, Grant::RefreshToken(_));
    if let Some(detail) = wrong_audience(spec, grant, claims) {
        d.failures.push((FailureKind::TokenWrongAudience, detail));
    }
    if delegated {
        if let Some(detail) = wrong_user(spec, claims) {
            d.failures.push((FailureKind::TokenWrongUser, detail));
        }
    }
    if let Some(detail) = missing_scopes(spec, grant, claims, delegated) {
        d.failures.push((FailureKind::TokenScopeMissing, detail));
    }
    if delegated && grant.refresh_token.is_none() {
        let listed = if grant.scopes.is_empty() {
            "no scope field".to_string()
        } else {
            format!("granted scope '{}'", grant.scopes.join(" "))
        };
        d.warnings.push((
            FailureKind::OfflineAccessMissing,
            format!("the answer carries no new refresh token ({listed}; {OFFLINE_ACCESS} was requested)"),
        ));
    }
    if let Some(lifetime) = claims.and_then(|c| c.lifetime_s) {
        let ok = EXPECTED_LIFETIME_S - LIFETIME_SLACK_BELOW_S
            ..=EXPECTED_LIFETIME_S + LIFETIME_SLACK_ABOVE_S;
        if !ok.contains(&lifetime) {
            let expires = grant
                .expires_in
                .map_or_else(String::new, |s| format!(", expires_in {s} s"));
            d.warnings.push((
                FailureKind::TokenLifetimeUnexpected,
                format!(
                    "the access token lives {} min (exp - iat = {lifetime} s{expires}); the checklist expects 60 min, Microsoft's default is 60-90",
                    lifetime / 60
                ),
            ));
        }
    }
    d
}

fn is_exchange(resource: &str, spec: &MailboxSpec) -> bool {
    let r = resource.trim_end_matches('/');
    let own = format!("https://{}", spec.hosts.outlook);
    EXCHANGE_AUDIENCES
        .iter()
        .chain(std::iter::once(&own.as_str()))
        .any(|a| a.eq_ignore_ascii_case(r))
}

/// The resource of a full-URL scope (`https://graph.microsoft.com/Mail.Read` ->
/// `https://graph.microsoft.com`); None for a bare scope (`offline_access`, `openid`).
fn resource_of(scope: &str) -> Option<&str> {
    let rest = scope.strip_prefix("https://")?;
    let end = rest.find('/')? + "https://".len();
    Some(&scope[..end])
}

fn wrong_audience(
    spec: &MailboxSpec,
    grant: &TokenGrant,
    claims: Option<&ClaimsReport>,
) -> Option<String> {
    if let Some(aud) = claims.and_then(|c| c.audience.as_deref()) {
        return (!is_exchange(aud, spec)).then(|| {
            format!(
                "the token's audience is '{aud}', not Exchange Online (https://outlook.office.com)"
            )
        });
    }
    // An opaque token: the granted scopes name their resource.
    let resources: Vec<&str> = grant.scopes.iter().filter_map(|s| resource_of(s)).collect();
    let foreign = !resources.is_empty() && !resources.iter().any(|r| is_exchange(r, spec));
    foreign.then(|| {
        format!(
            "the granted scopes are for '{}', not Exchange Online (https://outlook.office.com)",
            resources[0]
        )
    })
}

/// The user the token should be for: the mailbox, or for a shared mailbox the account
/// that has Full Access to it (when known).
fn wrong_user(spec: &MailboxSpec, claims: Option<&ClaimsReport>) -> Option<String> {
    let user = claims?.user.as_deref()?;
    let expected = if spec.shared {
        spec.account.as_deref()?
    } else {
        spec.address.as_str()
    };
    (!same_user(user, expected)).then(|| {
        let what = if spec.shared {
            format!(
                "the account with Full Access to {} is '{expected}'",
                spec.address
            )
        } else {
            format!("the mailbox is '{expected}'")
        };
        format!("the token was issued for '{user}'; {what}")
    })
}

/// Case-insensitive; the tenant's `*.onmicrosoft.com` name of the same local part counts
/// as the same user (the token often names it instead of the vanity domain).
pub(crate) fn same_user(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    let split = |s: &str| {
        s.rsplit_once('@')
            .map(|(l, d)| (l.to_ascii_lowercase(), d.to_ascii_lowercase()))
    };
    match (split(a), split(b)) {
        (Some((la, da)), Some((lb, db))) => {
            let initial = |d: &str| d.contains(".onmicrosoft.");
            la == lb && (initial(&da) || initial(&db))
        }
        _ => false,
    }
}

fn missing_scopes(
    spec: &MailboxSpec,
    grant: &TokenGrant,
    claims: Option<&ClaimsReport>,
    delegated: bool,
) -> Option<String> {
    let (have, source): (Vec<String>, &str) = if delegated {
        // The answer's scope (full URLs) first, the scp claim otherwise.
        let from_answer: Vec<String> = grant
            .scopes
            .iter()
            .map(|s| s.rsplit('/').next().unwrap_or(s).to_string())
            .collect();
        if !from_answer.is_empty() {
            (from_answer, "granted scope")
        } else {
            (claims?.scopes.clone(), "token's scp")
        }
    } else {
        (claims?.roles.clone(), "token's roles")
    };
    if have.is_empty() && delegated {
        return None;
    }
    let needed = |p: Protocol| {
        if delegated {
            p.delegated_scope()
        } else {
            p.app_role()
        }
    };
    let missing: Vec<String> = spec
        .protocols
        .iter()
        .map(|p| needed(*p))
        .filter(|n| !have.iter().any(|h| h.eq_ignore_ascii_case(n)))
        .map(String::from)
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "the {source} [{}] lacks {}",
            have.join(" "),
            missing.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Cloud;
    use crate::oauth::claims::{decode, jwt};
    use crate::oauth::Secret;
    use serde_json::json;

    const MBX: &str = "ece-mail@contoso.com";

    fn spec() -> MailboxSpec {
        MailboxSpec::new(
            MBX,
            Cloud::Global.hosts(),
            "contoso.com",
            "app",
            Grant::RefreshToken(Secret::new("rt")),
        )
    }

    fn grant(access: Secret, scopes: &[&str], refresh: bool) -> TokenGrant {
        TokenGrant {
            access_token: access,
            refresh_token: refresh.then(|| Secret::new("new-rt")),
            expires_in: Some(3599),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    const ALL: [&str; 3] = [
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/POP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
    ];

    fn kinds(d: &Diagnosis) -> (Vec<FailureKind>, Vec<FailureKind>) {
        (
            d.failures.iter().map(|f| f.0).collect(),
            d.warnings.iter().map(|f| f.0).collect(),
        )
    }

    #[test]
    fn a_healthy_token_says_nothing() {
        let token = jwt(&json!({
            "aud": "https://outlook.office.com", "upn": "ECE-Mail@Contoso.com",
            "scp": "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send",
            "iat": 1000, "exp": 1000 + 3600 + 300,
        }));
        let g = grant(token, &ALL, true);
        let d = diagnose(&spec(), &g, decode(&g.access_token).as_ref());
        assert_eq!(d, Diagnosis::default());
    }

    #[test]
    fn an_opaque_token_is_judged_by_the_answer_only() {
        let g = grant(Secret::new("EwBwA8l6opaque"), &ALL[..2], false);
        let d = diagnose(&spec(), &g, None);
        assert_eq!(
            kinds(&d),
            (
                vec![FailureKind::TokenScopeMissing],
                vec![FailureKind::OfflineAccessMissing]
            )
        );
        assert!(d.failures[0].1.contains("SMTP.Send"), "{}", d.failures[0].1);
        // Graph scopes in the answer are a wrong audience even without claims.
        let graph = ["https://graph.microsoft.com/IMAP.AccessAsUser.All"];
        let mut s = spec();
        s.protocols = vec![Protocol::Imap];
        let d = diagnose(&s, &grant(Secret::new("opaque"), &graph, true), None);
        assert_eq!(kinds(&d).0, [FailureKind::TokenWrongAudience]);
        // No scope field and no claims: nothing to say.
        let d = diagnose(&spec(), &grant(Secret::new("opaque"), &[], true), None);
        assert_eq!(d, Diagnosis::default());
    }

    #[test]
    fn wrong_user_audience_and_lifetime_from_claims() {
        let token = jwt(&json!({
            "aud": "https://graph.microsoft.com", "upn": "someone@contoso.com",
            "iat": 1000, "exp": 1000 + 5400,
        }));
        let g = grant(token, &[], true);
        let d = diagnose(&spec(), &g, decode(&g.access_token).as_ref());
        assert_eq!(
            kinds(&d),
            (
                vec![FailureKind::TokenWrongAudience, FailureKind::TokenWrongUser],
                vec![FailureKind::TokenLifetimeUnexpected]
            )
        );
        assert!(d.warnings[0].1.contains("90 min"), "{}", d.warnings[0].1);
    }

    #[test]
    fn users_compare_without_case_and_with_the_initial_domain() {
        assert!(same_user("ECE-mail@contoso.com", MBX));
        assert!(same_user("ece-mail@contoso.onmicrosoft.com", MBX));
        assert!(!same_user("ece-mail@fabrikam.com", MBX));
        assert!(!same_user("agent@contoso.onmicrosoft.com", MBX));
        assert!(!same_user("ece-mail", MBX));
    }

    #[test]
    fn app_only_tokens_need_roles() {
        let mut s = spec();
        s.grant = Grant::ClientCredentials;
        let token =
            jwt(&json!({"aud": "https://outlook.office365.com", "roles": ["IMAP.AccessAsApp"]}));
        let g = grant(token, &[], false);
        let d = diagnose(&s, &g, decode(&g.access_token).as_ref());
        assert_eq!(kinds(&d), (vec![FailureKind::TokenScopeMissing], vec![]));
        assert!(d.failures[0].1.contains("POP.AccessAsApp, SMTP.SendAsApp"));
    }
}
