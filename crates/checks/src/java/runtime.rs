//! The TLS ECE's Java speaks (issue 14, item 4): a runtime's `release` (its version) and
//! `java.security` (its `jdk.tls.disabledAlgorithms`), with `-Djava.security.properties`,
//! `-Djdk.tls.client.protocols` and `-Dhttps.protocols` from ECE's JVM options, judged
//! against what Exchange Online requires (M365-FACTS.md, "Legacy TLS": TLS 1.2 with one of
//! six suites; TLS 1.3 on some services). Pure over the files it reads; [`jsse`] holds
//! JSSE's rule for what a disabled-algorithms entry disables, and where it was learnt.

mod jsse;
mod load;
mod props;
mod read;
#[cfg(test)]
mod referee;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_read;

use std::path::PathBuf;

use serde::Serialize;

use jsse::{Jsse, MICROSOFT_SUITES};
pub use read::read_runtime;

/// No runtime's `release` or `java.security` comes near this (17's java.security: 60 KB).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

const FIX: &str = "set [ece] java_home to the runtime ECE runs on";
const DISABLED: &str = "jdk.tls.disabledAlgorithms";
/// The protocol names JSSE knows (case-sensitive); any other in jdk.tls.client.protocols
/// makes the default SSLContext fail (seen on 17: "tlsv1.2 is not a supported SSL protocol
/// name").
const PROTOCOL_NAMES: [&str; 8] = [
    "SSLv2Hello",
    "SSLv3",
    "TLSv1",
    "TLSv1.1",
    "TLSv1.2",
    "TLSv1.3",
    "DTLSv1.0",
    "DTLSv1.2",
];

/// `JAVA_VERSION` from the release file: "17.0.15" is feature 17, update 15; "1.8.0_402"
/// is feature 8, update 402; "21" is feature 21 with no update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JavaVersion {
    pub feature: u32,
    pub update: Option<u32>,
    pub text: String,
}

/// What a runtime's files and ECE's JVM options say about its TLS.
#[derive(Debug, Clone, Serialize)]
pub struct JavaRuntime {
    pub java_home: PathBuf,
    pub version: Option<JavaVersion>,
    pub release_file: Option<PathBuf>,
    pub security_file: Option<PathBuf>,
    /// The file `-Djava.security.properties` names, when it was read.
    pub override_file: Option<PathBuf>,
    /// `-Djava.security.properties==FILE`: that file replaced the runtime's.
    pub override_replaces: bool,
    /// Files brought in by `include` lines (JDK 24+).
    pub included_files: Vec<PathBuf>,
    /// An `include` the JVM cannot follow, in words: it then has no security properties
    /// and no TLS.
    pub include_failure: Option<String>,
    /// The file that last set jdk.tls.disabledAlgorithms.
    pub disabled_source: Option<PathBuf>,
    /// jdk.tls.disabledAlgorithms, split and trimmed as JSSE does.
    pub disabled_algorithms: Vec<String>,
    /// `-Djdk.tls.client.protocols`, when set and not empty.
    pub client_protocols: Option<Vec<String>>,
    /// `-Dhttps.protocols` (HttpsURLConnection only), when set and not empty.
    pub https_protocols: Option<Vec<String>>,
    /// What was not taken into account, in words (an override file Java would not read...).
    pub notes: Vec<String>,
}

/// A runtime's folder that cannot be read as one.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{} could not be read ({source}): give this account read access to it, or {FIX}", .path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is larger than 1 MiB, far more than any Java runtime's own file: it was not read; {FIX}", .0.display())]
    TooLarge(PathBuf),
    #[error("{} is not a Java runtime: it has neither a release file nor a java.security (conf/security/, lib/security/ or jre/lib/security/); {FIX}", .0.display())]
    NotARuntime(PathBuf),
}

/// One of Microsoft's suites in this runtime.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteState {
    pub name: &'static str,
    pub tls13: bool,
    /// Usable: its protocol is on and no entry disables it.
    pub enabled: bool,
    /// The jdk.tls.disabledAlgorithms entries that disable it.
    pub disabled_by: Vec<String>,
}

impl JavaRuntime {
    /// Whether jdk.tls.disabledAlgorithms is known: the runtime's java.security was read, or
    /// a file replacing it was.
    pub fn settings_known(&self) -> bool {
        self.security_file.is_some() || (self.override_file.is_some() && self.override_replaces)
    }

    /// A runtime whose client offers no TLS 1.2 by default: JDK-7093640 ("Enable
    /// client-side TLS 1.2 by default") was fixed in 8, 7u111 and 6u121; before, a client
    /// offered TLS 1.0 at most. False when the version is not known.
    fn too_old(&self) -> bool {
        self.version.as_ref().is_some_and(|v| {
            let u = v.update.unwrap_or(0);
            v.feature <= 5 || (v.feature == 6 && u < 121) || (v.feature == 7 && u < 111)
        })
    }

