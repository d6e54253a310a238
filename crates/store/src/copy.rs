//! `eceprobe-collector migrate`: copies a SQLite store into a PostgreSQL one, every table
//! the schema has (read from the schemas, see `copy_schema.rs`), and checks the counts.
//!
//! - The source is brought to this build's schema first, as `serve` would on it (its
//!   migrations are forward-only and the same ones), so an older collector's file moves
//!   without running the new collector on it first; one of a newer schema or another
//!   program's is refused. The target's schema is made by its normal migrations.
//! - The source's write lock is held for the whole copy: nothing changes under it, and a
//!   collector still writing it makes `migrate` stop at once, with the fix.
//! - Each table goes in primary-key order, in chunks of bounded size, each chunk one
//!   transaction on the target: memory is bounded, and an interrupted copy (Ctrl-C, kill,
//!   a lost connection) leaves whole chunks behind. Run again, each table resumes after the
//!   target's last key (`ON CONFLICT DO NOTHING` covers the rest): nothing is doubled. A
//!   target holding rows the source lacks is refused: they did not come from this file.
//! - Identity ids are copied as they are, then each identity sequence moves past them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::{AnyConnection, Connection};

use crate::copy_keys;
use crate::copy_schema::{self, quoted, Table, Value};
use crate::{database, schema, Backend, Database, StoreError};

/// Rows per chunk (one target transaction) unless told otherwise.
pub const DEFAULT_CHUNK_ROWS: usize = 5_000;
/// PostgreSQL takes at most 65,535 parameters in one statement.
const MAX_PARAMETERS: usize = 65_535;
/// Rows per INSERT statement: 500 rows of 14 columns instead of the 4,681 PostgreSQL's
/// parameter limit allows took the copy's peak RSS from ~58 to ~38 MiB for 200,000 results
/// at the same speed within the noise (docs/BENCHMARKS.md).
const MAX_STATEMENT_ROWS: usize = 500;
/// Progress is logged at least this often (rows) within a table.
const PROGRESS_EVERY: u64 = 100_000;

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Rows per chunk, each chunk one transaction on the target (at least 1).
    pub chunk_rows: usize,
    /// Stop after about this many rows (at a chunk's end), as an interruption would; None:
    /// copy everything. For tests of resuming, and for copying in sittings.
    pub row_budget: Option<u64>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            chunk_rows: DEFAULT_CHUNK_ROWS,
            row_budget: None,
        }
    }
}

/// One table's counts after the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    pub table: String,
    pub source_rows: u64,
    /// Rows the target holds now.
    pub target_rows: u64,
    /// Rows this run inserted (the rest were there from an earlier run).
    pub copied_now: u64,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// The source in words (never a password).
    pub source: String,
    /// The target in words (never its password).
    pub target: String,
    /// The source's schema version before the copy brought it to `source_version` (the
    /// versions count each engine's own migrations).
    pub source_version_before: i64,
    pub source_version: i64,
    /// The target's schema version.
    pub target_version: i64,
    /// Every table, in the order copied, with both counts.
    pub tables: Vec<TableCount>,
    /// The row budget stopped the copy before the end.
    pub stopped_early: bool,
}

impl CopyReport {
    /// Whether every table holds as many rows in the target as in the source.
    pub fn matches(&self) -> bool {
        !self.stopped_early && self.mismatches().next().is_none()
    }

    /// The tables whose counts differ.
    pub fn mismatches(&self) -> impl Iterator<Item = &TableCount> {
        self.tables
            .iter()
            .filter(|t| t.source_rows != t.target_rows)
    }
}

