use super::*;

#[test]
fn the_table_is_in_the_variants_order_once_each() {
    for (i, row) in TABLE.iter().enumerate() {
        assert_eq!(row.id as usize, i, "{} is out of place", row.name);
        assert_eq!(
            serde_json::to_string(&row.id).unwrap(),
            format!("\"{}\"", row.name),
            "the name is the id's serde name"
        );
    }
}

#[test]
fn the_derived_lists_are_the_tables_in_its_order() {
    let names = |ids: &[CheckId]| ids.iter().map(|c| c.as_str()).collect::<Vec<_>>();
    assert_eq!(
        names(&CheckId::ALL),
        [
            "login-https",
            "outlook-https",
            "imap",
            "pop3",
            "smtp",
            "ece-url"
        ]
    );
    assert_eq!(
        names(&CheckId::OAUTH),
        ["oauth-token", "oauth-imap", "oauth-pop3", "oauth-smtp"]
    );
    assert_eq!(
        names(&CheckId::COLUMNS),
        [
            "login-https",
            "outlook-https",
            "imap",
            "pop3",
            "smtp",
            "ece-url",
            "ece-config",
            "ece-java"
        ]
    );
    assert_eq!(
        names(&CheckId::REQUIRED_BY_DEFAULT),
        ["login-https", "outlook-https", "imap", "pop3", "smtp"]
    );
    let known: Vec<_> = CheckId::known().collect();
    let mut expected: Vec<_> = CheckId::ALL.into_iter().chain(CheckId::OAUTH).collect();
    expected.extend([CheckId::EceConfig, CheckId::EceJava]);
    assert_eq!(known, expected);
    for row in TABLE {
        assert_eq!(CheckId::ALL.contains(&row.id), row.runs == Runs::Network);
        assert_eq!(
            CheckId::OAUTH.contains(&row.id),
            row.runs == Runs::PerMailbox
        );
    }
}

#[test]
fn oauth_ids_parse_but_stay_out_of_the_default_catalog() {
    for id in CheckId::OAUTH {
        assert_eq!(id.as_str().parse::<CheckId>(), Ok(id));
        assert!(!CheckId::ALL.contains(&id));
    }
    let specs = catalog(
        &Cloud::Global.hosts(),
        "common",
        Some("https://ece.example.com/"),
    );
    assert!(specs.iter().all(|s| CheckId::ALL.contains(&s.id)));
    assert_eq!(
        "graph".parse::<CheckId>(),
        Err("unknown check 'graph' (known: login-https, outlook-https, imap, pop3, smtp, ece-url, oauth-token, oauth-imap, oauth-pop3, oauth-smtp, ece-config, ece-java)".into())
    );
}

#[test]
fn the_default_policy_follows_the_retriever() {
    let required = |role, retriever| -> Vec<&str> {
        CheckId::known()
            .filter(|c| c.default_required(role, retriever))
            .map(CheckId::as_str)
            .collect()
    };
    for role in [Role::Services, Role::Application, Role::Both] {
        assert_eq!(
            required(role, Retriever::Both),
            ["login-https", "outlook-https", "imap", "pop3", "smtp"]
        );
        assert_eq!(
            required(role, Retriever::Imap),
            ["login-https", "outlook-https", "imap", "smtp"]
        );
        assert_eq!(
            required(role, Retriever::Pop3),
            ["login-https", "outlook-https", "pop3", "smtp"]
        );
    }
}

#[test]
fn needed_by_names_the_process_per_role() {
    let per_role = |c: CheckId| {
        [Role::Services, Role::Application, Role::Both].map(|r| c.needed_by(r).to_string())
    };
    for c in [CheckId::LoginHttps, CheckId::OauthToken] {
        assert_eq!(
            per_role(c),
            [
                "token refresh on the services server (retriever, dispatcher)",
                "token creation on the application server",
                "token creation and refresh"
            ]
        );
    }
    for c in [CheckId::Smtp, CheckId::OauthSmtp] {
        assert_eq!(
            per_role(c),
            [
                "the dispatcher (outgoing mail)",
                "alarm notifications sent by the application server",
                "the dispatcher and alarm notifications"
            ]
        );
    }
    let any = |c: CheckId| c.needed_by(Role::Both);
    assert_eq!(
        any(CheckId::OutlookHttps),
        "ECE's OAuth2 mail (the *.office365.com web endpoints)"
    );
    assert_eq!(
        any(CheckId::Imap),
        "the retriever (incoming mail over IMAP)"
    );
    assert_eq!(any(CheckId::OauthImap), any(CheckId::Imap));
    assert_eq!(
        any(CheckId::Pop3),
        "the retriever (incoming mail over POP3)"
    );
    assert_eq!(any(CheckId::OauthPop3), any(CheckId::Pop3));
    assert_eq!(
        any(CheckId::EceUrl),
        "the OAuth2 redirect back to ECE (External Application URL)"
    );
    assert_eq!(
        any(CheckId::EceConfig),
        "ECE's OAuth2 mail setup (version, External Application URL, Azure app)"
    );
    assert_eq!(
        any(CheckId::EceJava),
        "every TLS connection ECE's Java makes to Microsoft 365 (retriever, dispatcher, token refresh)"
    );
}

#[test]
fn microsoft_means_a_microsoft_host() {
    for c in CheckId::known() {
        let host = c.target().host;
        assert_eq!(
            c.is_microsoft(),
            !matches!(host, HostKind::EceUrl | HostKind::None),
            "{c}"
        );
    }
}

#[test]
fn what_runs_has_a_target_and_a_dialog() {
    for c in CheckId::known() {
        let silent = c.runs() == Runs::WhereDeclared;
        assert_eq!(c.target().host == HostKind::None, silent, "{c}");
        assert_eq!(c.target().port == 0, silent, "{c}");
        assert_eq!(c.row_dialog() == RowDialog::None, silent, "{c}");
        assert!(!c.checklist().is_empty(), "{c}");
    }
}
