//! A check that works, but slowly or over a lossy path: each stage that succeeded against
//! its budget (`slow`), the retransmissions the kernel counted on the connection
//! (`packet_loss`), and the time the OS resolver took (`dns_slow`). Warnings only: the
//! check still passes. The budgets are `ProbeSettings::budgets` (`[slow]` in agent.toml).

use std::time::Duration;

use crate::failure::{FailureKind, Stage};
use crate::report::{AddressAttempt, AddressSource, DnsReport, FamilyTiming};
use crate::settings::Budgets;

/// A warning before its hint is added: kind, stage, detail.
pub(crate) type RawWarning = (FailureKind, Stage, String);

/// What a stage is, in words, for "the TLS handshake took 2.4 s".
fn stage_words(stage: Stage) -> &'static str {
    match stage {
        Stage::Dns => "name resolution",
        Stage::Tcp => "the TCP connection",
        Stage::Proxy => "the proxy's CONNECT",
        Stage::Starttls => "the SMTP dialog up to STARTTLS",
        Stage::Tls => "the TLS handshake",
        Stage::Protocol => "the protocol dialog",
        Stage::Token => "the token request",
        Stage::Login => "the XOAUTH2 login",
        Stage::Config => "the configuration check",
    }
}

/// A duration as people read it: "850 ms", "1.5 s", "2.43 s".
pub(crate) fn figure(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms} ms");
    }
    let s = format!("{:.2}", d.as_secs_f64());
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s} s")
}

