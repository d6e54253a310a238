//! Where the store lives, and how to reach it: a SQLite file (the embedded default: one
//! command, one file) or a PostgreSQL database (on a server the operator already runs,
//! backs up and replicates; several collectors sharing one needs the leader of issue 18,
//! not built yet).
//!
//! Both are reached through sqlx's `Any` driver, so every statement of the store is written
//! once and runs on both; what differs (the schema's dialect, how a write transaction
//! begins, a SQLite file's settings) is decided here, from [`Backend`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection};
use url::Url;

use crate::StoreError;

/// How long connecting to PostgreSQL may take before the collector says it cannot.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection parameters sqlx's PostgreSQL driver reads (libpq's names and its own).
/// Any other is refused by name: sqlx would log an unknown one with its value, and a
/// libpq parameter such as `sslpassword` is a secret.
const POSTGRES_PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The engine behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Its name in words.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The schema migrations in this engine's dialect.
    pub(crate) fn migrator(self) -> &'static sqlx::migrate::Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        }
    }

    /// How the writer begins its batch transaction. SQLite: IMMEDIATE takes the write lock
    /// at once, so a busy file fails at BEGIN and not in the middle of a batch.
    pub(crate) fn begin(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }
}

/// Where the store lives: a SQLite file, or a PostgreSQL database given by its URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(PostgresUrl),
}

/// A `postgres://` URL as libpq users write it (`sslmode`, `host`, ...). It may hold a
/// password, so it is never printed: its `Display` leaves the password out.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(Url, Duration);

/// How long one statement of the writer may wait on PostgreSQL before the connection is
/// taken for lost (a silent network drop sends no reset: without a bound every write would
/// wait the kernel's ~15 minutes of retransmissions). A healthy server answers a statement
/// in milliseconds; a request's statements each get this much.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