    fn lists(&self, which: &Option<Vec<String>>, name: &str) -> bool {
        which.as_ref().is_some_and(|l| l.iter().any(|p| p == name))
    }

    /// jdk.tls.disabledAlgorithms entries this runtime's JSSE refuses (leaving it no TLS).
    fn refused_entries(&self) -> Vec<&str> {
        if !self.settings_known() {
            return Vec::new();
        }
        jsse::refused_patterns(&self.disabled_algorithms, Jsse::of(self.version.as_ref()))
    }

    /// Names in jdk.tls.client.protocols JSSE does not know (leaving it no TLS); Java 7 and
    /// earlier are not judged on them.
    fn unknown_protocols(&self) -> Vec<&str> {
        if self.too_old() {
            return Vec::new();
        }
        self.client_protocols
            .iter()
            .flatten()
            .filter(|p| !PROTOCOL_NAMES.contains(&p.as_str()))
            .map(String::as_str)
            .collect()
    }

    /// The default SSLContext cannot be made: no TLS connection at all.
    pub fn no_tls(&self) -> bool {
        self.include_failure.is_some()
            || !self.refused_entries().is_empty()
            || !self.unknown_protocols().is_empty()
    }

    /// TLS 1.2 on for ECE's sockets: not disabled, and offered by default (Java 8+) or named
    /// in jdk.tls.client.protocols.
    pub fn tls12(&self) -> bool {
        if self.no_tls()
            || !jsse::disabling_protocol(&self.disabled_algorithms, "TLSv1.2").is_empty()
        {
            return false;
        }
        match &self.client_protocols {
            Some(_) => self.lists(&self.client_protocols, "TLSv1.2"),
            None => !self.too_old(),
        }
    }

    /// TLS 1.3 on for ECE's sockets; None when the version is not known. JDK 11 offers it by
    /// default; 8u261 has it but its client offers it only when jdk.tls.client.protocols
    /// names it (JDK-8245485, 8u261's release note; later 8u changes not checked); 9, 10 and
    /// older 8s have none.
    pub fn tls13(&self) -> Option<bool> {
        let v = self.version.as_ref()?;
        let has = v.feature >= 11 || (v.feature == 8 && v.update.unwrap_or(0) >= 261);
        if !has
            || self.no_tls()
            || !jsse::disabling_protocol(&self.disabled_algorithms, "TLSv1.3").is_empty()
        {
            return Some(false);
        }
        Some(match &self.client_protocols {
            Some(_) => self.lists(&self.client_protocols, "TLSv1.3"),
            None => v.feature >= 11,
        })
    }

    /// Microsoft's eight suites as this runtime treats them.
    pub fn suites(&self) -> Vec<SuiteState> {
        let jsse = Jsse::of(self.version.as_ref());
        let (tls12, tls13) = (self.tls12(), self.tls13() == Some(true));
        MICROSOFT_SUITES
            .iter()
            .map(|s| {
                let by: Vec<String> = jsse::disabling_suite(&self.disabled_algorithms, s, jsse)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                let on = if s.tls13 { tls13 } else { tls12 };
                SuiteState {
                    name: s.name,
                    tls13: s.tls13,
                    enabled: on && by.is_empty(),
                    disabled_by: by,
                }
            })
            .collect()
    }