/// Why a copy could not run or stopped; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the SQLite file {path} does not exist: give the collector's database file (`database` in collector.toml, default eceprobe.db)")]
    NoSource { path: PathBuf },
    #[error("{database} holds no eceprobe tables (an empty database): there is nothing to copy; give the file the collector wrote (`database` in collector.toml)")]
    EmptySource { database: String },
    #[error(
        "the target must be a PostgreSQL database (postgres://USER@HOST:PORT/NAME), not {database}"
    )]
    TargetNotPostgres { database: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{database} is being written by another connection ({error}): a collector still running on it? Stop the collector first, then run migrate again")]
    SourceBusy {
        database: String,
        error: sqlx::Error,
    },
    #[error("the source and the target schemas differ: {differences}. Both were brought to this build's schema, so one was changed by another program or by hand: copy the collector's own file into an empty PostgreSQL database")]
    SchemaDiffers { differences: String },
    #[error("table {table} has no primary key: migrate copies in key order, to resume without doubling rows")]
    NoPrimaryKey { table: String },
    #[error("column {table}.{column} is of type {data_type} in the target, which migrate does not carry (bigint, integer, smallint, double precision, real, text, bytea)")]
    UnsupportedType {
        table: String,
        column: String,
        data_type: String,
    },
    #[error("the target's table {table} holds {target_rows} rows, at least {foreign} of which are not in the source (which holds {source_rows}): the target holds data that did not come from this file (a collector wrote into it, or another file was copied into it). migrate fills an empty database or finishes its own interrupted copy: give it an empty database (drop and create it again, or create a new one), then run migrate again")]
    ForeignRows {
        table: String,
        target_rows: u64,
        source_rows: u64,
        foreign: u64,
    },
    #[error("a value of table {table} cannot be read: {error}")]
    Value { table: String, error: sqlx::Error },
    #[error("{what}: {error}; once that is fixed, run migrate again: it resumes where it stopped and copies nothing twice")]
    Sql { what: String, error: sqlx::Error },
    #[error("{database} did not answer within {seconds} s while copying {table} (a lost connection?); run migrate again once it is reachable: it resumes where it stopped and copies nothing twice")]
    TimedOut {
        database: String,
        table: String,
        seconds: u64,
    },
}

/// Copies the SQLite store `from` into the PostgreSQL database `to` (see the module's
/// notes), then counts both sides. The collector must be stopped first.
pub async fn copy_sqlite_to_postgres(
    from: &Path,
    to: &Database,
    options: &CopyOptions,
) -> Result<CopyReport, CopyError> {
    if to.backend() != Backend::Postgres {
        return Err(CopyError::TargetNotPostgres {
            database: to.to_string(),
        });
    }
    if !from.is_file() {
        return Err(CopyError::NoSource {
            path: from.to_path_buf(),
        });
    }
    let source_db = Database::Sqlite(from.to_path_buf());
    let mut source = source_db.connect_writer().await?;
    let result = async {
        let before = schema::version(&mut source, Backend::Sqlite, &source_db.to_string())
            .await?
            .ok_or_else(|| CopyError::EmptySource {
                database: source_db.to_string(),
            });
        let before = match before {
            Ok(v) => v,
            // No record of migrations: another program's tables are named by the check.
            Err(e) => {
                schema::check(&mut source, Backend::Sqlite, &source_db.to_string()).await?;
                return Err(e);
            }
        };
        schema::prepare(&mut source, &source_db).await?;
        let after = schema::version(&mut source, Backend::Sqlite, &source_db.to_string())
            .await?
            .unwrap_or(before);
        let mut target = to.connect_writer().await?;
        let copied = async {
            schema::prepare(&mut target, to).await?;
            let version = schema::version(&mut target, Backend::Postgres, &to.to_string())
                .await?
                .unwrap_or(0);
            // The write lock: nothing changes under the copy.
            sqlx::query(Backend::Sqlite.begin())
                .execute(&mut source)
                .await
                .map_err(|error| CopyError::SourceBusy {
                    database: source_db.to_string(),
                    error,
                })?;
            let copy = Copy {
                source: &mut source,
                target: &mut target,
                to,
                options,
            };
            let report = copy.run(&source_db, [before, after, version]).await;
            if let Err(e) = sqlx::query("ROLLBACK").execute(&mut source).await {
                tracing::warn!(error = %e, "releasing the source's lock failed");
            }
            report
        }
        .await;
        database::close_quietly(target).await;
        copied
    }
    .await;
    database::close_quietly(source).await;
    result
}

