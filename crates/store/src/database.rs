//! Where the store lives, and how to reach it: a SQLite file (the embedded default: one
//! command, one file) or a PostgreSQL database (several collectors, one shared state).
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

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The engine behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Its name in words and in `/metrics`.
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
pub struct PostgresUrl(Url);

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
            return Ok(Database::Postgres(PostgresUrl(url)));
        }
        if let Some(path) = text.strip_prefix("sqlite://") {
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if text.is_empty() {
            return Err(DatabaseUrlError::Empty);
        }
        Ok(Database::Sqlite(PathBuf::from(text)))
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

    /// The database with this password (read from a file or `PGPASSWORD` by the caller)
    /// unless its URL already has one. A SQLite file takes none.
    pub fn with_password(self, password: &str) -> Database {
        match self {
            Database::Postgres(PostgresUrl(mut url)) if url.password().is_none() => {
                // Only a URL that cannot have a password fails here, and a postgres://
                // URL with a host can; if it could not, it goes on without one.
                let _ = url.set_password(Some(password));
                Database::Postgres(PostgresUrl(url))
            }
            other => other,
        }
    }

    /// The write connection: SQLite's file is created if missing (with its directory), in
    /// WAL mode with synchronous=FULL and foreign keys on.
    pub(crate) async fn connect_writer(&self) -> Result<AnyConnection, StoreError> {
        install_drivers();
        let open_err = |error| StoreError::Open {
            database: self.to_string(),
            error,
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
        Err(_) => Err(sqlx::Error::PoolTimedOut),
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
}
