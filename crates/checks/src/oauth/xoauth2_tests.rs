//! The XOAUTH2 dialogs against scripted server transcripts (M365-FACTS.md's replies).
use super::*;
use crate::lines::LineLimits;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;

#[test]
fn the_sasl_string() {
    let s = sasl_string("shared@contoso.com", &Secret::new("tok"));
    assert_eq!(
        s.expose(),
        base64::engine::general_purpose::STANDARD
            .encode("user=shared@contoso.com\x01auth=Bearer tok\x01\x01")
    );
    // The example of Microsoft's documentation.
    let s = sasl_string(
        "test@contoso.onmicrosoft.com",
        &Secret::new("EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA"),
    );
    assert_eq!(
        s.expose(),
        "dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVyIEV3QkFBbDNCQUFVRkZwVUFvN0ozVmUwYmpMQldaV0NjbFJDM0VvQUEBAQ=="
    );
}

/// A scripted server: for each client line it expects (prefix), the reply it sends.
/// Returns what the client sent.
async fn scripted<F, Fut>(
    greeting_free_script: Vec<(&'static str, &'static str)>,
    client: F,
) -> (Result<(), StageError>, Vec<String>)
where
    F: FnOnce(LineStream<tokio::io::DuplexStream>) -> Fut,
    Fut: std::future::Future<Output = Result<(), StageError>>,
{
    let (server, client_end) = tokio::io::duplex(1 << 16);
    let limits = LineLimits {
        max_line: 8192,
        max_total: 65536,
    };
    let lines = LineStream::new(client_end, limits, Instant::now() + Duration::from_secs(2));
    let server_task = tokio::spawn(async move {
        let (r, mut w) = tokio::io::split(server);
        let mut r = BufReader::new(r);
        let mut seen = Vec::new();
        for (expect, reply) in greeting_free_script {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                break;
            }
            let line = line.trim_end().to_string();
            assert!(
                line.starts_with(expect),
                "expected '{expect}', got '{line}'"
            );
            seen.push(line);
            w.write_all(reply.as_bytes()).await.unwrap();
        }
        // Whatever comes after the script (LOGOUT, QUIT).
        let mut line = String::new();
        while r.read_line(&mut line).await.unwrap_or(0) > 0 {
            seen.push(line.trim_end().to_string());
            line.clear();
        }
        seen
    });
    let result = client(lines).await;
    (result, server_task.await.unwrap())
}

const TOKEN: &str = "eyJ0eXAiOiJKV1QifQ.payload.SIGNATURE-very-secret-part";

async fn imap_with(script: Vec<(&'static str, &'static str)>) -> Result<(), StageError> {
    let token = Secret::new(TOKEN);
    scripted(script, |mut l| async move {
        let r = imap(&mut l, "mbx@contoso.com", &token, true).await;
        drop(l);
        r
    })
    .await
    .0
}

#[tokio::test]
async fn imap_login_and_examine() {
    let token = Secret::new(TOKEN);
    let (r, seen) = scripted(
        vec![
            (
                "a2 AUTHENTICATE XOAUTH2 ",
                "a2 OK AUTHENTICATE completed.\r\n",
            ),
            (
                "a3 EXAMINE INBOX",
                "* 3 EXISTS\r\na3 OK [READ-ONLY] EXAMINE completed.\r\n",
            ),
        ],
        |mut l| async move {
            let r = imap(&mut l, "mbx@contoso.com", &token, true).await;
            drop(l);
            r
        },
    )
    .await;
    r.unwrap();
    assert_eq!(seen.last().map(String::as_str), Some("a4 LOGOUT"));
}

#[tokio::test]
async fn imap_refusals() {
    let e = imap_with(vec![("a2 AUTHENTICATE", "a2 NO AUTHENTICATE failed.\r\n")])
        .await
        .unwrap_err();
    assert_eq!(e.kind, FailureKind::Xoauth2Rejected);
    assert!(e.detail.contains("NO AUTHENTICATE failed."), "{}", e.detail);
    let e = imap_with(vec![
        ("a2 AUTHENTICATE", "a2 OK AUTHENTICATE completed.\r\n"),
        (
            "a3 EXAMINE",
            "a3 BAD User is authenticated but not connected.\r\n",
        ),
    ])
    .await
    .unwrap_err();
    assert_eq!(e.kind, FailureKind::MailboxNotConnected);
    let e = imap_with(vec![(
        "a2 AUTHENTICATE",
        "a2 BAD Command Argument Error. 11\r\n",
    )])
    .await
    .unwrap_err();
    assert_eq!(e.kind, FailureKind::Xoauth2Malformed);
    // A server echoing the credentials never gets them into a detail.
    let e = imap_with(vec![(
        "a2 AUTHENTICATE",
        "a2 NO SIGNATURE-very-secret-part rejected\r\n",
    )])
    .await
    .unwrap_err();
    assert!(!e.detail.contains("very-secret"), "{}", e.detail);
}

