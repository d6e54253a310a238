//! Tests of `convert.rs`: batches, set-aside results, Hello checks, stage durations.
use super::*;
use eceprobe_proto::v1::Outcome;

fn result(seq: u64, check: &str) -> CheckResult {
    CheckResult {
        seq,
        check: check.into(),
        outcome: Outcome::Pass as i32,
        ..CheckResult::default()
    }
}

/// The reasons of a batch's set-aside results, by seq.
fn set_aside(batch: &[CheckResult]) -> Vec<(u64, String)> {
    let out = batch_rows(batch).unwrap();
    out.set_aside
        .into_iter()
        .map(|s| (s.seq, s.reason))
        .collect()
}

#[test]
fn batches_are_refused_whole_only_for_their_size_and_order() {
    assert_eq!(
        batch_rows(&[result(1, "imap"), result(2, "smtp")])
            .unwrap()
            .rows
            .len(),
        2
    );
    let err = batch_rows(&[result(2, "imap"), result(2, "smtp")]).unwrap_err();
    assert!(err.to_string().contains("backwards or repeats"), "{err}");
    assert!(matches!(
        batch_rows(&[result(0, "imap")]),
        Err(InvalidInput::ZeroSeq { .. })
    ));
    let big: Vec<_> = (1..=501).map(|s| result(s, "imap")).collect();
    assert!(matches!(
        batch_rows(&big),
        Err(InvalidInput::BatchTooLarge(501))
    ));
}

#[test]
fn a_malformed_result_is_set_aside_with_its_reason_and_the_rest_kept() {
    let mut odd_warning = result(2, "imap");
    odd_warning.warnings.push(eceprobe_proto::v1::Finding {
        kind: "tls_intercepted,extra".into(),
        ..Default::default()
    });
    let mut no_outcome = result(3, "imap");
    no_outcome.outcome = 0;
    let mut odd_failure = result(4, "imap");
    odd_failure.failure = Some(eceprobe_proto::v1::Finding {
        kind: "Bad Kind".into(),
        ..Default::default()
    });
    let batch = [
        result(1, "imap"),
        odd_warning,
        no_outcome,
        odd_failure,
        result(5, "Not A Name!"),
        result(6, "smtp"),
    ];
    let out = batch_rows(&batch).unwrap();
    assert_eq!(
        out.rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 6]
    );
    let reasons = set_aside(&batch);
    assert_eq!(
        reasons.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![2, 3, 4, 5]
    );
    assert!(
        reasons[0]
            .1
            .contains("warning kind 'tls_intercepted,extra'"),
        "{reasons:?}"
    );
    assert!(reasons[1].1.contains("no outcome"), "{reasons:?}");
    assert!(
        reasons[2].1.contains("failure kind 'Bad Kind'"),
        "{reasons:?}"
    );
    assert!(
        reasons[3].1.contains("'Not A Name!' is not a check name"),
        "{reasons:?}"
    );
    // The summary names what it claimed, bounded.
    let mut huge = result(7, &"x".repeat(100_000));
    huge.check.push('!');
    let out = batch_rows(&[huge]).unwrap();
    assert!(out.set_aside[0].summary.len() < 600, "bounded");
    assert!(out.set_aside[0].reason.len() < 600, "bounded");
}

#[test]
fn a_newer_agents_checks_and_kinds_are_stored() {
    let mut new_kind = result(3, "imap");
    new_kind.outcome = Outcome::Fail as i32;
    new_kind.failure = Some(eceprobe_proto::v1::Finding {
        kind: "quantum_blocked".into(),
        ..Default::default()
    });
    let batch = [
        result(1, "quic-443"),
        result(2, "oauth-graph/ece-mail@contoso.com"),
        new_kind,
    ];
    let out = batch_rows(&batch).unwrap();
    assert_eq!(out.rows.len(), 3);
    assert!(out.set_aside.is_empty());
    assert_eq!(out.rows[2].failure_kind.as_deref(), Some("quantum_blocked"));
}

#[test]
fn oauth_names_are_accepted_per_mailbox_and_bad_ones_set_aside_by_name() {
    let good = [
        result(1, "imap"),
        result(2, "oauth-token/ece-mail@contoso.com"),
        result(3, "oauth-imap/ece-mail@contoso.com"),
        result(4, "oauth-pop3/support+eu@mail.contoso.co.uk"),
        result(5, "oauth-smtp/ece-mail@contoso.com"),
    ];
    let rows = batch_rows(&good).unwrap().rows;
    assert_eq!(rows[1].check, "oauth-token/ece-mail@contoso.com");
    for (name, expect) in [
        ("oauth-imap", "oauth-imap is per mailbox"),
        ("imap/ece-mail@contoso.com", "only the OAuth checks"),
        ("oauth-imap/ECE-Mail@contoso.com", "lower case"),
        ("oauth-imap/a@b@contoso.com", "exactly one '@'"),
        ("oauth-imap/<img src=x>@contoso.com", "before the '@'"),
        ("oauth-imap/x@contoso.com/../../etc", "after the '@'"),
        ("oauth-ftp/x@contoso.com/..", "after the '@'"),
        ("../etc/passwd", "is not a check name"),
    ] {
        let mut batch = good.to_vec();
        batch.push(result(6, name));
        let reasons = set_aside(&batch);
        assert_eq!(reasons.len(), 1, "{name}");
        let (seq, text) = &reasons[0];
        assert_eq!(*seq, 6);
        assert!(text.contains(expect), "{name}: {text}");
        assert!(text.contains(&format!("'{name}'")), "names it: {text}");
    }
}

