//! A probe report as the collector receives it: `eceprobe_checks::CheckReport` to the
//! `eceprobe.v1.CheckResult` message. Field for field; the probe engine knows nothing of
//! the wire, so this mapping lives with the agent.

use eceprobe_checks::{
    AddressAttempt, AddressSource, CertInfo, CheckReport, DnsReport, Finding, Hop, HopAnswer,
    OAuthInfo, Outcome, PathTrace, ProtocolInfo, StageReport, TlsInfo,
};
use eceprobe_proto::v1 as pb;

/// The check's name on the wire: `imap`, ..., and for the OAuth checks one per mailbox,
/// `oauth-imap/<mailbox>` (mailbox in lower case), so (agent, check) stays unique.
pub fn check_name(report: &CheckReport) -> String {
    match &report.oauth {
        Some(o) => format!("{}/{}", report.check.as_str(), o.mailbox.to_lowercase()),
        None => report.check.as_str().to_owned(),
    }
}

/// The message for one check, numbered `seq`, started at `started_unix_ms`; `audit_id` is
/// empty unless the collector ordered the run.
pub fn check_result(
    report: &CheckReport,
    seq: u64,
    started_unix_ms: i64,
    audit_id: &str,
) -> pb::CheckResult {
    pb::CheckResult {
        seq,
        started_unix_ms,
        check: check_name(report),
        host: report.host.clone(),
        port: u32::from(report.port),
        outcome: outcome(report.outcome) as i32,
        failure: report.failure.as_ref().map(finding),
        warnings: report.warnings.iter().map(finding).collect(),
        duration_us: report.duration_us,
        dns: report.dns.as_ref().map(dns),
        via_proxy: report.via_proxy.clone().unwrap_or_default(),
        attempts: report.attempts.iter().map(attempt).collect(),
        used_address: report
            .used_address
            .map(|a| a.to_string())
            .unwrap_or_default(),
        audit_id: audit_id.to_owned(),
        oauth: report.oauth.as_ref().map(oauth),
    }
}

/// Verdicts and non-secret claims only: `OAuthInfo` holds no token by construction.
fn oauth(o: &OAuthInfo) -> pb::OAuthInfo {
    let claims = o.claims.clone().unwrap_or_default();
    pb::OAuthInfo {
        mailbox: o.mailbox.to_lowercase(),
        grant: o.grant.clone(),
        requested_scopes: o.requested_scopes.clone(),
        granted_scopes: o.granted_scopes.clone(),
        expires_in_s: o.expires_in_s.unwrap_or(0),
        refresh_token_issued: o.refresh_token_issued.unwrap_or(false),
        token_user: claims.user.unwrap_or_default(),
        token_scopes: claims.scopes,
        token_roles: claims.roles,
        audience: claims.audience.unwrap_or_default(),
        token_lifetime_s: claims.lifetime_s.unwrap_or(0),
        error: o.error.clone().unwrap_or_default(),
        aadsts: o.aadsts.unwrap_or(0),
        trace_id: o.trace_id.clone().unwrap_or_default(),
        correlation_id: o.correlation_id.clone().unwrap_or_default(),
        token_tenant_id: claims.tenant_id.unwrap_or_default(),
        token_app_id: claims.app_id.unwrap_or_default(),
    }
}

fn outcome(o: Outcome) -> pb::Outcome {
    match o {
        Outcome::Pass => pb::Outcome::Pass,
        Outcome::Warn => pb::Outcome::Warn,
        Outcome::Fail => pb::Outcome::Fail,
    }
}

fn finding(f: &Finding) -> pb::Finding {
    pb::Finding {
        kind: f.kind.as_str().to_owned(),
        stage: f.stage.as_str().to_owned(),
        detail: f.detail.clone(),
        hint: f.hint.clone(),
        device: f.device.map(|d| d.to_string()).unwrap_or_default(),
    }
}

fn path(p: &PathTrace) -> pb::PathTrace {
    pb::PathTrace {
        method: p.method.clone(),
        port: u32::from(p.port),
        hops: p.hops.iter().map(hop).collect(),
        verdict: p.verdict.clone(),
        device: p.device.map(|d| d.to_string()).unwrap_or_default(),
        probes_sent: p.probes_sent,
        duration_us: p.duration_us,
    }
}

