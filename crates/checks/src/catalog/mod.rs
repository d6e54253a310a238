//! The check catalog: which endpoints ECE needs (DESIGN.md section 3), per cloud profile.
//!
//! Every fact about a check is one row of [`table`]'s table: its name, how it runs, its
//! target, its dialog, the roles whose default policy requires it, the ECE process that
//! needs it, its checklist items, whether it talks to Microsoft, whether it is a dashboard
//! column. Everything below (and the collector's default policy, its columns, testlab's
//! ports, the bench's modules, loadgen's lists) is read from there.

mod cloud;
mod spec;
mod table;
mod url;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ChecklistItem;
pub use cloud::{Cloud, CloudHosts, Role};
pub use spec::{catalog, CheckSpec, Dialog, HttpExpect};
pub(crate) use url::split_host_port;
pub use url::validate_ece_url;

use table::TABLE;

/// One check. Its facts are its row of the table (the variants are in the table's order).
/// [`CheckId::ALL`] is the network catalog every agent runs; the OAuth checks
/// ([`CheckId::OAUTH`]) run only for mailboxes configured with credentials, and `ece-config`
/// and `ece-java` only where ECE facts or a Java runtime are declared, so they are known by
/// name ([`FromStr`]) without being part of `ALL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    LoginHttps,
    OutlookHttps,
    Imap,
    Pop3,
    Smtp,
    EceUrl,
    /// OAuth: the refresh-token (or client-credentials) grant and the token's claims.
    OauthToken,
    /// OAuth: an XOAUTH2 login to the mailbox over IMAP.
    OauthImap,
    /// OAuth: an XOAUTH2 login to the mailbox over POP3.
    OauthPop3,
    /// OAuth: an XOAUTH2 login to the mailbox over SMTP submission (no mail is sent).
    OauthSmtp,
    /// ECE's configuration from the declared facts (checklist C1-C3; see [`crate::ece`]):
    /// runs without network, only where a fact is declared.
    EceConfig,
    /// ECE's Java runtime (issue 14; see [`crate::java::verdict`]): its trust store against
    /// the roots Microsoft publishes, and the TLS it can speak. Runs without network, only
    /// where a Java runtime or trust store was found or configured.
    EceJava,
}

/// How (and where) a check runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runs {
    /// A network check every agent runs ([`CheckId::ALL`]).
    Network,
    /// Per mailbox configured with credentials ([`CheckId::OAUTH`]); named `id/<mailbox>`.
    PerMailbox,
    /// Without network, only where ECE facts or a Java runtime are declared (or found).
    WhereDeclared,
}

/// Which host a check connects to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKind {
    /// The cloud's sign-in host ([`CloudHosts::login`]).
    Login,
    /// The cloud's mail and web host ([`CloudHosts::outlook`]).
    Outlook,
    /// The cloud's SMTP submission host ([`CloudHosts::smtp`]).
    Smtp,
    /// The host of ECE's External Application URL.
    EceUrl,
    /// None: the check judges declared facts.
    None,
}

/// A check's target: the host it connects to and the port (for the ECE URL, the port when
/// the URL names none; 0 where nothing is connected to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub host: HostKind,
    pub port: u16,
}

impl Target {
    const fn cloud(host: HostKind, port: u16) -> Target {
        Target { host, port }
    }

    const NONE: Target = Target {
        host: HostKind::None,
        port: 0,
    };
}

/// The dialog of a row, before a tenant or URL gives it its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowDialog {
    Imap,
    Pop3,
    Smtp,
    Https {
        path: HttpsPath,
        expect: HttpExpect,
    },
    /// Nothing on the wire: the check judges declared facts.
    None,
}

/// The path an HTTPS check requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpsPath {
    /// `/{tenant}/v2.0/.well-known/openid-configuration`.
    TenantOpenidConfiguration,
    /// `/`.
    Root,
    /// The External Application URL's own path.
    EceUrl,
    /// The tenant's token endpoint (the OAuth client builds it).
    TokenEndpoint,
}

impl HttpsPath {
    /// The path for this tenant; None where the URL or the OAuth client gives it.
    pub fn for_tenant(self, tenant: &str) -> Option<String> {
        match self {
            HttpsPath::TenantOpenidConfiguration => {
                Some(format!("/{tenant}/v2.0/.well-known/openid-configuration"))
            }
            HttpsPath::Root => Some("/".into()),
            HttpsPath::EceUrl | HttpsPath::TokenEndpoint => None,
        }
    }
}

/// How mail is retrieved: the retriever needs only the protocol ECE is configured with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Retriever {
    Imap,
    Pop3,
    #[default]
    Both,
}

/// The ECE processes that need a check's endpoint (checklist C8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NeededBy {
    Any(&'static str),
    PerRole {
        services: &'static str,
        application: &'static str,
        both: &'static str,
    },
}

/// One row of the table.
struct Row {
    id: CheckId,
    /// The name agents send, the store keeps and every rendering shows.
    name: &'static str,
    runs: Runs,
    target: Target,
    dialog: RowDialog,
    /// The server roles whose default policy requires it (empty: none lists it; it is
    /// required where it runs).
    required_by: &'static [Role],
    /// Some: required by default only when the retriever uses this protocol.
    retriever: Option<Retriever>,
    needed_by: NeededBy,
    checklist: &'static [ChecklistItem],
    /// Whether it talks to one of Microsoft's hosts (whose chains must end at Microsoft's
    /// roots), rather than ECE's own URL or no host at all.
    microsoft: bool,
    /// Whether it is a column of the dashboard's matrix (in the table's order).
    column: bool,
}

