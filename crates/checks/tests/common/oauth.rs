//! The OAuth tests' mailboxes and report helpers (tests/oauth.rs, tests/oauth_app.rs).

use eceprobe_checks::oauth::Secret;
use eceprobe_checks::{
    CheckReport, Cloud, FailureKind, Grant, MailboxSpec, OAuthMailboxReport, Outcome, Protocol,
    Stage,
};
use eceprobe_testlab::{Account, OAuthConfig, LAB_CLIENT_ID};

pub const USER: &str = "ece-mail@contoso.com";
pub const OTHER: &str = "agent.desktop@contoso.com";
pub const SHARED: &str = "support@contoso.com";

pub fn refresh_token(user: &str) -> String {
    format!("lab-refresh-token-{user}")
}

/// A mailbox whose refresh token is `user`'s (as the lab names them).
pub fn spec(mailbox: &str, token_of: &str) -> MailboxSpec {
    MailboxSpec::new(
        mailbox,
        Cloud::Global.hosts(),
        "contoso.com",
        LAB_CLIENT_ID,
        Grant::RefreshToken(Secret::new(refresh_token(token_of))),
    )
}

pub fn failure(report: &CheckReport) -> (FailureKind, Stage) {
    let f = report
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("{} should fail: {report:#?}", report.check));
    (f.kind, f.stage)
}

pub fn assert_pass(report: &CheckReport) {
    assert_eq!(
        report.outcome,
        Outcome::Pass,
        "{}: {:#?} {:#?}",
        report.check,
        report.failure,
        report.warnings
    );
}

pub fn login(r: &OAuthMailboxReport, p: Protocol) -> &CheckReport {
    r.logins
        .iter()
        .find(|l| l.check == p.check_id())
        .expect("a login report")
}

pub fn stages(report: &CheckReport) -> Vec<Stage> {
    report
        .used_attempt()
        .unwrap()
        .stages
        .iter()
        .map(|s| s.stage)
        .collect()
}

/// Two accounts: the mailbox's own, and the workstation user's, who has no rights on it.
pub fn two_users() -> OAuthConfig {
    let mut cfg = OAuthConfig::healthy(USER);
    cfg.accounts.push(Account::healthy(OTHER));
    cfg
}
