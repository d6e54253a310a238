//! Mailboxes (the OAuth checks, one per mailbox) in the dashboard and JSON API of a real
//! collector process: judged per mailbox, shown with the token's user, their history and
//! gaps, and a mailbox name that is not one refused at ingest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::agent::Agent;
use common::dashboard::{feed_with, get, result, Dashboard};
use common::msg;
use eceprobe_checks::{CheckId, FailureKind};
use eceprobe_proto::v1::{agent_message, CheckResult, Finding, OAuthInfo, Outcome, ResultBatch};

const MAILBOX: &str = "ece-mail@contoso.com";
const TRACE_ID: &str = "0d5bd2a1-7f8e-4f55-9a0b-2b6c1e0a3f00";
const CORRELATION_ID: &str = "9f1c7e52-3b7d-4c1e-8a46-5d2e0f6b7c11";

/// A shared mailbox's checks: the token is granted (for another user, whom the probe
/// accepts for a shared mailbox) with an unexpected lifetime; the IMAP login is accepted
/// but the mailbox cannot be opened. A second mailbox passes.
fn oauth_results() -> Vec<CheckResult> {
    let hint = FailureKind::MailboxNotConnected
        .hint(
            CheckId::OauthImap,
            eceprobe_checks::Role::Services,
            "outlook.office365.com",
            993,
        )
        .replace("<mailbox>", MAILBOX)
        .replace("<token user>", "someone.else@contoso.com");
    let token_user = "someone.else@contoso.com";
    let mut token = result(6, &format!("oauth-token/{MAILBOX}"), false);
    token.host = "login.microsoftonline.com".into();
    token.port = 443;
    token.outcome = Outcome::Warn as i32;
    token.warnings.push(Finding {
        kind: "token_lifetime_unexpected".into(),
        stage: "token".into(),
        detail: "the access token lives 5400 s, not 3600 s".into(),
        hint: "apply a 60-minute token lifetime policy (C3)".into(),
        ..Default::default()
    });
    token.oauth = Some(OAuthInfo {
        mailbox: MAILBOX.into(),
        grant: "refresh_token".into(),
        granted_scopes: vec![
            "https://outlook.office.com/IMAP.AccessAsUser.All".into(),
            "https://outlook.office.com/SMTP.Send".into(),
        ],
        expires_in_s: 5399,
        refresh_token_issued: true,
        token_user: token_user.into(),
        token_scopes: vec!["IMAP.AccessAsUser.All".into(), "SMTP.Send".into()],
        audience: "https://outlook.office.com".into(),
        token_lifetime_s: 5400,
        trace_id: TRACE_ID.into(),
        correlation_id: CORRELATION_ID.into(),
        ..OAuthInfo::default()
    });
    let mut imap = result(7, &format!("oauth-imap/{MAILBOX}"), true);
    imap.failure = Some(Finding {
        kind: "mailbox_not_connected".into(),
        stage: "login".into(),
        detail: "NO [AUTHORIZATIONFAILED] cannot open the mailbox".into(),
        hint,
        ..Default::default()
    });
    imap.oauth = Some(OAuthInfo {
        mailbox: MAILBOX.into(),
        token_user: token_user.into(),
        ..OAuthInfo::default()
    });
    let other = result(8, "oauth-imap/sales@contoso.com", false);
    vec![token, imap, other]
}