/// A subset of the table, chosen in a const context (the const arrays below).
#[derive(Clone, Copy)]
enum Select {
    Runs(Runs),
    Column,
    RequiredByDefault,
}

const fn selected(row: &Row, select: Select) -> bool {
    match select {
        Select::Runs(runs) => row.runs as u8 == runs as u8,
        Select::Column => row.column,
        Select::RequiredByDefault => !row.required_by.is_empty(),
    }
}

const fn count(select: Select) -> usize {
    let (mut i, mut n) = (0, 0);
    while i < TABLE.len() {
        if selected(&TABLE[i], select) {
            n += 1;
        }
        i += 1;
    }
    n
}

const fn pick<const N: usize>(select: Select) -> [CheckId; N] {
    let mut out = [CheckId::LoginHttps; N];
    let (mut i, mut n) = (0, 0);
    while i < TABLE.len() {
        if selected(&TABLE[i], select) {
            out[n] = TABLE[i].id;
            n += 1;
        }
        i += 1;
    }
    out
}

const NETWORK: Select = Select::Runs(Runs::Network);
const PER_MAILBOX: Select = Select::Runs(Runs::PerMailbox);

impl CheckId {
    /// The network checks every agent runs, in the order they run.
    pub const ALL: [CheckId; count(NETWORK)] = pick(NETWORK);

    /// The OAuth checks: per mailbox, only where credentials are configured. Not in
    /// [`CheckId::ALL`], which drives the default catalog.
    pub const OAUTH: [CheckId; count(PER_MAILBOX)] = pick(PER_MAILBOX);

    /// The dashboard matrix's check columns, in order.
    pub const COLUMNS: [CheckId; count(Select::Column)] = pick(Select::Column);

    /// The checks some role's default policy requires (with either retriever), in order.
    pub const REQUIRED_BY_DEFAULT: [CheckId; count(Select::RequiredByDefault)] =
        pick(Select::RequiredByDefault);

    /// The names of these checks, in a const context (e.g. a tool's fixed list).
    pub const fn names<const N: usize>(ids: [CheckId; N]) -> [&'static str; N] {
        let mut out = [""; N];
        let mut i = 0;
        while i < N {
            out[i] = ids[i].as_str();
            i += 1;
        }
        out
    }

    /// The check's row. The variants are in the table's order (a test holds it).
    const fn row(self) -> &'static Row {
        &TABLE[self as usize]
    }

    /// Every check id this version knows, in the table's order, for parsing names.
    pub fn known() -> impl Iterator<Item = CheckId> {
        TABLE.iter().map(|r| r.id)
    }

    pub const fn as_str(self) -> &'static str {
        self.row().name
    }

    pub const fn runs(self) -> Runs {
        self.row().runs
    }

    /// Its host kind and port.
    pub const fn target(self) -> Target {
        self.row().target
    }

    pub const fn row_dialog(self) -> RowDialog {
        self.row().dialog
    }

    /// The dialog against this tenant; None where the ECE URL or the OAuth client gives
    /// the path, or nothing is said on the wire.
    pub fn dialog(self, tenant: &str) -> Option<Dialog> {
        Some(match self.row().dialog {
            RowDialog::Imap => Dialog::Imap,
            RowDialog::Pop3 => Dialog::Pop3,
            RowDialog::Smtp => Dialog::Smtp,
            RowDialog::Https { path, expect } => Dialog::Https {
                path: path.for_tenant(tenant)?,
                expect,
            },
            RowDialog::None => return None,
        })
    }

    /// The TAC checklist items the check verifies: every item a failure or warning found on
    /// it can break (its kinds' [`crate::FailureKind::items`]; a test holds them to it).
    pub fn checklist(self) -> &'static [ChecklistItem] {
        self.row().checklist
    }

    /// Whether the check talks to one of Microsoft's hosts (whose chains must end at
    /// Microsoft's roots), rather than ECE's own URL or no host at all.
    pub fn is_microsoft(self) -> bool {
        self.row().microsoft
    }

    /// Whether the default policy requires it on a server of this role (`both`: on either
    /// kind) when mail is retrieved this way.
    pub fn default_required(self, role: Role, retriever: Retriever) -> bool {
        let row = self.row();
        let by_role = row
            .required_by
            .iter()
            .any(|r| *r == role || role == Role::Both);
        let by_retriever = match row.retriever {
            None => true,
            Some(protocol) => retriever == Retriever::Both || retriever == protocol,
        };
        by_role && by_retriever
    }

    /// The ECE processes that need this endpoint on a server of this role (checklist C8).
    pub fn needed_by(self, role: Role) -> &'static str {
        match (self.row().needed_by, role) {
            (NeededBy::Any(text), _) => text,
            (NeededBy::PerRole { services, .. }, Role::Services) => services,
            (NeededBy::PerRole { application, .. }, Role::Application) => application,
            (NeededBy::PerRole { both, .. }, Role::Both) => both,
        }
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CheckId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CheckId::known().find(|c| c.as_str() == s).ok_or_else(|| {
            let known: Vec<_> = CheckId::known().map(|c| c.as_str()).collect();
            format!("unknown check '{s}' (known: {})", known.join(", "))
        })
    }
}

#[cfg(test)]
mod checklist_tests;
#[cfg(test)]
mod tests;
