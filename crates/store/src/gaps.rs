//! Gaps as recorded: reconciling the open set with what the engine finds now (in the
//! writer), pruning closed ones, and reading them back (through the read pool).

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool};

use crate::sql::Sql;

use super::rows::column;
use super::{FoundGap, GapChanges, GapFilter, GapRecord, KindMatch, StoreError, MAX_GAPS_LIMIT};

pub(super) const COLUMNS: &str = "gap_id, deployment, agent_id, check_id, kind, severity, detail, \
     opened_unix_ms, closed_unix_ms, close_reason";

type Key = (String, String, String, String);

fn key_of(g: &GapRecord) -> Key {
    (
        g.agent_id.clone(),
        g.check.clone(),
        g.kind.clone(),
        g.severity.clone(),
    )
}

fn db_error(what: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |source| StoreError::Database {
        what: what.to_owned(),
        error: source,
    }
}

/// Makes the open gaps exactly `found`: opens the new ones (at `now`), closes the ones no
/// longer found (at `now`), and updates the detail of the ones still found. Runs inside the
/// writer's transaction, so a reader sees the whole change or none of it.
pub(super) async fn reconcile(
    conn: &mut AnyConnection,
    found: Vec<FoundGap>,
    now_unix_ms: i64,
) -> Result<GapChanges, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM gaps WHERE closed_unix_ms IS NULL"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error("reading the open gaps"))?;
    let mut open: BTreeMap<Key, GapRecord> = BTreeMap::new();
    for row in &rows {
        let gap = gap(row)?;
        open.insert(key_of(&gap), gap);
    }
    // An evaluation that read the fleet before a server was retired must not reopen the
    // gaps the retirement closed: both run in this writer, so this read is current.
    let retired: std::collections::HashSet<String> =
        sqlx::query_scalar("SELECT agent_id FROM agents WHERE retired_unix_ms IS NOT NULL")
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error("reading the retired servers"))?
            .into_iter()
            .collect();
    let mut changes = GapChanges::default();
    let mut seen: BTreeMap<Key, ()> = BTreeMap::new();
    for f in found.into_iter().filter(|f| !retired.contains(&f.agent_id)) {
        let key = (
            f.agent_id.clone(),
            f.check.clone(),
            f.kind.clone(),
            f.severity.clone(),
        );
        if seen.insert(key.clone(), ()).is_some() {
            continue;
        }
        match open.remove(&key) {
            Some(current) if current.detail == f.detail && current.deployment == f.deployment => {}
            Some(current) => {
                sqlx::query("UPDATE gaps SET detail = $2, deployment = $3 WHERE gap_id = $1")
                    .bind(current.gap_id)
                    .bind(&f.detail)
                    .bind(&f.deployment)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error("updating an open gap's detail"))?;
                changes.updated += 1;
            }
            None => {
                let gap_id: i64 = sqlx::query_scalar(
                    "INSERT INTO gaps (deployment, agent_id, check_id, kind, severity, detail, \
                     opened_unix_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING gap_id",
                )
                .bind(&f.deployment)
                .bind(&f.agent_id)
                .bind(&f.check)
                .bind(&f.kind)
                .bind(&f.severity)
                .bind(&f.detail)
                .bind(now_unix_ms)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_error("opening a gap"))?;
                changes.opened.push(GapRecord {
                    gap_id,
                    deployment: f.deployment,
                    agent_id: f.agent_id,
                    check: f.check,
                    kind: f.kind,
                    severity: f.severity,
                    detail: f.detail,
                    opened_unix_ms: now_unix_ms,
                    closed_unix_ms: None,
                    close_reason: None,
                });
            }
        }
    }
    for (_, mut gap) in open {
        // A clock that stepped back must not close a gap before it opened.
        let closed = now_unix_ms.max(gap.opened_unix_ms);
        sqlx::query("UPDATE gaps SET closed_unix_ms = $2 WHERE gap_id = $1")
            .bind(gap.gap_id)
            .bind(closed)
            .execute(&mut *conn)
            .await
            .map_err(db_error("closing a gap"))?;
        gap.closed_unix_ms = Some(closed);
        changes.closed.push(gap);
    }
    Ok(changes)
}

