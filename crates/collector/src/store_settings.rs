//! `[store]` in collector.toml (and `serve --db`): where the store lives, and how this
//! collector shares it with others. Without it, the SQLite file of `database` (one command,
//! one file); with `url = "postgres://..."`, a PostgreSQL database that several collectors
//! may share: one of them leads (see `leader.rs`).
//!
//! ```toml
//! [store]
//! url = "postgres://eceprobe@db.example.com:5432/eceprobe?sslmode=verify-full&sslrootcert=db-ca.pem"
//! password_file = "postgres.password"   # or PGPASSWORD; never in the URL of a shared file
//! write_timeout_s = 60            # a statement's bound: past it the connection is lost
//! collector_name = "ece-mon-1"    # this collector among those sharing the database (default: host:port)
//! lease_s = 10                    # the leader's lease: a dead leader's work moves on within about this
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use eceprobe_store::Database;
use serde::Deserialize;

/// A password file is a line, not a document: larger is a mistake worth naming.
const MAX_PASSWORD_FILE: u64 = 4096;

/// `[store]` as written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreFile {
    url: Option<String>,
    password_file: Option<PathBuf>,
    write_timeout_s: Option<u64>,
    collector_name: Option<String>,
    lease_s: Option<u64>,
}

/// `[store]` in force.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreSettings {
    /// PostgreSQL (or `sqlite://PATH`); None: the SQLite file of `database`.
    pub url: Option<Database>,
    /// A file holding the PostgreSQL password (its first line).
    pub password_file: Option<PathBuf>,
    /// The writer's bound on one statement on PostgreSQL (None: the store's default).
    pub write_timeout: Option<std::time::Duration>,
    /// This collector's name in the leader lease (None: "host:agents-port").
    pub collector_name: Option<String>,
    /// How long the leader's lease lasts unless renewed (None: the default).
    pub lease: Option<std::time::Duration>,
}

/// What is wrong with `[store]` or `--db`, named by key.
#[derive(Debug, thiserror::Error)]
pub enum StoreSettingsError {
    #[error("{key}: {error}")]
    Url {
        key: &'static str,
        error: eceprobe_store::DatabaseUrlError,
    },
    #[error("[store] password_file {path}: {message}")]
    PasswordFile { path: PathBuf, message: String },
    #[error("[store] write_timeout_s = {0} is out of range: use 1 to 3600 seconds")]
    WriteTimeout(u64),
    #[error("[store] lease_s = {0} is out of range: use 3 to 600 seconds (a dead leader's work moves to another collector within about this long)")]
    Lease(u64),
    #[error("[store] collector_name {0:?} is not usable: use 1 to 128 letters, digits, '.', '-', '_' or ':' (it names this collector on the dashboard and in /metrics)")]
    CollectorName(String),
}

impl StoreSettings {
    /// The section as read, its relative paths taken from the configuration's directory.
    pub(crate) fn from_file(
        file: StoreFile,
        anchored: impl Fn(PathBuf) -> PathBuf,
    ) -> Result<StoreSettings, StoreSettingsError> {
        let url = file
            .url
            .map(|u| {
                Database::parse(&u).map_err(|error| StoreSettingsError::Url {
                    key: "[store] url",
                    error,
                })
            })
            .transpose()?;
        let write_timeout = match file.write_timeout_s {
            None => None,
            Some(s @ 1..=3600) => Some(std::time::Duration::from_secs(s)),
            Some(s) => return Err(StoreSettingsError::WriteTimeout(s)),
        };
        let lease = match file.lease_s {
            None => None,
            Some(s @ 3..=600) => Some(std::time::Duration::from_secs(s)),
            Some(s) => return Err(StoreSettingsError::Lease(s)),
        };
        let collector_name = match file.collector_name {
            Some(name) if !collector_name_ok(&name) => {
                return Err(StoreSettingsError::CollectorName(name))
            }
            name => name,
        };
        Ok(StoreSettings {
            url,
            password_file: file.password_file.map(anchored),
            write_timeout,
            collector_name,
            lease,
        })
    }

    /// `--db`: a postgres:// URL sets `[store] url`; anything else is the SQLite file.
    /// Returns the SQLite path when it is one.
    pub fn apply_flag(&mut self, value: &str) -> Result<Option<PathBuf>, StoreSettingsError> {
        let database = Database::parse(value)
            .map_err(|error| StoreSettingsError::Url { key: "--db", error })?;
        match database {
            Database::Sqlite(path) => {
                self.url = None;
                Ok(Some(path))
            }
            postgres => {
                self.url = Some(postgres);
                Ok(None)
            }
        }
    }