/// Where one table's copy starts.
struct Resume {
    source_rows: u64,
    target_rows: u64,
    /// The target's last key: copy the source's rows after it (None: from the first).
    after: Option<Vec<Value>>,
}

struct Copy<'a> {
    source: &'a mut AnyConnection,
    target: &'a mut AnyConnection,
    to: &'a Database,
    options: &'a CopyOptions,
}

impl Copy<'_> {
    async fn run(
        mut self,
        source_db: &Database,
        [before, after, target_version]: [i64; 3],
    ) -> Result<CopyReport, CopyError> {
        let tables = copy_schema::plan(&mut *self.source, &mut *self.target).await?;
        let mut budget = self.options.row_budget;
        let mut copied = Vec::with_capacity(tables.len());
        let mut stopped_early = false;
        // Every table is checked before anything is written: a target holding another
        // database's rows is refused untouched.
        let mut resumes = Vec::with_capacity(tables.len());
        for table in &tables {
            resumes.push(self.resume_point(table).await?);
        }
        for (table, resume) in tables.iter().zip(resumes) {
            let (now, stopped) = self.table(table, resume, &mut budget).await?;
            copied.push(now);
            if stopped {
                stopped_early = true;
                break;
            }
        }
        for table in &tables {
            copy_keys::move_identities(&mut *self.source, &mut *self.target, table).await?;
        }
        // Counted again, after everything: the report is what both sides hold now.
        let mut counts = Vec::with_capacity(tables.len());
        for table in &tables {
            let copied_now = copied
                .iter()
                .find(|(name, _)| name == &table.name)
                .map_or(0, |(_, n)| *n);
            counts.push(TableCount {
                table: table.name.clone(),
                source_rows: copy_keys::count(&mut *self.source, table, "the source").await?,
                target_rows: copy_keys::count(&mut *self.target, table, "the target").await?,
                copied_now,
            });
        }
        Ok(CopyReport {
            source: source_db.to_string(),
            target: self.to.to_string(),
            source_version_before: before,
            source_version: after,
            target_version,
            tables: counts,
            stopped_early,
        })
    }

    /// Where the table's copy starts: after the target's last key when the target holds
    /// a prefix of the source in key order (what an interrupted copy leaves), from the
    /// first row otherwise. Refuses a target holding a key the source lacks.
    async fn resume_point(&mut self, table: &Table) -> Result<Resume, CopyError> {
        let name = &table.name;
        let source_rows = copy_keys::count(&mut *self.source, table, "the source").await?;
        let target_rows = copy_keys::count(&mut *self.target, table, "the target").await?;
        let Some(key) = copy_keys::last_key(&mut *self.target, table).await? else {
            return Ok(Resume {
                source_rows,
                target_rows,
                after: None,
            });
        };
        let foreign = copy_keys::keys_not_in(
            &mut *self.source,
            &mut *self.target,
            table,
            self.options.chunk_rows,
        )
        .await?;
        if foreign > 0 {
            return Err(CopyError::ForeignRows {
                table: name.clone(),
                target_rows,
                source_rows,
                foreign,
            });
        }
        let upto = copy_keys::rows_upto(&mut *self.source, table, &key).await?;
        if upto == target_rows {
            return Ok(Resume {
                source_rows,
                target_rows,
                after: Some(key),
            });
        }
        // The source gained rows before the target's last key since the last run (the
        // collector ran on it again): from the first row, what is there is kept once.
        tracing::info!(
            table = %name,
            "the source has rows before the target's last key that the target lacks: copying the table from its first row again (rows already there are kept once)"
        );
        Ok(Resume {
            source_rows,
            target_rows,
            after: None,
        })
    }

    /// Copies what the target lacks of one table from `resume`; returns the rows
    /// inserted, and whether the budget ran out.
    async fn table(
        &mut self,
        table: &Table,
        resume: Resume,
        budget: &mut Option<u64>,
    ) -> Result<((String, u64), bool), CopyError> {
        let name = &table.name;
        let Resume {
            source_rows,
            target_rows,
            mut after,
        } = resume;
        if target_rows == source_rows && after.is_some() {
            tracing::info!(table = %name, rows = source_rows, "already copied");
            return Ok(((name.clone(), 0), false));
        }
        tracing::info!(
            table = %name,
            source_rows,
            already_in_target = target_rows,
            "copying"
        );
        let select = format!(
            "SELECT {} FROM {} {{where}} ORDER BY {} LIMIT {{limit}}",
            table.column_list(),
            quoted(name),
            table.key_list(""),
        );
        let mut inserted = 0u64;
        let mut read = 0u64;
        let mut logged = 0u64;
        loop {
            let mut limit = self.options.chunk_rows.max(1) as u64;
            if let Some(left) = *budget {
                if left == 0 {
                    tracing::info!(table = %name, inserted, "stopped: the row budget is spent");
                    return Ok(((name.clone(), inserted), true));
                }
                limit = limit.min(left);
            }
            let sql = select
                .replace(
                    "{where}",
                    &match after {
                        None => String::new(),
                        Some(_) => format!("WHERE {}", table.key_compare(">")),
                    },
                )
                .replace("{limit}", &limit.to_string());
            let mut query = sqlx::query(&sql);
            for v in after.iter().flatten() {
                query = v.clone().bind(query);
            }
            let rows =
                query
                    .fetch_all(&mut *self.source)
                    .await
                    .map_err(|error| CopyError::Sql {
                        what: format!("reading {name} from the source"),
                        error,
                    })?;
            if rows.is_empty() {
                break;
            }
            let mut values = Vec::with_capacity(rows.len());
            for row in &rows {
                values.push(table.row_of(row)?);
            }
            drop(rows);
            let n = values.len() as u64;
            after = values
                .last()
                .map(|last| table.key.iter().map(|&i| last[i].clone()).collect());
            inserted += self.insert_chunk(table, values).await?;
            read += n;
            if let Some(left) = budget.as_mut() {
                *left = left.saturating_sub(n);
            }
            if read - logged >= PROGRESS_EVERY {
                logged = read;
                tracing::info!(table = %name, read, of = source_rows - target_rows.min(source_rows), "copying");
            }
            if n < limit {
                break;
            }
        }
        tracing::info!(table = %name, inserted, "copied");
        Ok(((name.clone(), inserted), false))
    }

    /// Inserts one chunk in one transaction; returns the rows inserted (a row already
    /// there is left as it is).
    async fn insert_chunk(
        &mut self,
        table: &Table,
        rows: Vec<Vec<Value>>,
    ) -> Result<u64, CopyError> {
        let width = table.columns.len();
        let per_statement = (MAX_PARAMETERS / width).clamp(1, MAX_STATEMENT_ROWS);
        let overriding = match table.identity.is_empty() {
            true => "",
            false => " OVERRIDING SYSTEM VALUE",
        };
        let head = format!(
            "INSERT INTO {} ({}){overriding} VALUES ",
            quoted(&table.name),
            table.column_list()
        );
        let limit = self.to.write_timeout().unwrap_or(Duration::from_secs(60));
        let write = |error| CopyError::Sql {
            what: format!("writing {} into the target", table.name),
            error,
        };
        let target = &mut *self.target;
        let work = async move {
            let mut tx = target.begin().await.map_err(write)?;
            let mut inserted = 0;
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                let part: Vec<Vec<Value>> = rows.by_ref().take(per_statement).collect();
                let mut sql = head.clone();
                sql.push_str(&copy_schema::placeholders(part.len(), width));
                sql.push_str(" ON CONFLICT DO NOTHING");
                let mut query = sqlx::query(&sql);
                for v in part.into_iter().flatten() {
                    query = v.bind(query);
                }
                inserted += query
                    .execute(&mut *tx)
                    .await
                    .map_err(write)?
                    .rows_affected();
            }
            tx.commit().await.map_err(write)?;
            Ok(inserted)
        };
        match tokio::time::timeout(limit, work).await {
            Ok(done) => done,
            Err(_) => Err(CopyError::TimedOut {
                database: self.to.to_string(),
                table: table.name.clone(),
                seconds: limit.as_secs(),
            }),
        }
    }
}
