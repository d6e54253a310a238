//! The fixes of the OAuth kinds (issue 7), part of `FailureKind::hint`: each names the
//! checklist item and the concrete change (PowerShell, Entra ID, ECE).

use super::FailureKind;
use crate::catalog::CheckId;

/// The fix for an OAuth kind on `check`. `<mailbox>` is replaced by the mailbox's address
/// when the finding is made (see `oauth::fill_mailbox`); the kinds of the network checks
/// never say it. A kind is one cause on every protocol; where the fix differs by protocol
/// (the scope, the switch that enables it on the mailbox), the check says which.
pub(super) fn oauth_fix(kind: FailureKind, check: CheckId) -> &'static str {
    use FailureKind as K;
    match kind {
        K::OauthRefreshTokenExpired => concat!(
            "the refresh token ECE holds has expired (unused for 90 days, or past its maximum age): ",
            "generate a new token for <mailbox> in ECE, signing in with the mailbox's own credentials in a private browser window (C4)"
        ),
        K::OauthGrantRevoked => concat!(
            "the grant behind the refresh token was revoked (password change, sessions revoked by an administrator): ",
            "generate a new token for <mailbox> in ECE, signing in with the mailbox's own credentials in a private browser window (C4)"
        ),
        K::OauthSigninFrequency => concat!(
            "a Conditional Access sign-in frequency policy expired the refresh token: exclude the ECE app or the mailbox account ",
            "from that policy in Entra ID, then generate a new token for <mailbox> (C3)"
        ),
        K::OauthRedirectUriMismatch => concat!(
            "the redirect URI does not match the app registration: register the redirect URI ECE uses, on the External ",
            "Application URL's FQDN, exactly (scheme, host, path) in the app's Authentication settings (C2, C3)"
        ),
        K::OauthClientSecretInvalid => concat!(
            "the client secret is wrong or missing: put the secret's Value (shown once, when it is created), ",
            "not its Secret ID, in ECE's OAuth settings (C3)"
        ),
        K::OauthClientSecretExpired => concat!(
            "the app's client secret has expired: create a new one under Certificates & secrets of the app registration ",
            "and put its Value in ECE (C3)"
        ),
        K::OauthAppNotFound => concat!(
            "no app with this client id in the tenant: check the Application (client) ID and the Directory (tenant) ID ",
            "configured in ECE against the app registration (C3)"
        ),
        K::OauthConsentMissing => concat!(
            "the app's mail permissions were not consented to: grant consent for IMAP.AccessAsUser.All, POP.AccessAsUser.All, ",
            "SMTP.Send and offline_access (Office 365 Exchange Online) in the app's API permissions, then generate a new token (C3)"
        ),
        K::OauthAdminConsentRequired => concat!(
            "the tenant requires an administrator's consent: an administrator must use 'Grant admin consent' ",
            "on the app's API permissions, then generate a new token (C3)"
        ),
        K::OauthMfaRequired => concat!(
            "multi-factor authentication is required, which a token refresh cannot do: exclude the ECE app or the ECE servers' ",
            "addresses from the MFA policy, or generate a new token for <mailbox> completing MFA (C4)"
        ),
        K::OauthBadCredentials => "wrong user name or password: sign in as <mailbox> with its own credentials, in a private browser window (C4)",
        K::OauthConditionalAccess => concat!(
            "a Conditional Access policy blocks this sign-in (location, device or app rule): exclude the ECE servers' ",
            "public addresses or the ECE app from the policy (C8)"
        ),
        K::OauthSecurityDefaults => concat!(
            "the tenant's security defaults block this sign-in: replace security defaults by Conditional Access ",
            "policies that allow the ECE app, then generate a new token for <mailbox> (C4)"
        ),
        K::OauthUserOrTenantNotFound => concat!(
            "the user or the tenant does not exist there: check the Directory (tenant) ID configured in ECE, and that ",
            "<mailbox> is an account of that tenant (C3, C4)"
        ),
        K::OauthWrongCloud => concat!(
            "the tenant lives in another national cloud (GCC High, DoD, China): use that cloud's profile, ",
            "whose sign-in host is not login.microsoftonline.com (C9)"
        ),
        K::OauthInvalidScope => concat!(
            "the requested scope is invalid: use the full-URL Exchange Online scopes https://outlook.office.com/IMAP.AccessAsUser.All, ",
            "https://outlook.office.com/POP.AccessAsUser.All, https://outlook.office.com/SMTP.Send and offline_access, ",
            "or https://outlook.office365.com/.default for an app-only grant (C3)"
        ),
        K::OauthDeviceUserMismatch => concat!(
            "the browser signed in as the workstation's user instead of the mailbox account (Windows SSO): generate the token again ",
            "in a private browser window, signing in as <mailbox> (C4)"
        ),
        K::OauthRefreshTokenInvalid => concat!(
            "the refresh token ECE holds is malformed or unknown to Microsoft: ",
            "generate a new token for <mailbox> in ECE, signing in with the mailbox's own credentials in a private browser window (C4)"
        ),
        K::OauthTokenError => concat!(
            "the token endpoint refused the request: look the AADSTS code of the detail up ",
            "at https://login.microsoftonline.com/error, then fix the app registration or generate a new token (C3, C4)"
        ),
        K::TokenWrongUser => concat!(
            "the token was issued for another user than <mailbox> (the SSO pitfall: the browser signed in as the workstation's user): ",
            "generate the token again in a private browser window with <mailbox>'s own credentials, or give that user ",
            "Full Access to <mailbox> and declare the mailbox shared (C4, C7)"
        ),
        K::TokenScopeMissing => concat!(
            "the token lacks this protocol's permission: add the Office 365 Exchange Online permission (delegated ",
            "IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send; app-only IMAP.AccessAsApp, POP.AccessAsApp, SMTP.SendAsApp) ",
            "to the app, grant consent and generate a new token (C3)"
        ),
        K::TokenWrongAudience => concat!(
            "the token is for another API (e.g. Microsoft Graph), which the mail servers refuse: request the ",
            "https://outlook.office.com/ scopes of Office 365 Exchange Online, not Graph's (C3)"
        ),
        K::TokenLifetimeUnexpected => concat!(
            "the access token does not live the 60 minutes the checklist expects: Microsoft's default is a random ",
            "60-90 minutes; apply a 60-minute token lifetime policy to the app if ECE's setup requires it (C3)"
        ),
        K::OfflineAccessMissing => concat!(
            "the grant returned no new refresh token: add offline_access to the app's delegated permissions and to the ",
            "requested scopes, or ECE cannot keep refreshing (C3)"
        ),
        K::Xoauth2Rejected => xoauth2_rejected(check),
        K::MailboxNotConnected if check == CheckId::OauthPop3 => concat!(
            "the token was accepted but the session cannot open <mailbox>: its user has no rights on it ",
            "(Add-MailboxPermission -Identity <mailbox> -User <token user> -AccessRights FullAccess), or POP3 is disabled ",
            "for it (Set-CASMailbox -Identity <mailbox> -PopEnabled $true), or it has no Exchange Online licence (C5, C6, C7)"
        ),
        K::MailboxNotConnected => concat!(
            "the token was accepted but the session cannot open <mailbox>: its user has no rights on it ",
            "(Add-MailboxPermission -Identity <mailbox> -User <token user> -AccessRights FullAccess), or the protocol is disabled ",
            "for it (Set-CASMailbox -Identity <mailbox> -ImapEnabled $true), or it has no Exchange Online licence (C5, C6, C7)"
        ),
        K::SmtpAuthDisabledTenant => concat!(
            "SMTP AUTH is disabled for the whole organisation, which blocks OAuth too: enable it for the mailbox with ",
            "Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false, or for the organisation with ",
            "Set-TransportConfig -SmtpClientAuthenticationDisabled $false (C5)"
        ),
        K::SmtpAuthDisabledMailbox => concat!(
            "SMTP AUTH is disabled for <mailbox>: ",
            "Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false (C5)"
        ),
        K::Xoauth2Malformed => concat!(
            "the server could not parse the XOAUTH2 data (base64 of user=<mailbox>, ^A, auth=Bearer and the token, ^A^A): ",
            "something between this server and Microsoft rewrites or truncates the command (C5, C10)"
        ),
        _ => "see the detail for what the server answered (C3, C4)",
    }
}

