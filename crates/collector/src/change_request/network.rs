//! The firewall rules the open network gaps ask for: one per (source server, destination
//! host, port), from the latest result of each check such a gap is on.
//!
//! A rule is made for a network-owned gap (a failing check whose kind is the path's) and for
//! an `intercepted` warning (TLS inspection is undone on the firewall or proxy too). The
//! other network warnings (slow, lossy, slower than peers) ask for no rule.

use std::collections::BTreeMap;

use eceprobe_checks::Owner;
use eceprobe_proto::v1::{Attempt, CheckResult, FirewallRule, Gap, NetworkChangeRequest};

use super::Inputs;
use crate::checkname::CheckName;
use crate::endpoints::EndpointList;

/// The most characters of an agent's words (a detail, a trace's verdict) a rule repeats.
const MAX_AGENT_TEXT: usize = 300;

/// Said when the results carry no source address: the agent predates the field.
pub const SOURCE_NOT_REPORTED: &str = "not reported by this agent's version";

/// A rule is one (agent id, destination host, port).
type RuleKey = (String, String, u32);

/// The rules, sorted by server, destination host and port, and the list they name sets from.
pub fn request(inputs: &Inputs, list: &EndpointList) -> NetworkChangeRequest {
    // (agent, host, port) -> the gaps' checks and their results, catalog checks first.
    let mut by_rule: BTreeMap<RuleKey, Vec<(&Gap, &CheckResult)>> = BTreeMap::new();
    for gap in inputs.gaps_of(Owner::Network) {
        if gap.severity != "gap" && gap.kind != "intercepted" {
            continue;
        }
        // A gap whose check has no result yet (or a result without a target) names no
        // destination: it is not a rule.
        let Some(result) = inputs.result(&gap.agent_id, &gap.check) else {
            continue;
        };
        if result.host.is_empty() || result.port == 0 {
            continue;
        }
        let key = (gap.agent_id.clone(), result.host.clone(), result.port);
        by_rule.entry(key).or_default().push((gap, result));
    }
    let rules = by_rule
        .into_iter()
        .filter_map(|((agent_id, host, port), found)| {
            rule(inputs, list, &agent_id, &host, port, &found)
        })
        .collect();
    NetworkChangeRequest {
        rules,
        endpoint_list: list_words(list),
    }
}

/// Where the endpoint sets come from, in words.
pub fn list_words(list: &EndpointList) -> String {
    let o = list.origin();
    format!("{} ({}, {})", o.source, o.version, o.date)
}

fn rule(
    inputs: &Inputs,
    list: &EndpointList,
    agent_id: &str,
    host: &str,
    port: u32,
    found: &[(&Gap, &CheckResult)],
) -> Option<FirewallRule> {
    let (_, result) = found.first()?;
    let server = inputs.server(agent_id);
    let role = server.role();
    let mut needed_by: Vec<&str> = Vec::new();
    let mut checks: Vec<String> = Vec::new();
    for (gap, _) in found {
        if let Ok(name) = CheckName::parse(&gap.check) {
            let who = name.id().needed_by(role);
            if !needed_by.contains(&who) {
                needed_by.push(who);
            }
        }
        if !checks.contains(&gap.check) {
            checks.push(gap.check.clone());
        }
    }
    let set = u16::try_from(port)
        .ok()
        .and_then(|p| list.sets_for(host, p).next());
    let (source_addresses, source_unknown) = sources(result);
    Some(FirewallRule {
        agent_id: agent_id.to_owned(),
        hostname: server.hostname.clone(),
        source_addresses,
        source_unknown,
        destination_host: host.to_owned(),
        destination_addresses: destinations(result),
        port,
        protocol: "TCP".into(),
        endpoint_set: set.map_or(0, |s| s.id),
        endpoint_category: set
            .map(|s| s.category.as_str().to_owned())
            .unwrap_or_default(),
        endpoint_required: set.map(|s| s.required),
        fails_now: fails_now(result),
        needed_by: needed_by.join("; "),
        checks,
    })
}

/// The addresses the server sends from toward the destination, as the agent found them per
/// attempt; or why there are none.
fn sources(r: &CheckResult) -> (Vec<String>, String) {
    let mut found: Vec<String> = Vec::new();
    for a in &r.attempts {
        if !a.source_address.is_empty() && !found.contains(&a.source_address) {
            found.push(a.source_address.clone());
        }
    }
    let unknown = match (
        found.is_empty(),
        r.via_proxy.as_str(),
        r.attempts.is_empty(),
    ) {
        (false, _, _) => String::new(),
        (true, "", true) => "not known: the host did not resolve, so no address was tried".into(),
        (true, "", false) => SOURCE_NOT_REPORTED.into(),
        (true, proxy, _) => format!(
            "through the proxy {proxy}: the firewall sees this server's connection to the proxy"
        ),
    };
    (found, unknown)
}

/// What the host resolved to from that server, else the addresses tried (addresses only:
/// an override's answer carries its port).
fn destinations(r: &CheckResult) -> Vec<String> {
    let resolved: Vec<String> = r
        .dns
        .as_ref()
        .map(|d| d.addresses.iter().map(|a| ip_of(a)).collect())
        .unwrap_or_default();
    if !resolved.is_empty() {
        return resolved;
    }
    r.attempts.iter().map(|a| ip_of(&a.address)).collect()
}

