//! `[ece]` in agent.toml and `--java-home` / `--java-truststore`: the Java runtime ECE runs
//! on and its trust store (issue 14; see `eceprobe_checks::java`).
//!
//! `check` prints which store it read, or that no Java was found. A runtime or store the
//! administrator named that cannot be found or read is a configuration error (exit 2, nothing
//! probed), as an unreadable `[trust] ca_files` is; a store only discovered that cannot be
//! read is said in that line and the checks run as without Java.

use std::path::{Path, PathBuf};

use eceprobe_checks::java::{self, Host, JavaRequest, JavaView};
use serde::Deserialize;

use crate::config::{invalid, ConfigError};

/// `[ece]`: `java_home`, `java_truststore`, `java_truststore_password_file`, `java_options`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EceConfig {
    /// The Java runtime ECE runs on (its home: the folder holding `lib/security/`).
    pub java_home: Option<PathBuf>,
    /// The trust store ECE's Java uses, when not the runtime's own (JKS or PKCS12).
    pub java_truststore: Option<PathBuf>,
    /// A secret file holding the trust store's password (default: Java's changeit).
    pub java_truststore_password_file: Option<PathBuf>,
    /// The JVM options ECE's services start with; `-Djavax.net.ssl.trustStore=` and
    /// `-Djavax.net.ssl.trustStorePassword=` in them count as JSSE counts them.
    pub java_options: Option<String>,
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
}

/// The file's `[ece]` with `--java-home` / `--java-truststore` on top.
pub fn resolve(
    file: EceConfig,
    java_home: Option<PathBuf>,
    java_truststore: Option<PathBuf>,
) -> Result<JavaConfig, ConfigError> {
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
    })
}

/// Finds and reads ECE's trust store. Err: a configured runtime, store or password file
/// that cannot be used (the sentence names it and the fix).
pub fn view(cfg: &JavaConfig) -> Result<JavaView, ConfigError> {
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
        let cfg = resolve(file.ece, None, Some(PathBuf::from("flag.jks"))).unwrap();
        assert_eq!(cfg.request.truststore, Some(PathBuf::from("flag.jks")));
        assert_eq!(cfg.request.java_home, Some(home));
        assert!(cfg.request.configured());

        let missing = EceConfig {
            java_home: Some(dir.path().join("nope")),
            ..Default::default()
        };
        let e = resolve(missing, None, None).unwrap_err().to_string();
        assert!(
            e.starts_with("ece.java_home: ") && e.contains("not a folder"),
            "{e}"
        );
        assert!(toml::from_str::<crate::config::FileConfig>("[ece]\njava = 1\n").is_err());
    }
}
