//! "What to do, by team": findings with their fixes under one heading per owner (the team
//! that closes them, `Owner::team`'s words), so each block can be handed to its team as it
//! is. The one rendering of it for the CLI: `gaps --by-owner` and `audit run --wait` (and
//! so the demo's summary), in the words and layout of the agent's `check`.

use std::fmt::Write as _;

use eceprobe_checks::Owner;
use eceprobe_proto::v1::Gap;

use super::Remedy;
use crate::gaps::{owner_name, UNKNOWN};

/// The words for an owner's name (`network`, ..., `unknown`): its team, or that this
/// version does not know who closes it.
pub fn team_words(name: &str) -> &'static str {
    Owner::ALL
        .into_iter()
        .find(|o| o.as_str() == name)
        .map_or("owner unknown to this collector's version", Owner::team)
}

/// "What to do, by team:" then, per owner in [`Owner::ALL`]'s order and `unknown` last,
/// `  network: the network team (...)` and one line per finding with a fix, in the order
/// given: `    GAP server check (kind): fix`. Empty when no finding has a fix.
pub fn what_to_do_by_team(items: &[(&Gap, Remedy)]) -> String {
    let names = Owner::ALL.iter().map(|o| o.as_str()).chain([UNKNOWN]);
    let mut out = String::new();
    for name in names {
        let mine: Vec<_> = items
            .iter()
            .filter(|(g, r)| !r.fix.is_empty() && owner_name(&g.kind, &g.detail) == name)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {name}: {}", team_words(name));
        for (g, r) in mine {
            let check = match g.check.as_str() {
                "" => "-",
                c => c,
            };
            let _ = writeln!(
                out,
                "    {} {} {check} ({}): {}",
                g.severity.to_uppercase(),
                g.agent_id,
                g.kind,
                r.fix
            );
        }
    }
    match out.is_empty() {
        true => out,
        false => format!("What to do, by team:\n{out}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(agent: &str, check: &str, kind: &str, detail: &str) -> Gap {
        Gap {
            agent_id: agent.into(),
            check: check.into(),
            severity: "gap".into(),
            kind: kind.into(),
            detail: detail.into(),
            ..Gap::default()
        }
    }

    fn fix(text: &str) -> Remedy {
        Remedy {
            items: Vec::new(),
            fix: text.into(),
        }
    }

    #[test]
    fn each_team_gets_its_block_in_the_teams_order() {
        let stale = gap("svc-1", "", "stale", "silent");
        let imap = gap("app-1", "imap", "failing", "tcp_refused");
        let smtp = gap(
            "svc-1",
            "oauth-smtp/a@b.c",
            "failing",
            "smtp_auth_disabled_mailbox",
        );
        let new = gap("svc-1", "imap", "failing", "quantum_tunnel_collapsed");
        let quiet = gap("svc-2", "pop3", "failing", "tcp_timeout");
        let items = [
            (&stale, fix("start the agent")),
            (&new, fix("see the detail")),
            (&smtp, fix("enable SMTP AUTH")),
            (&imap, fix("open 993")),
            (&quiet, fix("")),
        ];
        assert_eq!(
            what_to_do_by_team(&items),
            "What to do, by team:\n\
             \x20 network: the network team (firewall, proxy, DNS)\n\
             \x20   GAP app-1 imap (failing): open 993\n\
             \x20 m365: the Microsoft 365 / Entra administrator\n\
             \x20   GAP svc-1 oauth-smtp/a@b.c (failing): enable SMTP AUTH\n\
             \x20 host: the server's administrator (clock, certificates, Java)\n\
             \x20   GAP svc-1 - (stale): start the agent\n\
             \x20 unknown: owner unknown to this collector's version\n\
             \x20   GAP svc-1 imap (failing): see the detail\n"
        );
        assert_eq!(what_to_do_by_team(&[(&quiet, fix(""))]), "");
    }
}
