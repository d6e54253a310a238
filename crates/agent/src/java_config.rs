//! `[ece]` in agent.toml and `--java-home` / `--java-truststore`: the Java runtime ECE runs
//! on and its trust store (issue 14; see `eceprobe_checks::java`).
//!
//! `check` prints which store it read, or that no Java was found. A runtime or store the
//! administrator named that cannot be found or read is a configuration error (exit 2, nothing
//! probed), as an unreadable `[trust] ca_files` is; a store only discovered that cannot be
//! read is said in that line and the checks run as without Java.

use std::path::{Path, PathBuf};

use eceprobe_checks::java::verdict::{self, RuntimeJudgement};
use eceprobe_checks::java::{self, Host, JavaRequest, JavaRuntime, JavaView};
use eceprobe_checks::CheckReport;
use eceprobe_checks::JavaTrustInput;
use serde::Deserialize;

use crate::config_error::{invalid, ConfigError};

mod hello;
mod watch;

pub use hello::{fill_hello, for_run, java_runtime_line};
pub use watch::JavaWatch;

/// `[ece]`: `java_home`, `java_truststore`, `java_truststore_password_file`, `java_options`,
/// `ignore_java`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EceConfig {
    /// The Java runtime ECE runs on (its home: the folder holding `lib/security/`).
    pub java_home: Option<PathBuf>,
    /// The trust store ECE's Java uses, when not the runtime's own (JKS or PKCS12).
    pub java_truststore: Option<PathBuf>,
    /// A secret file holding the trust store's password: the one ECE's JVM is given with
    /// `-Djavax.net.ssl.trustStorePassword`. None (and none in `java_options`): the store is
    /// read as JSSE reads it without a password (no changeit assumed): JKS unchecked, PKCS12
    /// without its encrypted certificates.
    pub java_truststore_password_file: Option<PathBuf>,
    /// The JVM options ECE's services start with; `-Djavax.net.ssl.trustStore=` and
    /// `-Djavax.net.ssl.trustStorePassword=` in them count as JSSE counts them.
    pub java_options: Option<String>,
    /// Judge the checks as this host sees them only (`--no-java`): this host's Java is not
    /// ECE's, or a lab whose roots no Java store has.
    #[serde(default)]
    pub ignore_java: bool,
}

