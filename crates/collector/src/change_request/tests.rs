use eceprobe_proto::v1::{
    Attempt, Certificate, CheckResult, Dns, Finding, Gap, OAuthInfo, PathTrace, Tls,
};

use super::*;
use crate::endpoints::EndpointList;

pub(super) fn gap(agent: &str, check: &str, kind: &str, detail: &str) -> Gap {
    Gap {
        deployment: "prod".into(),
        agent_id: agent.into(),
        check: check.into(),
        severity: "gap".into(),
        kind: kind.into(),
        detail: detail.into(),
        ..Gap::default()
    }
}

pub(super) fn failed(address: &str, kind: &str) -> Attempt {
    Attempt {
        address: address.into(),
        source_address: "10.0.0.5".into(),
        failure: Some(Finding {
            kind: kind.into(),
            ..Finding::default()
        }),
        ..Attempt::default()
    }
}

pub(super) fn result(check: &str, host: &str, port: u32, attempts: Vec<Attempt>) -> CheckResult {
    CheckResult {
        check: check.into(),
        host: host.into(),
        port,
        attempts,
        ..CheckResult::default()
    }
}

pub(super) fn inputs(
    hostname: &str,
    role: &str,
    gaps: Vec<Gap>,
    results: Vec<(&str, CheckResult)>,
) -> Inputs {
    Inputs {
        deployment: "prod".into(),
        gaps,
        servers: vec![ServerFacts {
            agent_id: "app-1".into(),
            hostname: hostname.into(),
            role: role.into(),
            ece_version: "12.5(1)".into(),
            ece_es: "ES2".into(),
            agent_version: "0.1.0".into(),
        }],
        results: results
            .into_iter()
            .map(|(agent, r)| ((agent.to_owned(), r.check.clone()), r))
            .collect(),
        gaps_cut_at: None,
    }
}

pub(super) fn doc(i: &Inputs, owner: Owner, format: Format) -> String {
    generate(i, owner, format, &EndpointList::snapshot(), 0).text
}

#[test]
fn csv_quotes_names_with_commas_and_quotes_and_reads_back() {
    let hostile = "app,1 \"east\"\r\n=evil";
    let i = inputs(
        hostile,
        "application",
        vec![gap("app-1", "imap", "failing", "tcp_refused")],
        vec![(
            "app-1",
            result(
                "imap",
                "outlook.office365.com",
                993,
                vec![failed("52.97.1.1:993", "tcp_refused")],
            ),
        )],
    );
    let text = doc(&i, Owner::Network, Format::Csv);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(&rows[0][0], &format!("app-1 ({hostile})"));
    assert_eq!(&rows[0][1], "10.0.0.5");
    assert!(
        text.starts_with("source server,source addresses,"),
        "{text}"
    );
    assert!(text.ends_with("\r\n"));
}

