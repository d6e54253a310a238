//! Change requests from real gaps: `eceprobe-demo --once` runs real agents against
//! testlab (the application server's firewall refuses 993 and drops 995; SMTP AUTH is off for
//! sales@contoso.com), then a collector serves the demo's database and each surface is asked
//! as a user would: the CLI, the dashboard's downloads and links, the Query API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use common::dashboard::{get, http, Dashboard};
use common::{demo_once, ConnectTo};
use eceprobe_proto::v1::query_client::QueryClient;
use eceprobe_proto::v1::ChangeRequestRequest;

/// `eceprobe-collector gaps --change-request ARGS` against the Query API: exit code, stdout,
/// stderr.
fn cli(query: std::net::SocketAddr, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eceprobe-collector"))
        .args(["gaps", "--change-request", "--collector"])
        .arg(format!("http://{query}"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The secrets the demo's agents used: the refresh tokens testlab issued (the first ones,
/// and the rotated ones the agents wrote back to their files).
fn secrets(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = ["support@contoso.com", "sales@contoso.com"]
        .iter()
        .map(|u| eceprobe_testlab::Account::healthy(u).refresh_token)
        .collect();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "refresh") {
            let token = std::fs::read_to_string(&path).unwrap().trim().to_owned();
            assert!(token.len() > 8, "{}", path.display());
            found.push(token);
        }
    }
    found
}

/// No secret, and no JWT (every access token testlab issues is one: `eyJ` is the base64 of
/// its header's `{"`), in a document.
fn assert_no_secret(what: &str, doc: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !doc.contains(s.as_str()),
            "{what} holds a refresh token:\n{doc}"
        );
    }
    assert!(!doc.contains("eyJ"), "{what} holds a JWT:\n{doc}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demos_real_gaps_give_each_team_its_change_request() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = tokio::task::block_in_place(|| demo_once(dir.path()));
    assert_eq!(code, 1, "the demo finds gaps:\n{out}");
    let secrets = secrets(dir.path());
    let dash = Dashboard::start_on(&dir.path().join("demo.db"));

    // The firewall team's CSV, through the CLI.
    let (code, csv_text, err) = cli(dash.query, &["--deployment", "demo"]);
    assert_eq!(code, 0, "{err}");
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header[0], "source server");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(
        rows.len(),
        2,
        "one rule per blocked port, nothing else:\n{csv_text}"
    );
    for (row, port, fails) in [
        (
            &rows[0],
            "993",
            "refused (the SYN is answered with a reset) on ",
        ),
        (&rows[1], "995", "dropped (no answer to SYN) on "),
    ] {
        assert!(
            row[col("source server")].starts_with("ece-app-01 (ece-app-01.contoso.local)"),
            "{csv_text}"
        );
        let sources = &row[col("source addresses")];
        assert!(
            sources.split(' ').all(|a| a.parse::<IpAddr>().is_ok()),
            "the address the server sends from: {sources:?}"
        );
        assert_eq!(&row[col("destination host")], "outlook.office365.com");
        let destinations = &row[col("destination addresses")];
        assert!(destinations.parse::<IpAddr>().is_ok(), "{destinations:?}");
        assert_eq!(&row[col("port")], port);
        assert_eq!(&row[col("protocol")], "TCP");
        assert_eq!(&row[col("Microsoft endpoint set")], "2");
        assert_eq!(&row[col("category")], "Allow");
        assert_eq!(&row[col("required")], "no");
        assert_eq!(
            &row[col("fails now")],
            &format!("{fails}{destinations}"),
            "{csv_text}"
        );
        assert!(
            row[col("needed by")].contains("the retriever"),
            "{csv_text}"
        );
    }

    // The same rules in Markdown, with the set-2 note and the list's origin.
    let (code, md, err) = cli(dash.query, &["--deployment", "demo", "--format", "md"]);
    assert_eq!(code, 0, "{err}");
    for said in [
        "# Firewall change request: deployment demo",
        "> **Note:** The rules ece-app-01 to outlook.office365.com:993, ece-app-01 to outlook.office365.com:995 are in Microsoft's endpoint set 2",
        "which Microsoft's list marks not required: a rule set imported from the required sets only leaves TCP 587,993,995,143 closed",
        "Endpoint sets from Microsoft's list: the snapshot shipped with eceprobe",
        "| ece-app-01 (ece-app-01.contoso.local) |",
    ] {
        assert!(md.contains(said), "missing {said:?} in:\n{md}");
    }

    // The dashboard gives the same CSV as a file, and links it from the network group.
    let csv_web = get(dash.web, "/gaps/change-request.csv?deployment=demo").await;
    assert_eq!(csv_web.status, 200, "{}", csv_web.body);
    assert_eq!(csv_web.body, csv_text);
    assert_eq!(
        csv_web.header("content-disposition"),
        Some("attachment; filename=\"change-request-demo-network.csv\"")
    );
    assert!(csv_web
        .header("content-type")
        .unwrap()
        .starts_with("text/csv"));

    // The tenant administrator's PowerShell, from the real SMTP AUTH refusal.
    let ps1 = get(dash.web, "/gaps/change-request.ps1?deployment=demo").await;
    assert_eq!(ps1.status, 200, "{}", ps1.body);
    assert_eq!(
        ps1.header("content-disposition"),
        Some("attachment; filename=\"change-request-demo-m365.ps1\"")
    );
    let commands: Vec<&str> = ps1
        .body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(
        commands,
        ["Set-CASMailbox -Identity 'sales@contoso.com' -SmtpClientAuthenticationDisabled $false"],
        "one command, for the one mailbox with SMTP AUTH off:\n{}",
        ps1.body
    );
    assert!(
        ps1.body
            .contains("# smtp_auth_disabled_mailbox: SMTP AUTH is disabled for the mailbox"),
        "{}",
        ps1.body
    );

    // Nothing of it without the dashboard's token.
    let anonymous = http(
        dash.web,
        "GET",
        "/gaps/change-request.ps1?deployment=demo",
        &[],
        "",
    )
    .await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert!(!anonymous.body.contains("Set-CASMailbox"));

    // ECE's settings: no ece gap in the demo (12.6(1) ES3, URL set), and it says so.
    let ece = get(
        dash.web,
        "/gaps/change-request.md?deployment=demo&owner=ece",
    )
    .await;
    assert_eq!(ece.status, 200, "{}", ece.body);
    assert!(
        ece.body.contains("No open ECE gap asks for a change."),
        "{}",
        ece.body
    );

    let page = get(dash.web, "/gaps?deployment=demo").await;
    assert_eq!(page.status, 200);
    for href in [
        "href=\"/gaps/change-request.csv?deployment=demo\"",
        "href=\"/gaps/change-request.ps1?deployment=demo\"",
    ] {
        assert!(
            page.body.contains(href),
            "the group headers link {href}:\n{}",
            page.body
        );
    }

    // The Query API: the same PowerShell (but for the line with the time it was made).
    let answer = QueryClient::connect_to(dash.query)
        .await
        .change_request(ChangeRequestRequest {
            deployment: "demo".into(),
            owner: "m365".into(),
            format: "ps1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.items, 1);
    assert_eq!(answer.filename, "change-request-demo-m365.ps1");
    let timeless = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("# Generated by eceprobe on"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(timeless(&answer.document), timeless(&ps1.body));

    // Bad requests say what was wrong.
    let (code, _, err) = cli(dash.query, &["--deployment", "demo", "--owner", "host"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "the host group (clock, certificates, Java on each server) has no change request"
        ),
        "{err}"
    );
    let (code, _, err) = cli(dash.query, &["--deployment", "demo", "--format", "ps1"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("format 'ps1': the network change request is csv or md"),
        "{err}"
    );
    let (code, _, err) = cli(dash.query, &["--deployment", "dmeo"]);
    assert_eq!(code, 2);
    assert!(err.contains("deployment 'dmeo' has no server"), "{err}");
    let typo = get(dash.web, "/gaps/change-request.ps1?deployment=dmeo").await;
    assert_eq!(typo.status, 404, "{}", typo.body);
    // Agents declare any deployment name: one holding '&' and spaces, encoded as the gaps
    // page's links encode it, is read back whole and answered for (it has no server here),
    // not refused as a bad request nor cut at the '&'.
    let odd = get(
        dash.web,
        "/gaps/change-request.csv?deployment=EU%20%26%20US%20prod",
    )
    .await;
    assert_eq!(odd.status, 404, "{}", odd.body);
    assert!(odd.body.contains("US prod' has no server"), "{}", odd.body);
    let missing = get(dash.web, "/gaps/change-request.csv").await;
    assert_eq!(missing.status, 400);
    assert!(
        missing
            .body
            .contains("a change request is for one deployment"),
        "{}",
        missing.body
    );

    // The audit report the demo wrote has the rules too.
    let report = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "md"))
        .unwrap();
    let report = std::fs::read_to_string(report).unwrap();
    assert!(report.contains("## Change request"), "{report}");

    for (what, doc) in [
        ("the CSV", csv_text.as_str()),
        ("the Markdown", md.as_str()),
        ("the PowerShell", ps1.body.as_str()),
        ("the ECE settings", ece.body.as_str()),
        ("the audit report", report.as_str()),
    ] {
        assert_no_secret(what, doc, &secrets);
    }
}
