//! What [`crate::copy`] copies, read from the two schemas themselves (SQLite's
//! `sqlite_master` and `pragma_table_info`, PostgreSQL's `information_schema`), never from a
//! list kept here: a table a later migration adds is copied without an edit. A table or
//! column on one side only is an error that names it.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{AnyConnection, Row};

use crate::copy::CopyError;
use crate::schema::{tables_sql, MIGRATIONS_TABLE};
use crate::Backend;

/// How a column's values travel: read from SQLite as this, bound to PostgreSQL as this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Real,
    Text,
    Bytes,
}

#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) kind: Kind,
}

/// One table to copy: its columns (in SQLite's order), its primary key (positions in
/// `columns`, in key order) and the identity columns PostgreSQL numbers.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub(crate) name: String,
    pub(crate) columns: Vec<Column>,
    pub(crate) key: Vec<usize>,
    pub(crate) identity: Vec<String>,
}

/// The tables to copy, parents before the tables whose foreign keys name them (PostgreSQL
/// checks every foreign key as rows arrive).
pub(crate) async fn plan(
    source: &mut AnyConnection,
    target: &mut AnyConnection,
) -> Result<Vec<Table>, CopyError> {
    let read = |what: String| move |error| CopyError::Sql { what, error };
    let source_tables = user_tables(source, Backend::Sqlite)
        .await
        .map_err(read("reading the source's tables".into()))?;
    let target_tables: BTreeSet<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut *target)
    .await
    .map_err(read("reading the target's tables".into()))?
    .into_iter()
    .filter(|t| t != MIGRATIONS_TABLE)
    .collect();

    let mut differences = Vec::new();
    for t in source_tables.iter().filter(|t| !target_tables.contains(*t)) {
        differences.push(format!("table {t} is in the source only"));
    }
    for t in target_tables.iter().filter(|t| !source_tables.contains(*t)) {
        differences.push(format!("table {t} is in the target only"));
    }

    let mut tables = BTreeMap::new();
    let mut parents = BTreeMap::new();
    for name in source_tables.iter().filter(|t| target_tables.contains(*t)) {
        let sqlite_columns: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, pk FROM pragma_table_info($1) ORDER BY cid")
                .bind(name)
                .fetch_all(&mut *source)
                .await
                .map_err(read(format!("reading the columns of {name} in the source")))?;
        let pg_columns: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT), \
             CAST(is_identity AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 \
             ORDER BY ordinal_position",
        )
        .bind(name)
        .fetch_all(&mut *target)
        .await
        .map_err(read(format!("reading the columns of {name} in the target")))?;
        let pg: BTreeMap<&str, (&str, bool)> = pg_columns
            .iter()
            .map(|(c, t, i)| (c.as_str(), (t.as_str(), i == "YES")))
            .collect();
        let mut columns = Vec::new();
        let mut key = Vec::new();
        for (column, pk) in &sqlite_columns {
            let Some((data_type, _)) = pg.get(column.as_str()) else {
                differences.push(format!("column {name}.{column} is in the source only"));
                continue;
            };
            let kind = kind_of(data_type).ok_or_else(|| CopyError::UnsupportedType {
                table: name.clone(),
                column: column.clone(),
                data_type: (*data_type).to_owned(),
            })?;
            if *pk > 0 {
                key.push((*pk, columns.len()));
            }
            columns.push(Column {
                name: column.clone(),
                kind,
            });
        }
        for (column, _, _) in &pg_columns {
            if !sqlite_columns.iter().any(|(c, _)| c == column) {
                differences.push(format!("column {name}.{column} is in the target only"));
            }
        }
        if key.is_empty() {
            return Err(CopyError::NoPrimaryKey {
                table: name.clone(),
            });
        }
        key.sort_unstable();
        let identity = pg_columns
            .iter()
            .filter(|(_, _, i)| i == "YES")
            .map(|(c, _, _)| c.clone())
            .collect();
        let mine: BTreeSet<String> =
            sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list($1)")
                .bind(name)
                .fetch_all(&mut *source)
                .await
                .map_err(read(format!("reading the foreign keys of {name}")))?
                .into_iter()
                .filter(|p| p != name)
                .collect();
        parents.insert(name.clone(), mine);
        tables.insert(
            name.clone(),
            Table {
                name: name.clone(),
                columns,
                key: key.into_iter().map(|(_, i)| i).collect(),
                identity,
            },
        );
    }
    if !differences.is_empty() {
        return Err(CopyError::SchemaDiffers {
            differences: differences.join("; "),
        });
    }
    parents_first(tables, parents)
}

