//! The tenant administrator's PowerShell: one command per open m365 gap kind that has one
//! (Exchange Online PowerShell), filled in with the mailbox and the app's client id; where a
//! value is not known, a named placeholder and where to find it. A kind fixed in the Entra
//! admin center rather than PowerShell gets the steps as comments. Never a secret: the
//! results carry none, and nothing here asks for one.
//!
//! Agent-supplied values reach the script only when their shape is known safe: a mailbox
//! through the check name's grammar ([`CheckName`]), an app or tenant id only when it is a
//! GUID; everything else is a placeholder. Comments are one line each ([`super::one_line`]).

use eceprobe_checks::{FailureKind, Owner};
use eceprobe_proto::v1::Gap;

use super::Inputs;
use crate::checkname::CheckName;

const APP_ID: &str = "<APPLICATION-CLIENT-ID>";
const APP_ID_WHERE: &str =
    "Entra admin center > App registrations > ECE's app > Overview > Application (client) ID";
const OBJECT_ID: &str = "<ENTERPRISE-APP-OBJECT-ID>";
const OBJECT_ID_WHERE: &str = "Entra admin center > Enterprise applications > ECE's app > Overview > Object ID (not the app registration's object id)";
const TENANT_ID: &str = "<TENANT-ID>";
const TENANT_ID_WHERE: &str = "Entra admin center > Overview > Tenant ID";
const MAILBOX: &str = "<MAILBOX>";

/// One fix: the comment lines that say why and the commands.
struct Fix {
    /// Unique per (kind, mailbox): the same fix found on several servers is written once.
    key: (String, String),
    servers: Vec<String>,
    why: String,
    lines: Vec<String>,
    /// Placeholders it uses, with where to find their value.
    placeholders: Vec<(&'static str, &'static str)>,
}