#[tokio::test]
async fn imap_without_sasl_ir_waits_for_the_continuation() {
    let token = Secret::new(TOKEN);
    let (r, seen) = scripted(
        vec![
            ("a2 AUTHENTICATE XOAUTH2", "+ \r\n"),
            (
                "dXNlcj1tYnhAY29udG9zby5jb20B",
                "a2 OK AUTHENTICATE completed.\r\n",
            ),
            ("a3 EXAMINE INBOX", "a3 OK EXAMINE completed.\r\n"),
        ],
        |mut l| async move {
            let r = imap(&mut l, "mbx@contoso.com", &token, false).await;
            drop(l);
            r
        },
    )
    .await;
    r.unwrap();
    assert_eq!(seen[0], "a2 AUTHENTICATE XOAUTH2");
}

async fn pop3_with(script: Vec<(&'static str, &'static str)>) -> Result<(), StageError> {
    let token = Secret::new(TOKEN);
    scripted(script, |mut l| async move {
        let r = pop3(&mut l, "mbx@contoso.com", &token).await;
        drop(l);
        r
    })
    .await
    .0
}

#[tokio::test]
async fn pop3_dialogs() {
    pop3_with(vec![
        ("AUTH XOAUTH2", "+ \r\n"),
        (
            "dXNlcj1tYnhAY29udG9zby5jb20B",
            "+OK User successfully authenticated.\r\n",
        ),
        ("STAT", "+OK 3 12345\r\n"),
    ])
    .await
    .unwrap();
    let e = pop3_with(vec![
        ("AUTH XOAUTH2", "+ \r\n"),
        (
            "dXNlcj1",
            "-ERR Authentication failure: unknown user name or bad password.\r\n",
        ),
    ])
    .await
    .unwrap_err();
    // The same kind as IMAP's and SMTP's refusal (issue 13).
    assert_eq!(e.kind, FailureKind::Xoauth2Rejected);
    let e = pop3_with(vec![
        ("AUTH XOAUTH2", "+ \r\n"),
        ("dXNlcj1", "+OK User successfully authenticated.\r\n"),
        ("STAT", "-ERR Logon failure.\r\n"),
    ])
    .await
    .unwrap_err();
    assert_eq!(e.kind, FailureKind::MailboxNotConnected);
}

async fn smtp_with(script: Vec<(&'static str, &'static str)>) -> Result<(), StageError> {
    let token = Secret::new(TOKEN);
    scripted(script, |mut l| async move {
        let r = smtp(&mut l, "mbx@contoso.com", &token).await;
        drop(l);
        r
    })
    .await
    .0
}

#[tokio::test]
async fn smtp_dialogs() {
    smtp_with(vec![(
        "AUTH XOAUTH2 dXNlcj1",
        "235 2.7.0 Authentication successful\r\n",
    )])
    .await
    .unwrap();
    smtp_with(vec![
        ("AUTH XOAUTH2 ", "334 \r\n"),
        ("dXNlcj1", "235 2.7.0 Authentication successful\r\n"),
    ])
    .await
    .unwrap();
    let cases = [
        (
            "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [X.prod.outlook.com]\r\n",
            FailureKind::SmtpAuthDisabledTenant,
        ),
        (
            "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.\r\n",
            FailureKind::SmtpAuthDisabledMailbox,
        ),
        (
            "535 5.7.3 Authentication unsuccessful [X.prod.outlook.com]\r\n",
            FailureKind::Xoauth2Rejected,
        ),
        (
            "501 5.5.124 Invalid XOAUTH2 auth data\r\n",
            FailureKind::Xoauth2Malformed,
        ),
    ];
    for (reply, kind) in cases {
        let e = smtp_with(vec![("AUTH XOAUTH2", reply)]).await.unwrap_err();
        assert_eq!(e.kind, kind, "{reply}");
    }
    // An error challenge after the initial response: empty line, then the refusal.
    let e = smtp_with(vec![
        ("AUTH XOAUTH2", "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n"),
        ("", "535 5.7.3 Authentication unsuccessful\r\n"),
    ])
    .await
    .unwrap_err();
    assert_eq!(e.kind, FailureKind::Xoauth2Rejected);
}

/// Found by the `mail_dialog` fuzz target: a line that is not an SMTP reply was quoted as it
/// came, so a server echoing the token put it in the detail.
#[tokio::test]
async fn smtp_withholds_an_echo_that_is_not_a_reply() {
    let echo: &'static str = Box::leak(format!("2{TOKEN}3 Authentication\r\n").into_boxed_str());
    let e = smtp_with(vec![("AUTH XOAUTH2", echo)]).await.unwrap_err();
    assert_eq!(e.kind, FailureKind::ProtocolUnexpected);
    assert_eq!(
        e.detail,
        "not an SMTP reply: '[reply withheld: it echoes the credentials]'"
    );
}
