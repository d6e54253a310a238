//! The fixes of the kinds about the network path: a handshake whose answer never arrives
//! (`tls_stalled`), the MTU black hole a small-MSS retry reveals, and a path that works but
//! slowly (`slow`), lossily (`packet_loss`) or behind a slow resolver (`dns_slow`).

use super::row::Target;

/// `tls_stalled`: small packets get through (TCP connected, the ClientHello went out), the
/// server's TLS answer does not, whatever its packet size.
pub(super) fn stalled(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!(
        "TCP {port} to {host} connects but the server's TLS answer never arrives, even in small packets: a firewall or IPS that drops TLS to {host}, or a proxy holding it, is the usual cause; allow TLS 1.2+ to {host}:{port} untouched"
    )
}

/// `path_mtu_blackhole`: only full-size packets are lost, and the ICMP "fragmentation needed"
/// (ICMPv6 "packet too big") that would make the sender shrink them is dropped on the way.
pub(super) fn mtu_blackhole(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!(
        "full-size packets from {host} are lost on the path (an MTU black hole: a VPN or tunnel with a smaller MTU, and the ICMP that would report it dropped); let ICMP \"fragmentation needed\" (type 3 code 4) and ICMPv6 \"packet too big\" through the firewalls on the path, or clamp the TCP MSS on the VPN or firewall (e.g. 1360), for TCP {port} to {host}"
    )
}

/// `slow`: a stage that worked took longer than its budget; the detail names the stage.
pub(super) fn slow(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!(
        "the path to {host}:{port} works but a stage took longer than its budget (the detail names it): a slow TCP connection is a lost SYN or a long route, a slow TLS handshake a proxy or IPS inspecting TLS, a slow dialog a congested link or an overloaded proxy; ECE's timeouts are short, so find the device on the path that adds the delay (traceroute, the proxy's and firewall's logs) and fix it, or raise the budget in [slow] if this path is known to be slow"
    )
}

/// `packet_loss`: the connection needed retransmissions; the detail has the count.
pub(super) fn packet_loss(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!(
        "packets to or from {host}:{port} are being lost (the kernel had to retransmit): a congested or faulty link, a duplex mismatch, an overloaded firewall or VPN, or a rate limit on the path; check the interface error counters and the firewall's drops for TCP {port}, and run the check again to see whether it lasts"
    )
}

/// `dns_slow`: the OS resolver answered after its budget; the detail names the slow address
/// family and the resolvers.
pub(super) fn dns_slow(t: &Target) -> String {
    let host = t.host;
    format!(
        "resolving {host} is slow; the detail says which address family was slow. Both (or the whole lookup): the first name server this host asks is usually dead or unreachable, so every lookup waits for its timeout before the next is asked; remove or fix the dead server in the DNS settings (resolv.conf, the network adapter's DNS servers), or make sure the first one forwards external names quickly. Only IPv6 (AAAA): the name server, or a firewall between this host and it, drops or delays AAAA queries, so every lookup waits for the resolver's timeout although the A answer came at once; make it answer AAAA queries (an empty answer is fine) and let DNS queries of every type through the firewall"
    )
}
