//! The `address_not_microsoft` warning's words: an address the server's own DNS gave for a
//! Microsoft host that lies outside every range Microsoft publishes for the sets naming the
//! host. Something between ECE and Microsoft answers for Microsoft's name.

use std::net::IpAddr;

use super::EndpointList;

/// The warning's detail when one or more of `addresses` (what the OS resolver gave for
/// `host`) lie outside the published ranges; None when every address is inside, or when
/// no set naming the host publishes ranges. Addresses that do not parse are ignored.
pub fn not_microsoft(list: &EndpointList, host: &str, addresses: &[String]) -> Option<String> {
    let mut outside: Vec<&str> = Vec::new();
    let mut sets = Vec::new();
    for a in addresses {
        let Ok(ip) = a.parse::<IpAddr>() else {
            continue;
        };
        if let Some(judged) = list.outside(host, ip) {
            outside.push(a);
            sets = judged;
        }
    }
    if outside.is_empty() {
        return None;
    }
    let sets = sets
        .iter()
        .map(|s| format!("set {} ({}, {})", s.id, s.service_area, s.category.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    // The fix is the remedy's (`export::findings`), shown beside this detail by the gaps
    // page, the reports and the CLI: said once, there.
    let o = list.origin();
    let (them, lies) = match outside.len() {
        1 => ("address", "lies"),
        _ => ("addresses", "lie"),
    };
    Some(format!(
        "the server's DNS answered {host} with {them} {} that {lies} outside Microsoft's published ranges of {sets} (list: {}). Likely causes: split-horizon DNS, a proxy or TLS-inspection device answering for Microsoft's names, or a DNS hijack",
        outside.join(", "),
        o.described(),
    ))
}