#[test]
fn rules_say_partial_interception_the_hop_and_an_older_agent() {
    let mut dropped = failed("52.97.1.2:995", "tcp_timeout");
    dropped.path = Some(PathTrace {
        device: "10.214.2.2".into(),
        verdict: "SYN to 995 passes 10.214.1.1 and 10.214.2.2, then nothing".into(),
        ..PathTrace::default()
    });
    let working = Attempt {
        address: "52.97.1.1:995".into(),
        source_address: "10.0.0.5".into(),
        ..Attempt::default()
    };
    let mut intercepted = Attempt {
        address: "20.190.1.1:443".into(),
        failure: Some(Finding {
            kind: "tls_intercepted".into(),
            ..Finding::default()
        }),
        tls: Some(Tls {
            chain: vec![Certificate {
                issuer: "CN=Contoso Inspection CA".into(),
                ..Certificate::default()
            }],
            ..Tls::default()
        }),
        ..Attempt::default()
    };
    // An agent before the source address was reported.
    intercepted.source_address.clear();
    let mut i = inputs(
        "app-1.contoso.local",
        "application",
        vec![
            gap("app-1", "pop3", "failing", "partial_reachability"),
            gap("app-1", "login-https", "failing", "tls_intercepted"),
            // Not the network's: no rule.
            gap(
                "app-1",
                "oauth-smtp/a@contoso.com",
                "failing",
                "smtp_auth_disabled_mailbox",
            ),
        ],
        vec![
            (
                "app-1",
                CheckResult {
                    dns: Some(Dns {
                        addresses: vec!["52.97.1.1".into(), "52.97.1.2".into()],
                        ..Dns::default()
                    }),
                    ..result("pop3", "outlook.office365.com", 995, vec![working, dropped])
                },
            ),
            (
                "app-1",
                result(
                    "login-https",
                    "login.microsoftonline.com",
                    443,
                    vec![intercepted],
                ),
            ),
        ],
    );
    i.servers[0].agent_version = "0.0.9".into();
    let request = network::request(&i, &EndpointList::snapshot());
    let rules = &request.rules;
    assert_eq!(rules.len(), 2);
    // Sorted by server, host, port.
    let login = &rules[0];
    assert_eq!(login.destination_host, "login.microsoftonline.com");
    assert_eq!(
        login.fails_now,
        "intercepted (TLS inspection, re-signed by CN=Contoso Inspection CA) on 20.190.1.1"
    );
    assert_eq!(
        login.source_unknown,
        "not reported by this agent's version (0.0.9)"
    );
    assert_eq!(
        (login.endpoint_set, login.endpoint_required),
        (56, Some(true))
    );
    assert_eq!(login.needed_by, "token creation on the application server");
    let pop = &rules[1];
    assert_eq!(
        pop.fails_now,
        "partial (some addresses): dropped (no answer to SYN) on 52.97.1.2 (blocking hop 10.214.2.2: SYN to 995 passes 10.214.1.1 and 10.214.2.2, then nothing); works on 52.97.1.1"
    );
    assert_eq!(pop.destination_addresses, ["52.97.1.1", "52.97.1.2"]);
    // A required set among the rules does not hide the set-2 note: it names the rule on
    // set 2 that is blocked (995, partly dropped), not the intercepted one on set 56.
    let md = doc(&i, Owner::Network, Format::Markdown);
    assert!(
        md.contains("> **Note:** The rule app-1 to outlook.office365.com:995 is in Microsoft's endpoint set 2"),
        "{md}"
    );
    assert!(md.contains("| app-1 (app-1.contoso.local) | not reported by this agent's version (0.0.9) | login.microsoftonline.com |"), "{md}");
}

#[test]
fn powershell_fills_known_values_and_names_placeholders_never_agent_text() {
    let token = |user: &str, app: &str, grant: &str| OAuthInfo {
        mailbox: "support@contoso.com".into(),
        grant: grant.into(),
        token_user: user.into(),
        token_app_id: app.into(),
        ..OAuthInfo::default()
    };
    let mut not_connected = result(
        "oauth-pop3/support@contoso.com",
        "outlook.office365.com",
        995,
        vec![],
    );
    not_connected.oauth = Some(token(
        "helpdesk@contoso.com",
        "app'\n; Remove-Mailbox",
        "refresh_token",
    ));
    let mut app_only = result(
        "oauth-imap/shared@contoso.com",
        "outlook.office365.com",
        993,
        vec![],
    );
    app_only.oauth = Some(token("", "", "client_credentials"));
    let i = inputs(
        "app-1",
        "services",
        vec![
            gap(
                "app-1",
                "oauth-pop3/support@contoso.com",
                "failing",
                "mailbox_not_connected",
            ),
            gap(
                "app-1",
                "oauth-imap/shared@contoso.com",
                "failing",
                "xoauth2_rejected",
            ),
            gap(
                "app-1",
                "oauth-token/support@contoso.com",
                "failing",
                "oauth_admin_consent_required",
            ),
            gap(
                "app-1",
                "oauth-token/support@contoso.com",
                "failing",
                "oauth_conditional_access",
            ),
        ],
        vec![("app-1", not_connected), ("app-1", app_only)],
    );
    let ps1 = doc(&i, Owner::M365, Format::PowerShell);
    let commands: Vec<&str> = ps1
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    for expected in [
        "New-ServicePrincipal -AppId <APPLICATION-CLIENT-ID> -ObjectId <ENTERPRISE-APP-OBJECT-ID>",
        "Add-MailboxPermission -Identity 'shared@contoso.com' -User <ENTERPRISE-APP-OBJECT-ID> -AccessRights FullAccess",
        "Set-CASMailbox -Identity 'support@contoso.com' -PopEnabled $true",
        "Add-MailboxPermission -Identity 'support@contoso.com' -User 'helpdesk@contoso.com' -AccessRights FullAccess -InheritanceType All",
        "Start-Process 'https://login.microsoftonline.com/<TENANT-ID>/adminconsent?client_id=<APPLICATION-CLIENT-ID>'",
    ] {
        assert!(commands.contains(&expected), "missing {expected:?} in:\n{ps1}");
    }
    assert_eq!(commands.len(), 5, "{ps1}");
    assert!(
        ps1.contains(
            "#   <ENTERPRISE-APP-OBJECT-ID>: Entra admin center > Enterprise applications"
        ),
        "{ps1}"
    );
    assert!(
        ps1.contains("# oauth_conditional_access: no PowerShell for this one"),
        "{ps1}"
    );
    // The app id the agent sent is not a GUID: it never reaches the script.
    assert!(!ps1.contains("Remove-Mailbox"), "{ps1}");
}

