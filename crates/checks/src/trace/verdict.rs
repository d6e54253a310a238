//! A trace in one sentence that names the device: "SYN to 995 passes 10.214.1.1 and
//! 10.214.2.1, then nothing: 10.214.2.1 or the device after it drops it", "10.214.2.1
//! answers ICMP administratively prohibited (type 3 code 13): that device filters 993".
//! The device (the one that refused, or the last that answered before silence) is returned
//! beside the sentence, for its own field.

use std::net::{IpAddr, SocketAddr};

use super::Ended;
use crate::report::{Hop, HopAnswer};

/// What the trace sent, which decides the words: a SYN to the port tests what the failing
/// connection met; an ICMP echo (Windows, as tracert) only the routers' ICMP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    #[cfg_attr(windows, allow(dead_code))]
    TcpSyn,
    #[cfg_attr(not(windows), allow(dead_code))]
    IcmpEcho,
}

impl Probe {
    /// The sentence's subject: "SYN to 993", "ICMP echo".
    fn subject(self, port: u16) -> String {
        match self {
            Probe::TcpSyn => format!("SYN to {port}"),
            Probe::IcmpEcho => "ICMP echo".to_string(),
        }
    }

    /// What a device that answers "prohibited" filters: "993", "ICMP echo".
    fn filtered(self, port: u16) -> String {
        match self {
            Probe::TcpSyn => port.to_string(),
            Probe::IcmpEcho => "ICMP echo".to_string(),
        }
    }

    /// Said after an ICMP trace's sentence, since a firewall that filters one TCP port
    /// passes ICMP: the sentence is about the routers' ICMP, not the port.
    fn caveat(self, port: u16) -> String {
        match self {
            Probe::TcpSyn => String::new(),
            Probe::IcmpEcho => format!(
                " (traced with ICMP echo, as tracert does: the TCP path to {port} may differ)"
            ),
        }
    }
}

/// The sentence and the device it names, for a trace made with `probe`.
pub(crate) fn verdict_of(
    probe: Probe,
    addr: SocketAddr,
    hops: &[Hop],
    ended: Ended,
) -> (String, Option<IpAddr>) {
    let (sentence, device) = sentence(probe, addr, hops, ended);
    (format!("{sentence}{}", probe.caveat(addr.port())), device)
}

fn sentence(
    probe: Probe,
    addr: SocketAddr,
    hops: &[Hop],
    ended: Ended,
) -> (String, Option<IpAddr>) {
    let port = addr.port();
    let dst = addr.ip();
    let subject = probe.subject(port);
    let last = hops.iter().rev().find(|h| h.answer != HopAnswer::NoAnswer);
    match (last.map(|h| (&h.answer, h.address)), ended) {
        (Some((HopAnswer::Unreachable { icmp_type, code }, from)), _) => {
            let (name, meaning) = unreachable(dst.is_ipv6(), *icmp_type, *code, probe, port, dst);
            let who = from.map_or("a device that did not give its address".to_string(), |a| {
                a.to_string()
            });
            let sentence = format!(
                "{}{who} answers ICMP {name} (type {icmp_type} code {code}): {meaning}",
                passes_then(&subject, hops, from)
            );
            (sentence, from)
        }
        (Some((HopAnswer::Reset, _)), _) => (
            format!(
                "{subject} reaches {dst}{}, which answers with a TCP reset: nothing listens on {port} there, or a device in front of it refuses for it",
                through(hops, dst)
            ),
            Some(dst),
        ),
        (Some((HopAnswer::SynAck, _)), _) => (
            format!(
                "{subject} reaches {dst}{} and is accepted (SYN-ACK): the TCP path to {port} is open",
                through(hops, dst)
            ),
            None,
        ),
        (Some((HopAnswer::EchoReply, _)), _) => (
            format!(
                "{subject} reaches {dst}{}: the routers on the way pass ICMP to it",
                through(hops, dst)
            ),
            None,
        ),
        (Some((HopAnswer::Local { reason }, _)), _) => (
            match probe {
                Probe::TcpSyn => {
                    format!("this server does not send the SYN to {dst} port {port}: {reason}")
                }
                Probe::IcmpEcho => format!("this server does not send the ICMP echo to {dst}: {reason}"),
            },
            None,
        ),
        _ => silence(&subject, dst, hops, ended),
    }
}

