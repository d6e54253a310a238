//! The one place that says, for each finding of an audit, which checklist items (C1-C11 of
//! the TAC checklist, typed: [`ChecklistItem`]) it breaks and what to do. A failing check
//! carries the agent's hint as its fix, and its kind's items (`FailureKind::items`, the
//! kind's current row: an older agent's hint may name other items, the column shows the
//! row's); only a kind this collector does not know (a newer agent's) takes its items from
//! the hint's "(C9, C10); needed by" group, as that agent's table wrote them, else C8. The
//! kinds the collector finds on its own (missing,
//! stale, not answered, and the warnings) get the items and texts written here, so every
//! export format says the same thing. The OAuth warnings (`token_lifetime_unexpected`,
//! `offline_access_missing`) are probe kinds: they get the probe engine's hint too, with the
//! check's mailbox filled in.

use eceprobe_checks::ChecklistItem::{self, C10, C2, C8, C9};
use eceprobe_checks::{FailureKind, Role};
use eceprobe_proto::v1::{AuditServer, AuditVerdict, CheckResult, Gap};

use crate::checkname::CheckName;

/// The checklist item(s) a finding breaks and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remedy {
    /// e.g. C10, or C9 and C10; empty when no item applies. Shown as
    /// [`ChecklistItem::join`] ("C9, C10"), or [`ChecklistItem::join_long`] for people.
    pub items: Vec<ChecklistItem>,
    pub fix: String,
}

impl Remedy {
    fn new(items: &[ChecklistItem], fix: String) -> Remedy {
        Remedy {
            items: items.to_vec(),
            fix,
        }
    }
}

/// Items as a JSON string, as the API has always said them: "C9, C10".
pub fn serialize_items<S: serde::Serializer>(
    items: &[ChecklistItem],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&ChecklistItem::join(items))
}

/// What process needs the check on this server's role, when both are known.
fn needed_by(check: &str, role: Option<Role>) -> Option<&'static str> {
    let check = CheckName::parse(check).ok()?;
    Some(check.id().needed_by(role?))
}

/// The probe engine's remedy for a probe kind on this check, for a finding whose verdict
/// carries no hint (a warning, or a failing verdict without its hint): its items, and its
/// hint as the fix with `<mailbox>` filled in. A server of unknown role is taken as both.
fn engine_remedy(
    kind: &str,
    check: &str,
    role: Option<Role>,
    host: &str,
    port: u16,
) -> Option<Remedy> {
    let kind: FailureKind = kind.parse().ok()?;
    let name = CheckName::parse(check).ok()?;
    let remedy = kind.remedy(name.id(), role.unwrap_or(Role::Both), host, port);
    let hint = remedy.hint();
    let fix = match name.mailbox() {
        Some(m) => hint
            .replace("<mailbox>", m)
            .replace("<token user>", "the token's user"),
        None => hint,
    };
    Some(Remedy {
        items: remedy.items,
        fix,
    })
}

fn with_needed_by(fix: String, check: &str, role: Option<Role>) -> String {
    match needed_by(check, role) {
        Some(who) => format!("{fix}; needed by {who}"),
        None => fix,
    }
}

/// The items of a failing check whose verdict carries the agent's hint: its kind's, on this
/// check. A kind this collector does not know (a newer agent's) has no row here, so its items
/// are the ones its agent wrote from its own table into the hint ("FIX (C3); needed by WHO",
/// [`items_named_in_hint`]); a hint naming none gets C8, the checklist's "every server
/// reaches Microsoft 365".
fn failing_items(check: &str, verdict: &AuditVerdict) -> Vec<ChecklistItem> {
    let kind = verdict.failure_kind.parse::<FailureKind>();
    match (kind, CheckName::parse(check)) {
        // An older agent's hint for a known kind may name other items than the kind's row
        // names now: the column shows the current row's items.
        (Ok(kind), Ok(name)) => kind.items(name.id()).to_vec(),
        _ => items_named_in_hint(&verdict.hint).unwrap_or_else(|| vec![C8]),
    }
}

/// The items an agent's hint names, in the format its remedy renders ("FIX (C9, C10);
/// needed by WHO"): the last parenthesised group before "; needed by", when every word in it
/// is a checklist item. None for a hint in any other shape.
fn items_named_in_hint(hint: &str) -> Option<Vec<ChecklistItem>> {
    let (before, _) = hint.rsplit_once("; needed by")?;
    let close = before.rfind(')')?;
    let open = before[..close].rfind('(')?;
    before[open + 1..close]
        .split(',')
        .map(|word| word.trim().parse::<ChecklistItem>().ok())
        .collect()
}