#[test]
fn ece_settings_follow_the_declared_version() {
    let gaps = vec![
        gap("app-1", "ece-config", "failing", "ece_url_missing"),
        gap("app-1", "ece-config", "failing", "ece_es_too_old"),
    ];
    let mut i = inputs("app-1", "application", gaps, vec![]);
    let md = doc(&i, Owner::Ece, Format::Markdown);
    assert!(
        md.contains("## app-1 (application server, ECE 12.5(1) ES2)"),
        "{md}"
    );
    assert!(
        md.contains("the \"Web server URL or load balancer URL\" setting (ECE 11.5 to 12.5)"),
        "{md}"
    );
    assert!(md.contains("12.5(1) needs ES3 or later"), "{md}");
    assert_eq!(
        generate(
            &i,
            Owner::Ece,
            Format::Markdown,
            &EndpointList::snapshot(),
            0
        )
        .items,
        2
    );
    i.servers[0].ece_version = "12.6(1)".into();
    let md = doc(&i, Owner::Ece, Format::Markdown);
    assert!(md.contains("set Partition > Apps > General settings > External Application URL to `https://<ECE-FQDN>/`"), "{md}");
}

#[test]
fn requests_name_what_is_wrong() {
    assert_eq!(parse_request("", ""), Ok((Owner::Network, Format::Csv)));
    assert_eq!(parse_request("ece", ""), Ok((Owner::Ece, Format::Markdown)));
    assert_eq!(
        parse_request("m365", ""),
        Ok((Owner::M365, Format::PowerShell))
    );
    assert_eq!(
        parse_request("network", "ps1").unwrap_err().to_string(),
        "format 'ps1': the network change request is csv or md"
    );
    assert_eq!(
        parse_request("firewall\n", "").unwrap_err().to_string(),
        "owner 'firewall\\n': a change request is for network, m365 or ece"
    );
    assert_eq!(
        parse_request("host", ""),
        Err(ChangeRequestError::HostOwner)
    );
    assert_eq!(
        parse_request("ece", "ps1").unwrap_err().to_string(),
        "format 'ps1': the ece change request is md"
    );
    assert_eq!(
        parse_request("network", "markdown"),
        Ok((Owner::Network, Format::Markdown))
    );
    // Any name an agent declares is a deployment; none, or one longer than any, is not.
    assert_eq!(deployment("EU & US prod"), Ok("EU & US prod"));
    assert_eq!(deployment(""), Err(ChangeRequestError::NoDeployment));
    assert_eq!(
        deployment(&"x".repeat(MAX_DEPLOYMENT + 1)),
        Err(ChangeRequestError::DeploymentTooLong)
    );
    assert_eq!(
        filename("prod eu/1", Owner::Network, Format::Csv),
        "change-request-prod_eu_1-network.csv"
    );
}