/// The script and how many fixes it holds.
pub fn powershell(inputs: &Inputs, generated: &str) -> (String, usize) {
    let mut fixes: Vec<Fix> = Vec::new();
    for gap in inputs.gaps_of(Owner::M365) {
        let Some(mut fix) = fix(inputs, gap) else {
            continue;
        };
        match fixes.iter_mut().find(|f| f.key == fix.key) {
            Some(known) => {
                if !known.servers.contains(&gap.agent_id) {
                    known.servers.push(gap.agent_id.clone());
                }
            }
            None => {
                fix.servers.push(gap.agent_id.clone());
                fixes.push(fix);
            }
        }
    }
    let mut out = String::new();
    out.push_str(&format!(
        "# Change request for the Microsoft 365 / Entra administrator: deployment {}\n",
        super::one_line(&inputs.deployment)
    ));
    // One line whatever the agents declared: a line break would start a command.
    out.push_str(&format!("# {}\n", super::one_line(generated)));
    out.push_str("# Run in Exchange Online PowerShell (Install-Module ExchangeOnlineManagement), signed in as an Exchange administrator:\n");
    out.push_str("#   Connect-ExchangeOnline -UserPrincipalName <YOUR-ADMIN-UPN>\n");
    out.push_str("# Replace each <PLACEHOLDER> first; where to find its value is said beside it. No secret is needed or written here.\n\n");
    if fixes.is_empty() {
        out.push_str("# No open Microsoft 365 gap asks for a change.\n");
    }
    for f in &fixes {
        out.push_str(&format!(
            "# {} (on {})\n",
            super::one_line(&f.why),
            super::one_line(&f.servers.join(", "))
        ));
        for (name, place) in &f.placeholders {
            out.push_str(&format!("#   {name}: {place}\n"));
        }
        for line in &f.lines {
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    (out, fixes.len())
}

/// A PowerShell single-quoted string.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A GUID as Entra writes them (the only shape of id let into a command); the one GUID
/// check is the endpoint service's client id's.
fn guid(s: &str) -> Option<&str> {
    crate::endpoints::client_id::is_guid(s).then_some(s)
}

/// The value, or the placeholder (recorded with where to find its value).
fn or_placeholder(
    value: Option<String>,
    name: &'static str,
    place: &'static str,
    used: &mut Vec<(&'static str, &'static str)>,
) -> String {
    value.unwrap_or_else(|| {
        if !used.iter().any(|(n, _)| *n == name) {
            used.push((name, place));
        }
        name.to_owned()
    })
}

fn fix(inputs: &Inputs, gap: &Gap) -> Option<Fix> {
    let kind = crate::gaps::probe_kind(&gap.kind, &gap.detail)?;
    let name = CheckName::parse(&gap.check).ok()?;
    let mailbox = name.mailbox().map(quoted).unwrap_or_else(|| MAILBOX.into());
    // The app and tenant, from any result of this mailbox on this server that has a token.
    let oauth = || {
        inputs
            .results
            .iter()
            .filter(|((agent, check), _)| {
                *agent == gap.agent_id
                    && CheckName::parse(check)
                        .ok()
                        .and_then(|c| c.mailbox().map(str::to_owned))
                        == name.mailbox().map(str::to_owned)
            })
            .filter_map(|(_, r)| r.oauth.as_ref())
            .collect::<Vec<_>>()
    };
    let found = oauth();
    let app_id = found.iter().find_map(|o| guid(&o.token_app_id));
    let tenant_id = found.iter().find_map(|o| guid(&o.token_tenant_id));
    let app_only = found.iter().any(|o| o.grant == "client_credentials");
    let token_user = found
        .iter()
        .map(|o| o.token_user.as_str())
        .find(|u| CheckName::parse(&format!("oauth-token/{u}")).is_ok());
    let mut placeholders = Vec::new();
    use FailureKind as K;
    let (why, lines): (String, Vec<String>) = match kind {
        K::SmtpAuthDisabledMailbox | K::SmtpAuthDisabledTenant => (
            format!(
                "{}: SMTP AUTH is disabled for the {}, which blocks OAuth SMTP too; enable it on the mailbox (C5)",
                kind.as_str(),
                if kind == K::SmtpAuthDisabledTenant { "tenant" } else { "mailbox" }
            ),
            vec![format!(
                "Set-CASMailbox -Identity {mailbox} -SmtpClientAuthenticationDisabled $false"
            )],
        ),
        K::MailboxNotConnected => {
            // The switch of the protocol the session was refused on (SMTP has its own kinds).
            let switch = match name.id() {
                eceprobe_checks::CheckId::OauthPop3 => Some("-PopEnabled"),
                eceprobe_checks::CheckId::OauthImap => Some("-ImapEnabled"),
                _ => None,
            };
            let mut lines: Vec<String> = switch
                .map(|s| format!("Set-CASMailbox -Identity {mailbox} {s} $true"))
                .into_iter()
                .collect();
            match token_user.filter(|u| Some(*u) != name.mailbox()) {
                Some(user) => lines.push(format!(
                    "Add-MailboxPermission -Identity {mailbox} -User {} -AccessRights FullAccess -InheritanceType All",
                    quoted(user)
                )),
                None => lines.push(format!(
                    "# If the mailbox is enabled and licensed (Exchange Online), the account ECE signed in with needs Full Access: Add-MailboxPermission -Identity {mailbox} -User <SIGNED-IN-ACCOUNT> -AccessRights FullAccess"
                )),
            }
            (
                format!("{}: the token is accepted but the mailbox cannot be opened: enable the protocol on it, and give the token's user rights (C5, C7)", kind.as_str()),
                lines,
            )
        }
        K::Xoauth2Rejected if app_only => {
            placeholders.push((OBJECT_ID, OBJECT_ID_WHERE));
            (
                format!("{}: app-only access needs Exchange's service principal of the app and Full Access on the mailbox (C3, C7)", kind.as_str()),
                vec![
                    format!(
                        "New-ServicePrincipal -AppId {} -ObjectId {OBJECT_ID}",
                        or_placeholder(app_id.map(quoted), APP_ID, APP_ID_WHERE, &mut placeholders)
                    ),
                    format!("Add-MailboxPermission -Identity {mailbox} -User {OBJECT_ID} -AccessRights FullAccess"),
                ],
            )
        }
        K::OauthConsentMissing | K::OauthAdminConsentRequired | K::TokenScopeMissing => {
            let tenant = or_placeholder(
                tenant_id.map(str::to_owned),
                TENANT_ID,
                TENANT_ID_WHERE,
                &mut placeholders,
            );
            let client = or_placeholder(
                app_id.map(str::to_owned),
                APP_ID,
                APP_ID_WHERE,
                &mut placeholders,
            );
            (
                format!("{}: {}grant (admin) consent to the app's Office 365 Exchange Online permissions (IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send, offline_access), signed in as a Global or Privileged Role Administrator, then generate a new token in ECE (C3)", kind.as_str(), match kind {
                    K::TokenScopeMissing => "add the missing permission in the app registration's API permissions, then ",
                    _ => "",
                }),
                vec![format!(
                    "Start-Process 'https://login.microsoftonline.com/{tenant}/adminconsent?client_id={client}'"
                )],
            )
        }
        other => (
            format!(
                "{}: no PowerShell for this one; in the Entra admin center: {}",
                other.as_str(),
                other
                    .hint(name.id(), inputs.server(&gap.agent_id).role(), "", 0)
                    .replace("<mailbox>", name.mailbox().unwrap_or(MAILBOX))
            ),
            Vec::new(),
        ),
    };
    Some(Fix {
        key: (
            kind.as_str().to_owned(),
            name.mailbox().unwrap_or_default().to_owned(),
        ),
        servers: Vec::new(),
        why,
        lines,
        placeholders,
    })
}