/// A refused XOAUTH2 login: the token's scope for this protocol, its user, app-only
/// permissions, the licence; POP3 also answers so when POP3 is disabled on the mailbox
/// (its `-ERR Authentication failure` does not tell the two apart).
fn xoauth2_rejected(check: CheckId) -> &'static str {
    match check {
        CheckId::OauthPop3 => concat!(
            "the POP3 server refused the login to <mailbox>: POP3 may be disabled for it ",
            "(Set-CASMailbox -Identity <mailbox> -PopEnabled $true), which POP3 answers as a refused token; otherwise the token ",
            "must carry https://outlook.office.com/POP.AccessAsUser.All (app-only: POP.AccessAsApp) and be issued for <mailbox> ",
            "(or a user with Full Access to it); app-only also needs New-ServicePrincipal and Add-MailboxPermission -Identity ",
            "<mailbox> -User <service principal> -AccessRights FullAccess; the mailbox needs an Exchange Online licence (C4, C5, C6, C7)"
        ),
        CheckId::OauthSmtp => concat!(
            "the SMTP server refused the token for <mailbox>: the token must carry https://outlook.office.com/SMTP.Send ",
            "(app-only: SMTP.SendAsApp) and be issued for <mailbox> (or a user with Full Access to it); app-only also needs ",
            "New-ServicePrincipal and Add-MailboxPermission -Identity <mailbox> -User <service principal> -AccessRights FullAccess; ",
            "the mailbox needs an Exchange Online licence (C4, C6, C7)"
        ),
        _ => concat!(
            "the IMAP server refused the token for <mailbox>: the token must carry https://outlook.office.com/IMAP.AccessAsUser.All ",
            "(app-only: IMAP.AccessAsApp) and be issued for <mailbox> (or a user with Full Access to it); app-only also needs ",
            "New-ServicePrincipal and Add-MailboxPermission -Identity <mailbox> -User <service principal> -AccessRights FullAccess; ",
            "the mailbox needs an Exchange Online licence (C4, C6, C7)"
        ),
    }
}
