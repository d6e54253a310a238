//! Every format over one realistic audit ([`super::sample`]), read back with the tools a
//! reader would use: a CSV reader, a JSON parser, an XML parser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use eceprobe_checks::CheckId;

use super::sample::{hint, sample, FORMULA, HOSTILE_HOST, ID, IMAP_DETAIL, POLICY, PREVIOUS};
use super::{render, Format};

#[test]
fn formats_parse_and_name_their_choices() {
    assert_eq!("md".parse::<Format>().unwrap(), Format::Markdown);
    assert_eq!("Markdown".parse::<Format>().unwrap(), Format::Markdown);
    assert_eq!("html".parse::<Format>().unwrap().extension(), "html");
    assert_eq!("csv".parse::<Format>().unwrap(), Format::Csv);
    assert_eq!("json".parse::<Format>().unwrap(), Format::Json);
    let e = "pdf".parse::<Format>().unwrap_err().to_string();
    assert!(
        e.contains("'pdf'") && e.contains("md") && e.contains("html"),
        "{e}"
    );
    assert!(e.contains("csv") && e.contains("json"), "{e}");
}

#[test]
fn csv_reads_back_one_row_per_verdict_and_per_unanswered_server() {
    let text = render(&sample(), Format::Csv);
    assert!(text.ends_with("\r\n"), "RFC 4180 line ends");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, super::csv::HEADER);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    // Five verdicts of svc-1 (the slow warning on login-https's row) + app-1's not_answered.
    assert_eq!(rows.len(), 6, "{text}");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let find = |agent: &str, check: &str| {
        rows.iter()
            .find(|r| &r[col("agent_id")] == agent && &r[col("check")] == check)
            .unwrap_or_else(|| panic!("no row {agent} {check} in {text}"))
    };
    let imap = find("svc-1", "imap");
    assert_eq!(&imap[col("audit_id")], ID);
    assert_eq!(&imap[col("deployment")], "prod");
    assert_eq!(&imap[col("hostname")], HOSTILE_HOST);
    assert_eq!(&imap[col("target")], "outlook.office365.com:993");
    assert_eq!(&imap[col("outcome")], "fail");
    assert_eq!(&imap[col("failure_kind")], "tcp_timeout");
    assert_eq!(&imap[col("stage")], "tcp");
    assert_eq!(&imap[col("gap_severity")], "gap");
    assert_eq!(&imap[col("gap_kind")], "failing");
    // Who closes it: the probe kind's owner, derived, in its own column.
    assert_eq!(&imap[col("owner")], "network");
    assert_eq!(&imap[col("checklist_item")], "C10");
    assert_eq!(&imap[col("fix")], hint(CheckId::Imap, 993));
    assert_eq!(
        &imap[col("detail")],
        IMAP_DETAIL,
        "quotes, commas, newline kept"
    );
    let smtp = find("svc-1", "smtp");
    assert_eq!(
        (
            &smtp[col("outcome")],
            &smtp[col("gap_kind")],
            &smtp[col("owner")]
        ),
        ("pass", "", "")
    );
    let login = find("svc-1", "login-https");
    assert_eq!(&login[col("gap_severity")], "warning");
    assert_eq!(&login[col("gap_kind")], "slow");
    assert_eq!(&login[col("owner")], "network");
    assert_eq!(&login[col("detail")], "2300 ms");
    let app = find("app-1", "");
    assert_eq!(
        &app[col("hostname")],
        format!("'{FORMULA}"),
        "formula guard"
    );
    assert_eq!(&app[col("role")], "application");
    assert_eq!(&app[col("gap_kind")], "not_answered");
    assert_eq!(&app[col("owner")], "host");
    assert_eq!(&app[col("checklist_item")], "C8");
    assert!(app[col("fix")].contains("eceprobe-agent service"), "{text}");
    assert_eq!(&app[col("outcome")], "");
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "unguarded cell {cell:?}"
            );
        }
    }
}

