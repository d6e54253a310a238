//! The reads that let a copy resume and check itself: a table's counts and last key, the
//! target's keys the source lacks, and moving identity sequences past copied ids.

use sqlx::{AnyConnection, Row};

use crate::copy::CopyError;
use crate::copy_schema::{placeholders, quoted, Table, Value};

/// The target's highest primary key of the table, None when it is empty.
pub(crate) async fn last_key(
    target: &mut AnyConnection,
    table: &Table,
) -> Result<Option<Vec<Value>>, CopyError> {
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {} LIMIT 1",
        table.key_list(""),
        quoted(&table.name),
        table.key_list(" DESC")
    );
    let row = sqlx::query(&sql)
        .fetch_optional(&mut *target)
        .await
        .map_err(|error| CopyError::Sql {
            what: format!("reading the last key of {} in the target", table.name),
            error,
        })?;
    let Some(row) = row else {
        return Ok(None);
    };
    table
        .key_columns()
        .enumerate()
        .map(|(i, c)| {
            Value::read(&row, i, c.kind).map_err(|error| CopyError::Value {
                table: table.name.clone(),
                error,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// How many of the target's keys of the table the source lacks, read in chunks in key
/// order (bounded memory).
pub(crate) async fn keys_not_in(
    source: &mut AnyConnection,
    target: &mut AnyConnection,
    table: &Table,
    chunk_rows: usize,
) -> Result<u64, CopyError> {
    let width = table.key.len();
    // SQLite takes at most 32,766 parameters in one statement.
    let chunk = chunk_rows.clamp(1, 32_766 / width);
    let read = |what: &str| {
        let what = format!("{what} {} to compare the keys", table.name);
        move |error| CopyError::Sql { what, error }
    };
    let mut after: Option<Vec<Value>> = None;
    let mut missing = 0;
    loop {
        let sql = format!(
            "SELECT {} FROM {} {} ORDER BY {} LIMIT {chunk}",
            table.key_list(""),
            quoted(&table.name),
            match after {
                None => String::new(),
                Some(_) => format!("WHERE {}", table.key_compare(">")),
            },
            table.key_list(""),
        );
        let mut query = sqlx::query(&sql);
        for v in after.iter().flatten() {
            query = v.clone().bind(query);
        }
        let rows = query
            .fetch_all(&mut *target)
            .await
            .map_err(read("reading the target's"))?;
        if rows.is_empty() {
            return Ok(missing);
        }
        let keys: Vec<Vec<Value>> = rows
            .iter()
            .map(|row| {
                table
                    .key_columns()
                    .enumerate()
                    .map(|(i, c)| Value::read(row, i, c.kind))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()
            .map_err(|error| CopyError::Value {
                table: table.name.clone(),
                error,
            })?;
        let n = keys.len();
        let values = placeholders(n, width);
        // Driven from the list, one primary-key lookup per key: SQLite 3.40 plans
        // `(k) IN (VALUES ...)` as a scan of the whole table per chunk instead.
        let on: Vec<String> = table
            .key_columns()
            .enumerate()
            .map(|(i, c)| format!("t.{} = v.column{}", quoted(&c.name), i + 1))
            .collect();
        let sql = format!(
            "SELECT COUNT(*) FROM (VALUES {values}) AS v JOIN {} AS t ON {}",
            quoted(&table.name),
            on.join(" AND ")
        );
        after = keys.last().cloned();
        let mut query = sqlx::query(&sql);
        for v in keys.into_iter().flatten() {
            query = v.bind(query);
        }
        let found: i64 = query
            .fetch_one(&mut *source)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(read("looking up in the source the keys of"))?;
        missing += (n as u64).saturating_sub(u64::try_from(found).unwrap_or(0));
        if n < chunk {
            return Ok(missing);
        }
    }
}

/// The source's rows up to and including `key`.
pub(crate) async fn rows_upto(
    source: &mut AnyConnection,
    table: &Table,
    key: &[Value],
) -> Result<u64, CopyError> {
    let sql = format!(
        "SELECT COUNT(*) FROM {} WHERE {}",
        quoted(&table.name),
        table.key_compare("<=")
    );
    let mut query = sqlx::query(&sql);
    for v in key {
        query = v.clone().bind(query);
    }
    let n: i64 = query
        .fetch_one(&mut *source)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|error| CopyError::Sql {
            what: format!("counting the rows of {} in the source", table.name),
            error,
        })?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Moves each identity sequence of the table past the highest id copied (and past
/// SQLite's AUTOINCREMENT record, which remembers ids of deleted rows too), so the
/// collector's next insert takes a new id.
pub(crate) async fn move_identities(
    source: &mut AnyConnection,
    target: &mut AnyConnection,
    table: &Table,
) -> Result<(), CopyError> {
    for column in &table.identity {
        let fail = |error| CopyError::Sql {
            what: format!(
                "moving the id sequence of {}.{column} past the copied ids",
                table.name
            ),
            error,
        };
        let max: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MAX({}) FROM {}",
            quoted(column),
            quoted(&table.name)
        ))
        .fetch_one(&mut *target)
        .await
        .map_err(fail)?;
        let autoincrement = sqlite_sequence(&mut *source, &table.name).await?;
        let highest = max.into_iter().chain(autoincrement).max();
        sqlx::query("SELECT setval(pg_get_serial_sequence($1, $2), $3, $4)")
            .bind(quoted(&table.name))
            .bind(column)
            .bind(highest.unwrap_or(1))
            .bind(highest.is_some())
            .execute(&mut *target)
            .await
            .map_err(fail)?;
    }
    Ok(())
}

/// SQLite's AUTOINCREMENT record of the table, if it has one.
async fn sqlite_sequence(
    source: &mut AnyConnection,
    table: &str,
) -> Result<Option<i64>, CopyError> {
    let read = |error| CopyError::Sql {
        what: "reading the source's sqlite_sequence".to_owned(),
        error,
    };
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'",
    )
    .fetch_one(&mut *source)
    .await
    .map_err(read)?;
    if exists == 0 {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = $1")
        .bind(table)
        .fetch_optional(&mut *source)
        .await
        .map_err(read)
}

pub(crate) async fn count(
    conn: &mut AnyConnection,
    table: &Table,
    side: &str,
) -> Result<u64, CopyError> {
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quoted(&table.name)))
        .fetch_one(conn)
        .await
        .map_err(|error| CopyError::Sql {
            what: format!("counting the rows of {} in {side}", table.name),
            error,
        })?;
    Ok(u64::try_from(n).unwrap_or(0))
}
