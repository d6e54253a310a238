//! `eceprobe-agent check` and ECE's Java (issue 14, first slice): the line before the
//! table and the `--json` `java` object, with a trust store keytool built, without any Java,
//! and with a configured store that cannot be read (a configuration error, exit 2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

use eceprobe_testlab::{LabConfig, Testlab};

async fn agent(args: &[String], java_home_env: Option<&Path>) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_eceprobe-agent"));
    cmd.args(args).env("ECEPROBE_JAVA_CANDIDATES", "");
    match java_home_env {
        Some(home) => cmd.env("JAVA_HOME", home),
        None => cmd.env_remove("JAVA_HOME"),
    };
    cmd.output().await.expect("the agent runs")
}

use eceprobe_testlab::jdk::keytool;

/// `kind`: JKS, PKCS12 (keytool's default: certificates encrypted under `pass`), or
/// PKCS12-open (no encryption, no MAC, as the JDK ships its cacerts since 18).
fn import(tool: &Path, store: &Path, kind: &str, pass: &str, alias: &str, pem: &Path) {
    std::fs::create_dir_all(store.parent().unwrap()).unwrap();
    let mut keytool = std::process::Command::new(tool);
    let kind = match kind {
        "PKCS12-open" => {
            keytool.args([
                "-J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE",
                "-J-Dkeystore.pkcs12.macAlgorithm=NONE",
            ]);
            "PKCS12"
        }
        other => other,
    };
    let out = keytool
        .args(["-importcert", "-noprompt", "-storetype", kind, "-keystore"])
        .arg(store)
        .args(["-storepass", pass, "-alias", alias, "-file"])
        .arg(pem)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn text(o: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn without_java_check_says_so_in_one_line_and_runs_as_before() {
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let mut args = lab.agent_check_args_judging_java(&ca);
    args.extend(["--only", "imap"].map(String::from));
    let out = agent(&args, None).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let first = t.lines().nth(1).unwrap();
    assert_eq!(
        first,
        "Java: none found (set [ece] java_home to the runtime ECE runs on); the checks below are judged as this host sees them"
    );
    args.push("--json".into());
    let out = agent(&args, None).await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["java"]["status"], "none", "{doc}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_names_the_store_jsse_picks() {
    let Some(tool) = keytool() else { return };
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let mut args = lab.agent_check_args_judging_java(&ca);
    args.extend(["--only", "imap"].map(String::from));

    // A Java 8 JDK from JAVA_HOME: jre/lib/security/cacerts, JKS.
    let jdk8 = dir.path().join("jdk8");
    let cacerts8 = jdk8.join("jre/lib/security/cacerts");
    import(&tool, &cacerts8, "JKS", "changeit", "labca", &ca);
    let out = agent(&args, Some(&jdk8)).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert_eq!(
        t.lines().nth(1).unwrap(),
        format!(
            "Java trust store: {} (JKS, 1 trusted certificate), as JSSE picks it for {} (JAVA_HOME)",
            cacerts8.display(),
            jdk8.display()
        )
    );

    // A JDK 17 given by --java-home: jssecacerts beside cacerts wins, PKCS12 without a
    // password as the JDK's own (JSSE reads it without one: no trustStorePassword here).
    let jdk17 = dir.path().join("jdk17");
    let sec = jdk17.join("lib/security");
    let interceptor = dir.path().join("interceptor-ca.pem");
    for (store, alias, pem) in [
        ("cacerts", "labca", &ca),
        ("jssecacerts", "labca", &ca),
        ("jssecacerts", "again", &interceptor),
    ] {
        import(
            &tool,
            &sec.join(store),
            "PKCS12-open",
            "changeit",
            alias,
            pem,
        );
    }
    let mut a = args.clone();
    a.extend([
        "--java-home".into(),
        jdk17.display().to_string(),
        "--json".into(),
    ]);
    let out = agent(&a, Some(&jdk8)).await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let java = &doc["java"];
    assert_eq!(java["status"], "found", "{doc}");
    assert_eq!(java["format"], "PKCS12");
    assert_eq!(java["origin"], "java_home");
    assert_eq!(java["trusted"], 2);
    assert_eq!(java["path"], sec.join("jssecacerts").display().to_string());
    let subjects: Vec<&str> = java["anchors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(java["anchors"][0]["sha256"].as_str().unwrap().len() == 64);

    // keytool's default PKCS12 (certificates encrypted under changeit): ECE's JVM without
    // -Djavax.net.ssl.trustStorePassword reads none of them, and the line says so; with it
    // in java_options, both.
    let jssecacerts = sec.join("jssecacerts");
    std::fs::remove_file(&jssecacerts).unwrap();
    for (alias, pem) in [
        ("labca", ca.clone()),
        ("again", dir.path().join("interceptor-ca.pem")),
    ] {
        import(&tool, &jssecacerts, "PKCS12", "changeit", alias, &pem);
    }
    // ece-java too (the `--only imap` above leaves it out).
    a.extend(["--only".into(), "ece-java".into()]);
    let out = agent(&a, None).await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["java"]["trusted"], 0, "{doc}");
    assert_eq!(doc["java"]["encrypted"]["certificates"], 2, "{doc}");
    let line = doc["java"]["summary"].as_str().unwrap();
    assert!(
        line.contains("(PKCS12, 0 trusted certificates)")
            && line
                .contains("its 2 certificates are encrypted and ECE's Java is given no password"),
        "{line}"
    );
    // ece-java: Microsoft's roots missing as ECE's Java reads the store; importing them
    // would not help, so no keytool command.
    let checks = doc["report"]["checks"].as_array().unwrap();
    let ece_java = checks.iter().find(|c| c["check"] == "ece-java").unwrap();
    let detail = ece_java["warnings"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("as ECE's Java reads it, lacks")
            && detail.contains("encrypted")
            && !detail.contains("keytool -importcert"),
        "{detail}"
    );
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        "[ece]\njava_options = \"-Xmx1g -Djavax.net.ssl.trustStorePassword=changeit\"\n",
    )
    .unwrap();
    a.extend(["--config".into(), config.display().to_string()]);
    let out = agent(&a, None).await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["java"]["trusted"], 2, "{doc}");
    assert!(doc["java"].get("encrypted").is_none(), "{doc}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configured_store_that_cannot_be_read_is_a_configuration_error() {
    let Some(tool) = keytool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let store = dir.path().join("ece-trust.p12");
    import(&tool, &store, "PKCS12", "Real-Pa55", "labca", &ca);
    let pass = dir.path().join("truststore.pass");
    std::fs::write(&pass, "Wrong-Pa55\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        "[ece]\njava_truststore = \"ece-trust.p12\"\njava_truststore_password_file = \"truststore.pass\"\n",
    )
    .unwrap();
    let mut args = lab.agent_check_args_judging_java(&ca);
    args.extend([
        "--only".into(),
        "imap".into(),
        "--config".into(),
        config.display().to_string(),
    ]);
    let out = agent(&args, None).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains(&format!(
            "wrong password for the Java trust store {}",
            store.display()
        )),
        "{t}"
    );
    assert!(t.contains("java_truststore_password_file"), "{t}");
    assert!(!t.contains("Wrong-Pa55") && !t.contains("Real-Pa55"), "{t}");

    // The right password: read, and the line says it was configured.
    std::fs::write(&pass, "Real-Pa55\n").unwrap();
    let out = agent(&args, None).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.lines()
            .nth(1)
            .unwrap()
            .ends_with("(PKCS12, 1 trusted certificate), as configured (java_truststore)"),
        "{t}"
    );
}

