//! XOAUTH2 as Exchange Online checks it: decode `user=<mailbox>\x01auth=Bearer <token>\x01\x01`,
//! look the token up among those the lab issued, then the mailbox, the rights on it and its
//! protocol settings. Each server turns the verdict into its own words (module doc of `oauth`).

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;

use super::authority::{Audience, Authority};
use super::{MailboxState, OAuthConfig, SmtpAuth};

/// The mail service being logged into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    Imap,
    Pop3,
    Smtp,
}

impl Service {
    /// The delegated scope and the application role this service requires.
    fn needs(self) -> (&'static str, &'static str) {
        match self {
            Service::Imap => ("IMAP.AccessAsUser.All", "IMAP.AccessAsApp"),
            Service::Pop3 => ("POP.AccessAsUser.All", "POP.AccessAsApp"),
            Service::Smtp => ("SMTP.Send", "SMTP.SendAsApp"),
        }
    }
}

/// What Exchange concludes from one XOAUTH2 attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not base64 or not the XOAUTH2 framing.
    Malformed,
    /// The token (or, app-only, the app's rights) is not accepted, or no such mailbox.
    Rejected,
    /// A valid delegated token, for a mailbox its user has no rights on.
    NoRights,
    /// Authenticated for this mailbox, whose settings the service still has to apply.
    Mailbox(MailboxState),
}

/// The IMAP server's reading of a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ImapLogin {
    /// `NO AUTHENTICATE failed.`
    Failed,
    /// `OK AUTHENTICATE completed.`, then `BAD User is authenticated but not connected.`
    NotConnected,
    Connected,
}

pub(crate) fn imap(auth: &Authority, blob: &str) -> ImapLogin {
    match check(auth, blob, Service::Imap) {
        Verdict::Malformed | Verdict::Rejected => ImapLogin::Failed,
        Verdict::Mailbox(m) if m.imap_enabled && m.licensed => ImapLogin::Connected,
        Verdict::NoRights | Verdict::Mailbox(_) => ImapLogin::NotConnected,
    }
}

/// Whether POP3 logs the client in (every refusal is the same `-ERR`).
pub(crate) fn pop3(auth: &Authority, blob: &str) -> bool {
    matches!(check(auth, blob, Service::Pop3), Verdict::Mailbox(m) if m.pop_enabled && m.licensed)
}

/// SMTP's reply to the XOAUTH2 response: `Ok` is success (235).
pub(crate) fn smtp(auth: &Authority, blob: &str, frontend: &str) -> Result<(), String> {
    let unsuccessful = format!("535 5.7.3 Authentication unsuccessful [{frontend}]");
    let disabled = |scope: &str| {
        format!(
            "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the {scope}. Visit https://aka.ms/smtp_auth_disabled for more information. [{frontend}]"
        )
    };
    match check(auth, blob, Service::Smtp) {
        Verdict::Malformed => Err("501 5.5.124 Invalid XOAUTH2 auth data".into()),
        Verdict::Rejected | Verdict::NoRights => Err(unsuccessful),
        Verdict::Mailbox(m) => match m.smtp_auth {
            SmtpAuth::DisabledForTenant => Err(disabled("Tenant")),
            SmtpAuth::DisabledForMailbox => Err(disabled("Mailbox")),
            SmtpAuth::Enabled if !m.licensed => Err(unsuccessful),
            SmtpAuth::Enabled => Ok(()),
        },
    }
}

pub(crate) fn check(auth: &Authority, blob: &str, service: Service) -> Verdict {
    let Some((user, token)) = decode(blob) else {
        return Verdict::Malformed;
    };
    let (Some(cfg), Some(issued)) = (auth.config(), auth.valid_token(&token)) else {
        return Verdict::Rejected;
    };
    if issued.audience != Audience::Exchange {
        return Verdict::Rejected;
    }
    let (scope, role) = service.needs();
    let has = |g: &str| issued.grants.iter().any(|x| x.eq_ignore_ascii_case(g));
    let Some(state) = mailbox(cfg, &user) else {
        return Verdict::Rejected;
    };
    match issued.user {
        Some(owner) => {
            if !has(scope) {
                return Verdict::Rejected;
            }
            let own = owner.eq_ignore_ascii_case(&user);
            let delegated = cfg
                .accounts
                .iter()
                .filter(|a| a.user.eq_ignore_ascii_case(&owner))
                .flat_map(|a| &a.full_access_to)
                .any(|m| m.eq_ignore_ascii_case(&user));
            if own || delegated {
                Verdict::Mailbox(state)
            } else {
                Verdict::NoRights
            }
        }
        None => {
            let granted = cfg
                .app_full_access
                .iter()
                .any(|m| m.eq_ignore_ascii_case(&user));
            if has(role) && granted {
                Verdict::Mailbox(state)
            } else {
                Verdict::Rejected
            }
        }
    }
}

/// The state of mailbox `name`: an account's own, or a shared mailbox someone has
/// FullAccess on (every protocol enabled); None: no such mailbox.
fn mailbox(cfg: &OAuthConfig, name: &str) -> Option<MailboxState> {
    if let Some(a) = cfg
        .accounts
        .iter()
        .find(|a| a.user.eq_ignore_ascii_case(name))
    {
        return Some(a.mailbox.clone());
    }
    let shared = cfg
        .accounts
        .iter()
        .flat_map(|a| &a.full_access_to)
        .chain(&cfg.app_full_access)
        .any(|m| m.eq_ignore_ascii_case(name));
    shared.then(MailboxState::enabled)
}

/// (mailbox, token) from a base64 XOAUTH2 initial response.
pub(crate) fn decode(blob: &str) -> Option<(String, String)> {
    let blob = blob.trim();
    let bytes = STANDARD
        .decode(blob)
        .or_else(|_| STANDARD_NO_PAD.decode(blob))
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let fields = text.strip_suffix("\x01\x01")?;
    let mut user = None;
    let mut token = None;
    for field in fields.split('\x01') {
        if let Some(u) = field.strip_prefix("user=") {
            user = Some(u.to_string());
        } else if let Some(a) = field.strip_prefix("auth=") {
            let (scheme, t) = a.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("Bearer") {
                return None;
            }
            token = Some(t.trim().to_string());
        } else {
            return None;
        }
    }
    let (user, token) = (user?, token?);
    (!user.is_empty() && !token.is_empty()).then_some((user, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn framing() {
        assert_eq!(
            decode(&b64("user=a@b.example\x01auth=Bearer tok\x01\x01")),
            Some(("a@b.example".into(), "tok".into()))
        );
        assert_eq!(decode(&b64("user=a\x01auth=Bearer t\x01")), None);
        assert_eq!(decode(&b64("user=a\x01auth=Basic t\x01\x01")), None);
        assert_eq!(decode(&b64("auth=Bearer t\x01\x01")), None);
        assert_eq!(decode("!!not base64!!"), None);
    }
}