/// Deletes at most `limit` gaps closed before the cutoff; open gaps are never pruned.
pub(super) async fn prune_closed(
    conn: &mut AnyConnection,
    cutoff_unix_ms: i64,
    limit: u32,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM gaps WHERE gap_id IN (SELECT gap_id FROM gaps \
         WHERE closed_unix_ms < $1 LIMIT $2)",
    )
    .bind(cutoff_unix_ms)
    .bind(i64::from(limit))
    .execute(&mut *conn)
    .await
    .map_err(db_error("pruning closed gaps"))?;
    Ok(done.rows_affected())
}

/// Gaps matching the filter: open ones by deployment, server, check and kind; history
/// newest opened first. Only the filters given become SQL conditions, so "open only" is
/// answered from the small partial index of open gaps.
pub(super) async fn select(
    pool: &AnyPool,
    filter: &GapFilter,
) -> Result<Vec<GapRecord>, StoreError> {
    let mut q = Sql::new(format!("SELECT {COLUMNS} FROM gaps"));
    let mut first = true;
    let mut and = |q: &mut Sql| {
        q.push(if first { " WHERE " } else { " AND " });
        first = false;
    };
    if filter.open_only {
        and(&mut q);
        q.push("closed_unix_ms IS NULL");
    }
    for (column, value) in [
        ("deployment", &filter.deployment),
        ("agent_id", &filter.agent_id),
        ("check_id", &filter.check),
        ("severity", &filter.severity),
    ] {
        if let Some(value) = value {
            and(&mut q);
            q.push(column).push(" = ").push_bind(value.clone());
        }
    }
    if let Some(kinds) = &filter.kinds {
        and(&mut q);
        push_kind_match(&mut q, kinds);
    }
    if let Some(since) = filter.since_unix_ms {
        and(&mut q);
        q.push("(closed_unix_ms IS NULL OR closed_unix_ms >= ")
            .push_bind(since)
            .push(")");
    }
    q.push(match filter.open_only {
        true => " ORDER BY deployment, agent_id, check_id, kind, severity",
        false => " ORDER BY opened_unix_ms DESC, gap_id DESC",
    });
    let limit = match filter.limit {
        0 => MAX_GAPS_LIMIT,
        n => n.min(MAX_GAPS_LIMIT),
    };
    q.push(" LIMIT ").push_bind(i64::from(limit));
    let rows = q
        .fetch_all(pool)
        .await
        .map_err(|e| super::read_error("reading gaps", e))?;
    rows.iter().map(gap).collect()
}

/// `m` as one SQL condition on the gaps table (see [`KindMatch`]). The detail's first word
/// is cut at the first space, as `gaps::owner` cuts it: a detail is a listed word, or starts
/// with one and a space (written with `substr` and `length`, which both engines have).
pub(super) fn push_kind_match(q: &mut Sql, m: &KindMatch) {
    if m.negate {
        q.push("NOT ");
    }
    q.push("(kind IN ");
    q.push_list(m.kinds.iter().copied());
    q.push(" OR (kind = ").push_bind(m.by_detail).push(" AND (");
    if m.first_words.is_empty() {
        q.push("1 = 0");
    }
    for (i, word) in m.first_words.iter().enumerate() {
        if i > 0 {
            q.push(" OR ");
        }
        q.push("detail = ").push_bind(*word);
        q.push(" OR substr(detail, 1, ")
            // An INTEGER (i32): PostgreSQL has substr(text, int, int) and no implicit
            // bigint-to-integer cast for a parameter.
            .push_bind(i32::try_from(word.chars().count() + 1).unwrap_or(i32::MAX))
            .push(") = ")
            .push_bind(format!("{word} "));
    }
    q.push(")))");
}

pub(super) fn gap(row: &AnyRow) -> Result<GapRecord, StoreError> {
    const T: &str = "gaps";
    Ok(GapRecord {
        gap_id: column(row, T, "gap_id")?,
        deployment: column(row, T, "deployment")?,
        agent_id: column(row, T, "agent_id")?,
        check: column(row, T, "check_id")?,
        kind: column(row, T, "kind")?,
        severity: column(row, T, "severity")?,
        detail: column(row, T, "detail")?,
        opened_unix_ms: column(row, T, "opened_unix_ms")?,
        closed_unix_ms: column(row, T, "closed_unix_ms")?,
        close_reason: column(row, T, "close_reason")?,
    })
}