/// A store only discovered (JAVA_HOME) that cannot be read is said on the line; the checks
/// run as without Java (exit 0): the administrator named nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_discovered_store_that_cannot_be_read_is_said_not_fatal() {
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let home = dir.path().join("jdk");
    let cacerts = home.join("lib/security/cacerts");
    std::fs::create_dir_all(cacerts.parent().unwrap()).unwrap();
    std::fs::copy(&ca, &cacerts).unwrap();
    let mut args = lab.agent_check_args_judging_java(&ca);
    args.extend(["--only", "imap"].map(String::from));
    let out = agent(&args, Some(&home)).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert_eq!(
        t.lines().nth(1).unwrap(),
        format!(
            "Java trust store: {} is a PEM file, not a Java trust store: import it with keytool -importcert into the runtime's cacerts, or set java_truststore to that cacerts",
            cacerts.display()
        )
    );
    args.push("--json".into());
    let out = agent(&args, Some(&home)).await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["java"]["status"], "error", "{doc}");
    assert_eq!(doc["java"]["configured"], false, "{doc}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ece_java_judges_the_runtimes_tls_and_its_stores_roots() {
    let Some(tool) = keytool() else { return };
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    // A Java 17 runtime whose java.security disables TLS 1.2, with the lab's root only (a
    // JKS cacerts, as Java 17 ships it: read without a password as JSSE does).
    let home = dir.path().join("jre17");
    import(
        &tool,
        &home.join("lib/security/cacerts"),
        "JKS",
        "changeit",
        "labca",
        &ca,
    );
    std::fs::write(home.join("release"), "JAVA_VERSION=\"17.0.9\"\n").unwrap();
    let security = home.join("conf/security/java.security");
    std::fs::create_dir_all(security.parent().unwrap()).unwrap();
    std::fs::write(
        &security,
        "jdk.tls.disabledAlgorithms=SSLv3, TLSv1, TLSv1.1, \\\n    TLSv1.2, RC4, DES\n",
    )
    .unwrap();
    let mut args = lab.agent_check_args_judging_java(&ca);
    args.extend(
        ["--only", "imap", "--only", "ece-java", "--java-home"]
            .map(String::from)
            .into_iter()
            .chain([home.display().to_string()]),
    );
    let out = agent(&args, None).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.lines()
            .nth(2)
            .unwrap()
            .starts_with(&format!("Java runtime: Java 17.0.9 ({}):", home.display())),
        "{t}"
    );

    args.push("--json".into());
    let out = agent(&args, None).await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = doc["report"]["checks"].as_array().unwrap();
    let of = |id: &str| checks.iter().find(|c| c["check"] == id).unwrap();
    // The chain is the lab's, whose root the store has: ECE's Java trusts it.
    assert_eq!(of("imap")["outcome"], "pass", "{doc}");
    let java = of("ece-java");
    assert_eq!(java["outcome"], "fail", "{java}");
    assert_eq!(java["failure"]["kind"], "java_tls_incompatible");
    let detail = java["failure"]["detail"].as_str().unwrap();
    assert!(detail.contains(&security.display().to_string()), "{detail}");
    assert!(detail.contains("TLSv1.2"), "{detail}");
    // Microsoft's seven roots are all missing: named, with the command for this store.
    let warning = &java["warnings"][0];
    assert_eq!(warning["kind"], "java_truststore_incomplete", "{java}");
    let w = warning["detail"].as_str().unwrap();
    assert!(
        w.contains("lacks 7 of the 7 roots Microsoft publishes"),
        "{w}"
    );
    assert!(
        w.contains("'DigiCert Global Root G2' (SHA-1 DF3C24F9BFD666761B268073FE06D1CC8D4F82A4)"),
        "{w}"
    );
    assert!(
        w.contains(&format!(
            "-alias digicertglobalrootg2 -file ROOT.crt -keystore \"{}\" -storepass changeit (ROOT.crt from https://cacerts.digicert.com/DigiCertGlobalRootG2.crt",
            home.join("lib/security/cacerts").display()
        )),
        "{w}"
    );
    assert_eq!(doc["java_runtime"]["version"]["text"], "17.0.9", "{doc}");
}