#[test]
fn json_has_the_summary_and_each_gaps_fix() {
    let text = render(&sample(), Format::Json);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let s = &doc["summary"];
    assert_eq!(s["audit_id"], ID);
    assert_eq!(s["scope"], "prod");
    assert_eq!(s["started_utc"], "2026-11-28 15:23Z");
    assert_eq!(s["closed_utc"], "2026-11-28 15:25Z");
    assert_eq!(
        (&s["servers"], &s["ordered"], &s["answered"]),
        (&2.into(), &2.into(), &1.into())
    );
    assert_eq!(s["not_answered"], 1);
    assert_eq!(s["checks_run"], 5);
    assert_eq!((&s["gaps"], &s["warnings"]), (&3.into(), &1.into()));
    assert_eq!(s["first_audit_of_scope"], false);
    let changes = &s["changes"];
    assert_eq!(changes["from_audit_id"], PREVIOUS);
    assert_eq!(
        (&changes["new"], &changes["resolved"]),
        (&1.into(), &1.into())
    );
    assert_eq!(changes["unchanged"], 2);
    let gaps = doc["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 4);
    let imap = gaps.iter().find(|g| g["check"] == "imap").unwrap();
    assert_eq!(imap["checklist_item"], "C10");
    assert_eq!(imap["owner"], "network");
    assert_eq!(imap["fix"], hint(CheckId::Imap, 993).as_str());
    let slow = gaps.iter().find(|g| g["kind"] == "slow").unwrap();
    assert_eq!(slow["checklist_item"], "C10");
    // The firewall rules of the dropped IMAP and POP3 (set 2, not required: the note).
    let cr = &doc["change_request"];
    let rules = cr["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(
        (
            &rules[0]["port"],
            &rules[0]["endpoint_set"],
            &rules[0]["endpoint_required"]
        ),
        (&993.into(), &2.into(), &false.into())
    );
    assert_eq!(
        rules[1]["fails_now"],
        "dropped (no answer to SYN) on 52.97.1.1"
    );
    assert_eq!(rules[1]["source_addresses"][0], "10.1.2.3");
    assert!(cr["note"].as_str().unwrap().contains("marks not required"));
    assert_eq!(doc["servers"][0]["hostname"], HOSTILE_HOST);
    assert_eq!(doc["diff"]["new"][0]["kind"], "not_answered");
    assert_eq!(doc["diff"]["new"][0]["owner"], "host");
    assert_eq!(doc["policy"], POLICY);

    let mut first = sample();
    first.diff = None;
    first.policy.clear();
    let doc: serde_json::Value = serde_json::from_str(&render(&first, Format::Json)).unwrap();
    assert_eq!(doc["summary"]["first_audit_of_scope"], true);
    assert!(doc["summary"]["changes"].is_null() && doc["policy"].is_null());
}

#[test]
fn html_is_well_formed_self_contained_and_escapes_what_agents_send() {
    let text = render(&sample(), Format::Html);
    let (doctype, xml) = text.split_once('\n').unwrap();
    assert_eq!(doctype, "<!DOCTYPE html>");
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let elements: Vec<_> = doc.descendants().filter(|n| n.is_element()).collect();
    let named = |tag: &'static str| elements.iter().filter(move |n| n.tag_name().name() == tag);
    for tag in ["script", "link", "img", "iframe", "object"] {
        assert_eq!(named(tag).count(), 0, "no <{tag}> in {text}");
    }
    assert!(elements
        .iter()
        .all(|n| n.attribute("src").is_none() && n.attribute("href").is_none()));
    assert_eq!(
        named("meta").next().unwrap().attribute("charset"),
        Some("utf-8")
    );
    let style = named("style").next().unwrap().text().unwrap();
    assert!(style.contains("@media print") && style.contains("page-break-inside: avoid"));
    // The hostile host name is text, shown as sent.
    let h3: Vec<String> = named("h3")
        .map(|n| n.text().unwrap_or("").to_owned())
        .collect();
    assert!(
        h3.contains(&format!("{HOSTILE_HOST} (agent svc-1)")),
        "{h3:?}"
    );
    assert!(h3.contains(&format!("{FORMULA} (agent app-1)")), "{h3:?}");
    let in_servers = |n: &&roxmltree::Node| {
        n.ancestors()
            .any(|a| a.tag_name().name() == "section" && a.attribute("class") == Some("server"))
    };
    let rows = |class: &str| {
        named("tr")
            .filter(in_servers)
            .filter(|n| n.attribute("class") == Some(class))
            .count()
    };
    // Red: imap and pop3 verdicts and findings, app-1's not_answered. Amber: login-https's
    // verdict and its slow finding. Green: outlook-https and smtp.
    assert_eq!(
        (rows("gap"), rows("warning"), rows("pass")),
        (5, 2, 2),
        "{text}"
    );
    let all_text: String = doc.descendants().filter_map(|n| n.text()).collect();
    assert!(all_text.contains("did not answer (ordered, no result before the deadline)"));
    assert!(all_text.contains("C10 (ports: TCP 443, 587, 993 and 995 from both server kinds)"));
    assert!(all_text.contains("C8 (every services and application server"));
    assert!(all_text.contains(IMAP_DETAIL));
    assert!(all_text.contains("1 new, 1 resolved, 2 unchanged"));
    let green_diff = named("tr")
        .filter(|n| n.attribute("class") == Some("pass") && !in_servers(n))
        .count();
    assert_eq!(green_diff, 1, "the resolved gap");
    assert_eq!(named("pre").next().unwrap().text(), Some(POLICY));
    let sections = named("section").filter(|n| n.attribute("class") == Some("server"));
    assert_eq!(sections.count(), 2);
}

#[test]
fn markdown_opens_with_the_summary_and_tables_hold_hostile_cells() {
    let text = render(&sample(), Format::Markdown);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("# Connectivity audit {ID}"));
    assert_eq!(
        lines[2],
        format!("**Audit {ID} (prod): 2 servers in scope, 2 ordered, 1 answered; 5 checks run; 3 gaps, 1 warning; since audit {PREVIOUS}: 1 new, 1 resolved, 2 unchanged.**")
    );
    assert!(lines.contains(&"| Checks run | 5 |"), "{text}");
    assert!(lines.contains(&"| Started | 2026-11-28 15:23Z |"), "{text}");
    assert!(lines.contains(&"| imap | outlook.office365.com:993 | FAIL (gap) | tcp_timeout | tcp | no answer within 5 s \\| a,b\"c<br>from 2 of 2 addresses |"), "{text}");
    assert!(lines.contains(&"| pop3 | outlook.office365.com:995 | FAIL (gap) | tcp_timeout | tcp | no answer within 5 s |"), "{text}");
    let fix = format!("| GAP | imap | failing | network | tcp_timeout | C10 (ports: TCP 443, 587, 993 and 995 from both server kinds) | {} |", hint(CheckId::Imap, 993));
    assert!(lines.contains(&fix.as_str()), "{text}");
    assert!(
        text.contains(
            "### ece-svc01.contoso.local&lt;script&gt;alert('x')&lt;/script&gt; (agent svc-1)"
        ),
        "{text}"
    );
    assert!(!text.contains("<script>"));
    assert!(text.contains("did not answer (ordered, no result before the deadline)"));
    assert!(text.contains("## What changed since audit"));
    assert!(text.contains(&format!("```toml\n{POLICY}```\n")), "{text}");
    // Every table row has as many cells as its header: no `|` or newline broke one.
    for block in text.split("\n\n").filter(|b| b.starts_with('|')) {
        let widths: Vec<usize> = block
            .lines()
            .map(|l| l.replace("\\|", "").matches('|').count())
            .collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "{block}");
    }

    // What matters first: the server that did not answer, then svc-1's failures, its
    // warning, its passes.
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} in {text}"))
    };
    assert!(at("(agent app-1)") < at("(agent svc-1)"), "{text}");
    let order = [
        "\n| imap |",
        "\n| pop3 |",
        "\n| login-https |",
        "\n| outlook-https |",
        "\n| smtp |",
    ];
    assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{text}");

    let mut first = sample();
    first.diff = None;
    let text = render(&first, Format::Markdown);
    assert!(text.contains("first audit of this scope"), "{text}");
}