fn hop(h: &Hop) -> pb::Hop {
    let mut out = pb::Hop {
        ttl: u32::from(h.ttl),
        address: h.address.map(|a| a.to_string()).unwrap_or_default(),
        rtt_us: h.rtt_us,
        ..pb::Hop::default()
    };
    out.answer = match &h.answer {
        HopAnswer::TimeExceeded => "time_exceeded",
        HopAnswer::Unreachable { icmp_type, code } => {
            out.icmp_type = u32::from(*icmp_type);
            out.icmp_code = u32::from(*code);
            "unreachable"
        }
        HopAnswer::Reset => "reset",
        HopAnswer::SynAck => "syn_ack",
        HopAnswer::EchoReply => "echo_reply",
        HopAnswer::Local { reason } => {
            out.reason = reason.clone();
            "local"
        }
        HopAnswer::NoAnswer => "no_answer",
    }
    .to_owned();
    out
}

fn dns(d: &DnsReport) -> pb::Dns {
    pb::Dns {
        source: match d.source {
            AddressSource::System => "system",
            AddressSource::Override => "override",
            AddressSource::Proxy => "proxy",
        }
        .to_owned(),
        duration_us: d.duration_us,
        addresses: d.addresses.iter().map(|a| a.to_string()).collect(),
        families: d
            .families
            .iter()
            .map(|f| pb::DnsFamily {
                family: f.family.clone(),
                duration_us: f.duration_us,
                addresses: f.addresses,
                error: f.error.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

fn attempt(a: &AddressAttempt) -> pb::Attempt {
    pb::Attempt {
        address: a.address.to_string(),
        stages: a.stages.iter().map(stage).collect(),
        tls: a.tls.as_ref().map(tls),
        protocol: a.protocol.as_ref().map(protocol),
        failure: a.failure.as_ref().map(finding),
        warnings: a.warnings.iter().map(finding).collect(),
        tcp_info: a.tcp_info.map(|t| pb::TcpInfo {
            rtt_us: t.rtt_us,
            rttvar_us: t.rttvar_us,
            retransmits: t.retransmits,
            segments_out: t.segments_out,
            spurious: t.spurious,
        }),
        path: a.path.as_ref().map(path),
        source_address: a.source.map(|ip| ip.to_string()).unwrap_or_default(),
    }
}

fn stage(s: &StageReport) -> pb::StageTiming {
    pb::StageTiming {
        stage: s.stage.as_str().to_owned(),
        ok: s.ok,
        duration_us: s.duration_us,
    }
}

fn tls(t: &TlsInfo) -> pb::Tls {
    pb::Tls {
        version: t.version.clone().unwrap_or_default(),
        cipher: t.cipher.clone().unwrap_or_default(),
        chain: t.chain.iter().map(certificate).collect(),
        trusted: t.trusted,
        expected_root: t.expected_root,
        chain_root: t.chain_root.clone().unwrap_or_default(),
        expected_root_source: t
            .expected_root_source
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        java_trusted: t.java.as_ref().map(|j| j.trusted),
        java_store: t.java.as_ref().map(|j| j.store.clone()).unwrap_or_default(),
    }
}

fn certificate(c: &CertInfo) -> pb::Certificate {
    pb::Certificate {
        subject: c.subject.clone(),
        issuer: c.issuer.clone(),
        dns_names: c.dns_names.clone(),
        not_after: c.not_after.clone(),
        not_after_unix: c.not_after_unix,
        sha256: c.sha256.clone(),
    }
}

fn protocol(p: &ProtocolInfo) -> pb::Protocol {
    pb::Protocol {
        greeting: p.greeting.clone().unwrap_or_default(),
        front_end: p.front_end.clone().unwrap_or_default(),
        capabilities: p.capabilities.clone(),
        sasl_mechanisms: p.sasl_mechanisms.clone(),
        capabilities_before_tls: p.capabilities_before_tls.clone(),
        http_status: p.http_status.map(u32::from).unwrap_or(0),
        token_endpoint: p.token_endpoint.clone().unwrap_or_default(),
        bytes_received: p.bytes_received,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eceprobe_checks::{CheckId, ClaimsReport, FamilyTiming};

    fn report(check: CheckId, oauth: Option<OAuthInfo>) -> CheckReport {
        CheckReport {
            check,
            host: "outlook.office365.com".into(),
            port: 993,
            outcome: Outcome::Pass,
            failure: None,
            warnings: Vec::new(),
            duration_us: 1,
            dns: None,
            via_proxy: None,
            attempts: Vec::new(),
            used_address: None,
            oauth,
        }
    }

    #[test]
    fn dns_families_travel_field_by_field() {
        let timing = |family: &str, duration_us, addresses, error: Option<&str>| FamilyTiming {
            family: family.into(),
            duration_us,
            addresses,
            error: error.map(str::to_owned),
        };
        let d = DnsReport {
            source: AddressSource::System,
            duration_us: 5_010_000,
            addresses: vec!["52.97.1.1:993".parse().unwrap()],
            families: vec![
                timing("ipv4", 3_000, 2, None),
                timing("ipv6", 5_000_000, 0, Some("no answer within 5000 ms")),
            ],
        };
        let pb = dns(&d);
        assert_eq!(
            pb.families,
            [
                pb::DnsFamily {
                    family: "ipv4".into(),
                    duration_us: 3_000,
                    addresses: 2,
                    error: String::new(),
                },
                pb::DnsFamily {
                    family: "ipv6".into(),
                    duration_us: 5_000_000,
                    addresses: 0,
                    error: "no answer within 5000 ms".into(),
                },
            ]
        );
    }

    #[test]
    fn oauth_checks_are_named_per_mailbox_in_lower_case() {
        assert_eq!(check_name(&report(CheckId::Imap, None)), "imap");
        let info = OAuthInfo {
            mailbox: "Support@Contoso.com".into(),
            grant: "refresh_token".into(),
            expires_in_s: Some(3599),
            refresh_token_issued: Some(true),
            claims: Some(ClaimsReport {
                user: Some("ece-mail@contoso.com".into()),
                scopes: vec!["IMAP.AccessAsUser.All".into()],
                lifetime_s: Some(3600),
                ..ClaimsReport::default()
            }),
            aadsts: None,
            ..OAuthInfo::default()
        };
        let r = check_result(&report(CheckId::OauthImap, Some(info)), 7, 0, "");
        assert_eq!(r.check, "oauth-imap/support@contoso.com");
        let o = r.oauth.unwrap();
        assert_eq!(o.mailbox, "support@contoso.com");
        assert_eq!(o.token_user, "ece-mail@contoso.com");
        assert_eq!(
            (o.expires_in_s, o.token_lifetime_s, o.aadsts),
            (3599, 3600, 0)
        );
        assert!(o.refresh_token_issued);
        assert!(check_result(&report(CheckId::Smtp, None), 1, 0, "")
            .oauth
            .is_none());
    }

    #[test]
    fn a_path_trace_and_its_device_travel_field_by_field() {
        let device = "10.214.1.1".parse().ok();
        let hop = |ttl, answer| Hop {
            ttl,
            address: device,
            rtt_us: Some(700),
            answer,
        };
        let path = PathTrace {
            method: "tcp_syn_ttl".into(),
            port: 993,
            hops: vec![
                hop(1, HopAnswer::TimeExceeded),
                hop(
                    2,
                    HopAnswer::Unreachable {
                        icmp_type: 3,
                        code: 13,
                    },
                ),
            ],
            verdict: "10.214.1.1 answers ICMP administratively prohibited".into(),
            device,
            probes_sent: 4,
            duration_us: 2000,
        };
        let finding = Finding {
            kind: eceprobe_checks::FailureKind::TcpUnreachable,
            stage: eceprobe_checks::Stage::Tcp,
            detail: "no route".into(),
            hint: "open it".into(),
            device,
        };
        let a = attempt(&AddressAttempt {
            address: "10.213.57.102:993".parse().unwrap(),
            stages: Vec::new(),
            tls: None,
            protocol: None,
            failure: Some(finding),
            warnings: Vec::new(),
            tcp_info: None,
            path: Some(path),
            source: Some("10.213.1.5".parse().unwrap()),
        });
        // The address the firewall sees the dropped SYN come from.
        assert_eq!(a.source_address, "10.213.1.5");
        assert_eq!(a.failure.unwrap().device, "10.214.1.1");
        let p = a.path.unwrap();
        assert_eq!(
            (p.port, p.probes_sent, p.device.as_str()),
            (993, 4, "10.214.1.1")
        );
        assert_eq!(p.hops[0].answer, "time_exceeded");
        let refused = &p.hops[1];
        assert_eq!(refused.answer, "unreachable");
        assert_eq!((refused.icmp_type, refused.icmp_code), (3, 13));
        assert_eq!(refused.rtt_us, Some(700));
    }

    #[test]
    fn java_s_verdict_travels_and_is_unset_without_a_java_store() {
        let none = tls(&TlsInfo::default());
        assert_eq!((none.java_trusted, none.java_store.as_str()), (None, ""));
        let judged = |trusted| {
            tls(&TlsInfo {
                java: Some(eceprobe_checks::JavaChainVerdict {
                    trusted,
                    store: "/opt/ece/jre/lib/security/cacerts".into(),
                    ..Default::default()
                }),
                ..TlsInfo::default()
            })
        };
        for trusted in [true, false] {
            let t = judged(trusted);
            assert_eq!(t.java_trusted, Some(trusted));
            assert_eq!(t.java_store, "/opt/ece/jre/lib/security/cacerts");
        }
    }
}
