//! The collector's Microsoft endpoints list (collector/src/endpoints: Microsoft's
//! `endpoints/Worldwide` JSON, from `[microsoft_endpoints]` file or URL): parsed whole or
//! refused whole with a bounded message; a list read answers its questions (which set a
//! host and port come from, whether an address lies outside) without a panic.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use eceprobe_collector::endpoints::{EndpointList, ListOrigin, OriginKind, NO_VERSION_FILE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let origin = ListOrigin {
        kind: OriginKind::File,
        source: "/etc/eceprobe/endpoints.json".into(),
        version: NO_VERSION_FILE.into(),
        date: "2026-12-06 11:40Z".into(),
    };
    let list = match EndpointList::parse(data, origin) {
        Ok(list) => list,
        Err(e) => {
            // A refusal quotes the list cut short (serde's message, a bad range or port).
            let message = e.to_string();
            assert!(message.len() < 4096, "a message of {} bytes", message.len());
            return;
        }
    };
    assert!(!list.sets().is_empty() && list.sets().len() <= 2_000);
    // The addresses an agent might report: a few fixed, and the networks the list names.
    let mut addresses = vec![
        IpAddr::V4(Ipv4Addr::new(40, 97, 1, 2)),
        IpAddr::V6(Ipv6Addr::new(0x2603, 0x1006, 0, 0, 0, 0, 0, 1)),
        "::ffff:52.96.0.1".parse().expect("an address"),
    ];
    for set in list.sets() {
        for (a, b) in &set.tcp_ports {
            assert!(a <= b);
            assert!(set.has_tcp_port(*a) && set.has_tcp_port(*b));
        }
        let text = set.tcp_ports_text();
        assert_eq!(
            text.split(',').filter(|p| !p.is_empty()).count(),
            set.tcp_ports.len()
        );
        for range in &set.ips {
            // A range reads back as itself and contains its own network address.
            let shown = range.to_string();
            let again: eceprobe_collector::endpoints::Cidr =
                shown.parse().expect("a range written reads back");
            assert_eq!(&again, range);
            let network: IpAddr = shown
                .split('/')
                .next()
                .and_then(|a| a.parse().ok())
                .expect("the network address");
            assert!(range.contains(network), "{shown} lacks its network address");
            if addresses.len() < 64 {
                addresses.push(network);
            }
        }
        for url in &set.urls {
            // A name without a wildcard names itself.
            if !url.contains('*') {
                assert!(
                    set.has_host(url),
                    "set {} does not name its own {url:?}",
                    set.id
                );
            }
        }
    }
    for set in list.sets().iter().take(16) {
        for url in set.urls.iter().take(8) {
            let host = url.replace('*', "x");
            for port in [25, 443, 587, 993, 995] {
                for found in list.sets_for(&host, port) {
                    assert!(found.has_host(&host) && found.has_tcp_port(port));
                }
            }
            for ip in &addresses {
                if let Some(judged) = list.outside(&host, *ip) {
                    assert!(!judged.is_empty());
                    assert!(judged.iter().all(|s| !s.contains(*ip) && !s.ips.is_empty()));
                }
            }
        }
    }
    let _ = list.origin().described();
});