#[test]
fn oauth_findings_get_their_checklist_items_in_the_exports() {
    use eceprobe_checks::{FailureKind, Role};
    use eceprobe_proto::v1::{AuditVerdict, Gap};
    let imap = "oauth-imap/ece-mail@contoso.com";
    let token = "oauth-token/ece-mail@contoso.com";
    let fix = FailureKind::MailboxNotConnected
        .hint(
            CheckId::OauthImap,
            Role::Services,
            "outlook.office365.com",
            993,
        )
        .replace("<mailbox>", "ece-mail@contoso.com");
    let mut report = sample();
    report.servers[0].verdicts.push(AuditVerdict {
        check: imap.into(),
        outcome: "fail".into(),
        failure_kind: "mailbox_not_connected".into(),
        stage: "login".into(),
        detail: "NO [AUTHORIZATIONFAILED] cannot open mailbox".into(),
        hint: fix.clone(),
        seq: 41,
        target: "outlook.office365.com:993".into(),
        ..AuditVerdict::default()
    });
    report.servers[0].verdicts.push(AuditVerdict {
        check: token.into(),
        outcome: "warn".into(),
        seq: 42,
        target: "login.microsoftonline.com:443".into(),
        ..AuditVerdict::default()
    });
    let gap = |check: &str, severity: &str, kind: &str, detail: &str| Gap {
        deployment: "prod".into(),
        agent_id: "svc-1".into(),
        check: check.into(),
        severity: severity.into(),
        kind: kind.into(),
        detail: detail.into(),
        ..Gap::default()
    };
    report
        .gaps
        .push(gap(imap, "gap", "failing", "mailbox_not_connected"));
    let lifetime = "token_lifetime_unexpected";
    report.gaps.push(gap(token, "warning", lifetime, lifetime));

    let text = render(&report, Format::Csv);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let find = |check: &str| {
        rows.iter()
            .find(|r| &r[col("check")] == check)
            .unwrap_or_else(|| panic!("no row {check} in {text}"))
    };
    let row = find(imap);
    assert_eq!(&row[col("gap_kind")], "failing");
    assert_eq!(&row[col("checklist_item")], "C5, C6, C7");
    assert_eq!(&row[col("fix")], fix);
    let row = find(token);
    assert_eq!(&row[col("gap_kind")], lifetime);
    assert_eq!(&row[col("checklist_item")], "C3");
    assert!(
        row[col("fix")].contains("60-minute token lifetime policy"),
        "{text}"
    );

    let md = render(&report, Format::Markdown);
    assert!(
        md.contains("C5 (mailbox: SMTP AUTH and IMAP or POP3 enabled)"),
        "{md}"
    );
    let html = render(&report, Format::Html);
    assert!(html.contains("ece-mail@contoso.com"), "{html}");
}

