//! The one place that says, for each finding of an audit, which checklist item (C1-C11 of
//! the TAC checklist) it breaks and what to do. A failing check carries the probe engine's
//! hint (`FailureKind::hint`, which names the item); the kinds the collector finds on its
//! own (missing, stale, not answered, and the warnings) get the texts written here, so every
//! export format says the same thing. The OAuth warnings (`token_lifetime_unexpected`,
//! `offline_access_missing`) are probe kinds: they get the probe engine's hint too, with the
//! check's mailbox filled in.

use eceprobe_checks::{ChecklistItem, FailureKind, Role};
use eceprobe_proto::v1::{AuditServer, AuditVerdict, CheckResult, Gap};

use crate::checkname::CheckName;

/// The checklist item(s) a finding breaks and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remedy {
    /// e.g. "C10" or "C9, C10"; empty when no item applies.
    pub checklist_item: String,
    pub fix: String,
}

/// "C9, C10" as "C9 (URLs: ...); C10 (ports: ...)", for people (the titles are the checks
/// crate's [`ChecklistItem`]'s); a word that is no item stays as it is.
pub fn checklist_long(items: &str) -> String {
    items
        .split(", ")
        .filter(|i| !i.is_empty())
        .map(|i| match i.parse::<ChecklistItem>() {
            Ok(item) => ChecklistItem::join_long(&[item]),
            Err(_) => i.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The checklist items a hint names: every "(C9, C10)" group in it, in order, once each.
fn items_in(hint: &str) -> String {
    let mut items: Vec<&str> = Vec::new();
    for group in hint.split('(').skip(1) {
        let Some((inside, _)) = group.split_once(')') else {
            continue;
        };
        let words: Vec<&str> = inside.split(',').map(str::trim).collect();
        let is_item = |w: &&str| {
            w.strip_prefix('C')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        // "(C2 for the ECE URL)" names an item too: take its first word.
        let first = words.first().and_then(|w| w.split(' ').next());
        match words.iter().all(is_item) {
            true => items.extend(words.iter().copied()),
            false => items.extend(first.filter(is_item)),
        }
    }
    let mut seen = Vec::new();
    for i in items {
        if !seen.contains(&i) {
            seen.push(i);
        }
    }
    seen.join(", ")
}

/// What process needs the check on this server's role, when both names are known.
fn needed_by(check: &str, role: &str) -> Option<&'static str> {
    let check = CheckName::parse(check).ok()?;
    let role: Role = role.parse().ok()?;
    Some(check.id().needed_by(role))
}

/// The probe engine's hint for a probe kind on this check, for a finding whose verdict
/// carries none (a warning, or a failing verdict without its hint); `<mailbox>` filled in.
fn engine_hint(
    kind: &str,
    check: &str,
    server: Option<&AuditServer>,
    host: &str,
    port: u16,
) -> Option<String> {
    let kind: FailureKind = kind.parse().ok()?;
    let name = CheckName::parse(check).ok()?;
    let role = server
        .and_then(|s| s.role.parse().ok())
        .unwrap_or(Role::Both);
    let hint = kind.hint(name.id(), role, host, port);
    Some(match name.mailbox() {
        Some(m) => hint
            .replace("<mailbox>", m)
            .replace("<token user>", "the token's user"),
        None => hint,
    })
}

fn with_needed_by(fix: String, check: &str, server: Option<&AuditServer>) -> String {
    match server.and_then(|s| needed_by(check, &s.role)) {
        Some(who) => format!("{fix}; needed by {who}"),
        None => fix,
    }
}

/// The remedy for one finding; `verdict` is the server's verdict for the finding's check
/// (none for a server that did not answer or a check never reported).
pub fn remedy(gap: &Gap, server: Option<&AuditServer>, verdict: Option<&AuditVerdict>) -> Remedy {
    let check = gap.check.as_str();
    let host = verdict
        .map(|v| v.target.as_str())
        .filter(|t| !t.is_empty() && *t != ":0")
        .unwrap_or("the endpoint");
    let is_ece_url = check == "ece-url";
    // The probe engine's hint is the authority on a failing check: it names the item.
    let hint = verdict.map(|v| v.hint.as_str()).filter(|h| !h.is_empty());
    if let (Some(hint), "failing") = (hint, gap.kind.as_str()) {
        let item = match items_in(hint) {
            i if i.is_empty() => "C8".to_owned(),
            i => i,
        };
        return Remedy {
            checklist_item: item,
            fix: hint.to_owned(),
        };
    }
    // A mailbox's failing check without its verdict's hint (the detail is the kind), and
    // the OAuth warnings (the finding's kind is the probe's): the probe engine's hint.
    let is_oauth = CheckName::parse(check).is_ok_and(|n| n.is_oauth());
    let probe_kind = match gap.kind.as_str() {
        "failing" if is_oauth => Some(gap.detail.as_str()),
        k @ ("token_lifetime_unexpected"
        | "offline_access_missing"
        | "java_truststore_incomplete"
        | "packet_loss"
        | "dns_slow"
        | "slower_than_peers"
        | "latency_regression") => Some(k),
        // The probe's `slow` (a stage over its budget; the detail is the kind), not the
        // policy's (the detail is the check's time).
        "slow" if gap.detail.starts_with("slow") => Some("slow"),
        _ => None,
    };
    let (target_host, port) = verdict
        .and_then(|v| v.target.rsplit_once(':'))
        .map(|(h, p)| (h, p.parse().unwrap_or(0)))
        .unwrap_or(("the endpoint", 0));
    if let Some(fix) = probe_kind.and_then(|k| engine_hint(k, check, server, target_host, port)) {
        return Remedy {
            checklist_item: items_in(&fix),
            fix,
        };
    }
    let (item, fix) = match gap.kind.as_str() {
        "failing" => (
            if is_ece_url { "C2" } else { "C9, C10" },
            with_needed_by(
                format!("{check} fails from this server ({}): look at the failing stage and its detail, then the firewall, proxy and DNS on the path to {host}", gap.detail),
                check,
                server,
            ),
        ),
        "refresh_blocked_on_services" => (
            "C8",
            "open outbound TCP 443 from this services server to login.microsoftonline.com (and through its proxy, if any): tokens are created on the application server but every refresh runs here (retriever, dispatcher), so mail stops when the first token expires".to_owned(),
        ),
        "missing" => (
            if is_ece_url { "C2" } else { "C8" },
            with_needed_by(
                format!("this server's agent never reported {check}: update eceprobe-agent to a version that runs it and check the agent's configuration (cloud, ECE URL, checks), so this server's connectivity is actually verified"),
                check,
                server,
            ),
        ),
        "stale" => (
            "C8",
            "the agent on this server has gone silent: check that the eceprobe-agent service is running and reaches the collector (TCP 7443); until it reports again nothing is known of this server's connectivity".to_owned(),
        ),
        "not_answered" => match server.is_some_and(|s| s.ordered) {
            true => (
                "C8",
                "the agent was ordered but sent no result before the deadline: check that the eceprobe-agent service is still running and read its log (stopped, hung, or probes slower than the deadline), then run the audit again, with a longer --deadline-s if needed".to_owned(),
            ),
            false => (
                "C8",
                "the agent was not connected to the collector when the audit started: start the eceprobe-agent service on this server and allow TCP 7443 from it to the collector, then run the audit again".to_owned(),
            ),
        },
        "slow" => (
            "C10",
            with_needed_by(
                format!("{check} to {host} works but slower than the policy allows ({}): a proxy, TLS inspection or a congested link on the path; ECE gives up on slow connections, so find the slow stage and shorten the path", gap.detail),
                check,
                server,
            ),
        ),
        "cert_expiring" if is_ece_url => (
            "C2",
            "the certificate of the External Application URL expires soon: renew it before it does, or the OAuth2 redirect to ECE fails".to_owned(),
        ),
        "cert_expiring" => (
            "C9",
            format!("a certificate {host} presents expires soon: Microsoft renews its own in time, so if it is not Microsoft's (a proxy presents its own), renew it or exempt {host} from TLS inspection"),
        ),
        "intercepted" => (
            "C9",
            format!("TLS to {host} is intercepted by a proxy (the chain ends at a root that is neither Microsoft's nor an expected root you declared): exempt *.office365.com and login.microsoftonline.com from TLS inspection, or OAuth2 mail breaks whenever the proxy's certificate is not trusted by ECE's Java"),
        ),
        "address_not_microsoft" => (
            "C8, C9",
            with_needed_by(
                format!("this server's DNS answers {target_host} with an address outside Microsoft's published ranges (the detail names it, the sets and the list): ask this server's DNS resolver for {target_host} and compare its answer with Microsoft's ranges (https://endpoints.office.com/endpoints/Worldwide), then make it answer with Microsoft's addresses (remove the internal zone or forwarder override that answers instead)"),
                check,
                server,
            ),
        ),
        _ => ("", format!("see the detail: {}", gap.detail)),
    };
    Remedy {
        checklist_item: item.to_owned(),
        fix,
    }
}

/// The remedy of a gap open now (the dashboard's gaps page, `gaps --by-owner`): [`remedy`]
/// over the check's latest result (its hint and target, as an audit's verdict carries them)
/// and the server's role, so an open gap and an audit's finding say the same. `latest` is
/// None when the check never reported (a missing gap) or its result is gone.
pub fn open_gap_remedy(gap: &Gap, role: &str, latest: Option<&CheckResult>) -> Remedy {
    let server = AuditServer {
        agent_id: gap.agent_id.clone(),
        role: role.to_owned(),
        ..AuditServer::default()
    };
    let verdict = latest.map(crate::query::verdict);
    remedy(gap, Some(&server), verdict.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_from_the_hints_parentheses() {
        assert_eq!(
            items_in("open TCP 993 on the firewall (C10); needed by x"),
            "C10"
        );
        assert_eq!(
            items_in("only some addresses (C9, C10); needed by x"),
            "C9, C10"
        );
        assert_eq!(items_in("renew it (C2 for the ECE URL)"), "C2");
        assert_eq!(items_in("(not an item) nor (C) (C8) (C8)"), "C8");
        assert_eq!(items_in("no parentheses"), "");
    }

    #[test]
    fn long_names_name_the_item() {
        assert_eq!(
            checklist_long("C9, C10"),
            "C9 (URLs: *.office365.com and login.microsoftonline.com); C10 (ports: TCP 443, 587, 993 and 995 from both server kinds)"
        );
        assert_eq!(checklist_long(""), "");
    }

    fn server(role: &str) -> AuditServer {
        AuditServer {
            agent_id: "svc-1".into(),
            role: role.into(),
            ..AuditServer::default()
        }
    }

    fn gap(check: &str, severity: &str, kind: &str, detail: &str) -> Gap {
        Gap {
            agent_id: "svc-1".into(),
            check: check.into(),
            severity: severity.into(),
            kind: kind.into(),
            detail: detail.into(),
            ..Gap::default()
        }
    }

    #[test]
    fn an_address_not_microsoft_names_the_resolver_and_the_ranges() {
        let verdict = AuditVerdict {
            target: "outlook.office365.com:993".into(),
            ..AuditVerdict::default()
        };
        let detail = "the server's DNS answered outlook.office365.com with address 10.9.8.7 ...";
        let r = remedy(
            &gap("imap", "warning", "address_not_microsoft", detail),
            Some(&server("services")),
            Some(&verdict),
        );
        assert_eq!(r.checklist_item, "C8, C9");
        assert!(
            r.fix
                .contains("ask this server's DNS resolver for outlook.office365.com")
                && r.fix.contains("https://endpoints.office.com"),
            "{}",
            r.fix
        );
    }

    #[test]
    fn every_oauth_hint_names_its_checklist_items() {
        use eceprobe_checks::CheckId;
        // The OAuth kinds are declared last, from the refresh token's expiry on.
        let oauth = FailureKind::ALL
            .into_iter()
            .skip_while(|k| *k != FailureKind::OauthRefreshTokenExpired);
        for kind in oauth {
            let hint = kind.hint(
                CheckId::OauthImap,
                Role::Services,
                "outlook.office365.com",
                993,
            );
            let items = items_in(&hint);
            assert!(!items.is_empty(), "{kind}: {hint}");
            assert!(
                items
                    .split(", ")
                    .all(|i| i.parse::<ChecklistItem>().is_ok()),
                "{kind}: {items}"
            );
        }
    }

    /// An agent before issue 13 stored a refused POP3 login as `pop_login_refused`; the
    /// report still gives it the fix of what it is now, `xoauth2_rejected` on POP3.
    #[test]
    fn an_older_agents_pop_login_refused_still_gets_its_fix() {
        let name = "oauth-pop3/ece-mail@contoso.com";
        let failing = gap(name, "gap", "failing", "pop_login_refused");
        let r = remedy(&failing, Some(&server("services")), None);
        assert_eq!(r.checklist_item, "C4, C5, C6, C7", "{}", r.fix);
        assert!(
            r.fix
                .contains("Set-CASMailbox -Identity ece-mail@contoso.com -PopEnabled $true"),
            "{}",
            r.fix
        );
    }

    #[test]
    fn oauth_findings_take_their_item_from_the_hint() {
        let name = "oauth-imap/ece-mail@contoso.com";
        let hint = FailureKind::MailboxNotConnected
            .hint(
                eceprobe_checks::CheckId::OauthImap,
                Role::Services,
                "outlook.office365.com",
                993,
            )
            .replace("<mailbox>", "ece-mail@contoso.com");
        let verdict = AuditVerdict {
            check: name.into(),
            outcome: "fail".into(),
            failure_kind: "mailbox_not_connected".into(),
            stage: "login".into(),
            hint: hint.clone(),
            target: "outlook.office365.com:993".into(),
            ..AuditVerdict::default()
        };
        let failing = gap(name, "gap", "failing", "mailbox_not_connected");
        let r = remedy(&failing, Some(&server("services")), Some(&verdict));
        assert_eq!(r.checklist_item, "C5, C6, C7");
        assert_eq!(r.fix, hint);
        // Without the verdict's hint: the probe engine's, for this mailbox.
        let r = remedy(&failing, Some(&server("services")), None);
        assert_eq!(r.checklist_item, "C5, C6, C7");
        assert!(
            r.fix.contains("-Identity ece-mail@contoso.com"),
            "{}",
            r.fix
        );
        assert!(
            !r.fix.contains("<mailbox>") && !r.fix.contains("<token user>"),
            "{}",
            r.fix
        );
        // The OAuth warnings.
        let token = "oauth-token/ece-mail@contoso.com";
        for kind in ["token_lifetime_unexpected", "offline_access_missing"] {
            let r = remedy(
                &gap(token, "warning", kind, kind),
                Some(&server("services")),
                None,
            );
            assert_eq!(r.checklist_item, "C3", "{kind}: {}", r.fix);
            assert!(r.fix.contains("needed by token refresh"), "{}", r.fix);
        }
        // The probe's path warnings: its hint, its checklist item; the policy's `slow`
        // (the detail is the check's time) keeps its own words.
        for (kind, detail, item) in [
            ("packet_loss", "packet_loss", "C10"),
            ("dns_slow", "dns_slow", "C9"),
            ("slow", "slow", "C10"),
        ] {
            let r = remedy(&gap("imap", "warning", kind, detail), None, None);
            assert_eq!(r.checklist_item, item, "{kind}: {}", r.fix);
            assert!(
                !r.fix.contains("slower than the policy"),
                "{kind}: {}",
                r.fix
            );
        }
        let r = remedy(&gap("imap", "warning", "slow", "6000 ms"), None, None);
        assert!(
            r.fix.contains("slower than the policy allows (6000 ms)"),
            "{}",
            r.fix
        );
        // Missing and stale name the mailbox's check and who needs it.
        let r = remedy(
            &gap(name, "gap", "stale", ""),
            Some(&server("services")),
            None,
        );
        assert_eq!(r.checklist_item, "C8");
    }

    /// ECE's Java's findings: the failures carry their hint (C9, C10); the trust store's
    /// warning gets the probe engine's, with the same item.
    #[test]
    fn java_findings_name_their_checklist_items() {
        use eceprobe_checks::CheckId;
        for (kind, check, id, item) in [
            ("java_untrusted", "imap", CheckId::Imap, "C9"),
            ("chain_incomplete", "imap", CheckId::Imap, "C9"),
            ("java_tls_incompatible", "ece-java", CheckId::EceJava, "C10"),
        ] {
            let k: FailureKind = kind.parse().unwrap();
            let hint = k.hint(id, Role::Services, "outlook.office365.com", 993);
            let verdict = AuditVerdict {
                check: check.into(),
                outcome: "fail".into(),
                failure_kind: kind.into(),
                hint: hint.clone(),
                target: "outlook.office365.com:993".into(),
                ..AuditVerdict::default()
            };
            let failing = gap(check, "gap", "failing", kind);
            let r = remedy(&failing, Some(&server("services")), Some(&verdict));
            assert_eq!((r.checklist_item.as_str(), &r.fix), (item, &hint), "{kind}");
        }
        let warning = gap(
            "ece-java",
            "warning",
            "java_truststore_incomplete",
            "java_truststore_incomplete",
        );
        let r = remedy(&warning, Some(&server("services")), None);
        assert_eq!(r.checklist_item, "C9", "{}", r.fix);
        assert!(r.fix.contains("keytool"), "{}", r.fix);
    }
}
