//! The fixes of the latency warnings the collector finds by comparing stage durations: a
//! server slower than its peers (`slower_than_peers`) and a server slower than its own
//! recent past (`latency_regression`). The detail names the stage and both figures; the
//! hint says where to look for each stage.

use super::row::Target;

/// Where a slow stage usually comes from, stage by stage.
const WHERE_TO_LOOK: &str = "dns: the DNS servers or forwarders this server uses; tcp: the route, a firewall or a VPN; proxy: the HTTP proxy; starttls, tls: TLS inspection or an IPS; protocol, token, login: a proxy or IPS reading the dialog, or the far end";

/// `slower_than_peers`: the same check, same deployment and role, much faster elsewhere.
pub(super) fn slower_than_peers(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!(
        "{host}:{port} answers this server far slower than the other servers of its deployment and role: compare this server's path to {host} with a peer's (proxy settings, DNS servers, route with tracert, firewall or VPN in between) and look first at the stage named in the detail ({WHERE_TO_LOOK}); ECE's connections from this server time out first"
    )
}

/// `latency_regression`: the same check on the same server, much faster over the last days.
pub(super) fn regression(t: &Target) -> String {
    let (host, port) = (t.host, t.port);
    format!(
        "{host}:{port} became far slower from this server than its own median of the last 7 days: find what changed on the path at the time the history chart shows the jump (a new proxy or TLS inspection rule, a firewall, VPN or route change, new DNS servers) and look first at the stage named in the detail ({WHERE_TO_LOOK}); ECE's connections from this server time out first"
    )
}
