//! The fixes of the OAuth kinds (issue 7): the concrete change (PowerShell, Entra ID, ECE).
//! `<mailbox>` is replaced by the mailbox's address when the finding is made (see
//! `oauth::fill_mailbox`); the kinds of the network checks never say it. A kind is one cause
//! on every protocol; where the fix differs by protocol (the scope, the switch that enables
//! it on the mailbox), the check says which. The checklist items are the kinds' rows
//! (`kinds.rs`).

use super::row::Target;
use crate::catalog::CheckId;
use crate::ChecklistItem::{self, C4, C5, C6, C7};

pub(super) const OAUTH_REFRESH_TOKEN_EXPIRED: &str = concat!(
        "the refresh token ECE holds has expired (unused for 90 days, or past its maximum age): ",
        "generate a new token for <mailbox> in ECE, signing in with the mailbox's own credentials in a private browser window"
    );

pub(super) const OAUTH_GRANT_REVOKED: &str = concat!(
        "the grant behind the refresh token was revoked (password change, sessions revoked by an administrator): ",
        "generate a new token for <mailbox> in ECE, signing in with the mailbox's own credentials in a private browser window"
    );

pub(super) const OAUTH_SIGNIN_FREQUENCY: &str = concat!(
        "a Conditional Access sign-in frequency policy expired the refresh token: exclude the ECE app or the mailbox account ",
        "from that policy in Entra ID, then generate a new token for <mailbox>"
    );

pub(super) const OAUTH_REDIRECT_URI_MISMATCH: &str = concat!(
        "the redirect URI does not match the app registration: register the redirect URI ECE uses, on the External ",
        "Application URL's FQDN, exactly (scheme, host, path) in the app's Authentication settings"
    );

pub(super) const OAUTH_CLIENT_SECRET_INVALID: &str = concat!(
        "the client secret is wrong or missing: put the secret's Value (shown once, when it is created), ",
        "not its Secret ID, in ECE's OAuth settings"
    );

pub(super) const OAUTH_CLIENT_SECRET_EXPIRED: &str = concat!(
        "the app's client secret has expired: create a new one under Certificates & secrets of the app registration ",
        "and put its Value in ECE"
    );

pub(super) const OAUTH_APP_NOT_FOUND: &str = concat!(
        "no app with this client id in the tenant: check the Application (client) ID and the Directory (tenant) ID ",
        "configured in ECE against the app registration"
    );

pub(super) const OAUTH_CONSENT_MISSING: &str = concat!(
        "the app's mail permissions were not consented to: grant consent for IMAP.AccessAsUser.All, POP.AccessAsUser.All, ",
        "SMTP.Send and offline_access (Office 365 Exchange Online) in the app's API permissions, then generate a new token"
    );

pub(super) const OAUTH_ADMIN_CONSENT_REQUIRED: &str = concat!(
        "the tenant requires an administrator's consent: an administrator must use 'Grant admin consent' ",
        "on the app's API permissions, then generate a new token"
    );

pub(super) const OAUTH_MFA_REQUIRED: &str = concat!(
        "multi-factor authentication is required, which a token refresh cannot do: exclude the ECE app or the ECE servers' ",
        "addresses from the MFA policy, or generate a new token for <mailbox> completing MFA"
    );

pub(super) const OAUTH_BAD_CREDENTIALS: &str = "wrong user name or password: sign in as <mailbox> with its own credentials, in a private browser window";

pub(super) const OAUTH_CONDITIONAL_ACCESS: &str = concat!(
        "a Conditional Access policy blocks this sign-in (location, device or app rule): exclude the ECE servers' ",
        "public addresses or the ECE app from the policy"
    );

pub(super) const OAUTH_SECURITY_DEFAULTS: &str = concat!(
        "the tenant's security defaults block this sign-in: replace security defaults by Conditional Access ",
        "policies that allow the ECE app, then generate a new token for <mailbox>"
    );

pub(super) const OAUTH_USER_OR_TENANT_NOT_FOUND: &str = concat!(
        "the user or the tenant does not exist there: check the Directory (tenant) ID configured in ECE, and that ",
        "<mailbox> is an account of that tenant"
    );

pub(super) const OAUTH_WRONG_CLOUD: &str = concat!(
    "the tenant lives in another national cloud (GCC High, DoD, China): use that cloud's profile, ",
    "whose sign-in host is not login.microsoftonline.com"
);

pub(super) const OAUTH_INVALID_SCOPE: &str = concat!(
        "the requested scope is invalid: use the full-URL Exchange Online scopes https://outlook.office.com/IMAP.AccessAsUser.All, ",
        "https://outlook.office.com/POP.AccessAsUser.All, https://outlook.office.com/SMTP.Send and offline_access, ",
        "or https://outlook.office365.com/.default for an app-only grant"
    );

pub(super) const OAUTH_DEVICE_USER_MISMATCH: &str = concat!(
        "the browser signed in as the workstation's user instead of the mailbox account (Windows SSO): generate the token again ",
        "in a private browser window, signing in as <mailbox>"
    );

pub(super) const OAUTH_REFRESH_TOKEN_INVALID: &str = concat!(
        "the refresh token ECE holds is malformed or unknown to Microsoft: ",
        "generate a new token for <mailbox> in ECE, signing in with the mailbox's own credentials in a private browser window"
    );

pub(super) const OAUTH_TOKEN_ERROR: &str = concat!(
        "the token endpoint refused the request: look the AADSTS code of the detail up ",
        "at https://login.microsoftonline.com/error, then fix the app registration or generate a new token"
    );

pub(super) const TOKEN_WRONG_USER: &str = concat!(
        "the token was issued for another user than <mailbox> (the SSO pitfall: the browser signed in as the workstation's user): ",
        "generate the token again in a private browser window with <mailbox>'s own credentials, or give that user ",
        "Full Access to <mailbox> and declare the mailbox shared"
    );