#[tokio::test]
async fn mailboxes_are_judged_and_shown_with_the_token_user() {
    let d = Dashboard::start();
    let _agent = feed_with(d.agents, oauth_results()).await;
    let v: serde_json::Value =
        serde_json::from_str(&get(d.web, "/api/overview").await.body).unwrap();
    let columns: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "login-https",
            "outlook-https",
            "imap",
            "pop3",
            "smtp",
            "ece-url",
            "ece-config",
            "ece-java"
        ],
        "the catalog, ece-config and ece-java; no mailbox check is a column"
    );
    let server = &v["servers"][0];
    assert_eq!(server["cells"].as_array().unwrap().len(), 8);
    assert_eq!(
        server["cells"][6]["state"], "not_required",
        "no ECE facts declared here"
    );
    let m = &server["mailboxes"];
    assert_eq!(m["state"], "gap", "{m}");
    assert_eq!((&m["mailboxes"], &m["in_state"]), (&2.into(), &1.into()));
    assert_eq!(m["summary"], "gap: 1 of 2");
    let overview = get(d.web, "/").await.body;
    assert!(overview.contains(">mailboxes</th>"), "the column");
    assert!(overview.contains("href=\"/servers/svc-1#mailboxes\""));
    assert!(overview.contains("gap: 1 of 2"));

    let page = get(d.web, "/servers/svc-1").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    for expect in [
        "Mailboxes (OAuth)",
        "id=\"mailboxes\"",
        MAILBOX,
        "sales@contoso.com",
        "mailbox_not_connected",
        "at stage login",
        "Add-MailboxPermission -Identity ece-mail@contoso.com -User someone.else@contoso.com",
        "Token user mismatch",
        "someone.else@contoso.com",
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "5400 s (90 min)",
        TRACE_ID,
        CORRELATION_ID,
        "token_lifetime_unexpected",
        "id=\"check-oauth-imap/ece-mail@contoso.com\"",
    ] {
        assert!(body.contains(expect), "{expect} not in the server page");
    }
    assert!(body.matches("<svg").count() >= 8, "a chart per check");
    let s: serde_json::Value =
        serde_json::from_str(&get(d.web, "/api/servers/svc-1").await.body).unwrap();
    let mailbox = &s["mailboxes"][0];
    assert_eq!(mailbox["mailbox"], MAILBOX);
    assert_eq!(mailbox["state"], "gap");
    assert_eq!(mailbox["token_user"], "someone.else@contoso.com");
    assert_eq!(mailbox["token_user_mismatch"], true);
    assert_eq!(s["mailboxes"][1]["state"], "pass");
    let imap = s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == format!("oauth-imap/{MAILBOX}"))
        .unwrap();
    assert_eq!(imap["mailbox"], MAILBOX);
    assert_eq!(imap["failure"]["stage"], "login");

    // History: the name's '/' percent-encoded in the path.
    let h = get(
        d.web,
        "/api/servers/svc-1/checks/oauth-imap%2Fece-mail%40contoso.com/history",
    )
    .await;
    assert_eq!(h.status, 200, "{}", h.body);
    let h: serde_json::Value = serde_json::from_str(&h.body).unwrap();
    assert_eq!(h["check"], format!("oauth-imap/{MAILBOX}"));
    assert_eq!(h["points"][0]["failure_kind"], "mailbox_not_connected");
    let bad = get(
        d.web,
        "/api/servers/svc-1/checks/oauth-imap%2FECE%40x.com/history",
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("lower case"), "{}", bad.body);

    // The tracker records the failing login as a gap, the lifetime as a warning.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let g: serde_json::Value =
            serde_json::from_str(&get(d.web, "/api/gaps?server=svc-1").await.body).unwrap();
        let gaps = g["gaps"].as_array().cloned().unwrap_or_default();
        let has = |check: &str, severity: &str, kind: &str| {
            gaps.iter().any(|x| {
                x["check"] == format!("{check}/{MAILBOX}")
                    && x["severity"] == severity
                    && x["kind"] == kind
            })
        };
        if has("oauth-imap", "gap", "failing")
            && has("oauth-token", "warning", "token_lifetime_unexpected")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "oauth findings not recorded: {g}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let filtered = get(d.web, "/api/gaps?check=oauth-imap%2Fece-mail%40contoso.com").await;
    assert_eq!(filtered.status, 200, "{}", filtered.body);
    assert!(
        filtered.body.contains("\"kind\":\"failing\""),
        "{}",
        filtered.body
    );

    // /metrics states the evaluation that recorded the gap once that evaluation has
    // counted the open gaps too (a moment after the gap is visible to the API).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = get(d.web, "/metrics").await.body;
        if metrics.contains(
            "eceprobe_check_up{server=\"svc-1\",check=\"oauth-imap/ece-mail@contoso.com\"} 0\n",
        ) {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_hostile_mailbox_name_is_set_aside_at_ingest() {
    let d = Dashboard::start();
    // Malformed names are set aside (issue 17): acknowledged so the agent moves on, never
    // stored as a check, each with its reason in the server's quarantine.
    let (mut agent, _) = Agent::connect(d.agents, "mallory").await;
    let names = [
        (
            "oauth-imap/<script>alert(1)</script>@contoso.com",
            "before the '@'",
        ),
        ("oauth-imap/ECE-Mail@contoso.com", "lower case"),
        ("oauth-imap", "per mailbox"),
        ("imap/ece-mail@contoso.com", "only the OAuth checks"),
    ];
    for (seq, (name, expect)) in (1u64..).zip(names) {
        let results = vec![result(seq, name, true)];
        let acked = agent
            .send_expect_ack(msg(agent_message::Body::Batch(ResultBatch { results })))
            .await;
        assert_eq!(acked, seq, "{name}: acknowledged, the stream goes on");
        let v: serde_json::Value =
            serde_json::from_str(&get(d.web, "/api/servers/mallory").await.body).unwrap();
        let q = &v["server"]["quarantine"];
        assert_eq!(
            (q["count"].as_u64(), q["last_seq"].as_u64()),
            (Some(seq), Some(seq)),
            "{v}"
        );
        let reason = q["last_reason"].as_str().unwrap();
        assert!(reason.contains(expect), "{name}: {reason}");
        assert!(
            v["checks"].as_array().unwrap().is_empty(),
            "nothing stored: {v}"
        );
    }
    // The page says it in words and never renders the name as markup.
    let page = get(d.web, "/servers/mallory").await.body;
    assert!(page.contains("results set aside"), "{page}");
    assert!(!page.contains("<script>alert(1)"), "{page}");
}
