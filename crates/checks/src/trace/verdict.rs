//! A trace in one sentence that names the device: "SYN to 995 passes 10.214.1.1 and
//! 10.214.2.1, then nothing: 10.214.2.1 or the device after it drops it", "10.214.2.1
//! answers ICMP administratively prohibited (type 3 code 13): that device filters 993".
//! The device (the one that refused, or the last that answered before silence) is returned
//! beside the sentence, for its own field.

use std::net::{IpAddr, SocketAddr};

use super::Ended;
use crate::report::{Hop, HopAnswer};

/// The sentence and the device it names.
pub(crate) fn verdict(addr: SocketAddr, hops: &[Hop], ended: Ended) -> (String, Option<IpAddr>) {
    let port = addr.port();
    let dst = addr.ip();
    let last = hops.iter().rev().find(|h| h.answer != HopAnswer::NoAnswer);
    match (last.map(|h| (&h.answer, h.address)), ended) {
        (Some((HopAnswer::Unreachable { icmp_type, code }, from)), _) => {
            let (name, meaning) = unreachable(dst.is_ipv6(), *icmp_type, *code, port, dst);
            let who = from.map_or("a device that did not give its address".to_string(), |a| {
                a.to_string()
            });
            let sentence = format!(
                "{}{who} answers ICMP {name} (type {icmp_type} code {code}): {meaning}",
                passes_then(port, hops, from)
            );
            (sentence, from)
        }
        (Some((HopAnswer::Reset, _)), _) => (
            format!(
                "SYN to {port} reaches {dst}{}, which answers with a TCP reset: nothing listens on {port} there, or a device in front of it refuses for it",
                through(hops, dst)
            ),
            Some(dst),
        ),
        (Some((HopAnswer::SynAck, _)), _) => (
            format!(
                "SYN to {port} reaches {dst}{} and is accepted (SYN-ACK): the TCP path to {port} is open",
                through(hops, dst)
            ),
            None,
        ),
        (Some((HopAnswer::Local { reason }, _)), _) => (
            format!("this server does not send the SYN to {dst} port {port}: {reason}"),
            None,
        ),
        _ => silence(port, dst, hops, ended),
    }
}

/// The routers passed, then silence (or the hops ran out).
fn silence(port: u16, dst: IpAddr, hops: &[Hop], ended: Ended) -> (String, Option<IpAddr>) {
    let passed = routers(hops, None);
    let why = match ended {
        Ended::Silent(n) => format!("no answer from the next {n} hops"),
        Ended::Budget(ms) => format!("the trace's budget of {ms} ms ran out"),
        Ended::MaxHops(n) => format!("{n} hops tried"),
        Ended::Answered => "no answer".to_string(),
    };
    let Some(&device) = passed.last() else {
        let (first, why) = match ended {
            Ended::Silent(n) => (format!("the first {n} hops"), String::new()),
            _ => ("any hop".to_string(), format!(" ({why})")),
        };
        return (
            format!(
                "SYN to {port} gets no answer from {first}: the first router or this server's own firewall drops it, or the routers on the way send no ICMP{why}"
            ),
            None,
        );
    };
    let silent_tail = hops.last().is_some_and(|h| h.answer == HopAnswer::NoAnswer);
    let sentence = match silent_tail {
        true => format!(
            "SYN to {port} passes {}, then nothing: {device} or the device after it drops it ({why})",
            list(&passed)
        ),
        false => format!(
            "SYN to {port} passes {} and has not reached {dst} ({why})",
            list(&passed)
        ),
    };
    (sentence, Some(device))
}

/// "SYN to 993 passes A and B, then " when routers passed it before `refuser`, else "".
fn passes_then(port: u16, hops: &[Hop], refuser: Option<IpAddr>) -> String {
    let passed = routers(hops, refuser);
    match passed.is_empty() {
        true => String::new(),
        false => format!("SYN to {port} passes {}, then ", list(&passed)),
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
fn unreachable(v6: bool, icmp_type: u8, code: u8, port: u16, dst: IpAddr) -> (String, String) {
    let filters = format!("that device filters {port}");
    let no_route = format!("that device has no route to {dst}");
    let refuses = format!("that device refuses the SYN to {port}");
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
    fn lists_read_as_english() {
        let a: Vec<IpAddr> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(list(&a[..1]), "10.0.0.1");
        assert_eq!(list(&a), "10.0.0.1, 10.0.0.2 and 10.0.0.3");
    }
}