impl EceConfig {
    pub(crate) fn anchor_paths(&mut self, base: &Path) {
        for p in [
            &mut self.java_home,
            &mut self.java_truststore,
            &mut self.java_truststore_password_file,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

/// The resolved `[ece]` Java settings.
#[derive(Debug, Default, Clone)]
pub struct JavaConfig {
    pub request: JavaRequest,
    pub password_file: Option<PathBuf>,
    /// `--no-java` / `[ece] ignore_java`: no Java looked for, nothing judged by it.
    pub ignore: bool,
    /// Whether the `ece-java` check runs (a `--only` / `checks` filter may leave it out;
    /// the chains are judged by ECE's Java all the same).
    pub run_check: bool,
}

/// The file's `[ece]` with `--java-home` / `--java-truststore` on top.
pub fn resolve(
    file: EceConfig,
    java_home: Option<PathBuf>,
    java_truststore: Option<PathBuf>,
    no_java: bool,
) -> Result<JavaConfig, ConfigError> {
    let ignore = no_java || file.ignore_java;
    if ignore && (file.java_home.is_some() || file.java_truststore.is_some()) {
        return Err(invalid(
            "ece.ignore_java",
            "contradicts ece.java_home / ece.java_truststore: remove ignore_java (and --no-java) to judge by ECE's Java, or the Java keys to judge as this host only",
        ));
    }
    let request = JavaRequest {
        java_home: java_home.or(file.java_home),
        truststore: java_truststore.or(file.java_truststore),
        java_options: file.java_options.filter(|o| !o.trim().is_empty()),
    };
    if let Some(home) = &request.java_home {
        if !home.is_dir() {
            return Err(invalid(
                "ece.java_home",
                format!(
                    "{} is not a folder: set it to the Java runtime ECE runs on (the folder holding lib/security/)",
                    home.display()
                ),
            ));
        }
    }
    Ok(JavaConfig {
        request,
        password_file: file.java_truststore_password_file,
        ignore,
        run_check: true,
    })
}

/// Finds and reads ECE's trust store. Err: a configured runtime, store or password file
/// that cannot be used (the sentence names it and the fix).
pub fn view(cfg: &JavaConfig) -> Result<JavaView, ConfigError> {
    if cfg.ignore {
        return Ok(JavaView::None {
            summary: "Java: not looked for (--no-java / [ece] ignore_java); the checks below are judged as this host sees them".into(),
        });
    }
    let password = match &cfg.password_file {
        Some(path) => Some(crate::secret_file::read(path).map_err(|e| {
            invalid(
                "ece.java_truststore_password_file",
                format!("{e}; {}", e.hint()),
            )
        })?),
        None => None,
    };
    let view = java::find(
        &cfg.request,
        &Host::from_env(),
        password.as_ref().map(|s| s.expose()),
    );
    match &view {
        JavaView::Error {
            configured: true,
            summary,
        } => {
            let r = &cfg.request;
            let key = if r.truststore.is_some() {
                "ece.java_truststore"
            } else if r.java_home.is_none() {
                "ece.java_options"
            } else {
                "ece.java_home"
            };
            Err(invalid(key, summary.clone()))
        }
        _ => Ok(view),
    }
}

/// ECE's Java as the probes use it, read once at start.
#[derive(Debug, Clone)]
pub struct EceJava {
    /// What `check` says in its line, and `--json`'s `java`.
    pub view: JavaView,
    /// The trust store every chain is judged by too ([`eceprobe_checks::TrustOptions`]).
    pub trust: Option<JavaTrustInput>,
    /// The `ece-java` check (no network): None where no store was read.
    pub check: Option<CheckReport>,
    /// The runtime's version and TLS, read from its `release` and `java.security`, when its
    /// home is known: Err says why they could not be read (not a failure).
    pub runtime: Option<Result<JavaRuntime, String>>,
}

impl EceJava {
    /// The line `check` prints under the trust store's: the runtime's version and TLS.
    pub fn runtime_line(&self) -> Option<String> {
        match self.runtime.as_ref()? {
            Ok(rt) => Some(format!("Java runtime: {}", java::runtime_summary(rt))),
            Err(e) => Some(format!(
                "Java runtime: its version and TLS settings cannot be told: {e}"
            )),
        }
    }
}

/// Finds and reads ECE's Java (see [`view`]) and judges it. Err: a configured runtime, store
/// or password file that cannot be used.
pub fn load(cfg: &JavaConfig) -> Result<EceJava, ConfigError> {
    let view = view(cfg)?;
    let storepass = storepass(&view, cfg);
    let trust = match &view {
        JavaView::Found {
            path,
            anchors,
            encrypted,
            ..
        } => Some(JavaTrustInput {
            store: path.clone(),
            anchors: anchors.iter().map(|a| a.der.clone()).collect(),
            storepass: storepass.clone(),
            unreadable: encrypted
                .as_ref()
                .map(|e| java::encrypted_words(e, anchors.len())),
        }),
        _ => None,
    };
    // The runtime's own files, where its home is known (not for a store named directly).
    let home = match &view {
        JavaView::Found {
            java_home: Some(home),
            ..
        } => Some(home.clone()),
        _ => None,
    };
    let runtime = home.map(|home| {
        java::read_runtime(&home, cfg.request.java_options.as_deref()).map_err(|e| e.to_string())
    });
    let judgement = RuntimeJudgement {
        java_home: None,
        tls_problems: match &runtime {
            Some(Ok(rt)) => java::tls_problems(rt),
            _ => Vec::new(),
        },
    };
    let check = match cfg.run_check {
        true => verdict::evaluate(&view, &storepass, &judgement),
        false => None,
    };
    Ok(EceJava {
        view,
        trust,
        check,
        runtime,
    })
}

/// `keytool`'s password argument for the store: where the password is, never the password.
fn storepass(view: &JavaView, cfg: &JavaConfig) -> String {
    let integrity_checked = matches!(
        view,
        JavaView::Found {
            integrity_checked: true,
            ..
        }
    );
    let in_options = cfg
        .request
        .java_options
        .as_deref()
        .and_then(|o| java::discover::java_property(o, "javax.net.ssl.trustStorePassword"))
        .is_some();
    match (&cfg.password_file, in_options, integrity_checked) {
        (Some(file), _, _) => format!("-storepass:file \"{}\"", file.display()),
        (None, true, _) => {
            "-storepass <the javax.net.ssl.trustStorePassword of java_options>".into()
        }
        (None, false, false) => "-storepass <the store's password>".into(),
        (None, false, true) => "-storepass changeit".into(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ece_keys_parse_anchor_and_the_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("jdk");
        std::fs::create_dir_all(&home).unwrap();
        let toml = "[ece]\njava_home = \"jdk\"\njava_truststore = \"t.p12\"\njava_truststore_password_file = \"p\"\njava_options = \"-Djavax.net.ssl.trustStore=/x\"\n";
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, toml).unwrap();
        let file = crate::config::load_file(&path).unwrap();
        assert_eq!(file.ece.java_home.as_deref(), Some(home.as_path()));
        assert_eq!(
            file.ece.java_truststore_password_file.as_deref(),
            Some(dir.path().join("p").as_path())
        );
        let cfg = resolve(file.ece, None, Some(PathBuf::from("flag.jks")), false).unwrap();
        assert_eq!(cfg.request.truststore, Some(PathBuf::from("flag.jks")));
        assert_eq!(cfg.request.java_home, Some(home));
        assert!(cfg.request.configured());

        let missing = EceConfig {
            java_home: Some(dir.path().join("nope")),
            ..Default::default()
        };
        let e = resolve(missing, None, None, false).unwrap_err().to_string();
        assert!(
            e.starts_with("ece.java_home: ") && e.contains("not a folder"),
            "{e}"
        );
        assert!(toml::from_str::<crate::config::FileConfig>("[ece]\njava = 1\n").is_err());
    }
}
