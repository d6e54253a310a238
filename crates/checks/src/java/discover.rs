//! Finding the trust store ECE's Java uses, by JSSE's own rules (M365-FACTS.md, "How ECE's
//! Java decides trust"):
//!
//! 1. a trust store named in the configuration (`[ece] java_truststore`, `--java-truststore`);
//! 2. `-Djavax.net.ssl.trustStore=...` in the runtime's options (`[ece] java_options`), with
//!    `-Djavax.net.ssl.trustStorePassword=...` beside it;
//! 3. in the runtime's home: `lib/security/jssecacerts`, else `lib/security/cacerts`, and on a
//!    Java 8 JDK the same under `jre/`.
//!
//! The home is `[ece] java_home` / `--java-home`; on Windows, else the Java of ECE's Windows
//! services as the registry records it ([`super::winsvc`]); else the process environment's
//! JAVA_HOME; else the first of a short list of usual places holding a trust store
//! ([`Host::from_env`]).
//! [`locate`] is pure over the paths it is given, so tests lay out a JDK in a temp dir.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::oauth::Secret;

/// What the configuration says about ECE's Java (all optional). Its Debug leaves the JVM
/// options out: they may carry the trust store's password.
#[derive(Default, Clone)]
pub struct JavaRequest {
    pub java_home: Option<PathBuf>,
    pub truststore: Option<PathBuf>,
    /// The JVM options ECE's services start with, e.g. "-Xmx4g -Djavax.net.ssl.trustStore=...".
    pub java_options: Option<String>,
}

impl std::fmt::Debug for JavaRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JavaRequest")
            .field("java_home", &self.java_home)
            .field("truststore", &self.truststore)
            .field("java_options", &self.java_options.as_ref().map(|_| "(set)"))
            .finish()
    }
}

impl JavaRequest {
    /// True when the administrator named a runtime or a store: then a failure to find or
    /// read it is an error, not "no Java here".
    pub fn configured(&self) -> bool {
        self.java_home.is_some()
            || self.truststore.is_some()
            || self
                .java_options
                .as_deref()
                .and_then(|o| java_property(o, TRUSTSTORE_PROP))
                .is_some()
    }
}

/// Where the host says Java is: ECE's services' Java, JAVA_HOME and the usual places to look.
#[derive(Debug, Default, Clone)]
pub struct Host {
    /// ECE's Windows services and the runtime home each runs on, as the registry records it
    /// (service's display name, home), sorted by service key name; empty elsewhere.
    pub services: Vec<(String, PathBuf)>,
    pub java_home_env: Option<PathBuf>,
    /// Runtime homes to try, in order, when neither the configuration nor JAVA_HOME names one.
    pub candidates: Vec<PathBuf>,
}

impl Host {
    /// On Windows the Java of ECE's services ([`super::winsvc::services`]); the process
    /// environment's JAVA_HOME; and the usual places: on Linux
    /// `/usr/lib/jvm/default-java`, then every `/usr/lib/jvm/*` (highest name first); on
    /// Windows every `C:\Program Files\Java\*` (highest name first).
    /// `ECEPROBE_JAVA_CANDIDATES` (a path list, possibly empty) replaces the usual places.
    pub fn from_env() -> Host {
        #[cfg(windows)]
        let services = super::winsvc::services();
        #[cfg(not(windows))]
        let services = Vec::new();
        let java_home_env = std::env::var_os("JAVA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        if let Some(list) = std::env::var_os("ECEPROBE_JAVA_CANDIDATES") {
            return Host {
                services,
                java_home_env,
                candidates: std::env::split_paths(&list)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect(),
            };
        }
        let mut candidates = Vec::new();
        #[cfg(windows)]
        candidates.extend(subdirs(Path::new(r"C:\Program Files\Java")));
        #[cfg(not(windows))]
        {
            candidates.push(PathBuf::from("/usr/lib/jvm/default-java"));
            candidates.extend(subdirs(Path::new("/usr/lib/jvm")));
        }
        Host {
            services,
            java_home_env,
            candidates,
        }
    }
}

/// The subdirectories of `dir`, highest name first (java-21 before java-17); at most 64.
pub fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .take(64)
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out.reverse();
    out
}

/// How the store was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `[ece] java_truststore` or `--java-truststore`.
    Configured,
    /// `-Djavax.net.ssl.trustStore` in `[ece] java_options`.
    JavaOption,
    /// The runtime's home, from `[ece] java_home` or `--java-home`.
    JavaHome,
    /// The runtime's home, from an ECE Windows service's registry entry (its `Environment`'s
    /// JAVA_HOME, else its `ImagePath`'s `bin\java.exe`); `service` is its display name.
    /// In JSON: `{"ece_service": {"service": "..."}}`.
    EceService { service: String },
    /// The runtime's home, from the environment's JAVA_HOME.
    JavaHomeEnv,
    /// The runtime's home, found in a usual place.
    Discovered,
}

/// The trust store to read, and why it is that one.
#[derive(Debug, Clone)]
pub struct Located {
    pub path: PathBuf,
    pub origin: Origin,
    /// The runtime's home the store belongs to, when chosen through one.
    pub java_home: Option<PathBuf>,
    /// `-Djavax.net.ssl.trustStorePassword` from the options, when given there.
    pub option_password: Option<Secret>,
}