pub(super) const TOKEN_SCOPE_MISSING: &str = concat!(
        "the token lacks this protocol's permission: add the Office 365 Exchange Online permission (delegated ",
        "IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send; app-only IMAP.AccessAsApp, POP.AccessAsApp, SMTP.SendAsApp) ",
        "to the app, grant consent and generate a new token"
    );

pub(super) const TOKEN_WRONG_AUDIENCE: &str = concat!(
        "the token is for another API (e.g. Microsoft Graph), which the mail servers refuse: request the ",
        "https://outlook.office.com/ scopes of Office 365 Exchange Online, not Graph's"
    );

pub(super) const TOKEN_LIFETIME_UNEXPECTED: &str = concat!(
        "the access token does not live the 60 minutes the checklist expects: Microsoft's default is a random ",
        "60-90 minutes; apply a 60-minute token lifetime policy to the app if ECE's setup requires it"
    );

pub(super) const OFFLINE_ACCESS_MISSING: &str = concat!(
        "the grant returned no new refresh token: add offline_access to the app's delegated permissions and to the ",
        "requested scopes, or ECE cannot keep refreshing"
    );

const MAILBOX_NOT_CONNECTED_POP3: &str = concat!(
        "the token was accepted but the session cannot open <mailbox>: its user has no rights on it ",
        "(Add-MailboxPermission -Identity <mailbox> -User <token user> -AccessRights FullAccess), or POP3 is disabled ",
        "for it (Set-CASMailbox -Identity <mailbox> -PopEnabled $true), or it has no Exchange Online licence"
    );

const MAILBOX_NOT_CONNECTED: &str = concat!(
        "the token was accepted but the session cannot open <mailbox>: its user has no rights on it ",
        "(Add-MailboxPermission -Identity <mailbox> -User <token user> -AccessRights FullAccess), or the protocol is disabled ",
        "for it (Set-CASMailbox -Identity <mailbox> -ImapEnabled $true), or it has no Exchange Online licence"
    );

pub(super) const SMTP_AUTH_DISABLED_TENANT: &str = concat!(
        "SMTP AUTH is disabled for the whole organisation, which blocks OAuth too: enable it for the mailbox with ",
        "Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false, or for the organisation with ",
        "Set-TransportConfig -SmtpClientAuthenticationDisabled $false"
    );

pub(super) const SMTP_AUTH_DISABLED_MAILBOX: &str = concat!(
    "SMTP AUTH is disabled for <mailbox>: ",
    "Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false"
);

pub(super) const XOAUTH2_MALFORMED: &str = concat!(
        "the server could not parse the XOAUTH2 data (base64 of user=<mailbox>, ^A, auth=Bearer and the token, ^A^A): ",
        "something between this server and Microsoft rewrites or truncates the command"
    );

/// A refused XOAUTH2 login: the token's scope for this protocol, its user, app-only
/// permissions, the licence; POP3 also answers so when POP3 is disabled on the mailbox
/// (its `-ERR Authentication failure` does not tell the two apart).
pub(super) fn xoauth2_rejected(t: &Target) -> String {
    let text = match t.check {
        CheckId::OauthPop3 => concat!(
            "the POP3 server refused the login to <mailbox>: POP3 may be disabled for it ",
            "(Set-CASMailbox -Identity <mailbox> -PopEnabled $true), which POP3 answers as a refused token; otherwise the token ",
            "must carry https://outlook.office.com/POP.AccessAsUser.All (app-only: POP.AccessAsApp) and be issued for <mailbox> ",
            "(or a user with Full Access to it); app-only also needs New-ServicePrincipal and Add-MailboxPermission -Identity ",
            "<mailbox> -User <service principal> -AccessRights FullAccess; the mailbox needs an Exchange Online licence"
        ),
        CheckId::OauthSmtp => concat!(
            "the SMTP server refused the token for <mailbox>: the token must carry https://outlook.office.com/SMTP.Send ",
            "(app-only: SMTP.SendAsApp) and be issued for <mailbox> (or a user with Full Access to it); app-only also needs ",
            "New-ServicePrincipal and Add-MailboxPermission -Identity <mailbox> -User <service principal> -AccessRights FullAccess; ",
            "the mailbox needs an Exchange Online licence"
        ),
        _ => concat!(
            "the IMAP server refused the token for <mailbox>: the token must carry https://outlook.office.com/IMAP.AccessAsUser.All ",
            "(app-only: IMAP.AccessAsApp) and be issued for <mailbox> (or a user with Full Access to it); app-only also needs ",
            "New-ServicePrincipal and Add-MailboxPermission -Identity <mailbox> -User <service principal> -AccessRights FullAccess; ",
            "the mailbox needs an Exchange Online licence"
        ),
    };
    text.to_owned()
}

/// The items of a refused XOAUTH2 login: the token's user (C4), the licence (C6), the rights
/// (C7), and on POP3 also the mailbox's POP3 switch (C5), which POP3 answers as a refused
/// token.
pub(super) fn xoauth2_rejected_items(check: CheckId) -> &'static [ChecklistItem] {
    match check {
        CheckId::OauthPop3 => &[C4, C5, C6, C7],
        _ => &[C4, C6, C7],
    }
}

/// The switch that enables the protocol on the mailbox: POP3's on POP3, IMAP's otherwise.
pub(super) fn mailbox_not_connected(t: &Target) -> String {
    match t.check {
        CheckId::OauthPop3 => MAILBOX_NOT_CONNECTED_POP3,
        _ => MAILBOX_NOT_CONNECTED,
    }
    .to_owned()
}