/// The remedy for one finding; `verdict` is the server's verdict for the finding's check
/// (none for a server that did not answer or a check never reported).
pub fn remedy(gap: &Gap, server: Option<&AuditServer>, verdict: Option<&AuditVerdict>) -> Remedy {
    let check = gap.check.as_str();
    // The server's role, read once; None for no server or a role this version does not know.
    let role: Option<Role> = server.and_then(|s| s.role.parse().ok());
    let host = verdict
        .map(|v| v.target.as_str())
        .filter(|t| !t.is_empty() && *t != ":0")
        .unwrap_or("the endpoint");
    let is_ece_url = check == "ece-url";
    // The probe engine's hint is the authority on a failing check: the agent's words, the
    // kind's items.
    let failing = verdict.filter(|v| !v.hint.is_empty() && gap.kind == "failing");
    if let Some(v) = failing {
        return Remedy {
            items: failing_items(check, v),
            fix: v.hint.clone(),
        };
    }
    // A mailbox's failing check without its verdict's hint (the detail is the kind), and
    // the OAuth warnings (the finding's kind is the probe's): the probe engine's remedy.
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
    if let Some(r) = probe_kind.and_then(|k| engine_remedy(k, check, role, target_host, port)) {
        return r;
    }
    let (items, fix): (&[ChecklistItem], String) = match gap.kind.as_str() {
        "failing" => (
            if is_ece_url { &[C2] } else { &[C9, C10] },
            with_needed_by(
                format!("{check} fails from this server ({}): look at the failing stage and its detail, then the firewall, proxy and DNS on the path to {host}", gap.detail),
                check,
                role,
            ),
        ),
        "refresh_blocked_on_services" => (
            &[C8],
            "open outbound TCP 443 from this services server to login.microsoftonline.com (and through its proxy, if any): tokens are created on the application server but every refresh runs here (retriever, dispatcher), so mail stops when the first token expires".to_owned(),
        ),
        "missing" => (
            if is_ece_url { &[C2] } else { &[C8] },
            with_needed_by(
                format!("this server's agent never reported {check}: update eceprobe-agent to a version that runs it and check the agent's configuration (cloud, ECE URL, checks), so this server's connectivity is actually verified"),
                check,
                role,
            ),
        ),
        "stale" => (
            &[C8],
            "the agent on this server has gone silent: check that the eceprobe-agent service is running and reaches the collector (TCP 7443); until it reports again nothing is known of this server's connectivity".to_owned(),
        ),
        "not_answered" => match server.is_some_and(|s| s.ordered) {
            true => (
                &[C8],
                "the agent was ordered but sent no result before the deadline: check that the eceprobe-agent service is still running and read its log (stopped, hung, or probes slower than the deadline), then run the audit again, with a longer --deadline-s if needed".to_owned(),
            ),
            false => (
                &[C8],
                "the agent was not connected to the collector when the audit started: start the eceprobe-agent service on this server and allow TCP 7443 from it to the collector, then run the audit again".to_owned(),
            ),
        },
        "slow" => (
            &[C10],
            with_needed_by(
                format!("{check} to {host} works but slower than the policy allows ({}): a proxy, TLS inspection or a congested link on the path; ECE gives up on slow connections, so find the slow stage and shorten the path", gap.detail),
                check,
                role,
            ),
        ),
        "cert_expiring" if is_ece_url => (
            &[C2],
            "the certificate of the External Application URL expires soon: renew it before it does, or the OAuth2 redirect to ECE fails".to_owned(),
        ),
        "cert_expiring" => (
            &[C9],
            format!("a certificate {host} presents expires soon: Microsoft renews its own in time, so if it is not Microsoft's (a proxy presents its own), renew it or exempt {host} from TLS inspection"),
        ),
        "intercepted" => (
            &[C9],
            format!("TLS to {host} is intercepted by a proxy (the chain ends at a root that is neither Microsoft's nor an expected root you declared): exempt *.office365.com and login.microsoftonline.com from TLS inspection, or OAuth2 mail breaks whenever the proxy's certificate is not trusted by ECE's Java"),
        ),
        "address_not_microsoft" => (
            &[C8, C9],
            with_needed_by(
                format!("this server's DNS answers {target_host} with an address outside Microsoft's published ranges (the detail names it, the sets and the list): ask this server's DNS resolver for {target_host} and compare its answer with Microsoft's ranges (https://endpoints.office.com/endpoints/Worldwide), then make it answer with Microsoft's addresses (remove the internal zone or forwarder override that answers instead)"),
                check,
                role,
            ),
        ),
        _ => (&[], format!("see the detail: {}", gap.detail)),
    };
    Remedy::new(items, fix)
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
    let verdict = latest.map(crate::audits::answer::verdict);
    remedy(gap, Some(&server), verdict.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The items as the exports say them.
    fn said(r: &Remedy) -> String {
        ChecklistItem::join(&r.items)
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
        assert_eq!(said(&r), "C8, C9");
        assert!(
            r.fix
                .contains("ask this server's DNS resolver for outlook.office365.com")
                && r.fix.contains("https://endpoints.office.com"),
            "{}",
            r.fix
        );
    }

    /// A failing check's items are its kind's, whatever its hint's words say (an older
    /// agent's, a mailbox named with parentheses); a kind this collector does not know keeps
    /// the agent's hint and the items that agent's table wrote into it, else C8.
    #[test]
    fn failing_items_are_the_kinds_not_the_hints_words() {
        let failing = |kind: &str, hint: &str| {
            let verdict = AuditVerdict {
                check: "imap".into(),
                outcome: "fail".into(),
                failure_kind: kind.into(),
                hint: hint.into(),
                target: "outlook.office365.com:993".into(),
                ..AuditVerdict::default()
            };
            let gap = gap("imap", "gap", "failing", kind);
            remedy(&gap, Some(&server("services")), Some(&verdict))
        };
        let said_by = |kind: &str, hint: &str| {
            let r = failing(kind, hint);
            assert_eq!(r.fix, hint);
            said(&r)
        };
        // A known kind: its row's items, not the older agent's words.
        assert_eq!(
            said_by("tcp_timeout", "an older agent's words (C3); needed by x"),
            "C10"
        );
        // A newer agent's kind: the items its own table wrote into the hint.
        let newer = "grant the app consent in tenant (contoso) (C3); needed by token refresh";
        assert_eq!(said_by("oauth_tenant_blocked", newer), "C3");
        assert_eq!(
            said_by("newer_kind", "a newer agent's fix (C9, C10); needed by x"),
            "C9, C10"
        );
        // A hint naming no items (none, or a group of other words): C8.
        for hint in [
            "a newer agent's fix; needed by x",
            "a newer agent's fix (see ece-mail@contoso.com); needed by x",
            "a newer agent's fix (C3, and more); needed by x",
            "a newer agent's fix (C3)",
        ] {
            assert_eq!(said_by("oauth_tenant_blocked", hint), "C8", "{hint}");
        }
    }

    /// An agent before issue 13 stored a refused POP3 login as `pop_login_refused`; the
    /// report still gives it the fix of what it is now, `xoauth2_rejected` on POP3.
    #[test]
    fn an_older_agents_pop_login_refused_still_gets_its_fix() {
        let name = "oauth-pop3/ece-mail@contoso.com";
        let failing = gap(name, "gap", "failing", "pop_login_refused");
        let r = remedy(&failing, Some(&server("services")), None);
        assert_eq!(said(&r), "C4, C5, C6, C7", "{}", r.fix);
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
        assert_eq!(said(&r), "C5, C6, C7");
        assert_eq!(r.fix, hint);
        // Without the verdict's hint: the probe engine's, for this mailbox.
        let r = remedy(&failing, Some(&server("services")), None);
        assert_eq!(said(&r), "C5, C6, C7");
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
            assert_eq!(said(&r), "C3", "{kind}: {}", r.fix);
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
            assert_eq!(said(&r), item, "{kind}: {}", r.fix);
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
        assert_eq!(said(&r), "C8");
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
            assert_eq!((said(&r).as_str(), &r.fix), (item, &hint), "{kind}");
        }
        let warning = gap(
            "ece-java",
            "warning",
            "java_truststore_incomplete",
            "java_truststore_incomplete",
        );
        let r = remedy(&warning, Some(&server("services")), None);
        assert_eq!(said(&r), "C9", "{}", r.fix);
        assert!(r.fix.contains("keytool"), "{}", r.fix);
    }
}