/// "52.97.1.1:993" or "[2603::1]:993" to its address; an address alone stays as it is.
fn ip_of(address: &str) -> String {
    match address.parse::<std::net::SocketAddr>() {
        Ok(sa) => sa.ip().to_string(),
        Err(_) => address.to_owned(),
    }
}

/// What fails now, in words: per failing attempt what happened (grouped, with the
/// addresses), the blocking hop when a trace found one, and the addresses that work.
pub fn fails_now(r: &CheckResult) -> String {
    // (what happened, the blocking hop) -> the addresses it happened on.
    type Key = (String, String);
    let mut groups: Vec<(Key, Vec<String>)> = Vec::new();
    let mut working: Vec<String> = Vec::new();
    for a in &r.attempts {
        match attempt_words(a) {
            None => working.push(ip_of(&a.address)),
            Some(words) => match groups.iter_mut().find(|(w, _)| *w == words) {
                Some((_, ips)) => ips.push(ip_of(&a.address)),
                None => groups.push((words, vec![ip_of(&a.address)])),
            },
        }
    }
    if groups.is_empty() {
        // Nothing failed per address (a DNS failure, a finding of the whole check).
        return match &r.failure {
            Some(f) => kind_words(&f.kind, &f.detail, "", None),
            None => r
                .warnings
                .first()
                .map(|w| kind_words(&w.kind, &w.detail, "", None))
                .unwrap_or_else(|| "passes now (the gap closes at the next evaluation)".into()),
        };
    }
    let failing: Vec<String> = groups
        .into_iter()
        .map(|((words, hop), ips)| format!("{words} on {}{hop}", ips.join(", ")))
        .collect();
    match working.is_empty() {
        true => failing.join("; "),
        false => format!(
            "partial (some addresses): {}; works on {}",
            failing.join("; "),
            working.join(", ")
        ),
    }
}

/// One attempt's failure (or TLS interception warning) in words, and the blocking hop a
/// path trace named ("" when none); None when it worked.
fn attempt_words(a: &Attempt) -> Option<(String, String)> {
    let issuer = a.tls.as_ref().map(|t| {
        if t.chain_root.is_empty() {
            t.chain.last().map(|c| c.issuer.clone()).unwrap_or_default()
        } else {
            t.chain_root.clone()
        }
    });
    let f = a
        .failure
        .as_ref()
        .or_else(|| a.warnings.iter().find(|w| w.kind == "tls_intercepted"))?;
    let hop = match a.path.as_ref().filter(|p| !p.device.is_empty()) {
        Some(path) => format!(
            " (blocking hop {}: {})",
            path.device,
            super::one_line(&path.verdict)
                .chars()
                .take(MAX_AGENT_TEXT)
                .collect::<String>()
        ),
        None => String::new(),
    };
    let device = if hop.is_empty() {
        f.device.as_str()
    } else {
        ""
    };
    Some((
        kind_words(&f.kind, &f.detail, device, issuer.as_deref()),
        hop,
    ))
}

/// A failure kind as a firewall team reads it.
fn kind_words(kind: &str, detail: &str, device: &str, issuer: Option<&str>) -> String {
    let mut words = match kind {
        "tcp_refused" => "refused (the SYN is answered with a reset)".to_owned(),
        "tcp_timeout" => "dropped (no answer to SYN)".to_owned(),
        "tcp_unreachable" => "rejected (ICMP unreachable)".to_owned(),
        "tls_intercepted" => match issuer.filter(|i| !i.is_empty()) {
            Some(ca) => format!(
                "intercepted (TLS inspection, re-signed by {})",
                super::one_line(ca)
            ),
            None => "intercepted (TLS inspection)".to_owned(),
        },
        "tls_stalled" => "TLS stalls (the ClientHello goes out, nothing comes back)".to_owned(),
        "path_mtu_blackhole" => "large packets dropped (path MTU black hole)".to_owned(),
        other => {
            let detail: String = super::one_line(detail)
                .chars()
                .take(MAX_AGENT_TEXT)
                .collect();
            match detail.is_empty() {
                true => other.to_owned(),
                false => format!("{other}: {detail}"),
            }
        }
    };
    if !device.is_empty() && !words.contains(device) {
        words.push_str(&format!(" (device {device})"));
    }
    words
}

/// Whether every rule is on Microsoft's set 2, which its list marks not required.
pub fn only_optional_set_2(rules: &[FirewallRule]) -> bool {
    !rules.is_empty()
        && rules
            .iter()
            .all(|r| r.endpoint_set == 2 && r.endpoint_required == Some(false))
}

/// The note that goes with [`only_optional_set_2`] (M365-FACTS.md).
pub const SET_2_NOTE: &str = "Every rule here is in Microsoft's endpoint set 2 (Exchange Online, \"POP3, IMAP4, SMTP Client traffic\"), which Microsoft's list marks not required: a rule set imported from the required sets only leaves TCP 587, 993 and 995 closed. Import set 2 as well, or add these rules.";
