//! The referee of issue 14: ECE is a Java program, so an endpoint is good for ECE when a real
//! JVM says so. Each case meets one lab IMAP endpoint with one trust store twice: through
//! `tests/java/TlsProbe.java` (JSSE's own trust and path building, SNI and the HTTPS name
//! check) and through `eceprobe-agent check --only imap --json` told of the same store and
//! of the JVM's options (`[ece] java_options`, as an administrator copies ECE's). The
//! agent's verdict must be the JVM's, and a failure must carry the kind that names its cause.
//! The JVM's side is asserted first, so a failure on the agent's side is the agent's.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The throwaway Java runtime of cases d and f is built with symlinks and a Linux JDK's layout.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;

use eceprobe_testlab::{Endpoint, Fault, LabConfig, Testlab};

/// What both sides must say: the handshake works, or it fails, the JVM's line holding these
/// words and the agent's failure this kind.
#[derive(Clone, Copy, Debug)]
enum Verdict {
    Ok,
    Fails(&'static str, &'static str),
}

/// How the agent is told of ECE's Java (`--java-truststore FILE`, `--java-home DIR`), and
/// the store it must then read.
struct Told<'a> {
    flag: &'static str,
    value: &'a Path,
    store: &'a Path,
}

fn truststore(store: &Path) -> Told<'_> {
    Told {
        flag: "--java-truststore",
        value: store,
        store,
    }
}

fn java_home<'a>(home: &'a Path, store: &'a Path) -> Told<'a> {
    Told {
        flag: "--java-home",
        value: home,
        store,
    }
}

const PKIX: &str = "PKIX path building failed";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Jks,
    /// What keytool writes by default: certificates encrypted with the store's password.
    Pkcs12,
    /// Certificates in the clear and no MAC, as the JDK ships its cacerts since 18.
    Pkcs12Open,
}

const OPEN_PKCS12: [&str; 2] = [
    "-J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE",
    "-J-Dkeystore.pkcs12.macAlgorithm=NONE",
];

/// The JDK that compiles and runs the referee: javac on PATH, java and keytool beside it.
struct Jdk {
    java: PathBuf,
    keytool: PathBuf,
    classes: PathBuf,
}

struct Referee {
    lab: Testlab,
    dir: tempfile::TempDir,
    ca: PathBuf,
    interceptor: PathBuf,
    jdk: Jdk,
}

