//! The firewall rules the open network gaps ask for: one per (source server, destination
//! host, port), from the latest result of each check such a gap is on.
//!
//! A rule is made for a network-owned gap a firewall rule fixes (its probe kind's
//! [`FailureKind::firewall_rule_fixes`]: refused, dropped, unreachable, stalled, inspected)
//! and for an `intercepted` warning (TLS inspection is undone on the firewall or proxy too).
//! The other network gaps (DNS, proxy, TLS name, HTTP status...) are listed apart, each with
//! its fix ([`NetworkChangeRequest::not_rules`]); the other network warnings (slow, lossy,
//! slower than peers) ask for nothing here.

use std::collections::BTreeMap;

use eceprobe_checks::{FailureKind, Owner};
use eceprobe_proto::v1::{Attempt, CheckResult, FirewallRule, Gap, NetworkChangeRequest};

use super::{one_line, Inputs};
use crate::checkname::CheckName;
use crate::endpoints::EndpointList;

/// The most characters of an agent's words (a detail, a trace's verdict) a rule repeats.
const MAX_AGENT_TEXT: usize = 300;

/// Said when the results carry no source address and the agent predates the field.
pub const SOURCE_NOT_REPORTED: &str = "not reported by this agent's version";

/// Said when an agent that reports source addresses found none: the OS had no route.
pub const SOURCE_NO_ROUTE: &str = "none: this server has no route to the destination";

/// The first agent version whose attempts carry `source_address` (Attempt field 9, added
/// in the workspace's first release, 0.1.0).
const SOURCE_ADDRESS_SINCE: (u64, u64, u64) = (0, 1, 0);

/// A rule is one (agent id, destination host, port).
type RuleKey = (String, String, u32);

