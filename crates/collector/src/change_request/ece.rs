//! What the ECE administrator sets where, from the open ece-owned gaps, for the version each
//! server declares (DESIGN.md C1-C3): the External Application URL's place in the console
//! (12.6 and later: Partition > Apps > General settings; 11.5 to 12.5: "Web server URL or
//! load balancer URL"), the ES level the version needs, the Azure redirect URI on the
//! same FQDN. Everything else is said in the kind's own fix ([`FailureKind::hint`]).

use eceprobe_checks::ece::{minimum_es, parse_version, EceVersion, Minimum, MINIMUMS};
use eceprobe_checks::{FailureKind, Owner};
use eceprobe_proto::v1::Gap;

use super::{one_line, Inputs, ServerFacts};
use crate::checkname::CheckName;

/// The first release whose console has Partition > Apps > General settings.
const CONSOLE_12_6: EceVersion = EceVersion {
    major: 12,
    minor: 6,
    maintenance: 1,
};

/// Where the External Application URL is set, for a version (or both places, unknown).
pub fn url_setting(version: Option<EceVersion>) -> &'static str {
    match version {
        Some(v) if v >= CONSOLE_12_6 => {
            "Partition > Apps > General settings > External Application URL"
        }
        Some(_) => "the \"Web server URL or load balancer URL\" setting (ECE 11.5 to 12.5)",
        None => "Partition > Apps > General settings > External Application URL (ECE 12.6 and later), or the \"Web server URL or load balancer URL\" setting (11.5 to 12.5)",
    }
}

/// The ES level a version needs, in words.
fn es_needed(version: Option<EceVersion>) -> String {
    let table = MINIMUMS
        .iter()
        .map(|(v, es)| format!("{v} {es}"))
        .collect::<Vec<_>>()
        .join(", ");
    match version.map(minimum_es) {
        Some(Minimum::Es(es)) => format!("{} needs {es} or later (latest recommended)", version.map(|v| v.to_string()).unwrap_or_default()),
        Some(Minimum::Unsupported) => format!("this version does not support OAuth2 mail: upgrade to 11.6(1) or later with its ES ({table})"),
        Some(Minimum::Any) => "this version needs no particular ES (latest recommended)".into(),
        None => format!("the minimums are {table}"),
    }
}

/// The Markdown and how many settings it lists.
pub fn markdown(inputs: &Inputs, generated: &str) -> (String, usize) {
    let gaps = inputs.gaps_of(Owner::Ece);
    let mut out = format!(
        "# ECE change request: deployment {}\n\n{}\n\n",
        md(&inputs.deployment),
        md(generated)
    );
    if gaps.is_empty() {
        out.push_str("No open ECE gap asks for a change.\n");
        return (out, 0);
    }
    let mut items = 0;
    let mut agents: Vec<&str> = gaps.iter().map(|g| g.agent_id.as_str()).collect();
    agents.dedup();
    for agent in agents {
        let server = inputs.server(agent);
        let version = parse_version(&server.ece_version).ok().map(|(v, _)| v);
        out.push_str(&format!("## {}\n\n", heading(&server)));
        out.push_str(&format!(
            "- The External Application URL is set in {}.\n- ES level: {}.\n\n",
            url_setting(version),
            es_needed(version)
        ));
        for gap in gaps.iter().filter(|g| g.agent_id == agent) {
            out.push_str(&format!("- [ ] {}\n", step(inputs, &server, version, gap)));
            items += 1;
        }
        out.push('\n');
    }
    (out, items)
}

/// Agent-provided words in the Markdown: one line, no raw HTML.
fn md(s: &str) -> String {
    crate::export::markdown_inline(&one_line(s))
}

fn heading(s: &ServerFacts) -> String {
    let version = match (s.ece_version.as_str(), s.ece_es.as_str()) {
        ("", _) => "ECE version not declared".to_owned(),
        (v, "") => format!("ECE {v}"),
        (v, es) => format!("ECE {v} {es}"),
    };
    let role = match s.role.as_str() {
        "" => String::new(),
        r => format!("{r} server, "),
    };
    md(&format!("{} ({role}{version})", s.agent_id))
}

/// One thing to set, in words.
fn step(inputs: &Inputs, server: &ServerFacts, version: Option<EceVersion>, gap: &Gap) -> String {
    let name = CheckName::parse(&gap.check).ok();
    let kind = crate::gaps::probe_kind(&gap.kind, &gap.detail);
    // The FQDN of the External Application URL, where the ece-url check resolved it.
    let fqdn = inputs
        .result(&gap.agent_id, "ece-url")
        .map(|r| md(&r.host))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "<ECE-FQDN>".into());
    // The check and the kind it failed with (a collector finding's own kind otherwise).
    let what = format!(
        "`{}` ({})",
        gap.check,
        kind.map(FailureKind::as_str).unwrap_or(gap.kind.as_str())
    );
    let text = match kind {
        Some(FailureKind::EceUrlMissing | FailureKind::EceUrlNotHttps) => format!(
            "{what}: set {} to `https://{fqdn}/` (the FQDN agents and administrators use), and make the Azure app registration's redirect URI an https:// URI on the same FQDN (C2, C3)",
            url_setting(version)
        ),
        Some(FailureKind::EceEsTooOld | FailureKind::EceVersionUnsupported) => format!(
            "{what}: {}: apply it from Cisco's ECE downloads (C1)",
            es_needed(version)
        ),
        Some(k) => {
            let id = name.as_ref().map(CheckName::id).unwrap_or(eceprobe_checks::CheckId::EceConfig);
            let (host, port) = inputs
                .result(&gap.agent_id, &gap.check)
                .map(|r| (md(&r.host), u16::try_from(r.port).unwrap_or(0)))
                .unwrap_or_default();
            let hint = k
                .hint(id, server.role(), &host, port)
                .replace("<mailbox>", name.as_ref().and_then(CheckName::mailbox).unwrap_or("the mailbox"));
            format!("{what}: {hint}")
        }
        // A collector finding (a check never reported): its detail is the collector's own.
        None => format!("{what}: {}", md(&gap.detail)),
    };
    one_line(&text)
}