/// The routers passed, then silence (or the hops ran out).
fn silence(subject: &str, dst: IpAddr, hops: &[Hop], ended: Ended) -> (String, Option<IpAddr>) {
    let passed = routers(hops, None);
    let why = match ended {
        Ended::Silent(n) => format!("no answer from the next {n} hops"),
        Ended::Budget(ms) => format!("the trace's budget of {ms} ms ran out"),
        Ended::MaxHops(n) => format!("{n} hops tried"),
        Ended::Answered => "no answer".to_string(),
    };
    let Some(&device) = passed.last() else {
        // No router stands between this host and itself: only its own firewall, or the
        // program on the port, can swallow the SYN.
        if dst.is_loopback() {
            return (
                format!(
                    "{subject} gets no answer from {dst}, this server itself: its own firewall drops it, or the program on the port does not accept connections"
                ),
                None,
            );
        }
        let (first, why) = match ended {
            Ended::Silent(n) => (format!("the first {n} hops"), String::new()),
            _ => ("any hop".to_string(), format!(" ({why})")),
        };
        return (
            format!(
                "{subject} gets no answer from {first}: the first router or this server's own firewall drops it, or the routers on the way send no ICMP{why}"
            ),
            None,
        );
    };
    let silent_tail = hops.last().is_some_and(|h| h.answer == HopAnswer::NoAnswer);
    let sentence = match silent_tail {
        true => format!(
            "{subject} passes {}, then nothing: {device} or the device after it drops it ({why})",
            list(&passed)
        ),
        false => format!(
            "{subject} passes {} and has not reached {dst} ({why})",
            list(&passed)
        ),
    };
    (sentence, Some(device))
}

/// "SYN to 993 passes A and B, then " when routers passed it before `refuser`, else "".
fn passes_then(subject: &str, hops: &[Hop], refuser: Option<IpAddr>) -> String {
    let passed = routers(hops, refuser);
    match passed.is_empty() {
        true => String::new(),
        false => format!("{subject} passes {}, then ", list(&passed)),
    }
}

/// " through A and B" for the routers before the destination.
fn through(hops: &[Hop], dst: IpAddr) -> String {
    let passed = routers(hops, Some(dst));
    match passed.is_empty() {
        true => String::new(),
        false => format!(" through {}", list(&passed)),
    }
}