impl Referee {
    /// A lab whose IMAP endpoint has `fault`, the lab's CA files and the compiled referee;
    /// None (the test skips, saying so) without javac.
    async fn start(fault: Fault) -> Option<Referee> {
        let javac = eceprobe_testlab::jdk::javac()?;
        // PATH holds a symlink (/usr/bin/javac); the JDK's bin/ is where it really lives.
        let bin = javac
            .canonicalize()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        let dir = tempfile::tempdir().unwrap();
        let classes = dir.path().join("classes");
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/java/TlsProbe.java");
        let out = Command::new(&javac)
            .arg("-d")
            .arg(&classes)
            .arg(src)
            .output()
            .unwrap();
        assert!(out.status.success(), "javac: {}", text(&out));
        let lab = Testlab::start(LabConfig::healthy().fault(Endpoint::Imap, fault))
            .await
            .unwrap();
        let (ca, interceptor) = lab.write_ca_files(dir.path()).unwrap();
        let jdk = Jdk {
            java: bin.join("java"),
            keytool: bin.join("keytool"),
            classes,
        };
        Some(Referee {
            lab,
            dir,
            ca,
            interceptor,
            jdk,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A trust store at `store`, password changeit, holding `pems`.
    fn store(&self, store: &Path, format: Format, pems: &[&Path]) {
        std::fs::create_dir_all(store.parent().unwrap()).unwrap();
        for (i, pem) in pems.iter().enumerate() {
            let mut keytool = Command::new(&self.jdk.keytool);
            if format == Format::Pkcs12Open {
                keytool.args(OPEN_PKCS12);
            }
            let kind = if format == Format::Jks {
                "JKS"
            } else {
                "PKCS12"
            };
            let out = keytool
                .args(["-importcert", "-noprompt", "-storetype", kind, "-keystore"])
                .arg(store)
                .args([
                    "-storepass",
                    "changeit",
                    "-alias",
                    &format!("ca{i}"),
                    "-file",
                ])
                .arg(pem)
                .output()
                .unwrap();
            assert!(out.status.success(), "keytool: {}", text(&out));
        }
    }

    /// The launcher of a runtime at `home` whose java.home is `home`, and no JVM options; or,
    /// where this JDK cannot be laid out so, the real launcher told `fallback` (the store
    /// the runtime would pick) without a password, which JSSE reads the same way.
    fn runtime(&self, home: &Path, fallback: &Path) -> (PathBuf, Vec<String>) {
        match throwaway_runtime(&self.jdk.java, home) {
            Some(java) => (java, Vec::new()),
            None => (
                self.jdk.java.clone(),
                vec![format!("-Djavax.net.ssl.trustStore={}", fallback.display())],
            ),
        }
    }

    /// The referee's one line: `java` (a runtime's launcher) with `props` against the endpoint.
    async fn jvm(&self, java: &Path, props: &[String]) -> String {
        let addr = self.lab.addrs(Endpoint::Imap)[0];
        let out = tokio::process::Command::new(java)
            .args(props)
            .arg("-cp")
            .arg(&self.jdk.classes)
            .arg("TlsProbe")
            .args([addr.ip().to_string(), addr.port().to_string()])
            .arg(Endpoint::Imap.host(self.lab.hostnames()))
            .output()
            .await
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(
            out.status.success(),
            line.starts_with("OK "),
            "the referee's exit code disagrees with its line: {}",
            text(&out)
        );
        line
    }

    /// The agent's `--json` told of ECE's Java as `told` says and of the JVM's options
    /// `props` ([ece] java_options, as the administrator copies ECE's), and nothing else:
    /// no JAVA_HOME, no usual places.
    async fn agent(&self, told: &Told<'_>, props: &[String]) -> serde_json::Value {
        let mut args = self.lab.agent_check_args_judging_java(&self.ca);
        args.extend(["--only", "imap", "--json", told.flag].map(String::from));
        args.push(told.value.display().to_string());
        if !props.is_empty() {
            let options = props.join(" ");
            assert!(!options.contains('\''), "{options}");
            let config = self.path("agent.toml");
            std::fs::write(&config, format!("[ece]\njava_options = '{options}'\n")).unwrap();
            args.extend(["--config".into(), config.display().to_string()]);
        }
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_eceprobe-agent"))
            .args(&args)
            .env("ECEPROBE_JAVA_CANDIDATES", "")
            .env_remove("JAVA_HOME")
            .output()
            .await
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("agent --json: {e}: {}", text(&out)))
    }

    /// One case: the JVM must say `expect`, then the agent, told of the same options, must
    /// agree and name the kind. The agent's `--json`, for what a case says more of.
    async fn judge(
        &self,
        case: &str,
        jvm: (&Path, &[String]),
        agent: Told<'_>,
        expect: Verdict,
    ) -> serde_json::Value {
        let said = self.jvm(jvm.0, jvm.1).await;
        eprintln!("{case}: JVM: {said}");
        match expect {
            Verdict::Ok => assert!(said.starts_with("OK TLS"), "{case}: JVM: {said}"),
            Verdict::Fails(words, _) => assert!(
                said.starts_with("FAIL ") && said.contains(words),
                "{case}: JVM: {said}"
            ),
        }
        let doc = self.agent(&agent, jvm.1).await;
        // The agent must judge by the store the JVM used, before anything else.
        let java = &doc["java"];
        let store = agent.store.display().to_string();
        let seen = (java["status"].as_str(), java["path"].as_str());
        assert_eq!(seen, (Some("found"), Some(&*store)), "{case}: {java:#}");
        let checks = doc["report"]["checks"].as_array().unwrap();
        let imap = checks.iter().find(|c| c["check"] == "imap").unwrap();
        let (outcome, kind) = (&imap["outcome"], &imap["failure"]["kind"]);
        eprintln!("{case}: agent: {outcome} {kind}");
        let context = format!("{case}: the JVM said {said:?}; the agent's imap check:\n{imap:#}");
        match expect {
            Verdict::Ok => assert_ne!(outcome, "fail", "{context}"),
            Verdict::Fails(_, want) => {
                assert_eq!(outcome, "fail", "{context}");
                assert_eq!(kind, want, "{context}");
            }
        }
        doc
    }

    /// -Djavax.net.ssl.trustStore (JSSE's first choice) naming `store`.
    fn props(store: &Path) -> Vec<String> {
        vec![
            format!("-Djavax.net.ssl.trustStore={}", store.display()),
            "-Djavax.net.ssl.trustStorePassword=changeit".into(),
        ]
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pkcs12_store_with_the_lab_root_passes() {
    let Some(r) = Referee::start(Fault::None).await else {
        return;
    };
    let store = r.path("trust.p12");
    r.store(&store, Format::Pkcs12, &[&r.ca]);
    let jvm = (r.jdk.java.as_path(), &Referee::props(&store)[..]);
    let agent = truststore(&store);
    r.judge("a (PKCS12, lab root)", jvm, agent, Verdict::Ok)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn b_a_jks_store_with_the_lab_root_passes() {
    let Some(r) = Referee::start(Fault::None).await else {
        return;
    };
    let store = r.path("trust.jks");
    r.store(&store, Format::Jks, &[&r.ca]);
    let jvm = (r.jdk.java.as_path(), &Referee::props(&store)[..]);
    let agent = truststore(&store);
    r.judge("b (JKS, lab root)", jvm, agent, Verdict::Ok).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn c_a_store_without_the_lab_root_is_java_untrusted() {
    let Some(r) = Referee::start(Fault::None).await else {
        return;
    };
    let store = r.path("trust.p12");
    r.store(&store, Format::Pkcs12, &[&r.interceptor]);
    let jvm = (r.jdk.java.as_path(), &Referee::props(&store)[..]);
    let agent = truststore(&store);
    let verdict = Verdict::Fails(PKIX, "java_untrusted");
    r.judge("c (PKCS12, no lab root)", jvm, agent, verdict)
        .await;
}

/// The JVM runs from the runtime folder with no options: JSSE alone picks jssecacerts.
/// Both stores are open PKCS12 (as the JDK's own cacerts), which JSSE reads without the
/// password it is not given here (see case f for keytool's default, encrypted, stores).
#[tokio::test(flavor = "multi_thread")]
async fn d_jssecacerts_beside_cacerts_wins() {
    let Some(r) = Referee::start(Fault::None).await else {
        return;
    };
    let home = r.path("jre");
    let security = home.join("lib/security");
    let jssecacerts = security.join("jssecacerts");
    let (java, props) = r.runtime(&home, &jssecacerts);
    r.store(&security.join("cacerts"), Format::Pkcs12Open, &[&r.ca]);
    r.store(&jssecacerts, Format::Pkcs12Open, &[&r.interceptor]);
    let agent = java_home(&home, &jssecacerts);
    let verdict = Verdict::Fails(PKIX, "java_untrusted");
    let case = "d (jssecacerts without the lab root, cacerts with it)";
    r.judge(case, (&java, &props), agent, verdict).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e_a_missing_intermediate_is_chain_incomplete() {
    let Some(r) = Referee::start(Fault::MissingIntermediate).await else {
        return;
    };
    let store = r.path("trust.p12");
    r.store(&store, Format::Pkcs12, &[&r.ca]);
    let jvm = (r.jdk.java.as_path(), &Referee::props(&store)[..]);
    let agent = truststore(&store);
    let verdict = Verdict::Fails(PKIX, "chain_incomplete");
    r.judge("e (leaf alone, lab root)", jvm, agent, verdict)
        .await;
}

/// A runtime's cacerts written by keytool (PKCS12, certificates encrypted under changeit)
/// and no javax.net.ssl.trustStorePassword: JSSE loads it without a password, skips the
/// encrypted certificates and has no anchor at all ("the trustAnchors parameter must be
/// non-empty"), lab root or not. The agent, given no password either, must see none and
/// say why.
#[tokio::test(flavor = "multi_thread")]
async fn f_an_encrypted_pkcs12_cacerts_without_its_password_trusts_nothing() {
    let Some(r) = Referee::start(Fault::None).await else {
        return;
    };
    let home = r.path("jre");
    let cacerts = home.join("lib/security/cacerts");
    let (java, props) = r.runtime(&home, &cacerts);
    r.store(&cacerts, Format::Pkcs12, &[&r.ca]);
    let agent = java_home(&home, &cacerts);
    let verdict = Verdict::Fails(
        "the trustAnchors parameter must be non-empty",
        "java_untrusted",
    );
    let case = "f (keytool's PKCS12 cacerts with the lab root, no password)";
    let doc = r.judge(case, (&java, &props), agent, verdict).await;
    let java = &doc["java"];
    assert_eq!(java["trusted"], 0, "{java:#}");
    let summary = java["summary"].as_str().unwrap();
    assert!(
        summary.contains("(PKCS12, 0 trusted certificates)")
            && summary.contains("its certificate is encrypted and ECE's Java is given no password (no -Djavax.net.ssl.trustStorePassword in java_options), so it does not trust it"),
        "{summary}"
    );
    // The refusal says why, not "import the root" (the store holds it, encrypted).
    let checks = doc["report"]["checks"].as_array().unwrap();
    let imap = checks.iter().find(|c| c["check"] == "imap").unwrap();
    let detail = imap["failure"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("has no certificate it can read that the chain")
            && detail.contains("its certificate is encrypted")
            && !detail.contains("keytool -importcert"),
        "{detail}"
    );
}

/// A Java runtime at `home` (its launcher returned) whose java.home is `home`, so JSSE looks
/// for `home/lib/security/jssecacerts` as in a real installation; None (said) when this JDK
/// cannot be laid out so. The launcher finds its home from its own path and the VM from
/// the real path of libjvm.so, so those two are real files here (libjvm.so hard-linked,
/// copied across file systems); the rest links to the real runtime. lib/security links the
/// real files but cacerts and jssecacerts, which the test writes (never through a link).
fn throwaway_runtime(java: &Path, home: &Path) -> Option<PathBuf> {
    let real = PathBuf::from(java_home_of(java));
    let libjvm = real.join("lib/server/libjvm.so");
    if !libjvm.is_file() {
        eprintln!("no {}: the JVM is told the store instead", libjvm.display());
        return None;
    }
    let link_all = |from: &Path, to: &Path, except: &[&str]| {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if !except.iter().any(|e| entry.file_name() == *e) {
                std::os::unix::fs::symlink(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    };
    link_all(&real, home, &["bin", "lib"]);
    link_all(
        &real.join("lib"),
        &home.join("lib"),
        &["server", "security"],
    );
    link_all(
        &real.join("lib/server"),
        &home.join("lib/server"),
        &["libjvm.so"],
    );
    let security = real.join("lib/security");
    link_all(
        &security,
        &home.join("lib/security"),
        &["cacerts", "jssecacerts"],
    );
    let home_jvm = home.join("lib/server/libjvm.so");
    if std::fs::hard_link(&libjvm, &home_jvm).is_err() {
        std::fs::copy(&libjvm, &home_jvm).unwrap();
    }
    std::fs::create_dir_all(home.join("bin")).unwrap();
    let launcher = home.join("bin/java");
    std::fs::copy(real.join("bin/java"), &launcher).unwrap();
    let seen = java_home_of(&launcher);
    if Path::new(&seen) != home.canonicalize().unwrap() {
        eprintln!(
            "the runtime at {} says java.home = {seen}: the JVM is told the store instead",
            home.display()
        );
        return None;
    }
    Some(launcher)
}

/// The java.home a launcher's JVM reports.
fn java_home_of(java: &Path) -> String {
    let out = Command::new(java)
        .args(["-XshowSettings:properties", "-version"])
        .output()
        .unwrap();
    let settings = String::from_utf8_lossy(&out.stderr);
    let home = settings
        .lines()
        .find_map(|l| l.trim().strip_prefix("java.home = "))
        .unwrap_or_else(|| panic!("no java.home from {}: {settings}", java.display()));
    home.to_string()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
