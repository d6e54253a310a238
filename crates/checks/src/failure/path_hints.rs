//! The hints of the kinds about the network path under TLS: a handshake whose answer never
//! arrives (`tls_stalled`) and the MTU black hole a small-MSS retry reveals.

/// `tls_stalled`: small packets get through (TCP connected, the ClientHello went out), the
/// server's TLS answer does not, whatever its packet size.
pub(super) fn stalled(host: &str, port: u16) -> String {
    format!(
        "TCP {port} to {host} connects but the server's TLS answer never arrives, even in small packets: a firewall or IPS that drops TLS to {host}, or a proxy holding it, is the usual cause; allow TLS 1.2+ to {host}:{port} untouched (C9, C10)"
    )
}

/// `path_mtu_blackhole`: only full-size packets are lost, and the ICMP "fragmentation needed"
/// (ICMPv6 "packet too big") that would make the sender shrink them is dropped on the way.
pub(super) fn mtu_blackhole(host: &str, port: u16) -> String {
    format!(
        "full-size packets from {host} are lost on the path (an MTU black hole: a VPN or tunnel with a smaller MTU, and the ICMP that would report it dropped); let ICMP \"fragmentation needed\" (type 3 code 4) and ICMPv6 \"packet too big\" through the firewalls on the path, or clamp the TCP MSS on the VPN or firewall (e.g. 1360), for TCP {port} to {host} (C10)"
    )
}
