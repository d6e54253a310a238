//! The `[run]` section: keys checked by name, the collectors' list entry by entry.

use super::*;

fn run(collector: &str, plaintext: bool) -> Result<RunSettings, ConfigError> {
    let file = RunConfig {
        collector: Some(collector.into()),
        agent_id: Some("svc-1".into()),
        ..RunConfig::default()
    };
    let cli = RunOverrides {
        plaintext,
        ..RunOverrides::default()
    };
    resolve(file, cli, Role::Services)
}

#[test]
fn plaintext_only_to_loopback_and_only_when_asked() {
    assert!(run("http://127.0.0.1:7443", true).is_ok());
    assert!(run("http://[::1]:7443", true).is_ok());
    assert!(run("http://localhost:7443", true).is_ok());
    let err = run("http://127.0.0.1:7443", false).unwrap_err().to_string();
    assert!(err.contains("plaintext = true"), "{err}");
    let err = run("http://10.0.0.5:7443", true).unwrap_err().to_string();
    assert!(err.contains("only allowed to a loopback"), "{err}");
    let err = run("https://collector.corp:7443", true)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("run.tls_dir: required"), "{err}");
    let file = RunConfig {
        collector: Some("https://collector.corp:7443".into()),
        tls_dir: Some("/nonexistent/bundle".into()),
        agent_id: Some("svc-1".into()),
        ..RunConfig::default()
    };
    let err = resolve(file, RunOverrides::default(), Role::Services)
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/bundle/agent.pem"), "{err}");
}

#[test]
fn keys_are_checked_by_name() {
    let mut file = RunConfig {
        collector: Some("http://127.0.0.1:1".into()),
        plaintext: Some(true),
        agent_id: Some("bad id".into()),
        ..RunConfig::default()
    };
    let err = resolve(file, RunOverrides::default(), Role::Services).unwrap_err();
    assert!(err.to_string().starts_with("run.agent_id"), "{err}");
    file = RunConfig {
        collector: Some("http://127.0.0.1:1".into()),
        plaintext: Some(true),
        agent_id: Some("a".into()),
        interval_s: Some(1),
        ..RunConfig::default()
    };
    let err = resolve(file, RunOverrides::default(), Role::Services).unwrap_err();
    assert!(err.to_string().starts_with("run.interval_s"), "{err}");
    let err = resolve(
        RunConfig::default(),
        RunOverrides::default(),
        Role::Services,
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("run.collector: required"),
        "{err}"
    );
}

#[test]
fn a_list_of_collectors_is_checked_entry_by_entry() {
    let list = |urls: &[&str]| RunConfig {
        collectors: Some(urls.iter().map(|u| u.to_string()).collect()),
        plaintext: Some(true),
        agent_id: Some("svc-1".into()),
        ..RunConfig::default()
    };
    let s = resolve(
        list(&["http://127.0.0.1:1", "http://[::1]:2"]),
        RunOverrides::default(),
        Role::Services,
    )
    .unwrap();
    assert_eq!(s.collectors, ["http://127.0.0.1:1", "http://[::1]:2"]);
    let err = resolve(
        list(&["http://127.0.0.1:1", "ftp://b:2"]),
        RunOverrides::default(),
        Role::Services,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("run.collectors[1]: 'ftp://b:2' is not a collector URL"),
        "{err}"
    );
    let both = RunConfig {
        collector: Some("http://127.0.0.1:1".into()),
        ..list(&["http://127.0.0.1:2"])
    };
    let err = resolve(both, RunOverrides::default(), Role::Services)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("both collector and collectors are set"),
        "{err}"
    );
    let err = resolve(list(&[]), RunOverrides::default(), Role::Services)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("run.collectors: the list is empty"),
        "{err}"
    );
    // The flag: comma-separated, and it replaces the file's list.
    let cli = RunOverrides {
        collector: Some("http://127.0.0.1:1, http://10.0.0.9:2".into()),
        ..RunOverrides::default()
    };
    let err = resolve(list(&["http://127.0.0.1:3"]), cli, Role::Services)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("--collector[1]: 'http://10.0.0.9:2': plaintext is only allowed"),
        "{err}"
    );
    let err = resolve(
        list(&["http://127.0.0.1:1", "https://b.corp:2"]),
        RunOverrides::default(),
        Role::Services,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("mixes https:// and plaintext"), "{err}");
}

#[test]
fn each_collector_is_verified_by_its_own_name_unless_overridden() {
    let bundle = TlsBundle {
        cert_pem: String::new(),
        key_pem: String::new(),
        ca_pem: String::new(),
        server_name: None,
        joined_deployment: None,
    };
    assert_eq!(bundle.server_name_for("https://a.corp:7443"), "a.corp");
    assert_eq!(bundle.server_name_for("https://[::1]:7443/"), "::1");
    let bundle = TlsBundle {
        server_name: Some("collector.corp".into()),
        ..bundle
    };
    assert_eq!(
        bundle.server_name_for("https://10.0.0.5:7443"),
        "collector.corp"
    );
}

#[test]
fn the_hello_says_who_and_what() {
    let s = run("http://127.0.0.1:7443", true).unwrap();
    assert_eq!(s.hello.agent_id, "svc-1");
    assert_eq!(s.hello.role, pb::Role::Services as i32);
    assert_eq!(s.hello.probe_interval_s, 60);
    assert_eq!(s.spool_max_bytes, 64 * 1024 * 1024);
}

#[test]
fn a_join_token_plans_a_join_until_the_bundle_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let token = format!(
        "ej1.0123456789ab.{}.sha256:{}",
        "c".repeat(40),
        "d".repeat(64)
    );
    let file = RunConfig {
        collector: Some("https://collector.corp:7443".into()),
        agent_id: Some("svc-1".into()),
        tls_dir: Some(dir.path().to_path_buf()),
        join: Some(token.clone()),
        ..RunConfig::default()
    };
    let settings = resolve(file, RunOverrides::default(), Role::Services).unwrap();
    let plan = settings.join.expect("a join is planned");
    assert_eq!(plan.dir, dir.path());
    assert!(settings.tls.is_none());
    // A bad token: its words never repeat it.
    let cli = RunOverrides {
        collector: Some("https://collector.corp:7443".into()),
        join: Some(token.replace("ej1.", "ej9.")),
        ..RunOverrides::default()
    };
    let err = resolve(RunConfig::default(), cli, Role::Services)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("run.join: the join token is not valid"),
        "{err}"
    );
    assert!(!err.contains(&"c".repeat(40)), "{err}");
    // Plaintext collectors cannot be joined.
    let cli = RunOverrides {
        collector: Some("http://127.0.0.1:7443".into()),
        plaintext: true,
        join: Some(token),
        ..RunOverrides::default()
    };
    let err = resolve(RunConfig::default(), cli, Role::Services)
        .unwrap_err()
        .to_string();
    assert!(err.contains("https://"), "{err}");
}
