//! The IMAP, POP3 and SMTP dialogs (checks/src/mail.rs) and the XOAUTH2 logins
//! (oauth/xoauth2.rs) reading a server's replies: the first byte picks the dialog, the rest
//! is all the server says. Whatever it says, the dialog ends with a verdict, keeps what it
//! records bounded, and never shows the credentials it sent.
#![no_main]

use eceprobe_checks::fuzzing::{dialog, front_end_from_greeting, Dialog};
use eceprobe_checks::LineLimits;
use libfuzzer_sys::fuzz_target;

const TOKEN: &str = "eyJ0eXAiOiJKV1QifQ.e30.c2ln";

fuzz_target!(|data: &[u8]| {
    let [pick, reply @ ..] = data else { return };
    let which = match pick % 8 {
        0 => Dialog::Imap,
        1 => Dialog::Pop3,
        2 => Dialog::SmtpPlain,
        3 => Dialog::SmtpSecure,
        4 => Dialog::Xoauth2Imap { sasl_ir: true },
        5 => Dialog::Xoauth2Imap { sasl_ir: false },
        6 => Dialog::Xoauth2Pop3,
        _ => Dialog::Xoauth2Smtp,
    };
    // The limits the probe uses for mail dialogs are larger; small ones reach the bounds.
    let limits = LineLimits {
        max_line: 512,
        max_total: 4096,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
    let (info, verdict) = rt.block_on(dialog(which, reply, limits));

    assert!(info.bytes_received <= reply.len() as u64);
    assert!(info.bytes_received <= limits.max_total + limits.max_line as u64);
    // A greeting is kept truncated: 160 bytes and "...".
    if let Some(g) = &info.greeting {
        assert!(g.len() <= 163, "greeting of {} bytes kept", g.len());
    }
    let kept: usize = info
        .capabilities
        .iter()
        .chain(&info.capabilities_before_tls)
        .chain(&info.sasl_mechanisms)
        .map(String::len)
        .sum();
    // Lossy decoding can triple a byte; nothing else is invented.
    assert!(kept <= 3 * 2 * info.bytes_received as usize + 64);
    match (&which, &verdict) {
        (Dialog::Imap | Dialog::Pop3 | Dialog::SmtpSecure, Ok(())) => assert!(
            info.sasl_mechanisms
                .iter()
                .any(|m| m.eq_ignore_ascii_case("XOAUTH2")),
            "passed without XOAUTH2: {info:?}"
        ),
        (_, Err((_, detail))) => {
            // Only the logins send the token; a network check's server may say anything.
            let sent_token = matches!(
                which,
                Dialog::Xoauth2Imap { .. } | Dialog::Xoauth2Pop3 | Dialog::Xoauth2Smtp
            );
            if sent_token {
                assert!(!detail.contains(TOKEN), "the token is shown: {detail}");
            }
            assert!(detail.len() < 1024, "a detail of {} bytes", detail.len());
        }
        _ => {}
    }
    if let Ok(text) = std::str::from_utf8(reply) {
        if let Some(name) = front_end_from_greeting(text) {
            assert!(name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
        }
    }
});
