use super::*;

const TOKEN: &str = "ej1.3f9a2c10b7d4.0123456789abcdef0123456789abcdef01234567.sha256:\
                     aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SECRET: &str = "0123456789abcdef0123456789abcdef01234567";

fn answers(collector: &str, role: &str, deployment: &str, join: &str) -> Answers {
    let some = |s: &str| Some(s.to_owned());
    Answers {
        collector: some(collector),
        role: some(role),
        deployment: some(deployment),
        join: some(join),
    }
}

fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("eceprobe");
    (tmp, dir)
}

#[test]
fn a_first_install_writes_what_the_service_loads() {
    let (_tmp, dir) = data_dir();
    let a = answers(
        "https://collector.corp.example:7443",
        "services",
        "prod",
        TOKEN,
    );
    let outcome = configure(&a, &dir).unwrap();
    let path = dir.join("agent.toml");
    assert_eq!(outcome, Outcome::Written(path.clone()));
    for sub in SUBDIRS {
        assert!(dir.join(sub).is_dir(), "{sub}");
    }
    // The agent's own loader reads it: role, collector, deployment, the join planned into tls.
    let (settings, probes) = crate::load_run_config(&path).unwrap();
    assert_eq!(probes.role, Role::Services);
    assert_eq!(settings.collectors, ["https://collector.corp.example:7443"]);
    assert_eq!(settings.hello.deployment, "prod");
    let plan = settings.join.expect("a join is planned");
    assert_eq!(plan.token.secret, SECRET);
    assert_eq!(plan.dir, dir.join("tls"));
    assert_eq!(settings.spool_dir, dir.join("spool"));
    // The join line stands alone at the start of a line (the agent comments it out once used).
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.lines().any(|l| l.starts_with("join = ")), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

#[test]
fn an_existing_agent_toml_is_kept_byte_for_byte() {
    let (_tmp, dir) = data_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let mine = "# edited by hand\nrole = \"application\"\n";
    std::fs::write(dir.join("agent.toml"), mine).unwrap();
    let a = answers("https://other.example:7443", "services", "test", TOKEN);
    assert_eq!(
        configure(&a, &dir).unwrap(),
        Outcome::Kept(dir.join("agent.toml"))
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("agent.toml")).unwrap(),
        mine
    );
    assert!(dir.join("spool").is_dir() && dir.join("tls").is_dir());
    // Bad values are refused even then: the install rolls back rather than half-apply.
    let bad = answers("ftp://x", "", "", "");
    assert!(configure(&bad, &dir).is_err());
}

#[test]
fn bad_values_are_refused_in_words_naming_the_property_and_nothing_is_made() {
    let cases = [
        (
            answers("ftp://x", "services", "", TOKEN),
            "COLLECTOR",
            "'ftp://x' is not an https:// URL",
        ),
        (
            answers("not a url", "services", "", TOKEN),
            "COLLECTOR",
            "not an https:// URL",
        ),
        (
            answers("https://", "services", "", TOKEN),
            "COLLECTOR",
            "e.g. COLLECTOR=https://",
        ),
        (
            answers("https://c:7443", "database", "", TOKEN),
            "ROLE",
            "unknown role 'database' (use services, application or both)",
        ),
        (
            answers("https://c:7443", "services", "prod east", TOKEN),
            "DEPLOYMENT",
            "'prod east' is not a deployment name",
        ),
        (
            answers(
                "https://c:7443",
                "services",
                "",
                &TOKEN.replace("ej1.", "ej2."),
            ),
            "JOIN_TOKEN",
            "token create",
        ),
        (
            answers("https://c:7443", "services", "", &TOKEN[..60]),
            "JOIN_TOKEN",
            "copy it whole",
        ),
        (
            answers("", "services", "", TOKEN),
            "does not exist yet",
            "give COLLECTOR and ROLE",
        ),
        (
            answers("https://c:7443", "", "", TOKEN),
            "does not exist yet",
            "give COLLECTOR and ROLE",
        ),
        (
            answers("https://c:7443", "both", "", ""),
            "no JOIN_TOKEN",
            "agent.pem, agent.key and ca.pem",
        ),
    ];
    for (a, first, second) in cases {
        let (_tmp, dir) = data_dir();
        let e = configure(&a, &dir).unwrap_err().to_string();
        assert!(e.contains(first) && e.contains(second), "{e}");
        assert!(!e.contains(SECRET), "{e}");
        assert!(!dir.exists(), "{e}: {} was made", dir.display());
    }
}

#[test]
fn without_a_token_an_enrollment_bundle_already_there_will_do() {
    let (_tmp, dir) = data_dir();
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    for f in ["agent.pem", "agent.key", "ca.pem"] {
        std::fs::write(tls.join(f), "-----BEGIN X-----\n").unwrap();
    }
    let a = answers("https://collector.corp.example:7443", "application", "", "");
    assert!(matches!(configure(&a, &dir), Ok(Outcome::Written(_))));
    let text = std::fs::read_to_string(dir.join("agent.toml")).unwrap();
    assert!(
        !text.contains("join") && !text.contains("deployment ="),
        "{text}"
    );
}

#[test]
fn values_that_need_quoting_stay_exact() {
    let dir = PathBuf::from(r"C:\ProgramData\it's\eceprobe");
    let token = JoinToken::parse(TOKEN).unwrap();
    let text = render(
        "https://c:7443/a\"b",
        Role::Both,
        Some("prod"),
        Some(&token),
        &dir,
    );
    let file: FileConfig = toml::from_str(&text).unwrap();
    assert_eq!(file.run.collector.as_deref(), Some("https://c:7443/a\"b"));
    assert_eq!(file.run.tls_dir, Some(dir.join("tls")));
}

