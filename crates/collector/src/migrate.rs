//! `eceprobe-collector migrate --from FILE --to URL`: the flags read, the store's copy run
//! (`eceprobe_store::copy_sqlite_to_postgres`), its report printed.

use std::fmt::Write;

use anyhow::Context;
use eceprobe_collector::store::{copy_sqlite_to_postgres, CopyOptions, CopyReport, Database};
use eceprobe_collector::store_settings::StoreSettings;

use crate::cli::MigrateArgs;

/// Runs the copy; the report's text and the exit code (0 every count matches, 1 not).
pub(crate) async fn run(args: MigrateArgs) -> anyhow::Result<(String, u8)> {
    let to = Database::parse(&args.to).context("--to")?;
    if to.backend() != eceprobe_collector::store::Backend::Postgres {
        anyhow::bail!(
            "--to must be a PostgreSQL database, postgres://USER@HOST:PORT/NAME (the password from --password-file or PGPASSWORD), not {to}"
        );
    }
    // The password's handling is serve's ([store] password_file, else PGPASSWORD).
    let settings = StoreSettings {
        url: Some(to),
        password_file: args.password_file,
        ..StoreSettings::default()
    };
    let to = settings.database(&args.from)?;
    tracing::info!(
        from = %args.from.display(),
        to = %to,
        "copying; the collector must be stopped"
    );
    let options = CopyOptions {
        chunk_rows: args.chunk_rows.max(1),
        row_budget: None,
    };
    let report = copy_sqlite_to_postgres(&args.from, &to, &options).await?;
    let code = if report.matches() { 0 } else { 1 };
    Ok((render(&report), code))
}

/// The report: where from and to, a table of counts, and the verdict with what to do next.
fn render(r: &CopyReport) -> String {
    let mut out = String::new();
    let migrated = match r.source_version_before < r.source_version {
        true => format!(
            ", brought from schema version {} to {} first, as serve would",
            r.source_version_before, r.source_version
        ),
        false => format!(", schema version {}", r.source_version),
    };
    let _ = writeln!(out, "from {}{migrated}", r.source);
    let _ = writeln!(
        out,
        "to   {}, schema version {}",
        r.target, r.target_version
    );
    let width = r
        .tables
        .iter()
        .map(|t| t.table.len())
        .max()
        .unwrap_or(0)
        .max("table".len());
    let _ = writeln!(
        out,
        "{:<width$}  {:>12}  {:>12}  {:>12}",
        "table", "source rows", "copied rows", "this run"
    );
    for t in &r.tables {
        let _ = writeln!(
            out,
            "{:<width$}  {:>12}  {:>12}  {:>12}",
            t.table, t.source_rows, t.target_rows, t.copied_now
        );
    }
    let mismatches: Vec<_> = r.mismatches().collect();
    if mismatches.is_empty() && !r.stopped_early {
        let rows: u64 = r.tables.iter().map(|t| t.source_rows).sum();
        let _ = writeln!(
            out,
            "every table matches: {rows} rows in {} tables.\nNext: start the collector on PostgreSQL (`serve --db postgres://...` or [store] url in collector.toml), not on the SQLite file: what a collector writes there now is not in the copy. Keep the file as a backup.",
            r.tables.len()
        );
    } else {
        for t in &mismatches {
            let _ = writeln!(
                out,
                "MISMATCH {}: {} rows in the source, {} in the target",
                t.table, t.source_rows, t.target_rows
            );
        }
        let _ = writeln!(
            out,
            "the copy does not match the source: run migrate again (it resumes and copies nothing twice); if a count still differs, the target holds rows that did not come from this file: give migrate an empty database"
        );
    }
    out
}
