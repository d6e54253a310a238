//! The PostgreSQL of `ingest --db postgres://...`: a schema of its own for each phase of
//! the run (the collector creates its tables there, as in an empty database), the
//! collectors' configuration (name, password file), counts, and the schemas dropped at the
//! end. The password never reaches a command line nor a log: the collectors read it from a
//! file in the work directory (mode 0600), this process keeps it in memory.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use eceprobe_collector::store::Database;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

/// A password file is a line: larger is a mistake.
const MAX_PASSWORD_FILE: u64 = 4096;

pub struct Pg {
    /// As given, without its password.
    url: url::Url,
    /// None: PGPASSWORD (read by sqlx here and by the collectors, who inherit it) or none.
    password: Option<String>,
    /// Schemas this run created, dropped by [`Pg::drop_schemas`].
    schemas: Vec<String>,
}

fn read_password(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("--password-file {}: cannot open it", path.display()))?;
    let mut first = String::new();
    std::io::BufReader::new(file.take(MAX_PASSWORD_FILE))
        .read_line(&mut first)
        .with_context(|| format!("--password-file {}: cannot read it", path.display()))?;
    let password = first.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!(
            "--password-file {}: its first line is empty; put the password there",
            path.display()
        );
    }
    Ok(password)
}

impl Pg {
    /// `--db` and `--password-file`, checked as the collector checks `serve --db`.
    pub fn new(text: &str, password_file: Option<&Path>) -> Result<Pg> {
        match Database::parse(text) {
            Ok(Database::Postgres(_)) => {}
            Ok(Database::Sqlite(_)) => bail!(
                "--db takes a PostgreSQL URL (postgres://USER@HOST:PORT/DB); without --db the run is on a SQLite file of its own"
            ),
            Err(e) => bail!("--db: {e}"),
        }
        // Parsed above already; the text may hold a password, so it is not repeated.
        let mut url = url::Url::parse(text).context("--db is not a URL")?;
        let in_url = url.password().map(percent_decode);
        let _ = url.set_password(None);
        let password = match password_file {
            Some(path) => Some(read_password(path)?),
            None => in_url,
        };
        Ok(Pg {
            url,
            password,
            schemas: Vec::new(),
        })
    }

    /// The URL without its password, for the report.
    pub fn shown(&self) -> String {
        self.url.to_string()
    }

    async fn connect(&self) -> Result<PgConnection> {
        let mut options = PgConnectOptions::from_str(self.url.as_str())
            .context("--db: sqlx does not take this URL")?
            .disable_statement_logging();
        if let Some(p) = &self.password {
            options = options.password(p);
        }
        options.connect().await.with_context(|| {
            format!(
                "connecting to {} (check the URL, that the server runs, and the password: --password-file, the URL or PGPASSWORD)",
                self.shown()
            )
        })
    }

    /// A connection whose tables are those of `schema`.
    pub async fn connect_in(&self, schema: &str) -> Result<PgConnection> {
        let mut conn = self.connect().await?;
        sqlx::query(&format!("SET search_path TO {schema}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("using schema {schema}"))?;
        Ok(conn)
    }

    /// A new empty schema for one phase: `eceprobe_loadgen_<pid>_<phase>`.
    pub async fn fresh_schema(&mut self, phase: &str) -> Result<String> {
        let schema = format!("eceprobe_loadgen_{}_{phase}", std::process::id());
        let mut conn = self.connect().await?;
        for sql in [
            format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            format!("CREATE SCHEMA {schema}"),
        ] {
            sqlx::query(&sql)
                .execute(&mut conn)
                .await
                .with_context(|| {
                    format!(
                        "creating schema {schema} in {} (the user needs CREATE on the database)",
                        self.shown()
                    )
                })?;
        }
        conn.close().await.ok();
        self.schemas.push(schema.clone());
        Ok(schema)
    }

    /// The collector's `--db`: the URL with `schema` first on its search path.
    pub fn collector_url(&self, schema: &str) -> String {
        let mut url = self.url.clone();
        let others: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "options")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(others)
            .append_pair("options", &format!("-csearch_path={schema}"));
        url.to_string()
    }

    /// Collector `name`'s configuration in `dir`: its name among those sharing the
    /// database, the password file, and where its local files go.
    pub fn write_config(&self, dir: &Path, name: &str) -> Result<PathBuf> {
        let mut store = format!("[store]\ncollector_name = \"{name}\"\n");
        if let Some(password) = &self.password {
            let file = dir.join("pg.pass");
            write_private(&file, &format!("{password}\n"))?;
            store.push_str("password_file = \"pg.pass\"\n");
        }
        let path = dir.join(format!("{name}.toml"));
        let text = format!("database = \"{name}.db\"\n{store}");
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Rows in `table` of `schema`.
    pub async fn count(&self, schema: &str, table: &str) -> Result<u64> {
        let mut conn = self.connect().await?;
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {schema}.{table}"))
            .fetch_one(&mut conn)
            .await
            .with_context(|| format!("counting {schema}.{table}"))?;
        conn.close().await.ok();
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The schemas this run created.
    pub fn schemas(&self) -> &[String] {
        &self.schemas
    }

    /// Drops every schema this run created.
    pub async fn drop_schemas(&self) -> Result<()> {
        let mut conn = self.connect().await?;
        for schema in &self.schemas {
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&mut conn)
                .await
                .with_context(|| format!("dropping schema {schema}"))?;
        }
        conn.close().await.ok();
        Ok(())
    }
}

/// A URL's password as typed (`%40` is '@').
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A file only its owner can read.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_and_the_schema_goes_on_the_search_path() {
        let pg = Pg::new(
            "postgres://u:p%40ss@127.0.0.1:5432/db?sslmode=disable",
            None,
        )
        .unwrap();
        assert_eq!(pg.password.as_deref(), Some("p@ss"));
        assert_eq!(pg.shown(), "postgres://u@127.0.0.1:5432/db?sslmode=disable");
        assert_eq!(
            pg.collector_url("s1"),
            "postgres://u@127.0.0.1:5432/db?sslmode=disable&options=-csearch_path%3Ds1"
        );
        let e = Pg::new("/tmp/x.db", None).err().unwrap().to_string();
        assert!(e.contains("takes a PostgreSQL URL"), "{e}");
    }
}
