use super::*;

fn attempt(addr: &str, failure: Option<FailureKind>) -> AddressAttempt {
    let ok_stages = if failure.is_some() { 0 } else { 3 };
    AddressAttempt {
        address: addr.parse().unwrap(),
        stages: (0..ok_stages)
            .map(|_| StageReport {
                stage: Stage::Tcp,
                ok: true,
                duration_us: 1,
            })
            .collect(),
        tls: None,
        protocol: None,
        failure: failure.map(|kind| Finding {
            kind,
            stage: Stage::Tcp,
            detail: String::new(),
            hint: String::new(),
            device: None,
        }),
        warnings: Vec::new(),
        tcp_info: None,
        path: None,
        source: None,
    }
}

fn verdict(attempts: Vec<AddressAttempt>) -> CheckReport {
    let mut report = new_report(&CheckSpec {
        id: crate::CheckId::Imap,
        host: "outlook.office365.com".into(),
        port: 993,
        dialog: Dialog::Imap,
        invalid: None,
    });
    report.attempts = attempts;
    conclude(&mut report, |kind, stage, detail| Finding {
        kind,
        stage,
        detail,
        hint: String::new(),
        device: None,
    });
    report
}

#[test]
fn ipv6_without_a_route_does_not_count_when_ipv4_works() {
    let r = verdict(vec![
        attempt("192.0.2.1:993", None),
        attempt("[2001:db8::1]:993", Some(FailureKind::TcpUnreachable)),
    ]);
    assert_eq!(r.outcome, Outcome::Pass);
    assert_eq!(r.used_address, Some("192.0.2.1:993".parse().unwrap()));
    // But an IPv6 address that is refused is a real firewall gap.
    let r = verdict(vec![
        attempt("192.0.2.1:993", None),
        attempt("[2001:db8::1]:993", Some(FailureKind::TcpRefused)),
    ]);
    assert_eq!(r.failure.unwrap().kind, FailureKind::PartialReachability);
    // And when only IPv6 answers, the unreachable address is the failure.
    let r = verdict(vec![attempt(
        "[2001:db8::1]:993",
        Some(FailureKind::TcpUnreachable),
    )]);
    assert_eq!(r.failure.unwrap().kind, FailureKind::TcpUnreachable);
}

#[test]
fn the_used_address_is_the_one_that_got_furthest() {
    let mut further = attempt("192.0.2.2:993", Some(FailureKind::TlsUntrusted));
    further.stages.push(StageReport {
        stage: Stage::Tcp,
        ok: true,
        duration_us: 1,
    });
    let r = verdict(vec![
        attempt("192.0.2.1:993", Some(FailureKind::TcpTimeout)),
        further,
    ]);
    assert_eq!(r.used_address, Some("192.0.2.2:993".parse().unwrap()));
    assert_eq!(r.failure.unwrap().kind, FailureKind::TlsUntrusted);
}