/// `slow` and `packet_loss` of one attempt: every stage that succeeded over its budget (one
/// warning, at the first such stage, naming each), and retransmissions at or above the
/// threshold on its connection.
pub(crate) fn attempt_warnings(budgets: &Budgets, attempt: &AddressAttempt) -> Vec<RawWarning> {
    let mut out = Vec::new();
    let over: Vec<(Stage, Duration, Duration)> = attempt
        .stages
        .iter()
        .filter(|s| s.ok)
        .filter_map(|s| {
            let took = Duration::from_micros(s.duration_us);
            let budget = budgets.of(s.stage)?;
            (took > budget).then_some((s.stage, took, budget))
        })
        .collect();
    if let Some((first, _, _)) = over.first() {
        let detail = match over.as_slice() {
            [(stage, took, budget)] => format!(
                "{} took {}; its budget is {}",
                stage_words(*stage),
                figure(*took),
                figure(*budget)
            ),
            _ => over
                .iter()
                .map(|(stage, took, budget)| {
                    format!(
                        "{} took {} (its budget is {})",
                        stage_words(*stage),
                        figure(*took),
                        figure(*budget)
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        };
        out.push((FailureKind::Slow, *first, detail));
    }
    if let Some(tcp) = attempt.tcp_info {
        let threshold = budgets.retransmits;
        if threshold > 0 && tcp.lost() >= threshold {
            let of = match tcp.segments_out {
                0 => String::new(),
                n => format!(" of {n}"),
            };
            let detail = format!(
                "the connection to {} retransmitted {}{of} segments during the check (round trip {} ± {}): packets are lost on the path",
                attempt.address,
                tcp.lost(),
                rtt(tcp.rtt_us),
                rtt(tcp.rttvar_us),
            );
            // Where the loss showed: the last stage that ran on the connection.
            let stage = attempt.stages.last().map_or(Stage::Tcp, |s| s.stage);
            out.push((FailureKind::PacketLoss, stage, detail));
        }
    }
    out
}

/// A round-trip figure in microseconds, as "12.3 ms".
fn rtt(us: u32) -> String {
    format!("{:.1} ms", f64::from(us) / 1000.0)
}

/// `dns_slow`: the OS resolver took longer than the budget to resolve `name`. `resolvers`
/// are the name servers the OS asks, in order, when it says (Linux: /etc/resolv.conf).
pub(crate) fn dns_warning(
    budgets: &Budgets,
    name: &str,
    dns: &DnsReport,
    resolvers: impl FnOnce() -> Vec<String>,
) -> Option<RawWarning> {
    // Only the OS resolver is timed: an override or an IP literal is not resolved at all.
    if dns.source == AddressSource::Override || dns.duration_us == 0 {
        return None;
    }
    let took = Duration::from_micros(dns.duration_us);
    if took <= budgets.dns {
        return None;
    }
    let mut detail = format!(
        "resolving {name} took {}; its budget is {}",
        figure(took),
        figure(budgets.dns)
    );
    if let Some(families) = by_family(budgets, &dns.families) {
        detail.push_str("; ");
        detail.push_str(&families);
    }
    match resolvers().as_slice() {
        [] => {}
        [one] => detail.push_str(&format!("; this host asks {one} (/etc/resolv.conf)")),
        [first, rest @ ..] => detail.push_str(&format!(
            "; this host asks {first} first, then {} (/etc/resolv.conf)",
            rest.join(", ")
        )),
    }
    Some((FailureKind::DnsSlow, Stage::Dns, detail))
}

/// "by family: IPv4 (A) 3 ms, IPv6 (AAAA) 5 s: the resolver is slow to answer AAAA queries
/// (or drops them)": each family's lookup (see `DnsReport::families`) and which was over the
/// budget. None when the families were not timed.
fn by_family(budgets: &Budgets, families: &[FamilyTiming]) -> Option<String> {
    if families.is_empty() {
        return None;
    }
    let mut slow = Vec::new();
    let parts: Vec<String> = families
        .iter()
        .map(|f| {
            let label = family_words(&f.family);
            let took = Duration::from_micros(f.duration_us);
            if took > budgets.dns {
                slow.push(f.family.as_str());
            }
            match &f.error {
                None => format!("{label} {}", figure(took)),
                Some(e) if e.starts_with("no answer within") => format!("{label} {e}"),
                Some(e) => format!("{label} {} ({e})", figure(took)),
            }
        })
        .collect();
    let verdict = match slow.as_slice() {
        [] => "neither was slow when asked again separately (the first answer may have been cached since)".to_owned(),
        [one] => {
            let qtype = match *one {
                "ipv6" => "AAAA",
                _ => "A",
            };
            format!("the resolver is slow to answer {qtype} queries (or drops them)")
        }
        _ => "both families are slow: the resolver itself is slow (a dead first name server, or one that times out upstream)".to_owned(),
    };
    Some(format!("by family: {}: {verdict}", parts.join(", ")))
}

/// "IPv4 (A)", "IPv6 (AAAA)".
fn family_words(family: &str) -> &str {
    match family {
        "ipv4" => "IPv4 (A)",
        "ipv6" => "IPv6 (AAAA)",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{StageReport, TcpStats};

    fn attempt(stages: &[(Stage, bool, u64)], tcp: Option<TcpStats>) -> AddressAttempt {
        AddressAttempt {
            address: "192.0.2.1:993".parse().unwrap(),
            stages: stages
                .iter()
                .map(|&(stage, ok, ms)| StageReport {
                    stage,
                    ok,
                    duration_us: ms * 1000,
                })
                .collect(),
            tls: None,
            protocol: None,
            failure: None,
            warnings: Vec::new(),
            tcp_info: tcp,
            path: None,
            source: None,
        }
    }

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(figure(Duration::from_millis(850)), "850 ms");
        assert_eq!(figure(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(figure(Duration::from_millis(1000)), "1 s");
        assert_eq!(figure(Duration::from_millis(2434)), "2.43 s");
    }

    #[test]
    fn stages_over_their_budget_are_named_with_the_figures() {
        let b = Budgets::default();
        let healthy = attempt(
            &[
                (Stage::Tcp, true, 20),
                (Stage::Tls, true, 80),
                (Stage::Protocol, true, 300),
            ],
            Some(TcpStats::default()),
        );
        assert!(attempt_warnings(&b, &healthy).is_empty());
        let slow_tls = attempt(&[(Stage::Tcp, true, 20), (Stage::Tls, true, 2400)], None);
        let w = attempt_warnings(&b, &slow_tls);
        assert_eq!(
            w,
            [(
                FailureKind::Slow,
                Stage::Tls,
                "the TLS handshake took 2.4 s; its budget is 1 s".to_string()
            )]
        );
        let two = attempt(&[(Stage::Tcp, true, 1200), (Stage::Tls, true, 2400)], None);
        let w = attempt_warnings(&b, &two);
        assert_eq!(w[0].1, Stage::Tcp);
        assert_eq!(w[0].2, "the TCP connection took 1.2 s (its budget is 1 s); the TLS handshake took 2.4 s (its budget is 1 s)");
        // A failed stage is its failure's business, not a slow one.
        let failed = attempt(&[(Stage::Tcp, true, 20), (Stage::Tls, false, 5000)], None);
        assert!(attempt_warnings(&b, &failed).is_empty());
    }

    #[test]
    fn retransmissions_at_the_threshold_are_packet_loss() {
        let b = Budgets::default();
        let stats = |retransmits| TcpStats {
            rtt_us: 12_300,
            rttvar_us: 4_100,
            retransmits,
            segments_out: 21,
            spurious: 0,
        };
        let stages = [(Stage::Tcp, true, 20), (Stage::Protocol, true, 30)];
        // One retransmission (a lost SYN, one lost segment) happens on healthy paths.
        assert!(attempt_warnings(&b, &attempt(&stages, Some(stats(1)))).is_empty());
        let w = attempt_warnings(&b, &attempt(&stages, Some(stats(3))));
        assert_eq!(w[0].0, FailureKind::PacketLoss);
        assert_eq!(w[0].1, Stage::Protocol);
        assert_eq!(w[0].2, "the connection to 192.0.2.1:993 retransmitted 3 of 21 segments during the check (round trip 12.3 ms ± 4.1 ms): packets are lost on the path");
        // Retransmissions the peer already had (a probe sent early) are not loss.
        let early = TcpStats {
            spurious: 2,
            ..stats(3)
        };
        assert!(attempt_warnings(&b, &attempt(&stages, Some(early))).is_empty());
        let off = Budgets {
            retransmits: 0,
            ..b
        };
        assert!(attempt_warnings(&off, &attempt(&stages, Some(stats(9)))).is_empty());
    }

    #[test]
    fn a_slow_resolver_is_named() {
        let b = Budgets::default();
        let dns = |source, ms: u64| DnsReport {
            source,
            duration_us: ms * 1000,
            addresses: Vec::new(),
            families: Vec::new(),
        };
        let none = Vec::new;
        assert!(dns_warning(&b, "h", &dns(AddressSource::System, 40), none).is_none());
        assert!(dns_warning(&b, "h", &dns(AddressSource::Override, 4000), none).is_none());
        let two = || vec!["10.0.0.9".to_string(), "10.0.0.53".to_string()];
        let (kind, stage, detail) = dns_warning(
            &b,
            "outlook.office365.com",
            &dns(AddressSource::System, 5020),
            two,
        )
        .unwrap();
        assert_eq!((kind, stage), (FailureKind::DnsSlow, Stage::Dns));
        assert_eq!(detail, "resolving outlook.office365.com took 5.02 s; its budget is 1 s; this host asks 10.0.0.9 first, then 10.0.0.53 (/etc/resolv.conf)");
        let (_, _, detail) = dns_warning(&b, "h", &dns(AddressSource::System, 1500), none).unwrap();
        assert_eq!(detail, "resolving h took 1.5 s; its budget is 1 s");
    }

    fn family(family: &str, ms: u64, addresses: u32, error: Option<&str>) -> FamilyTiming {
        FamilyTiming {
            family: family.to_owned(),
            duration_us: ms * 1000,
            addresses,
            error: error.map(str::to_owned),
        }
    }

    fn slow_with(families: Vec<FamilyTiming>) -> String {
        let dns = DnsReport {
            source: AddressSource::System,
            duration_us: 5_010_000,
            addresses: Vec::new(),
            families,
        };
        let one = || vec!["10.0.0.53".to_string()];
        let (kind, _, detail) =
            dns_warning(&Budgets::default(), "outlook.office365.com", &dns, one).unwrap();
        assert_eq!(kind, FailureKind::DnsSlow);
        detail
    }

    #[test]
    fn the_slow_family_is_named() {
        let aaaa = slow_with(vec![
            family("ipv4", 3, 2, None),
            family("ipv6", 5004, 0, Some("no answer within 5000 ms")),
        ]);
        assert_eq!(aaaa, "resolving outlook.office365.com took 5.01 s; its budget is 1 s; by family: IPv4 (A) 3 ms, IPv6 (AAAA) no answer within 5000 ms: the resolver is slow to answer AAAA queries (or drops them); this host asks 10.0.0.53 (/etc/resolv.conf)");

        let answered_late = slow_with(vec![
            family("ipv4", 3, 2, None),
            family("ipv6", 5000, 2, None),
        ]);
        assert!(
            answered_late.contains("by family: IPv4 (A) 3 ms, IPv6 (AAAA) 5 s: the resolver is slow to answer AAAA queries (or drops them); "),
            "{answered_late}"
        );

        let timed_out = slow_with(vec![
            family(
                "ipv4",
                1002,
                0,
                Some("Temporary failure in name resolution"),
            ),
            family("ipv6", 8, 0, Some("No address associated with hostname")),
        ]);
        assert!(
            timed_out.contains("by family: IPv4 (A) 1 s (Temporary failure in name resolution), IPv6 (AAAA) 8 ms (No address associated with hostname): the resolver is slow to answer A queries (or drops them); "),
            "{timed_out}"
        );

        let both = slow_with(vec![
            family("ipv4", 1003, 2, None),
            family("ipv6", 1004, 0, None),
        ]);
        assert!(
            both.contains("by family: IPv4 (A) 1 s, IPv6 (AAAA) 1 s: both families are slow: the resolver itself is slow (a dead first name server, or one that times out upstream); this host asks"),
            "{both}"
        );

        let neither = slow_with(vec![family("ipv4", 2, 2, None), family("ipv6", 3, 1, None)]);
        assert!(
            neither.contains("by family: IPv4 (A) 2 ms, IPv6 (AAAA) 3 ms: neither was slow when asked again separately"),
            "{neither}"
        );
    }
}
