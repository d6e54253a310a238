//! Reading a runtime's folder: `release`, `java.security` (where its version keeps it),
//! the override file `-Djava.security.properties` names, and the protocol options. Every
//! file is read whole but at most 1 MiB.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::super::discover::java_property;
use super::load::{last_with_source, Expander, Loader, Pairs};
use super::{jsse, JavaRuntime, JavaVersion, RuntimeError, DISABLED, MAX_FILE_BYTES};

/// Reads the runtime at `java_home` and the TLS settings `java_options` give it.
pub fn read_runtime(
    java_home: &Path,
    java_options: Option<&str>,
) -> Result<JavaRuntime, RuntimeError> {
    let mut notes = Vec::new();
    // A Java 8 JDK keeps release at its root; java_home may name its jre/ folder.
    let mut release_candidates = vec![java_home.join("release")];
    if java_home.file_name().is_some_and(|n| n == "jre") {
        if let Some(parent) = java_home.parent() {
            release_candidates.push(parent.join("release"));
        }
    }
    let release_file = release_candidates.into_iter().find(|p| p.is_file());
    let version = match &release_file {
        Some(p) => {
            let v = parse_release(&read_bounded(p)?);
            if v.is_none() {
                notes.push(format!(
                    "{} gives no JAVA_VERSION that reads as a Java version",
                    p.display()
                ));
            }
            v
        }
        None => None,
    };
    let security_file = security_candidates(java_home, version.as_ref())
        .into_iter()
        .find(|p| p.is_file());
    if release_file.is_none() && security_file.is_none() {
        return Err(RuntimeError::NotARuntime(java_home.to_path_buf()));
    }

    let options = java_options.unwrap_or("");
    let expander = Expander::new(java_home, version.as_ref(), options);
    // `include` is a directive from JDK 24 on (and, the version unknown, assumed to be).
    let includes = version.as_ref().is_none_or(|v| v.feature >= 24);
    let mut loader = Loader::new(includes, &expander);
    let mut pairs: Pairs = Vec::new();
    let mut allow_override = false;
    if let Some(p) = &security_file {
        loader.absorb(p, &read_bounded(p)?, &mut pairs)?;
        // Security.java reads the options' file only when this is "true" (any case).
        allow_override = last_with_source(&pairs, "security.overridePropertiesFile")
            .is_some_and(|(v, _)| v.trim().eq_ignore_ascii_case("true"));
    }

    let mut override_file = None;
    let mut override_replaces = false;
    if let Some(value) = java_property(options, "java.security.properties") {
        let (replaces, target) = match value.strip_prefix('=') {
            Some(rest) => (true, rest.to_string()),
            None => (false, value.clone()),
        };
        if !allow_override {
            notes.push(format!("-Djava.security.properties={value} is ignored, as Java ignores it: security.overridePropertiesFile is not true in the runtime's java.security"));
        } else {
            match override_path(&target, &expander) {
                Err(why) => notes.push(format!(
                    "-Djava.security.properties={value} was not read: {why}"
                )),
                Ok(path) => match read_bounded(&path) {
                    Ok(bytes) => {
                        let mut extra = Pairs::new();
                        loader.absorb(&path, &bytes, &mut extra)?;
                        if replaces {
                            pairs.clear();
                        }
                        pairs.extend(extra);
                        override_file = Some(path);
                        override_replaces = replaces;
                    }
                    Err(RuntimeError::TooLarge(p)) => return Err(RuntimeError::TooLarge(p)),
                    // Java skips a file it cannot read, keeping the runtime's own.
                    Err(RuntimeError::Unreadable { source, .. }) => notes.push(format!(
                        "-Djava.security.properties={value} could not be read ({source}); Java skips it too"
                    )),
                    Err(e) => return Err(e),
                },
            }
        }
    }

    let (disabled_algorithms, disabled_source) = match last_with_source(&pairs, DISABLED) {
        Some((v, src)) => (jsse::split_entries(&v), Some(src)),
        None => (Vec::new(), None),
    };
    notes.append(&mut loader.notes);
    Ok(JavaRuntime {
        java_home: java_home.to_path_buf(),
        version,
        release_file,
        security_file,
        override_file,
        override_replaces,
        disabled_source,
        disabled_algorithms,
        included_files: loader.included,
        include_failure: loader.failure,
        client_protocols: protocol_list(options, "jdk.tls.client.protocols"),
        https_protocols: protocol_list(options, "https.protocols"),
        notes,
    })
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`], whatever its metadata claims (a
/// growing file).
pub(super) fn read_bounded(path: &Path) -> Result<Vec<u8>, RuntimeError> {
    let unreadable = |source| RuntimeError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    // Not opened unless a regular file: opening a FIFO for reading would wait for a writer.
    if !std::fs::metadata(path).map_err(unreadable)?.is_file() {
        return Err(unreadable(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let file = std::fs::File::open(path).map_err(unreadable)?;
    if file.metadata().map_err(unreadable)?.len() > MAX_FILE_BYTES {
        return Err(RuntimeError::TooLarge(path.to_path_buf()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(RuntimeError::TooLarge(path.to_path_buf()));
    }
    Ok(bytes)
}

/// JAVA_VERSION from a release file (lines of KEY="value").
fn parse_release(bytes: &[u8]) -> Option<JavaVersion> {
    // ISO 8859-1, so any byte reads.
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    let value = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("JAVA_VERSION="))
        .next_back()?;
    parse_version(value.trim().trim_matches('"'))
}

pub(super) fn parse_version(text: &str) -> Option<JavaVersion> {
    let text = text.trim();
    if text.is_empty() || text.len() > 64 {
        return None;
    }
    let leading = |s: &str| -> Option<u32> {
        let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let (feature, update) = if let Some(rest) = text.strip_prefix("1.") {
        // 1.8.0_402, 1.7.0_80, 1.8.0
        let (main, upd) = match rest.split_once('_') {
            Some((m, u)) => (m, Some(u)),
            None => (rest, None),
        };
        let feature: u32 = main.split('.').next()?.parse().ok()?;
        (feature, upd.and_then(leading))
    } else {
        // $FEATURE.$INTERIM.$UPDATE[.$PATCH][+build][-pre]
        let core = text.split(['+', '-']).next()?;
        let mut parts = core.split('.');
        let feature: u32 = parts.next()?.parse().ok()?;
        (feature, parts.nth(1).and_then(|u| u.parse().ok()))
    };
    Some(JavaVersion {
        feature,
        update,
        text: text.to_string(),
    })
}

/// Where the runtime keeps java.security, most likely first for its version.
fn security_candidates(home: &Path, version: Option<&JavaVersion>) -> Vec<PathBuf> {
    let conf = home.join("conf/security/java.security");
    let lib = home.join("lib/security/java.security");
    let jre = home.join("jre/lib/security/java.security");
    match version {
        Some(v) if v.feature <= 8 => vec![lib, jre, conf],
        _ => vec![conf, lib, jre],
    }
}

/// A protocol list option: split at commas, trimmed, as JSSE reads it; None when absent
/// or empty (JSSE then uses its defaults).
fn protocol_list(options: &str, name: &str) -> Option<Vec<String>> {
    let value = java_property(options, name)?;
    let list: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    (!list.is_empty()).then_some(list)
}

/// The file `-Djava.security.properties` names, as Security.java finds it: a path, or a
/// `file:` URL, with `${...}` expanded. Other URLs and relative paths (the JVM's working
/// directory is not known here) are not read.
fn override_path(target: &str, expander: &Expander) -> Result<PathBuf, String> {
    let mut t = expander
        .expand(target)
        .map_err(|name| format!("${{{name}}} is a system property this check does not know"))?;
    if let Some(rest) = t.strip_prefix("file:") {
        t = rest.strip_prefix("//").unwrap_or(rest).to_string();
    } else if let Some((scheme, _)) = t.split_once(':') {
        if scheme.len() > 1 && scheme.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err("it is a URL this check does not fetch".into());
        }
    }
    let path = PathBuf::from(&t);
    if path.is_relative() {
        return Err(
            "it is relative to the JVM's working directory, which is not known here".into(),
        );
    }
    Ok(path)
}