/// The routers that answered "time exceeded", in order, each once, but `except`.
fn routers(hops: &[Hop], except: Option<IpAddr>) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for h in hops {
        if let (HopAnswer::TimeExceeded, Some(a)) = (&h.answer, h.address) {
            if Some(a) != except && !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

/// "A", "A and B", "A, B and C".
fn list(addrs: &[IpAddr]) -> String {
    let words: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
    match words.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// An ICMP (v4 type 3, v6 type 1) unreachable's name and what it means of the device.
fn unreachable(
    v6: bool,
    icmp_type: u8,
    code: u8,
    probe: Probe,
    port: u16,
    dst: IpAddr,
) -> (String, String) {
    let filters = format!("that device filters {}", probe.filtered(port));
    let no_route = format!("that device has no route to {dst}");
    let refuses = match probe {
        Probe::TcpSyn => format!("that device refuses the SYN to {port}"),
        Probe::IcmpEcho => "that device refuses the echo".to_string(),
    };
    let (name, meaning) = match (v6, icmp_type, code) {
        (false, 3, 13) | (true, 1, 1) => ("administratively prohibited", filters),
        (false, 3, 9) => ("network administratively prohibited", filters),
        (false, 3, 10) => ("host administratively prohibited", filters),
        (true, 1, 5) => ("source address failed policy", filters),
        (true, 1, 6) => ("reject route to destination", filters),
        (false, 3, 0) => ("network unreachable", no_route),
        (false, 3, 1) => ("host unreachable", no_route),
        (false, 3, 6) => ("destination network unknown", no_route),
        (false, 3, 7) => ("destination host unknown", no_route),
        (true, 1, 0) => ("no route to destination", no_route),
        (true, 1, 3) => ("address unreachable", no_route),
        (false, 3, 3) | (true, 1, 4) => ("port unreachable", refuses),
        (false, 3, 2) => ("protocol unreachable", refuses),
        _ => ("unreachable", refuses),
    };
    (name.to_string(), meaning)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(addr: SocketAddr, hops: &[Hop], ended: Ended) -> (String, Option<IpAddr>) {
        verdict_of(Probe::TcpSyn, addr, hops, ended)
    }

    fn hop(ttl: u8, address: &str, answer: HopAnswer) -> Hop {
        Hop {
            ttl,
            address: Some(address.parse().unwrap()),
            rtt_us: Some(500),
            answer,
        }
    }

    fn silent(ttl: u8) -> Hop {
        Hop {
            ttl,
            address: None,
            rtt_us: None,
            answer: HopAnswer::NoAnswer,
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    const TE: HopAnswer = HopAnswer::TimeExceeded;

    #[test]
    fn a_drop_names_the_last_router_that_answered() {
        let dst: SocketAddr = "10.214.3.2:995".parse().unwrap();
        let hops = [
            hop(1, "10.214.1.1", TE),
            hop(2, "10.214.2.1", TE),
            silent(3),
            silent(4),
            silent(5),
        ];
        let (s, device) = verdict(dst, &hops, Ended::Silent(3));
        assert_eq!(
            s,
            "SYN to 995 passes 10.214.1.1 and 10.214.2.1, then nothing: 10.214.2.1 or the device after it drops it (no answer from the next 3 hops)"
        );
        assert_eq!(device, ip("10.214.2.1"));
        let (s, _) = verdict(dst, &hops[..3], Ended::Budget(10_000));
        assert!(
            s.ends_with("(the trace's budget of 10000 ms ran out)"),
            "{s}"
        );
    }

    #[test]
    fn an_icmp_refusal_names_the_device_that_sent_it() {
        let dst: SocketAddr = "10.214.3.2:993".parse().unwrap();
        let prohibited = HopAnswer::Unreachable {
            icmp_type: 3,
            code: 13,
        };
        // The first router answers TTL 1 itself, then refuses what it would forward.
        let hops = [
            hop(1, "10.214.1.1", TE),
            hop(2, "10.214.1.1", prohibited.clone()),
        ];
        let (s, device) = verdict(dst, &hops, Ended::Answered);
        assert_eq!(
            s,
            "10.214.1.1 answers ICMP administratively prohibited (type 3 code 13): that device filters 993"
        );
        assert_eq!(device, ip("10.214.1.1"));
        let hops = [
            hop(1, "10.214.1.1", TE),
            hop(2, "10.214.2.1", TE),
            hop(
                3,
                "10.214.2.9",
                HopAnswer::Unreachable {
                    icmp_type: 3,
                    code: 1,
                },
            ),
        ];
        let (s, device) = verdict(dst, &hops, Ended::Answered);
        assert_eq!(
            s,
            "SYN to 993 passes 10.214.1.1 and 10.214.2.1, then 10.214.2.9 answers ICMP host unreachable (type 3 code 1): that device has no route to 10.214.3.2"
        );
        assert_eq!(device, ip("10.214.2.9"));
        // ICMPv6's own numbering.
        let dst6: SocketAddr = "[2001:db8::2]:993".parse().unwrap();
        let hops = [hop(
            1,
            "2001:db8::1",
            HopAnswer::Unreachable {
                icmp_type: 1,
                code: 1,
            },
        )];
        let (s, _) = verdict(dst6, &hops, Ended::Answered);
        assert!(
            s.contains("administratively prohibited (type 1 code 1): that device filters 993"),
            "{s}"
        );
    }

    #[test]
    fn the_destination_answering_is_said_with_the_way_there() {
        let dst: SocketAddr = "10.214.3.2:995".parse().unwrap();
        let hops = [
            hop(1, "10.214.1.1", TE),
            hop(2, "10.214.2.1", TE),
            hop(3, "10.214.3.2", HopAnswer::SynAck),
        ];
        let (s, device) = verdict(dst, &hops, Ended::Answered);
        assert_eq!(
            s,
            "SYN to 995 reaches 10.214.3.2 through 10.214.1.1 and 10.214.2.1 and is accepted (SYN-ACK): the TCP path to 995 is open"
        );
        assert_eq!(device, None);
        let hops = [hop(1, "10.214.3.2", HopAnswer::Reset)];
        let (s, device) = verdict(dst, &hops, Ended::Answered);
        assert!(
            s.starts_with("SYN to 995 reaches 10.214.3.2, which answers with a TCP reset"),
            "{s}"
        );
        assert_eq!(device, ip("10.214.3.2"));
    }

    #[test]
    fn silence_from_the_start_and_this_server_are_said_plainly() {
        let dst: SocketAddr = "10.214.3.2:995".parse().unwrap();
        let (s, device) = verdict(dst, &[silent(1), silent(2), silent(3)], Ended::Silent(3));
        assert_eq!(s, "SYN to 995 gets no answer from the first 3 hops: the first router or this server's own firewall drops it, or the routers on the way send no ICMP");
        assert_eq!(device, None);
        let local = Hop {
            ttl: 1,
            address: None,
            rtt_us: Some(3),
            answer: HopAnswer::Local {
                reason: "no route to host".into(),
            },
        };
        let (s, _) = verdict(dst, &[local], Ended::Answered);
        assert_eq!(
            s,
            "this server does not send the SYN to 10.214.3.2 port 995: no route to host"
        );
        let hops = [hop(1, "10.214.1.1", TE), hop(2, "10.214.2.1", TE)];
        let (s, device) = verdict(dst, &hops, Ended::MaxHops(2));
        assert_eq!(s, "SYN to 995 passes 10.214.1.1 and 10.214.2.1 and has not reached 10.214.3.2 (2 hops tried)");
        assert_eq!(device, ip("10.214.2.1"));
    }

    #[test]
    fn an_icmp_trace_says_what_it_tested() {
        let dst: SocketAddr = "10.214.3.2:995".parse().unwrap();
        let icmp = |hops: &[Hop], ended| verdict_of(Probe::IcmpEcho, dst, hops, ended);
        let hops = [
            hop(1, "10.214.1.1", TE),
            hop(2, "10.214.2.1", TE),
            hop(3, "10.214.3.2", HopAnswer::EchoReply),
        ];
        let (s, device) = icmp(&hops, Ended::Answered);
        assert_eq!(
            s,
            "ICMP echo reaches 10.214.3.2 through 10.214.1.1 and 10.214.2.1: the routers on the way pass ICMP to it (traced with ICMP echo, as tracert does: the TCP path to 995 may differ)"
        );
        assert_eq!(device, None);
        let hops = [hop(1, "10.214.1.1", TE), silent(2), silent(3), silent(4)];
        let (s, device) = icmp(&hops, Ended::Silent(3));
        assert!(
            s.starts_with("ICMP echo passes 10.214.1.1, then nothing: 10.214.1.1 or the device after it drops it"),
            "{s}"
        );
        assert!(s.ends_with("the TCP path to 995 may differ)"), "{s}");
        assert_eq!(device, ip("10.214.1.1"));
        let refused = HopAnswer::Unreachable {
            icmp_type: 3,
            code: 13,
        };
        let (s, _) = icmp(&[hop(1, "10.214.1.1", refused)], Ended::Answered);
        assert!(
            s.starts_with("10.214.1.1 answers ICMP administratively prohibited (type 3 code 13): that device filters ICMP echo"),
            "{s}"
        );
    }

    #[test]
    fn silence_on_loopback_names_no_router() {
        let dst: SocketAddr = "127.0.0.1:995".parse().unwrap();
        let (s, device) = verdict(dst, &[silent(1), silent(2), silent(3)], Ended::Silent(3));
        assert_eq!(s, "SYN to 995 gets no answer from 127.0.0.1, this server itself: its own firewall drops it, or the program on the port does not accept connections");
        assert_eq!(device, None);
    }

    #[test]
    fn lists_read_as_english() {
        let a: Vec<IpAddr> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(list(&a[..1]), "10.0.0.1");
        assert_eq!(list(&a), "10.0.0.1, 10.0.0.2 and 10.0.0.3");
    }
}