#[test]
fn stage_durations_come_from_dns_and_the_used_address() {
    use eceprobe_proto::v1::{Attempt, Dns, StageTiming};
    let timing = |stage: &str, duration_us| StageTiming {
        stage: stage.into(),
        ok: true,
        duration_us,
    };
    let mut r = result(1, "imap");
    r.dns = Some(Dns {
        duration_us: 7,
        ..Dns::default()
    });
    r.attempts = vec![
        Attempt {
            address: "192.0.2.1:993".into(),
            stages: vec![timing("tcp", 1000)],
            ..Attempt::default()
        },
        Attempt {
            address: "192.0.2.2:993".into(),
            stages: vec![
                timing("tcp", 10),
                timing("tls", 20),
                timing("Bad,Name", 5),
                timing("tls", 1),
            ],
            ..Attempt::default()
        },
    ];
    r.used_address = "192.0.2.2:993".into();
    let stages = |r: &CheckResult| {
        let rows = batch_rows(std::slice::from_ref(r)).unwrap().rows;
        rows[0].stage_durations.clone()
    };
    let named = |v: &[(&str, u64)]| -> Vec<(String, u64)> {
        v.iter().map(|(s, d)| ((*s).to_owned(), *d)).collect()
    };
    assert_eq!(stages(&r), named(&[("dns", 7), ("tcp", 10), ("tls", 21)]));
    // No representative address (nothing reached): the first attempt's stages.
    r.used_address.clear();
    assert_eq!(stages(&r), named(&[("dns", 7), ("tcp", 1000)]));
    r.attempts.clear();
    r.dns = None;
    assert!(stages(&r).is_empty());
}

#[test]
fn hello_ids_are_checked() {
    let mut hello = Hello {
        agent_id: "app-1.contoso".into(),
        role: Role::Application as i32,
        ..Hello::default()
    };
    assert_eq!(agent_record(&hello, 0).unwrap().role, "application");
    hello.agent_id = "bad id/../".into();
    assert!(matches!(
        agent_record(&hello, 0),
        Err(InvalidInput::AgentId(_))
    ));
    hello.agent_id = String::new();
    assert!(agent_record(&hello, 0).is_err());
}

#[test]
fn hello_java_is_kept_bounded_and_its_absence_is_not_reported() {
    let mut hello = Hello {
        agent_id: "svc-1".into(),
        ..Hello::default()
    };
    // An agent older than the report sends neither field: not reported, not "no Java".
    assert_eq!(agent_record(&hello, 0).unwrap().java, None);
    hello.java_runtime = "/usr/lib/jvm/java-17-openjdk-amd64".into();
    assert_eq!(agent_record(&hello, 0).unwrap().java, None);

    hello.java_truststore = "Java trust store: /usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts (PKCS12, 140 trusted certificates)".into();
    let java = agent_record(&hello, 0).unwrap().java.unwrap();
    assert_eq!(java.runtime, hello.java_runtime);
    assert_eq!(java.truststore, hello.java_truststore);

    // None found: the line is reported, the runtime empty.
    hello.java_runtime = String::new();
    hello.java_truststore = "Java: none found (set [ece] java_home ...)".into();
    let java = agent_record(&hello, 0).unwrap().java.unwrap();
    assert_eq!(
        (java.runtime.as_str(), java.truststore.as_str()),
        ("", "Java: none found (set [ece] java_home ...)")
    );

    // 100 KB each: cut to the bound, on a character boundary, never refused.
    hello.java_runtime = "é".repeat(50 * 1024);
    hello.java_truststore = "x".repeat(100 * 1024);
    let java = agent_record(&hello, 0).unwrap().java.unwrap();
    assert!(java.runtime.len() <= bounds::JAVA_TEXT && java.runtime.ends_with('…'));
    assert_eq!(java.truststore.len(), bounds::JAVA_TEXT);
    assert!(java.truststore.starts_with("xxx") && java.truststore.ends_with('…'));
    // The other Hello strings are still refused past their bound.
    hello.os = "o".repeat(MAX_TEXT + 1);
    assert_eq!(
        agent_record(&hello, 0),
        Err(InvalidInput::TooLong { field: "os" })
    );
}

/// U+0000, which PostgreSQL cannot store, is handled before the store on both engines: a
/// Hello's names refused, a result's stage or audit id set aside, a Java line shown.
#[test]
fn nul_characters_are_refused_set_aside_or_shown_before_the_store() {
    let mut hello = Hello {
        agent_id: "svc-1".into(),
        hostname: "svc-1\0evil".into(),
        ..Hello::default()
    };
    let err = agent_record(&hello, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "hello: hostname holds a NUL character, which no host name or version has"
    );
    hello.hostname = "svc-1".into();
    hello.java_truststore = "Java trust store: C:\\ECE\0\\cacerts".into();
    let java = agent_record(&hello, 0).unwrap().java.unwrap();
    assert_eq!(
        java.truststore,
        "Java trust store: C:\\ECE\u{FFFD}\\cacerts"
    );

    let mut staged = result(2, "imap");
    staged.outcome = Outcome::Fail as i32;
    staged.failure = Some(eceprobe_proto::v1::Finding {
        kind: "tcp_refused".into(),
        stage: "tcp\0".into(),
        ..Default::default()
    });
    let mut audited = result(3, "smtp");
    audited.audit_id = "a-1\0".into();
    assert_eq!(
        set_aside(&[result(1, "pop3"), staged, audited]),
        vec![
            (2, "its failure stage holds a NUL character".to_owned()),
            (3, "its audit id holds a NUL character".to_owned()),
        ]
    );
}