#[test]
fn remove_data_deletes_only_a_directory_named_eceprobe() {
    let (tmp, dir) = data_dir();
    std::fs::create_dir_all(dir.join("spool")).unwrap();
    std::fs::write(dir.join("agent.toml"), "").unwrap();
    assert!(remove_data(&dir).unwrap());
    assert!(!dir.exists());
    assert!(!remove_data(&dir).unwrap());
    let e = remove_data(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("refusing to delete"), "{e}");
    assert!(tmp.path().exists());
}

#[cfg(unix)]
#[test]
fn a_link_anywhere_in_the_data_directory_is_refused_before_anything_changes() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let a = answers("https://c.example:7443", "services", "prod", TOKEN);
    // Each case: what a local user made before the install, and the link the words name.
    type Plant = fn(&Path, &Path) -> PathBuf;
    let cases: [(&str, Plant); 5] = [
        ("the data directory", |dir, elsewhere| {
            symlink(elsewhere, dir).unwrap();
            dir.to_path_buf()
        }),
        ("tls", |dir, elsewhere| {
            std::fs::create_dir_all(dir).unwrap();
            symlink(elsewhere, dir.join("tls")).unwrap();
            dir.join("tls")
        }),
        ("secrets", |dir, elsewhere| {
            std::fs::create_dir_all(dir).unwrap();
            symlink(elsewhere, dir.join("secrets")).unwrap();
            dir.join("secrets")
        }),
        ("agent.toml", |dir, elsewhere| {
            std::fs::create_dir_all(dir).unwrap();
            let target = elsewhere.join("mine.toml");
            std::fs::write(&target, "role = \"services\"\n").unwrap();
            symlink(&target, dir.join("agent.toml")).unwrap();
            dir.join("agent.toml")
        }),
        ("a key in tls", |dir, elsewhere| {
            std::fs::create_dir_all(dir.join("tls")).unwrap();
            symlink(
                elsewhere.join("agent.key"),
                dir.join("tls").join("agent.key"),
            )
            .unwrap();
            dir.join("tls").join("agent.key")
        }),
    ];
    for (what, plant) in cases {
        let (tmp, dir) = data_dir();
        let elsewhere = tmp.path().join("users-folder");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o777)).unwrap();
        let link = plant(&dir, &elsewhere);
        let e = configure(&a, &dir).unwrap_err().to_string();
        assert!(
            e.contains(&format!("{} is a link", link.display()))
                && e.contains("Delete")
                && e.contains("and install again"),
            "{what}: {e}"
        );
        // Nothing was written or restricted through the link.
        let mode = std::fs::metadata(&elsewhere).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o777,
            "{what}: the link's target was restricted"
        );
        let inside: Vec<_> = std::fs::read_dir(&elsewhere)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            inside.is_empty() || inside == ["mine.toml"],
            "{what}: {inside:?}"
        );
        assert!(!dir.join("agent.toml").exists() || what == "agent.toml");
    }
}

#[test]
fn the_icacls_sequence_takes_everything_back_without_following_links() {
    let dir = Path::new(r"C:\ProgramData\eceprobe");
    let runs: Vec<String> = acl::icacls_runs(dir)
        .iter()
        .map(|r| {
            r.iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let d = dir.display().to_string();
    let inside = dir.join("*").display().to_string();
    assert_eq!(
        runs,
        [
            format!("{d} /setowner *S-1-5-32-544 /T /C /L /Q"),
            format!("{d} /reset /T /C /L /Q"),
            format!("{d} /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F /Q"),
            format!("{d} /setowner *S-1-5-32-544 /T /C /L /Q"),
            format!("{inside} /reset /T /C /L /Q"),
        ]
    );
}

#[test]
fn a_refused_value_that_looks_like_a_token_is_not_repeated() {
    let hex = "0123456789abcdef0123456789abcdef";
    let cases = [
        answers(TOKEN, "services", "", ""),
        answers("https://c:7443", TOKEN, "", ""),
        answers("https://c:7443", "services", TOKEN, ""),
        answers("https://c:7443", &format!("x{hex}"), "", ""),
        answers("https://c:7443", "services", &format!("prod-{hex}!"), ""),
        answers(&format!("http://{hex}"), "services", "", ""),
    ];
    for a in cases {
        let e = check(&a).err().expect("refused").to_string();
        assert!(!e.contains(SECRET) && !e.contains(hex), "{e}");
        assert!(
            e.contains("not repeated: it looks like a join token"),
            "{e}"
        );
    }
    // Anything else is repeated, so the operator sees what was wrong.
    let e = check(&answers("https://c:7443", "services", "prod east", ""))
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("'prod east' is not a deployment name"), "{e}");
}

#[test]
fn a_collector_url_with_a_user_or_password_is_refused_without_repeating_it() {
    for url in [
        "https://admin:hunter2@c.example:7443",
        "https://admin@c.example:7443/x",
    ] {
        let e = check(&answers(url, "services", "", ""))
            .err()
            .expect("refused")
            .to_string();
        assert!(
            e.starts_with("COLLECTOR: holds a user name or password")
                && e.contains("give only https://host:port"),
            "{e}"
        );
        assert!(!e.contains("hunter2") && !e.contains("admin"), "{e}");
    }
    // An @ after the host (in a path) is not userinfo.
    assert!(check(&answers("https://c.example:7443/a@b", "services", "", "")).is_ok());
}
