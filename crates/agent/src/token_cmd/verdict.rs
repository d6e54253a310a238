//! Whether a granted token may be saved: the right account, the protocols' scopes, a refresh token.

use eceprobe_checks::oauth::TokenGrant;
use eceprobe_checks::{ClaimsReport, Protocol};

/// The verdict on a granted token.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Save it; the notes are printed.
    Save(Vec<String>),
    /// Do not save it: what was wrong.
    Refuse(Vec<String>),
}

/// Whether the token may be saved for `mailbox`: its user is the mailbox (case-insensitive;
/// for a shared mailbox the `account`, or anyone with a note), every protocol's delegated
/// scope was granted, and a refresh token came with it.
pub(crate) fn judge(
    mailbox: &str,
    shared: bool,
    account: Option<&str>,
    protocols: &[Protocol],
    claims: Option<&ClaimsReport>,
    grant: &TokenGrant,
) -> Verdict {
    let mut wrong = Vec::new();
    let mut notes = Vec::new();
    let user = claims.and_then(|c| c.user.as_deref());
    let expected = if shared { account } else { Some(mailbox) };
    match (user, expected) {
        (None, _) => wrong.push(
            "the token does not say which account signed in, so it cannot be checked against the mailbox".to_string(),
        ),
        (Some(u), Some(want)) if !u.eq_ignore_ascii_case(want) => {
            let alias = u
                .split_once('@')
                .zip(want.split_once('@'))
                .is_some_and(|((a, _), (b, _))| a.eq_ignore_ascii_case(b));
            let mut line = format!("signed in as {u}, not as {want}");
            if alias {
                line.push_str(
                    " (the same name in another domain: if it is the mailbox's own account under another address, set that address in agent.toml)",
                );
            }
            wrong.push(line);
        }
        (Some(u), None) => notes.push(format!(
            "shared mailbox: signed in as {u}; that account needs FullAccess on {mailbox} (set account = \"{u}\" in its [[mailbox]] to have this checked)"
        )),
        _ => {}
    }
    let granted_scp: Vec<&str> = claims
        .map(|c| c.scopes.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let missing: Vec<&str> = protocols
        .iter()
        .map(|p| p.delegated_scope())
        .filter(|s| {
            let suffix = format!("/{}", s.to_ascii_lowercase());
            !grant
                .scopes
                .iter()
                .any(|g| g.to_ascii_lowercase().ends_with(&suffix) || g.eq_ignore_ascii_case(s))
                && !granted_scp.iter().any(|g| g.eq_ignore_ascii_case(s))
        })
        .collect();
    if !missing.is_empty() {
        wrong.push(format!(
            "the token lacks {} needed for the configured protocols (consent for the app, or a Graph-prefixed scope)",
            missing.join(", ")
        ));
    }
    if grant.refresh_token.is_none() {
        wrong.push("no refresh token came back (offline_access was not granted)".to_string());
    }
    if wrong.is_empty() {
        Verdict::Save(notes)
    } else {
        Verdict::Refuse(wrong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eceprobe_checks::Secret;

    fn grant(scopes: &[&str], refresh: bool) -> TokenGrant {
        TokenGrant {
            access_token: Secret::new("a.b.c"),
            refresh_token: refresh.then(|| Secret::new("rt")),
            expires_in: Some(3600),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn claims(user: &str) -> ClaimsReport {
        ClaimsReport {
            user: Some(user.into()),
            ..ClaimsReport::default()
        }
    }

    const ALL: [&str; 4] = [
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/POP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
        "offline_access",
    ];

    #[test]
    fn the_mailbox_itself_is_saved() {
        let v = judge(
            "Support@Contoso.com",
            false,
            None,
            &Protocol::ALL,
            Some(&claims("support@contoso.com")),
            &grant(&ALL, true),
        );
        assert_eq!(v, Verdict::Save(vec![]));
    }

    #[test]
    fn another_user_missing_scope_or_no_refresh_token_is_refused() {
        let Verdict::Refuse(p) = judge(
            "support@contoso.com",
            false,
            None,
            &Protocol::ALL,
            Some(&claims("admin@contoso.com")),
            &grant(&ALL, true),
        ) else {
            panic!()
        };
        assert!(p[0].contains("admin@contoso.com"), "{p:?}");
        let Verdict::Refuse(p) = judge(
            "support@contoso.com",
            false,
            None,
            &Protocol::ALL,
            Some(&claims("support@contoso.com")),
            &grant(&ALL[..2], true),
        ) else {
            panic!()
        };
        assert!(p[0].contains("SMTP.Send"), "{p:?}");
        let Verdict::Refuse(p) = judge(
            "support@contoso.com",
            false,
            None,
            &[Protocol::Imap],
            Some(&claims("support@contoso.com")),
            &grant(&ALL, false),
        ) else {
            panic!()
        };
        assert!(p[0].contains("offline_access"), "{p:?}");
        assert!(matches!(
            judge(
                "support@contoso.com",
                false,
                None,
                &[Protocol::Imap],
                None,
                &grant(&ALL, true)
            ),
            Verdict::Refuse(_)
        ));
    }

    #[test]
    fn shared_mailboxes() {
        let ok = judge(
            "shared@contoso.com",
            true,
            Some("ece@contoso.com"),
            &[Protocol::Imap],
            Some(&claims("ECE@contoso.com")),
            &grant(&ALL, true),
        );
        assert_eq!(ok, Verdict::Save(vec![]));
        let no = judge(
            "shared@contoso.com",
            true,
            Some("ece@contoso.com"),
            &[Protocol::Imap],
            Some(&claims("me@contoso.com")),
            &grant(&ALL, true),
        );
        assert!(matches!(no, Verdict::Refuse(_)));
        let Verdict::Save(notes) = judge(
            "shared@contoso.com",
            true,
            None,
            &[Protocol::Imap],
            Some(&claims("me@contoso.com")),
            &grant(&ALL, true),
        ) else {
            panic!()
        };
        assert!(notes[0].contains("FullAccess"), "{notes:?}");
    }
}