/// The rules, sorted by server, destination host and port, the network gaps no rule fixes,
/// the set-2 note, and the list the sets are named from.
pub fn request(inputs: &Inputs, list: &EndpointList) -> NetworkChangeRequest {
    // (agent, host, port) -> the gaps' checks and their results, in the gaps' order.
    let mut by_rule: BTreeMap<RuleKey, Vec<(&Gap, &CheckResult)>> = BTreeMap::new();
    let mut not_rules: Vec<String> = Vec::new();
    for gap in inputs.gaps_of(Owner::Network) {
        let intercepted = gap.kind == "intercepted";
        let fixable = crate::gaps::probe_kind(&gap.kind, &gap.detail)
            .is_some_and(FailureKind::firewall_rule_fixes);
        if gap.severity != "gap" && !intercepted {
            continue;
        }
        if !intercepted && !fixable {
            let line = not_a_rule(inputs, gap);
            if !not_rules.contains(&line) {
                not_rules.push(line);
            }
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
        let key = (gap.agent_id.clone(), host_key(&result.host), result.port);
        by_rule.entry(key).or_default().push((gap, result));
    }
    let rules: Vec<FirewallRule> = by_rule
        .into_iter()
        .filter_map(|((agent_id, host, port), found)| {
            rule(inputs, list, &agent_id, &host, port, &found)
        })
        .collect();
    NetworkChangeRequest {
        set_2_note: set_2_note(&rules, list).unwrap_or_default(),
        rules,
        endpoint_list: list_words(list),
        not_rules,
    }
}

/// A host as a rule names it: DNS names are case-insensitive and a trailing dot is the same
/// name, so `Outlook.office365.com.` and `outlook.office365.com` are one rule.
fn host_key(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// "not a firewall rule: <kind> on <server> <check>: <fix>", one line.
fn not_a_rule(inputs: &Inputs, gap: &Gap) -> String {
    let kind = crate::gaps::probe_kind(&gap.kind, &gap.detail);
    let fix = match (kind, CheckName::parse(&gap.check)) {
        (Some(k), Ok(name)) => {
            let (host, port) = inputs
                .result(&gap.agent_id, &gap.check)
                .map(|r| (r.host.clone(), u16::try_from(r.port).unwrap_or(0)))
                .unwrap_or_default();
            k.hint(name.id(), inputs.server(&gap.agent_id).role(), &host, port)
        }
        _ => crate::export::findings::remedy(gap, None, None).fix,
    };
    let kind = kind.map_or_else(|| gap.kind.clone(), |k| k.as_str().to_owned());
    one_line(&format!(
        "not a firewall rule: {kind} on {} {}: {fix}",
        gap.agent_id, gap.check
    ))
}

/// Where the endpoint sets come from, in words.
pub fn list_words(list: &EndpointList) -> String {
    list.origin().described()
}

fn rule(
    inputs: &Inputs,
    list: &EndpointList,
    agent_id: &str,
    host: &str,
    port: u32,
    found: &[(&Gap, &CheckResult)],
) -> Option<FirewallRule> {
    let server = inputs.server(agent_id);
    let role = server.role();
    let mut needed_by: Vec<&str> = Vec::new();
    let mut checks: Vec<String> = Vec::new();
    // One result per check (two gaps of one check share it), in the gaps' order.
    let mut results: Vec<(&str, &CheckResult)> = Vec::new();
    let mut blocked = false;
    for (gap, result) in found {
        if let Ok(name) = CheckName::parse(&gap.check) {
            let who = name.id().needed_by(role);
            if !needed_by.contains(&who) {
                needed_by.push(who);
            }
        }
        blocked |= crate::gaps::probe_kind(&gap.kind, &gap.detail).is_some_and(FailureKind::blocks);
        if !checks.contains(&gap.check) {
            checks.push(gap.check.clone());
            results.push((gap.check.as_str(), result));
        }
    }
    checks.sort();
    let set = u16::try_from(port)
        .ok()
        .and_then(|p| list.sets_for(host, p).next());
    // Every check's addresses, and what fails on each (the same words once).
    let mut source_addresses: Vec<String> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut destination_addresses: Vec<String> = Vec::new();
    let mut fails: Vec<(&str, String)> = Vec::new();
    for (check, r) in &results {
        let (found, why) = sources(r, &server.agent_version);
        union(&mut source_addresses, found);
        union(&mut unknown, Some(why).filter(|w| !w.is_empty()));
        union(&mut destination_addresses, destinations(r));
        let words = fails_now(r);
        if !fails.iter().any(|(_, w)| *w == words) {
            fails.push((check, words));
        }
    }
    let fails_now = match fails.as_slice() {
        [(_, only)] => only.clone(),
        several => several
            .iter()
            .map(|(check, words)| format!("{check}: {words}"))
            .collect::<Vec<_>>()
            .join("; "),
    };
    Some(FirewallRule {
        agent_id: agent_id.to_owned(),
        hostname: server.hostname.clone(),
        source_unknown: match source_addresses.is_empty() {
            true => unknown.join("; "),
            false => String::new(),
        },
        source_addresses,
        destination_host: host.to_owned(),
        destination_addresses,
        port,
        protocol: "TCP".into(),
        endpoint_set: set.map_or(0, |s| s.id),
        endpoint_category: set
            .map(|s| s.category.as_str().to_owned())
            .unwrap_or_default(),
        endpoint_required: set.map(|s| s.required),
        fails_now,
        needed_by: needed_by.join("; "),
        checks,
        blocked,
    })
}

/// Adds what `more` has that `into` lacks, in order.
fn union(into: &mut Vec<String>, more: impl IntoIterator<Item = String>) {
    for m in more {
        if !into.contains(&m) {
            into.push(m);
        }
    }
}

/// Whether an agent of this version reports the source address: None when its version is
/// not known (empty, or not "X.Y.Z").
fn reports_source_address(agent_version: &str) -> Option<bool> {
    let core = agent_version.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let version = (parts.next()??, parts.next()??, parts.next()??);
    Some(version >= SOURCE_ADDRESS_SINCE)
}

/// The addresses the server sends from toward the destination, as the agent found them per
/// attempt; or why there are none.
fn sources(r: &CheckResult, agent_version: &str) -> (Vec<String>, String) {
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
        (true, "", false) => match reports_source_address(agent_version) {
            Some(true) => SOURCE_NO_ROUTE.into(),
            Some(false) => format!("{SOURCE_NOT_REPORTED} ({})", one_line(agent_version)),
            None => format!("{SOURCE_NOT_REPORTED} (its version is not known)"),
        },
        (true, proxy, _) => format!(
            "through the proxy {}: the firewall sees this server's connection to the proxy",
            one_line(proxy)
        ),
    };
    (found, unknown)
}

/// What the host resolved to from that server, else the addresses tried (addresses only:
/// an override's answer carries its port). Through a proxy both are the proxy's: the cell
/// says so rather than list the proxy as Microsoft's address.
fn destinations(r: &CheckResult) -> Vec<String> {
    if !r.via_proxy.is_empty() {
        return vec![format!(
            "through proxy {}: the proxy resolves it",
            one_line(&r.via_proxy)
        )];
    }
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
    let words = fails_on_path(r);
    match r.via_proxy.as_str() {
        "" => words,
        proxy => format!(
            "through proxy {} (this server connects to the proxy, the proxy to the host: the rule is from this server to the proxy, the proxy's own rule is for its team): {words}",
            one_line(proxy)
        ),
    }
}

/// What fails, per attempt, as [`fails_now`] says it without the proxy.
fn fails_on_path(r: &CheckResult) -> String {
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
            one_line(&path.verdict)
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
                one_line(ca)
            ),
            None => "intercepted (TLS inspection)".to_owned(),
        },
        "tls_stalled" => "TLS stalls (the ClientHello goes out, nothing comes back)".to_owned(),
        "path_mtu_blackhole" => "large packets dropped (path MTU black hole)".to_owned(),
        other => {
            let detail: String = one_line(detail).chars().take(MAX_AGENT_TEXT).collect();
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

/// The rules on Microsoft's endpoint set 2, which its list marks not required, that fail
/// because the path blocks them (not inspection, not DNS): importing the required sets only
/// leaves them closed. The note names them and takes the ports from the set itself; None
/// when no such rule (other sets' rules may be there too: the note is about these).
fn set_2_note(rules: &[FirewallRule], list: &EndpointList) -> Option<String> {
    let on_set_2: Vec<String> = rules
        .iter()
        .filter(|r| r.endpoint_set == 2 && r.endpoint_required == Some(false) && r.blocked)
        .map(|r| format!("{} to {}:{}", r.agent_id, r.destination_host, r.port))
        .collect();
    if on_set_2.is_empty() {
        return None;
    }
    let ports = list
        .set(2)
        .map(|s| s.tcp_ports_text())
        .filter(|p| !p.is_empty())
        .map_or_else(|| "its ports".to_owned(), |p| format!("TCP {p}"));
    Some(one_line(&format!(
        "The rule{} {} {} in Microsoft's endpoint set 2 (Exchange Online, \"POP3, IMAP4, SMTP Client traffic\"), which Microsoft's list marks not required: a rule set imported from the required sets only leaves {ports} closed. Import set 2 as well, or add these rules.",
        if on_set_2.len() == 1 { "" } else { "s" },
        on_set_2.join(", "),
        if on_set_2.len() == 1 { "is" } else { "are" },
    )))
}