    fn settings_file(&self) -> String {
        self.disabled_source
            .as_ref()
            .or(self.security_file.as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the runtime's java.security".into())
    }
}

/// The problems an ECE administrator must fix for this runtime to speak Microsoft 365's
/// TLS, one sentence each (file, facts, fix). Nothing for what the files do not tell.
pub fn tls_problems(rt: &JavaRuntime) -> Vec<String> {
    let mut out = Vec::new();
    let known = rt.settings_known();
    let file = rt.settings_file();
    let too_old = rt.too_old();

    if let Some(why) = &rt.include_failure {
        out.push(format!("{why}: this Java then fails to load its security properties and makes no TLS connection at all; correct or remove that include"));
    }
    for e in rt.refused_entries() {
        out.push(format!("{DISABLED} in {file} has \"{e}\", a pattern that does not start with TLS_: this Java refuses the whole list and then makes no TLS connection at all; remove it, or start it with TLS_"));
    }
    let unknown = rt.unknown_protocols();
    let unknown_names = !unknown.is_empty();
    if unknown_names {
        out.push(format!("-Djdk.tls.client.protocols in [ece] java_options names {}, which Java does not know (the names are case-sensitive), so ECE's Java makes no TLS connection at all; write -Djdk.tls.client.protocols=TLSv1.2,TLSv1.3", unknown.join(", ")));
    }

    // 1. TLS 1.2 off.
    let tls13_left = if rt.tls13() == Some(true) {
        " (only TLS 1.3 is left, which Microsoft 365 offers on some services only)"
    } else {
        ""
    };
    if known {
        let by = jsse::disabling_protocol(&rt.disabled_algorithms, "TLSv1.2");
        if let Some(e) = by.first() {
            out.push(format!("TLS 1.2 is disabled: {DISABLED} in {file} lists {e}, and Microsoft 365 requires TLS 1.2{tls13_left}; remove {e} from that list"));
        }
    }
    if let Some(list) = &rt.client_protocols {
        if !too_old && !unknown_names && !list.iter().any(|p| p == "TLSv1.2") {
            out.push(format!("TLS 1.2 is not enabled: -Djdk.tls.client.protocols={} in [ece] java_options leaves it out, and Microsoft 365 requires TLS 1.2{tls13_left}; add TLSv1.2 to it (-Djdk.tls.client.protocols=TLSv1.2,TLSv1.3) or remove the option", list.join(",")));
        }
    }

    // 3. A runtime whose client offers no TLS 1.2 by default.
    if let (true, Some(v)) = (too_old, &rt.version) {
        if !rt.lists(&rt.client_protocols, "TLSv1.2") {
            let https = if rt.lists(&rt.https_protocols, "TLSv1.2") {
                " (-Dhttps.protocols covers HttpsURLConnection only, not ECE's mail connections)"
            } else {
                ""
            };
            let release = rt
                .release_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            out.push(format!("{release} says Java {}: its clients offer TLS 1.0 by default, not TLS 1.2 (Java 8, 7u111 and 6u121 were the first to offer it, JDK-7093640), and Microsoft 365 requires TLS 1.2{https}; run ECE on the Java runtime its release supports, or add -Djdk.tls.client.protocols=TLSv1.2 to [ece] java_options", v.text));
        }
    }

    // 2. Every TLS 1.2 suite Microsoft accepts disabled.
    if known {
        let suites = rt.suites();
        let tls12: Vec<&SuiteState> = suites.iter().filter(|s| !s.tls13).collect();
        if tls12.iter().all(|s| !s.disabled_by.is_empty()) {
            let mut entries: Vec<&str> = Vec::new();
            for e in tls12.iter().flat_map(|s| s.disabled_by.iter()) {
                if !entries.contains(&e.as_str()) {
                    entries.push(e);
                }
            }
            let left = if suites.iter().any(|s| s.tls13 && s.enabled) {
                " (only TLS 1.3's suites are left, and Microsoft 365 offers TLS 1.3 on some services only)"
            } else {
                ""
            };
            out.push(format!("every TLS 1.2 cipher suite Microsoft 365 accepts (ECDHE_RSA or RSA with AES-GCM, ECDHE_RSA with AES-CBC) is disabled: {DISABLED} in {file} lists {}{left}; remove enough of them to leave one, e.g. TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", entries.join(", ")));
        }
    }
    out
}

/// One line: version, home, protocols, and how many of Microsoft's suites are usable.
pub fn summary(rt: &JavaRuntime) -> String {
    let who = match &rt.version {
        Some(v) => format!("Java {}", v.text),
        None => "Java (version unknown)".to_string(),
    };
    let head = format!("{who} ({})", rt.java_home.display());
    if !rt.settings_known() {
        return format!("{head}: no java.security found, so the TLS it speaks is not known");
    }
    if rt.no_tls() {
        return format!("{head}: no TLS at all, its settings are refused (see its problems)");
    }
    let (tls12, tls13) = (rt.tls12(), rt.tls13());
    let protocols = match (tls12, tls13) {
        (true, Some(true)) => "TLS 1.2 and 1.3",
        (true, Some(false)) => "TLS 1.2, no TLS 1.3",
        (true, None) => "TLS 1.2 (TLS 1.3 unknown)",
        (false, Some(true)) => "TLS 1.3 only, no TLS 1.2",
        (false, _) => "no TLS 1.2",
    };
    let suites = rt.suites();
    let counted: Vec<&SuiteState> = suites
        .iter()
        .filter(|s| !s.tls13 || tls13 == Some(true))
        .collect();
    let on = counted.iter().filter(|s| s.enabled).count();
    let of = if tls13 == Some(true) {
        format!("{} suites", counted.len())
    } else {
        format!("{} TLS 1.2 suites", counted.len())
    };
    format!("{head}: {protocols}, {on} of Microsoft's {of} enabled")
}
