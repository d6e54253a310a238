//! A security properties file with its `include`s, as JDK 24 and later read them
//! (JDK-8319332; documented at the top of 25's java.security, and seen on 25.0.3): an
//! `include PATH` line is replaced by that file's properties, in place; a relative PATH is
//! resolved against the including file's folder; `${name}` is a system property; a file that
//! cannot be included (missing, unreadable, a folder, included again within itself) makes
//! java.security.Security fail to initialise ("InternalError: Unable to include ..."), and
//! the JVM then has no TLS. Before 24, `include` is an ordinary property (seen on 17.0.15).

use std::path::{Path, PathBuf};

use super::super::discover::java_property;
use super::read::read_bounded;
use super::{props, JavaVersion, RuntimeError};

/// Properties in file order, each with the file it came from.
pub(super) type Pairs = Vec<(String, String, PathBuf)>;

/// At most this many files are included (a runtime's own use none).
const MAX_INCLUDES: usize = 32;

/// `${name}` in a path: java.home (on a Java 8 JDK its jre/ folder), or a `-Dname=value` of
/// ECE's options. Any other property's value is not known here.
pub(super) struct Expander<'a> {
    java_home: PathBuf,
    options: &'a str,
}

impl<'a> Expander<'a> {
    pub fn new(home: &Path, version: Option<&JavaVersion>, options: &'a str) -> Self {
        let jre = home.join("jre");
        let java_home = if version.is_some_and(|v| v.feature <= 8) && jre.is_dir() {
            jre
        } else {
            home.to_path_buf()
        };
        Expander { java_home, options }
    }

    /// The text with every `${name}` replaced; Err(name) for the first one not known.
    pub fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start + 2..].find('}') else {
                break;
            };
            let name = &rest[start + 2..start + 2 + len];
            out.push_str(&rest[..start]);
            if name == "java.home" {
                out.push_str(&self.java_home.display().to_string());
            } else {
                match java_property(self.options, name) {
                    Some(v) => out.push_str(&v),
                    None => return Err(name.to_string()),
                }
            }
            rest = &rest[start + 3 + len..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Reads files' properties, following `include` where the runtime does.
pub(super) struct Loader<'a> {
    includes: bool,
    expander: &'a Expander<'a>,
    stack: Vec<PathBuf>,
    pub included: Vec<PathBuf>,
    /// Why the JVM could not load its security properties, in words.
    pub failure: Option<String>,
    pub notes: Vec<String>,
}

impl<'a> Loader<'a> {
    pub fn new(includes: bool, expander: &'a Expander<'a>) -> Self {
        Loader {
            includes,
            expander,
            stack: Vec::new(),
            included: Vec::new(),
            failure: None,
            notes: Vec::new(),
        }
    }

    /// Appends the properties of `bytes`, read from `path`, to `out`.
    pub fn absorb(
        &mut self,
        path: &Path,
        bytes: &[u8],
        out: &mut Pairs,
    ) -> Result<(), RuntimeError> {
        self.stack.push(canonical(path));
        let mut result = Ok(());
        for (key, value) in props::parse(bytes) {
            if self.includes && key == "include" {
                result = self.include(path, &value, out);
                if result.is_err() {
                    break;
                }
            } else {
                out.push((key, value, path.to_path_buf()));
            }
        }
        self.stack.pop();
        result
    }

    fn include(&mut self, from: &Path, value: &str, out: &mut Pairs) -> Result<(), RuntimeError> {
        if self.failure.is_some() {
            return Ok(());
        }
        let target = match self.expander.expand(value) {
            Ok(t) => t,
            Err(name) => {
                self.notes.push(format!("include {value} in {} was not followed: ${{{name}}} is a system property this check does not know", from.display()));
                return Ok(());
            }
        };
        let mut path = PathBuf::from(&target);
        if path.is_relative() {
            if let Some(dir) = from.parent() {
                path = dir.join(path);
            }
        }
        if self.stack.contains(&canonical(&path)) {
            self.failure = Some(format!(
                "{} includes {}, which is already being included",
                from.display(),
                path.display()
            ));
            return Ok(());
        }
        if self.included.len() >= MAX_INCLUDES {
            self.notes.push(format!(
                "{} includes more than {MAX_INCLUDES} files; {} and any after it were not read",
                from.display(),
                path.display()
            ));
            return Ok(());
        }
        match read_bounded(&path) {
            Ok(bytes) => {
                self.included.push(path.clone());
                self.absorb(&path, &bytes, out)
            }
            Err(RuntimeError::Unreadable { source, .. }) => {
                self.failure = Some(format!(
                    "{} includes {}, which cannot be read ({source})",
                    from.display(),
                    path.display()
                ));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// The path as the file system resolves it, when it can (to see a file included within
/// itself through another spelling).
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The last value of `key`, with the file that set it.
pub(super) fn last_with_source(pairs: &Pairs, key: &str) -> Option<(String, PathBuf)> {
    pairs
        .iter()
        .rev()
        .find(|(k, _, _)| k == key)
        .map(|(_, v, p)| (v.clone(), p.clone()))
}
