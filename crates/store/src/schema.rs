//! Before migrating: is this database eceprobe's, and of a schema this collector knows?
//! A database of a newer schema (a newer collector wrote it) or one that holds another
//! program's tables is refused with the reason, never migrated or written into.

use sqlx::AnyConnection;

use crate::{Backend, Database, StoreError};

/// sqlx's record of applied migrations: its presence says the schema is ours.
pub(crate) const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// Makes the database's schema this build's: refuses one that is not eceprobe's or is
/// newer ([`check`]), then applies the migrations it lacks (all of them to an empty one).
pub(crate) async fn prepare(
    conn: &mut AnyConnection,
    database: &Database,
) -> Result<(), StoreError> {
    let backend = database.backend();
    check(conn, backend, &database.to_string()).await?;
    backend
        .migrator()
        .run(&mut *conn)
        .await
        .map_err(|error| StoreError::Migrate {
            database: database.to_string(),
            error,
        })?;
    Ok(())
}

/// The highest schema version applied, None for a database without eceprobe's schema.
pub(crate) async fn version(
    conn: &mut AnyConnection,
    backend: Backend,
    database: &str,
) -> Result<Option<i64>, StoreError> {
    let tables: Vec<String> = sqlx::query_scalar(tables_sql(backend))
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| StoreError::Database {
            what: format!("reading the tables of {database}"),
            error: e,
        })?;
    if !tables.iter().any(|t| t == MIGRATIONS_TABLE) {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| StoreError::Database {
            what: format!("reading the schema version of {database}"),
            error: e,
        })
}

/// The tables of the database (of the connection's schema on PostgreSQL), by name, without
/// SQLite's own.
pub(crate) fn tables_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema() ORDER BY table_name"
        }
    }
}

/// Refuses a database that is not eceprobe's or whose schema is newer than this build's.
pub(crate) async fn check(
    conn: &mut AnyConnection,
    backend: Backend,
    database: &str,
) -> Result<(), StoreError> {
    let read = |e| StoreError::Database {
        what: format!("reading the tables of {database}"),
        error: e,
    };
    let tables: Vec<String> = sqlx::query_scalar(tables_sql(backend))
        .fetch_all(&mut *conn)
        .await
        .map_err(read)?;
    if tables.is_empty() {
        return Ok(());
    }
    if !tables.iter().any(|t| t == MIGRATIONS_TABLE) {
        let mut shown: Vec<&str> = tables.iter().map(String::as_str).take(5).collect();
        if tables.len() > shown.len() {
            shown.push("...");
        }
        return Err(StoreError::NotOurs {
            database: database.to_owned(),
            tables: shown.join(", "),
        });
    }
    // Another sqlx program's database has the table too: ours starts with our first
    // migration, under its description.
    let first: Option<String> =
        sqlx::query_scalar("SELECT description FROM _sqlx_migrations ORDER BY version LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(read)?;
    let ours = backend
        .migrator()
        .iter()
        .next()
        .map(|m| m.description.to_string());
    if first.is_some() && first != ours {
        return Err(StoreError::NotOurs {
            database: database.to_owned(),
            tables: format!(
                "{}; its first migration is '{}'",
                tables.join(", ").chars().take(200).collect::<String>(),
                first
                    .unwrap_or_default()
                    .chars()
                    .take(64)
                    .collect::<String>()
            ),
        });
    }
    let found: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&mut *conn)
            .await
            .map_err(read)?;
    let known = backend
        .migrator()
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    match found {
        Some(found) if found > known => Err(StoreError::NewerSchema {
            database: database.to_owned(),
            found,
            known,
        }),
        _ => Ok(()),
    }
}