/// The tables of the source, without sqlx's record of migrations (each side keeps its own).
pub(crate) async fn user_tables(
    conn: &mut AnyConnection,
    backend: Backend,
) -> Result<BTreeSet<String>, sqlx::Error> {
    let all: Vec<String> = sqlx::query_scalar(tables_sql(backend))
        .fetch_all(&mut *conn)
        .await?;
    Ok(all.into_iter().filter(|t| t != MIGRATIONS_TABLE).collect())
}

/// PostgreSQL's type names (information_schema's `data_type`) this copy carries.
fn kind_of(data_type: &str) -> Option<Kind> {
    match data_type {
        "bigint" | "integer" | "smallint" => Some(Kind::Int),
        "double precision" | "real" => Some(Kind::Real),
        "text" | "character varying" | "character" => Some(Kind::Text),
        "bytea" => Some(Kind::Bytes),
        _ => None,
    }
}

/// Orders the tables so every table comes after the ones its foreign keys name (by name
/// among equals, so runs are alike).
fn parents_first(
    mut tables: BTreeMap<String, Table>,
    mut parents: BTreeMap<String, BTreeSet<String>>,
) -> Result<Vec<Table>, CopyError> {
    let mut ordered = Vec::with_capacity(tables.len());
    while !tables.is_empty() {
        let ready: Vec<String> = tables
            .keys()
            .filter(|t| {
                parents
                    .get(*t)
                    .is_none_or(|ps| ps.iter().all(|p| !tables.contains_key(p)))
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(CopyError::SchemaDiffers {
                differences: format!(
                    "the foreign keys of {} form a cycle, which a table-by-table copy cannot order",
                    tables.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        for name in ready {
            parents.remove(&name);
            if let Some(t) = tables.remove(&name) {
                ordered.push(t);
            }
        }
    }
    Ok(ordered)
}

/// `($1, $2), ($3, $4)`: the parameters of `rows` rows of `width` values.
pub(crate) fn placeholders(rows: usize, width: usize) -> String {
    let mut sql = String::with_capacity(rows * width * 5);
    let mut n = 0;
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            n += 1;
            sql.push_str(if c == 0 { "$" } else { ", $" });
            sql.push_str(&n.to_string());
        }
        sql.push(')');
    }
    sql
}

/// An identifier in double quotes, as both engines read it.
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Table {
    /// `"a", "b"`: every column, in order.
    pub(crate) fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| quoted(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `"a", "b"` of the primary key, each followed by `suffix` (" DESC" or "").
    pub(crate) fn key_list(&self, suffix: &str) -> String {
        self.key
            .iter()
            .map(|&i| format!("{}{suffix}", quoted(&self.columns[i].name)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `("a", "b") <op> ($1, $2)`: the key compared with a bound key, as a row value.
    pub(crate) fn key_compare(&self, op: &str) -> String {
        let params: Vec<String> = (1..=self.key.len()).map(|n| format!("${n}")).collect();
        format!("({}) {op} ({})", self.key_list(""), params.join(", "))
    }

    /// The primary key's columns, in key order.
    pub(crate) fn key_columns(&self) -> impl Iterator<Item = &Column> {
        self.key.iter().map(|&i| &self.columns[i])
    }

    /// A row read from the source (every column, in order).
    pub(crate) fn row_of(&self, row: &sqlx::any::AnyRow) -> Result<Vec<Value>, CopyError> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, c)| Value::read(row, i, c.kind))
            .map(|v| {
                v.map_err(|error| CopyError::Value {
                    table: self.name.clone(),
                    error,
                })
            })
            .collect()
    }
}

/// A value on its way from one engine to the other; None is SQL NULL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

impl Value {
    pub(crate) fn read(
        row: &sqlx::any::AnyRow,
        i: usize,
        kind: Kind,
    ) -> Result<Value, sqlx::Error> {
        Ok(match kind {
            Kind::Int => Value::Int(row.try_get(i)?),
            Kind::Real => Value::Real(row.try_get(i)?),
            Kind::Text => Value::Text(row.try_get(i)?),
            Kind::Bytes => Value::Bytes(row.try_get(i)?),
        })
    }

    pub(crate) fn bind<'q>(
        self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        match self {
            Value::Int(v) => q.bind(v),
            Value::Real(v) => q.bind(v),
            Value::Text(v) => q.bind(v),
            Value::Bytes(v) => q.bind(v),
        }
    }
}