impl Database {
    /// A `--db` value or `[store] url`: `postgres://` or `postgresql://` is PostgreSQL,
    /// `sqlite://PATH` or anything else a SQLite file's path.
    pub fn parse(text: &str) -> Result<Database, DatabaseUrlError> {
        let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            let url = Url::parse(text).map_err(|e| DatabaseUrlError::NotAUrl {
                // The text may hold a password: say what is wrong, not the text.
                error: e.to_string(),
            })?;
            if url.host_str().is_none_or(str::is_empty)
                && !url.query_pairs().any(|(k, _)| k == "host")
            {
                return Err(DatabaseUrlError::NoHost);
            }
            if let Some((key, _)) = url
                .query_pairs()
                .find(|(k, _)| !POSTGRES_PARAMETERS.contains(&k.as_ref()))
            {
                return Err(DatabaseUrlError::UnknownParameter {
                    key: key.chars().take(64).collect(),
                });
            }
            return Ok(Database::Postgres(PostgresUrl(url, DEFAULT_WRITE_TIMEOUT)));
        }
        let path = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
            .unwrap_or(text);
        if path.is_empty() {
            return Err(DatabaseUrlError::Empty);
        }
        // Another scheme (pg://, mysql://) is a mistake, not a file to create.
        if let Some((scheme, _)) = path.split_once("://") {
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            {
                return Err(DatabaseUrlError::UnknownScheme {
                    scheme: scheme.chars().take(32).collect(),
                });
            }
        }
        Ok(Database::Sqlite(PathBuf::from(path)))
    }

    /// The engine it names.
    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite(_) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite file, if it is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(p) => Some(p),
            Database::Postgres(_) => None,
        }
    }

    /// The database with this password (read from `[store] password_file`), which
    /// replaces one in the URL. A SQLite file takes none.
    pub fn with_password(self, password: &str) -> Database {
        match self {
            Database::Postgres(PostgresUrl(mut url, limit)) => {
                // A URL without a host (the socket's directory in `?host=`) cannot carry a
                // password in its authority: it goes as the `password` parameter then.
                if url.set_password(Some(password)).is_err() {
                    let others: Vec<(String, String)> = url
                        .query_pairs()
                        .filter(|(k, _)| k != "password")
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                    url.query_pairs_mut()
                        .clear()
                        .extend_pairs(others)
                        .append_pair("password", password);
                }
                Database::Postgres(PostgresUrl(url, limit))
            }
            other => other,
        }
    }

    /// The writer's bound on one statement (PostgreSQL; [`DEFAULT_WRITE_TIMEOUT`] unless
    /// `[store] write_timeout_s` says otherwise). SQLite's writes wait on no network.
    pub fn with_write_timeout(self, limit: Duration) -> Database {
        match self {
            Database::Postgres(PostgresUrl(url, _)) => Database::Postgres(PostgresUrl(url, limit)),
            other => other,
        }
    }

    /// What to look at when opening fails.
    fn open_fix(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "",
            Database::Postgres(_) => {
                "; check the host, port and database name in the URL, that the server lets this collector in (pg_hba.conf, sslmode), and the password ([store] password_file or PGPASSWORD)"
            }
        }
    }

    /// The writer's bound on one statement, if it has one.
    pub(crate) fn write_timeout(&self) -> Option<Duration> {
        match self {
            Database::Postgres(PostgresUrl(_, limit)) => Some(*limit),
            Database::Sqlite(_) => None,
        }
    }

    /// The write connection: SQLite's file is created if missing (with its directory), in
    /// WAL mode with synchronous=FULL and foreign keys on.
    pub(crate) async fn connect_writer(&self) -> Result<AnyConnection, StoreError> {
        install_drivers();
        let open_err = |error| StoreError::Open {
            database: self.to_string(),
            error,
            fix: self.open_fix(),
        };
        match self {
            Database::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                        path: dir.to_path_buf(),
                        error: source,
                    })?;
                }
                let mut conn = any_options(&sqlite_url(path, "rwc")?)
                    .map_err(open_err)?
                    .connect()
                    .await
                    .map_err(open_err)?;
                // WAL lets the read pool read while the writer writes. An ack promises the
                // result is stored: FULL keeps that promise through a power cut, and
                // batching makes its fsync cheap (one per transaction, ~120 us here).
                for pragma in [
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = FULL",
                    "PRAGMA foreign_keys = ON",
                ] {
                    if let Err(e) = sqlx::query(pragma).fetch_all(&mut conn).await {
                        close_quietly(conn).await;
                        return Err(open_err(e));
                    }
                }
                Ok(conn)
            }
            Database::Postgres(url) => connect_postgres(&url.0).await.map_err(open_err),
        }
    }

    /// The read pool: read-only connections to a SQLite file (WAL lets them read while the
    /// writer writes), plain ones to PostgreSQL.
    pub(crate) async fn connect_reads(&self, size: u32) -> Result<AnyPool, StoreError> {
        install_drivers();
        let open_err = |error| StoreError::Open {
            database: self.to_string(),
            error,
            fix: self.open_fix(),
        };
        let url = match self {
            Database::Sqlite(path) => sqlite_url(path, "ro")?,
            Database::Postgres(url) => url.0.clone(),
        };
        AnyPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(any_options(&url).map_err(open_err)?)
            .await
            .map_err(open_err)
    }
}

async fn connect_postgres(url: &Url) -> Result<AnyConnection, sqlx::Error> {
    let options = any_options(url)?;
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(conn) => conn,
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "no answer from the server within {} s",
                CONNECT_TIMEOUT.as_secs()
            ),
        ))),
    }
}

/// sqlx's statement log would print every statement at INFO: the store logs its own
/// failures in words, so statements are logged at TRACE only.
fn any_options(url: &Url) -> Result<AnyConnectOptions, sqlx::Error> {
    let options = AnyConnectOptions::from_url(url)?;
    Ok(options
        .log_statements(log::LevelFilter::Trace)
        .log_slow_statements(log::LevelFilter::Warn, Duration::from_secs(5)))
}

/// A SQLite file as the URL sqlx's `Any` driver reads: every byte of the absolute path
/// but the unreserved ones and `/` percent-encoded (sqlx decodes it back), so a Windows
/// path (`C:\ProgramData\...`), a space or a `?` survive. A statement waits up to sqlx's
/// default busy timeout (5 s) for a lock held by another connection.
fn sqlite_url(path: &Path, mode: &str) -> Result<Url, StoreError> {
    let absolute = std::path::absolute(path).map_err(|error| StoreError::CreateDir {
        path: path.to_path_buf(),
        error,
    })?;
    let text = absolute.to_string_lossy();
    let mut url = String::with_capacity(text.len() + 32);
    url.push_str("sqlite://");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url.push_str("?mode=");
    url.push_str(mode);
    Url::parse(&url).map_err(|e| StoreError::Open {
        database: format!("the SQLite database {}", path.display()),
        error: sqlx::Error::Configuration(e.to_string().into()),
        fix: "",
    })
}

fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

pub(crate) async fn close_quietly(conn: AnyConnection) {
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the database's write connection failed");
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "the SQLite database {}", path.display()),
            Database::Postgres(url) => write!(f, "the PostgreSQL database {url}"),
        }
    }
}

impl fmt::Display for PostgresUrl {
    /// `user@host:port/database`, never the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = &self.0;
        if !u.username().is_empty() {
            write!(f, "{}@", u.username())?;
        }
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .or_else(|| {
                u.query_pairs()
                    .find(|(k, _)| k == "host")
                    .map(|(_, v)| v.into_owned())
            })
            .unwrap_or_default();
        write!(f, "{host}:{}{}", u.port().unwrap_or(5432), u.path())
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A `--db` / `[store] url` value that names no database.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseUrlError {
    #[error("the database is empty: give a SQLite file's path or a postgres:// URL")]
    Empty,
    #[error("the postgres:// URL cannot be read ({error}): write it as postgres://USER@HOST:PORT/DATABASE?sslmode=require")]
    NotAUrl { error: String },
    #[error("the postgres:// URL names no host: write it as postgres://USER@HOST:PORT/DATABASE")]
    NoHost,
    #[error("the postgres:// URL has the parameter '{key}', which eceprobe does not pass on: use sslmode, sslrootcert, sslcert, sslkey, host, port, dbname, user, application_name or options (the password goes in [store] password_file or PGPASSWORD)")]
    UnknownParameter { key: String },
    #[error("'{scheme}://' is no database eceprobe knows: give a SQLite file's path or a postgres:// URL")]
    UnknownScheme { scheme: String },
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_database_is_a_path_or_a_postgres_url_and_mistakes_are_named() {
        assert_eq!(
            Database::parse("data/c.db").unwrap(),
            Database::Sqlite(PathBuf::from("data/c.db"))
        );
        for sqlite in ["sqlite://data/c.db", "sqlite:data/c.db"] {
            assert_eq!(
                Database::parse(sqlite).unwrap(),
                Database::Sqlite(PathBuf::from("data/c.db"))
            );
        }
        let pg = Database::parse("postgresql://u:pw@db.example/ece?sslmode=require").unwrap();
        assert_eq!(pg.backend(), Backend::Postgres);
        assert_eq!(
            pg.to_string(),
            "the PostgreSQL database u@db.example:5432/ece"
        );
        assert!(!format!("{pg:?}").contains("pw"));
        for (text, says) in [
            ("", "the database is empty"),
            ("sqlite://", "the database is empty"),
            ("pg://u@h/db", "'pg://' is no database eceprobe knows"),
            ("postgres:///db", "names no host"),
            (
                "postgres://u@h/db?sslpassword=s3cret",
                "the parameter 'sslpassword', which eceprobe does not pass on",
            ),
        ] {
            let err = Database::parse(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn a_password_from_a_file_replaces_the_urls_and_reaches_a_socket_url_too() {
        let url = |db: &Database| match db {
            Database::Postgres(PostgresUrl(u, _)) => u.clone(),
            Database::Sqlite(_) => unreachable!(),
        };
        let db = Database::parse("postgres://u:old@h/db")
            .unwrap()
            .with_password("new");
        assert_eq!(url(&db).password(), Some("new"));
        let socket = Database::parse("postgres:///db?host=/run/postgresql&user=u")
            .unwrap()
            .with_password("p@ss");
        let pairs: Vec<(String, String)> = url(&socket)
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert!(
            pairs.contains(&("password".to_owned(), "p@ss".to_owned())),
            "{pairs:?}"
        );
        assert!(!socket.to_string().contains("p@ss"));
    }

    #[test]
    fn a_windows_path_survives_the_url() {
        let url = sqlite_url(Path::new("/tmp/a dir/x?y#z%.db"), "ro").unwrap();
        let back: sqlx::sqlite::SqliteConnectOptions = url.as_str().parse().unwrap();
        assert_eq!(back.get_filename(), Path::new("/tmp/a dir/x?y#z%.db"));
    }
}