/// The sample in Markdown and HTML, byte for byte, so no change to either format's output
/// goes unnoticed. A deliberate change rewrites the files in `testdata/`:
/// `ECEPROBE_REGENERATE=1 cargo test -p eceprobe-collector --lib reference_renderings`,
/// then read the diff before committing it.
#[test]
fn markdown_and_html_match_their_reference_renderings() {
    let cases = [
        (
            "sample.md.expected",
            include_str!("testdata/sample.md.expected"),
            Format::Markdown,
        ),
        (
            "sample.html.expected",
            include_str!("testdata/sample.html.expected"),
            Format::Html,
        ),
    ];
    for (file, expected, format) in cases {
        let actual = render(&sample(), format);
        if std::env::var_os("ECEPROBE_REGENERATE").is_some() {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/export/testdata");
            std::fs::write(format!("{dir}/{file}"), &actual).unwrap();
            continue;
        }
        assert_eq!(actual, expected, "{file}");
    }
}

#[test]
fn the_device_a_path_trace_named_reaches_every_format() {
    let mut report = sample();
    let imap = report.servers[0]
        .verdicts
        .iter_mut()
        .find(|v| v.check == "imap")
        .unwrap();
    imap.detail = "no answer from 52.97.1.1:993 within 5000 ms; path: SYN to 993 passes 10.214.1.1 and 10.214.2.2, then nothing: 10.214.2.2 or the device after it drops it (no answer from the next 3 hops)".into();
    imap.device = "10.214.2.2".into();
    let doc: serde_json::Value = serde_json::from_str(&render(&report, Format::Json)).unwrap();
    let verdicts = doc["servers"][0]["verdicts"].as_array().unwrap();
    let v = verdicts.iter().find(|v| v["check"] == "imap").unwrap();
    assert_eq!(v["device"], "10.214.2.2", "{v:#}");
    for format in [Format::Markdown, Format::Html, Format::Csv] {
        let text = render(&report, format);
        assert!(
            text.contains("then nothing: 10.214.2.2 or the device after it drops it"),
            "{text}"
        );
    }
    let md = render(&report, Format::Markdown);
    assert!(md.contains("device on the path: 10.214.2.2"), "{md}");
}
