//! The one table of checks: everything this version knows about each check, one row each.
//! `CheckId::ALL`, `OAUTH`, `COLUMNS`, names, parsing, targets, the default policy and the
//! `needed_by` texts are all read from here (see `super`). Adding a check is a variant of
//! [`CheckId`] plus a row here, in the same position (a test checks the order).

use super::{
    CheckId, ChecklistItem, HostKind, HttpExpect, HttpsPath, NeededBy, Retriever, Role, Row,
    RowDialog, Runs, Target,
};

use ChecklistItem::*;

/// Both server kinds: the checklist's minimum (C8, C10).
const EVERY_ROLE: &[Role] = &[Role::Services, Role::Application];

/// In the order of [`CheckId`]'s variants, which is also the order agents run the network
/// checks, the dashboard's columns and every list derived from here.
pub(super) const TABLE: &[Row] = &[
    Row {
        id: CheckId::LoginHttps,
        name: "login-https",
        runs: Runs::Network,
        target: Target::cloud(HostKind::Login, 443),
        dialog: RowDialog::Https {
            path: HttpsPath::TenantOpenidConfiguration,
            expect: HttpExpect::OpenidConfiguration,
        },
        required_by: EVERY_ROLE,
        retriever: None,
        needed_by: LOGIN_NEEDED_BY,
        checklist: &[C8, C9, C10],
        microsoft: true,
        column: true,
    },
    Row {
        id: CheckId::OutlookHttps,
        name: "outlook-https",
        runs: Runs::Network,
        target: Target::cloud(HostKind::Outlook, 443),
        dialog: RowDialog::Https {
            path: HttpsPath::Root,
            expect: HttpExpect::AnyResponse,
        },
        required_by: EVERY_ROLE,
        retriever: None,
        needed_by: NeededBy::Any("ECE's OAuth2 mail (the *.office365.com web endpoints)"),
        checklist: &[C8, C9, C10],
        microsoft: true,
        column: true,
    },
    Row {
        id: CheckId::Imap,
        name: "imap",
        runs: Runs::Network,
        target: Target::cloud(HostKind::Outlook, 993),
        dialog: RowDialog::Imap,
        required_by: EVERY_ROLE,
        retriever: Some(Retriever::Imap),
        needed_by: NeededBy::Any("the retriever (incoming mail over IMAP)"),
        checklist: &[C5, C8, C9, C10],
        microsoft: true,
        column: true,
    },
    Row {
        id: CheckId::Pop3,
        name: "pop3",
        runs: Runs::Network,
        target: Target::cloud(HostKind::Outlook, 995),
        dialog: RowDialog::Pop3,
        required_by: EVERY_ROLE,
        retriever: Some(Retriever::Pop3),
        needed_by: NeededBy::Any("the retriever (incoming mail over POP3)"),
        checklist: &[C5, C8, C9, C10],
        microsoft: true,
        column: true,
    },
    Row {
        id: CheckId::Smtp,
        name: "smtp",
        runs: Runs::Network,
        target: Target::cloud(HostKind::Smtp, 587),
        dialog: RowDialog::Smtp,
        required_by: EVERY_ROLE,
        retriever: None,
        needed_by: SMTP_NEEDED_BY,
        checklist: &[C5, C8, C9, C10],
        microsoft: true,
        column: true,
    },
    Row {
        id: CheckId::EceUrl,
        name: "ece-url",
        runs: Runs::Network,
        // The URL's own port when it names one.
        target: Target::cloud(HostKind::EceUrl, 443),
        dialog: RowDialog::Https {
            path: HttpsPath::EceUrl,
            expect: HttpExpect::AnyResponse,
        },
        // Only where the agent is given the URL: never listed by the default policy.
        required_by: &[],
        retriever: None,
        needed_by: NeededBy::Any("the OAuth2 redirect back to ECE (External Application URL)"),
        checklist: &[C2, C8, C9, C10],
        microsoft: false,
        column: true,
    },
    Row {
        id: CheckId::OauthToken,
        name: "oauth-token",
        runs: Runs::PerMailbox,
        target: Target::cloud(HostKind::Login, 443),
        dialog: RowDialog::Https {
            path: HttpsPath::TokenEndpoint,
            expect: HttpExpect::AnyResponse,
        },
        required_by: &[],
        retriever: None,
        needed_by: LOGIN_NEEDED_BY,
        checklist: &[C2, C3, C4, C7, C8, C9, C10],
        microsoft: true,
        column: false,
    },
    Row {
        id: CheckId::OauthImap,
        name: "oauth-imap",
        runs: Runs::PerMailbox,
        target: Target::cloud(HostKind::Outlook, 993),
        dialog: RowDialog::Imap,
        required_by: &[],
        retriever: None,
        needed_by: NeededBy::Any("the retriever (incoming mail over IMAP)"),
        checklist: &[C4, C5, C6, C7, C8, C9, C10],
        microsoft: true,
        column: false,
    },
    Row {
        id: CheckId::OauthPop3,
        name: "oauth-pop3",
        runs: Runs::PerMailbox,
        target: Target::cloud(HostKind::Outlook, 995),
        dialog: RowDialog::Pop3,
        required_by: &[],
        retriever: None,
        needed_by: NeededBy::Any("the retriever (incoming mail over POP3)"),
        checklist: &[C4, C5, C6, C7, C8, C9, C10],
        microsoft: true,
        column: false,
    },
    Row {
        id: CheckId::OauthSmtp,
        name: "oauth-smtp",
        runs: Runs::PerMailbox,
        target: Target::cloud(HostKind::Smtp, 587),
        dialog: RowDialog::Smtp,
        required_by: &[],
        retriever: None,
        needed_by: SMTP_NEEDED_BY,
        checklist: &[C4, C5, C6, C7, C8, C9, C10],
        microsoft: true,
        column: false,
    },
    Row {
        id: CheckId::EceConfig,
        name: "ece-config",
        runs: Runs::WhereDeclared,
        target: Target::NONE,
        dialog: RowDialog::None,
        required_by: &[],
        retriever: None,
        needed_by: NeededBy::Any(
            "ECE's OAuth2 mail setup (version, External Application URL, Azure app)",
        ),
        checklist: &[C1, C2, C3],
        microsoft: false,
        column: true,
    },
    Row {
        id: CheckId::EceJava,
        name: "ece-java",
        runs: Runs::WhereDeclared,
        target: Target::NONE,
        dialog: RowDialog::None,
        required_by: &[],
        retriever: None,
        needed_by: NeededBy::Any(
            "every TLS connection ECE's Java makes to Microsoft 365 (retriever, dispatcher, token refresh)",
        ),
        checklist: &[C8, C9, C10],
        microsoft: false,
        column: true,
    },
];

/// `login-https` and `oauth-token`: the token is created on one server kind, refreshed on
/// the other.
const LOGIN_NEEDED_BY: NeededBy = NeededBy::PerRole {
    services: "token refresh on the services server (retriever, dispatcher)",
    application: "token creation on the application server",
    both: "token creation and refresh",
};

/// `smtp` and `oauth-smtp`.
const SMTP_NEEDED_BY: NeededBy = NeededBy::PerRole {
    services: "the dispatcher (outgoing mail)",
    application: "alarm notifications sent by the application server",
    both: "the dispatcher and alarm notifications",
};