/// A configured runtime or store that is not there.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiscoverError {
    #[error(
        "the Java trust store {0} does not exist: set java_truststore to the file ECE's Java uses"
    )]
    NoStore(PathBuf),
    #[error("{0} holds no trust store (lib/security/jssecacerts or cacerts, or jre/lib/security/ on Java 8): set java_home to the runtime ECE runs on, or java_truststore to its trust store")]
    NoStoreInHome(PathBuf),
}

pub(crate) const TRUSTSTORE_PROP: &str = "javax.net.ssl.trustStore";
pub(crate) const PASSWORD_PROP: &str = "javax.net.ssl.trustStorePassword";

/// The value of `-DNAME=VALUE` in JVM options (the last one wins, as in Java); a value may
/// be double-quoted to hold spaces.
pub fn java_property(options: &str, name: &str) -> Option<String> {
    let mut found = None;
    for word in split_options(options) {
        if let Some(rest) = word.strip_prefix("-D") {
            if let Some((k, v)) = rest.split_once('=') {
                if k == name {
                    found = Some(v.to_string());
                }
            }
        }
    }
    found
}

/// Splits on whitespace, keeping double-quoted runs together (quotes removed).
fn split_options(options: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for ch in options.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

/// The store JSSE would use in the runtime `home`, if any: jssecacerts before cacerts, in
/// `lib/security/`, then in `jre/lib/security/` (a Java 8 JDK).
pub fn store_in_home(home: &Path) -> Option<PathBuf> {
    // Joined a component at a time, so a Windows path reads `C:\jdk\lib\security\cacerts`.
    [&["lib", "security"][..], &["jre", "lib", "security"][..]]
        .iter()
        .flat_map(|dir| {
            let dir: PathBuf = dir.iter().fold(home.to_path_buf(), |p, c| p.join(c));
            ["jssecacerts", "cacerts"].map(|f| dir.join(f))
        })
        .find(|p| p.is_file())
}

/// Chooses the trust store as JSSE would for the request on this host. Ok(None): no Java
/// found and none configured.
pub fn locate(req: &JavaRequest, host: &Host) -> Result<Option<Located>, DiscoverError> {
    let option_password = req
        .java_options
        .as_deref()
        .and_then(|o| java_property(o, PASSWORD_PROP))
        .map(Secret::new);
    let explicit = |path: &PathBuf, origin: Origin| {
        if path.is_file() {
            Ok(Some(Located {
                path: path.clone(),
                origin,
                java_home: req.java_home.clone(),
                option_password: option_password.clone(),
            }))
        } else {
            Err(DiscoverError::NoStore(path.clone()))
        }
    };
    if let Some(path) = &req.truststore {
        return explicit(path, Origin::Configured);
    }
    if let Some(path) = req
        .java_options
        .as_deref()
        .and_then(|o| java_property(o, TRUSTSTORE_PROP))
    {
        // Relative to ECE's working directory in Java; here it can only be taken as given.
        return explicit(&PathBuf::from(path), Origin::JavaOption);
    }
    let found = |home: &Path, origin: Origin| {
        store_in_home(home).map(|path| Located {
            path,
            origin,
            java_home: Some(home.to_path_buf()),
            option_password: option_password.clone(),
        })
    };
    if let Some(home) = &req.java_home {
        return found(home, Origin::JavaHome)
            .map(Some)
            .ok_or_else(|| DiscoverError::NoStoreInHome(home.clone()));
    }
    for (service, home) in &host.services {
        let origin = Origin::EceService {
            service: service.clone(),
        };
        if let Some(l) = found(home, origin) {
            return Ok(Some(l));
        }
    }
    if let Some(home) = &host.java_home_env {
        if let Some(l) = found(home, Origin::JavaHomeEnv) {
            return Ok(Some(l));
        }
    }
    Ok(host
        .candidates
        .iter()
        .find_map(|home| found(home, Origin::Discovered)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn jdk17_jssecacerts_beside_cacerts_wins() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("jdk-17");
        touch(&home.join("lib/security/cacerts"));
        let req = JavaRequest {
            java_home: Some(home.clone()),
            ..Default::default()
        };
        let l = locate(&req, &Host::default()).unwrap().unwrap();
        assert_eq!(l.path, home.join("lib/security/cacerts"));
        assert_eq!(l.origin, Origin::JavaHome);
        touch(&home.join("lib/security/jssecacerts"));
        let l = locate(&req, &Host::default()).unwrap().unwrap();
        assert_eq!(l.path, home.join("lib/security/jssecacerts"));
        assert_eq!(l.java_home.as_deref(), Some(home.as_path()));
    }

    #[test]
    fn jdk8_store_is_under_jre() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("jdk1.8.0_402");
        touch(&home.join("jre/lib/security/cacerts"));
        let host = Host {
            java_home_env: Some(home.clone()),
            ..Default::default()
        };
        let l = locate(&JavaRequest::default(), &host).unwrap().unwrap();
        assert_eq!(l.path, home.join("jre/lib/security/cacerts"));
        assert_eq!(l.origin, Origin::JavaHomeEnv);
        touch(&home.join("jre/lib/security/jssecacerts"));
        let l = locate(&JavaRequest::default(), &host).unwrap().unwrap();
        assert_eq!(l.path, home.join("jre/lib/security/jssecacerts"));
    }

    #[test]
    fn the_declared_property_and_the_configured_store_win() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("jdk");
        touch(&home.join("lib/security/cacerts"));
        let mine = dir.path().join("my store.jks");
        touch(&mine);
        let options = format!(
            "-Xmx2g -Djavax.net.ssl.trustStore=\"{}\" -Djavax.net.ssl.trustStorePassword=Zq9-secret",
            mine.display()
        );
        let mut req = JavaRequest {
            java_home: Some(home.clone()),
            truststore: None,
            java_options: Some(options),
        };
        assert!(req.configured());
        let l = locate(&req, &Host::default()).unwrap().unwrap();
        assert_eq!(l.path, mine);
        assert_eq!(l.origin, Origin::JavaOption);
        assert_eq!(
            l.option_password.as_ref().map(Secret::expose),
            Some("Zq9-secret")
        );
        assert!(!format!("{req:?} {l:?}").contains("Zq9-secret"));
        let explicit = dir.path().join("explicit.p12");
        touch(&explicit);
        req.truststore = Some(explicit.clone());
        let l = locate(&req, &Host::default()).unwrap().unwrap();
        assert_eq!(l.path, explicit);
        assert_eq!(l.origin, Origin::Configured);
    }

    #[test]
    fn configured_but_missing_is_an_error_and_nothing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty-home");
        std::fs::create_dir_all(&empty).unwrap();
        let req = JavaRequest {
            java_home: Some(empty.clone()),
            ..Default::default()
        };
        assert_eq!(
            locate(&req, &Host::default()).unwrap_err(),
            DiscoverError::NoStoreInHome(empty.clone())
        );
        let req = JavaRequest {
            truststore: Some(dir.path().join("nope")),
            ..Default::default()
        };
        assert!(matches!(
            locate(&req, &Host::default()),
            Err(DiscoverError::NoStore(_))
        ));
        // JAVA_HOME without a store falls through to the usual places; none: no Java.
        let host = Host {
            java_home_env: Some(empty.clone()),
            candidates: vec![dir.path().join("absent")],
            ..Default::default()
        };
        assert!(locate(&JavaRequest::default(), &host).unwrap().is_none());
        assert!(!JavaRequest::default().configured());
        let jdk = dir.path().join("jvm/java-21");
        touch(&jdk.join("lib/security/cacerts"));
        let host = Host {
            java_home_env: Some(empty),
            candidates: subdirs(&dir.path().join("jvm")),
            ..Default::default()
        };
        let l = locate(&JavaRequest::default(), &host).unwrap().unwrap();
        assert_eq!(l.origin, Origin::Discovered);
        assert_eq!(l.java_home, Some(jdk));
    }

    #[test]
    fn an_ece_service_s_java_comes_before_java_home() {
        let dir = tempfile::tempdir().unwrap();
        let env_home = dir.path().join("env-jdk");
        touch(&env_home.join("lib/security/cacerts"));
        let ece = dir.path().join("ece-jdk");
        touch(&ece.join("lib/security/cacerts"));
        let mut host = Host {
            services: vec![
                // A service whose Java holds no store falls through to the next.
                ("Cisco ECE Agent".into(), dir.path().join("gone")),
                ("Cisco ECE Services".into(), ece.clone()),
            ],
            java_home_env: Some(env_home.clone()),
            candidates: vec![],
        };
        let l = locate(&JavaRequest::default(), &host).unwrap().unwrap();
        assert_eq!(
            l.origin,
            Origin::EceService {
                service: "Cisco ECE Services".into()
            }
        );
        assert_eq!(l.java_home, Some(ece.clone()));
        assert_eq!(
            serde_json::to_value(&l.origin).unwrap(),
            serde_json::json!({"ece_service": {"service": "Cisco ECE Services"}})
        );
        // The configuration still wins over the services.
        let req = JavaRequest {
            java_home: Some(env_home.clone()),
            ..Default::default()
        };
        assert_eq!(
            locate(&req, &host).unwrap().unwrap().origin,
            Origin::JavaHome
        );
        host.services.clear();
        let l = locate(&JavaRequest::default(), &host).unwrap().unwrap();
        assert_eq!(l.origin, Origin::JavaHomeEnv);
    }

    #[test]
    fn java_options_parse() {
        let o = "-server -Djavax.net.ssl.trustStore=/a -Dother=1 -Djavax.net.ssl.trustStore=/b";
        assert_eq!(java_property(o, TRUSTSTORE_PROP).as_deref(), Some("/b"));
        assert_eq!(java_property(o, PASSWORD_PROP), None);
        assert_eq!(
            java_property("-Dx=\"C:\\Program Files\\a b\"", "x").as_deref(),
            Some("C:\\Program Files\\a b")
        );
    }
}