    /// The database to open: `[store] url` with its password (from `password_file`; else
    /// libpq's `PGPASSWORD` applies), or the SQLite file `sqlite_path`.
    pub fn database(&self, sqlite_path: &Path) -> Result<Database, StoreSettingsError> {
        let Some(url) = &self.url else {
            return Ok(Database::Sqlite(sqlite_path.to_path_buf()));
        };
        let url = match self.write_timeout {
            Some(limit) => url.clone().with_write_timeout(limit),
            None => url.clone(),
        };
        match &self.password_file {
            Some(path) => Ok(url.with_password(&read_password(path)?)),
            None => Ok(url),
        }
    }
}

/// A name an operator can read and type: it appears on the dashboard, in /metrics labels
/// and in logs.
fn collector_name_ok(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
}

/// The password file's first line, without its line end.
fn read_password(path: &Path) -> Result<String, StoreSettingsError> {
    let fail = |message: String| StoreSettingsError::PasswordFile {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
    let mut text = String::new();
    file.take(MAX_PASSWORD_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| fail(format!("cannot be read as text: {e}")))?;
    if text.len() as u64 > MAX_PASSWORD_FILE {
        return Err(fail(format!(
            "is larger than {MAX_PASSWORD_FILE} bytes: it should hold the password alone, on one line"
        )));
    }
    let password = text.lines().next().unwrap_or("").to_owned();
    if password.is_empty() {
        return Err(fail(
            "is empty: write the PostgreSQL password on its first line".to_owned(),
        ));
    }
    Ok(password)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_password_file_is_read_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let pass = dir.path().join("pg.pass");
        std::fs::write(&pass, "s3cr3t-Pa55\r\n").unwrap();
        let settings = StoreSettings::from_file(
            StoreFile {
                url: Some("postgres://eceprobe@db.example:5433/eceprobe".to_owned()),
                password_file: Some(pass),
                write_timeout_s: None,
                ..StoreFile::default()
            },
            |p| p,
        )
        .unwrap();
        let db = settings.database(Path::new("unused.db")).unwrap();
        let shown = format!("{db} {db:?} {settings:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(
            shown.contains("the PostgreSQL database eceprobe@db.example:5433/eceprobe"),
            "{shown}"
        );
    }

    #[test]
    fn bad_store_settings_name_the_key_and_the_fix() {
        let err = StoreSettings::default()
            .apply_flag("postgres://:5432/eceprobe")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--db: "), "{err}");
        assert!(err.contains("postgres://USER@HOST:PORT/DATABASE"), "{err}");
        let err = StoreSettings::from_file(
            StoreFile {
                url: Some("postgres://u:hunter2@[::1/db".to_owned()),
                password_file: None,
                write_timeout_s: None,
                ..StoreFile::default()
            },
            |p| p,
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("[store] url: "), "{err}");
        assert!(
            !err.contains("hunter2"),
            "a URL's password stays out of errors: {err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pass");
        std::fs::write(&empty, "\n").unwrap();
        let settings = StoreSettings {
            url: Some(Database::parse("postgres://u@h/db").unwrap()),
            password_file: Some(empty.clone()),
            ..StoreSettings::default()
        };
        let err = settings.database(Path::new("x")).unwrap_err().to_string();
        assert!(err.contains(&empty.display().to_string()), "{err}");
        assert!(err.contains("is empty"), "{err}");
    }

    #[test]
    fn the_lease_and_the_collector_name_are_checked() {
        let file = |name: Option<&str>, lease_s: Option<u64>| StoreFile {
            collector_name: name.map(str::to_owned),
            lease_s,
            ..StoreFile::default()
        };
        let ok = StoreSettings::from_file(file(Some("ece-mon-1:7443"), Some(20)), |p| p).unwrap();
        assert_eq!(ok.collector_name.as_deref(), Some("ece-mon-1:7443"));
        assert_eq!(ok.lease, Some(std::time::Duration::from_secs(20)));
        let err = StoreSettings::from_file(file(None, Some(1)), |p| p)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("[store] lease_s = 1 is out of range: use 3 to 600"),
            "{err}"
        );
        let err = StoreSettings::from_file(file(Some("mon 1\n"), None), |p| p)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[store] collector_name \"mon 1\\n\" is not usable"),
            "{err}"
        );
    }

    #[test]
    fn the_flag_chooses_the_engine() {
        let mut s = StoreSettings::default();
        assert_eq!(
            s.apply_flag("data/c.db").unwrap(),
            Some(PathBuf::from("data/c.db"))
        );
        assert_eq!(s.apply_flag("postgres://u@h/db").unwrap(), None);
        assert!(s.url.is_some());
        assert_eq!(
            s.database(Path::new("ignored.db")).unwrap().backend(),
            eceprobe_store::Backend::Postgres
        );
    }
}
