//! `eceprobe-agent check --report FILE`: the run as a document for a change ticket or a TAC
//! case, as HTML (one self-contained, printable page) or Markdown, chosen by the file's
//! extension. The document model and its renderings are the collector's audit reports'
//! (`eceprobe_report`), so both read alike: a summary and its facts, every check's verdict,
//! what to do (each failure or warning with its kind, stage, owner, checklist items and
//! fix), then each check's details: stages per address, the DNS answer, the certificate
//! chain, the path trace, the token's non-secret claims.
//!
//! A [`SuiteReport`] holds no secret (the OAuth checks keep verdicts and non-secret claims
//! only); before writing, the mailboxes' secret files are read again and the text is
//! searched for each, so a regression is refused rather than written.

use std::path::{Path, PathBuf};

use eceprobe_checks::{ChecklistItem, Cloud, Outcome, Role, SuiteReport};
use eceprobe_report::{Block, Class, Document, Row, Span, Table, Tone};

use crate::mailbox::Mailbox;
use crate::render::{detail, duration, label, target};

mod details;

/// The formats `--report` writes, by the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Html,
    Markdown,
}

/// Why the report was not written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("--report {}: name the file .html (a page to print or attach) or .md (Markdown to paste into a ticket)", path.display())]
    Extension { path: PathBuf },
    #[error("cannot write the report {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the report would hold the secret of {file}: nothing was written (this is a bug in eceprobe; please report it)")]
    WouldLeak { file: String },
}

impl ReportFormat {
    /// `.html`/`.htm` or `.md`/`.markdown`, in any case.
    pub fn of(path: &Path) -> Result<ReportFormat, ReportError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("html" | "htm") => Ok(ReportFormat::Html),
            Some("md" | "markdown") => Ok(ReportFormat::Markdown),
            _ => Err(ReportError::Extension {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// What the run was, beside its results.
pub struct RunFacts<'a> {
    /// This machine's name.
    pub host: String,
    pub role: Role,
    pub cloud: Cloud,
    /// ECE's Java trust store: the line `check` prints.
    pub java: &'a str,
    /// ECE's Java runtime's line, when its home is known.
    pub java_runtime: Option<String>,
    pub config: Option<&'a Path>,
}

/// The report's text in `format`.
pub fn render(facts: &RunFacts, report: &SuiteReport, format: ReportFormat) -> String {
    let doc = document(facts, report);
    match format {
        ReportFormat::Html => eceprobe_report::html::render(&doc),
        ReportFormat::Markdown => eceprobe_report::markdown::render(&doc),
    }
}

/// Writes the report to `path`, once the text is known to hold none of the mailboxes'
/// secrets (their files read again now; one that cannot be read has nothing to search for).
pub fn write(path: &Path, text: &str, mailboxes: &[Mailbox]) -> Result<(), ReportError> {
    for m in mailboxes {
        for file in [&m.refresh_token_file, &m.client_secret_file]
            .into_iter()
            .flatten()
        {
            if let Ok(secret) = crate::secret_file::read(file) {
                if secret.is_in(text) {
                    return Err(ReportError::WouldLeak {
                        file: file.display().to_string(),
                    });
                }
            }
        }
    }
    std::fs::write(path, text).map_err(|error| ReportError::Write {
        path: path.to_path_buf(),
        error,
    })
}

fn as_str<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn class(outcome: Outcome) -> Class {
    match outcome {
        Outcome::Fail => Class::Gap,
        Outcome::Warn => Class::Warning,
        Outcome::Pass => Class::Pass,
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

fn summary_line(facts: &RunFacts, r: &SuiteReport) -> String {
    let count = |o: Outcome| r.checks.iter().filter(|c| c.outcome == o).count();
    format!(
        "{} on {} (role {}, cloud {}): {} passed, {} failed, {} with warnings ({}).",
        plural(r.checks.len(), "check", "checks"),
        facts.host,
        as_str(facts.role),
        as_str(facts.cloud),
        count(Outcome::Pass),
        count(Outcome::Fail),
        count(Outcome::Warn),
        duration(r.duration_us)
    )
}

fn summary(out: &mut Vec<Block>, facts: &RunFacts, r: &SuiteReport) {
    out.push(Block::heading(
        1,
        format!("Connectivity check of {}", facts.host),
    ));
    let line = vec![Span::Text(summary_line(facts, r))];
    out.push(Block::Paragraph(Tone::Summary, line));
    let started = i64::try_from(r.started_unix)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    let mut rows = vec![
        ("Host", facts.host.clone()),
        ("Role", as_str(facts.role)),
        ("Cloud", as_str(facts.cloud)),
        ("Started", eceprobe_report::civil::utc_minutes(started)),
        ("Took", duration(r.duration_us)),
        ("ECE's Java", facts.java.to_owned()),
    ];
    if let Some(runtime) = &facts.java_runtime {
        rows.push(("Java runtime", runtime.clone()));
    }
    if let Some(config) = facts.config {
        rows.push(("Configuration", config.display().to_string()));
    }
    let version = format!("eceprobe-agent {}", env!("CARGO_PKG_VERSION"));
    rows.push(("Agent", version));
    out.push(Block::Facts(rows));
}

fn verdicts(r: &SuiteReport) -> Block {
    let rows = r
        .checks
        .iter()
        .map(|c| Row {
            class: class(c.outcome),
            cells: vec![
                label(c),
                target(c),
                c.outcome.as_str().to_owned(),
                c.failure
                    .as_ref()
                    .map_or(String::new(), |f| f.kind.to_string()),
                c.failure
                    .as_ref()
                    .map_or(String::new(), |f| f.stage.to_string()),
                duration(c.duration_us),
                detail(c),
            ],
        })
        .collect();
    Block::Table(Table {
        class: "verdicts",
        header: &[
            "Check",
            "Target",
            "Outcome",
            "Failure kind",
            "Stage",
            "Time",
            "Detail",
        ],
        rows,
        marked: None,
    })
}

/// Every failure, then every warning, with what to do: the agent's hint is the fix (the
/// collector's reports show the same words for the same finding).
fn what_to_do(r: &SuiteReport) -> Vec<Block> {
    let mut out = vec![Block::heading(2, "What to do")];
    let failures = r
        .checks
        .iter()
        .filter_map(|c| c.failure.as_ref().map(|f| (c, f, Class::Gap)));
    let warnings = r
        .checks
        .iter()
        .flat_map(|c| c.warnings.iter().map(move |w| (c, w, Class::Warning)));
    let rows: Vec<Row> = failures
        .chain(warnings)
        .map(|(c, f, class)| Row {
            class,
            cells: vec![
                match class {
                    Class::Gap => "FAIL".to_owned(),
                    _ => "WARNING".to_owned(),
                },
                label(c),
                f.kind.to_string(),
                f.stage.to_string(),
                format!("{}: {}", f.kind.owner(), f.kind.owner().team()),
                match f.device {
                    Some(device) => format!("{}; device on the path: {device}", f.detail),
                    None => f.detail.clone(),
                },
                ChecklistItem::join_long(f.kind.items(c.check)),
                f.hint.clone(),
            ],
        })
        .collect();
    if rows.is_empty() {
        out.push(Block::text("Nothing: every check passed."));
        return out;
    }
    out.push(Block::Table(Table {
        class: "findings",
        header: &[
            "Severity",
            "Check",
            "Kind",
            "Stage",
            "Owner",
            "Detail",
            "Checklist item",
            "Fix",
        ],
        rows,
        marked: None,
    }));
    out
}

/// The report's document: summary and facts, the verdicts, what to do, each check's details.
pub fn document(facts: &RunFacts, r: &SuiteReport) -> Document {
    let mut blocks = Vec::new();
    summary(&mut blocks, facts, r);
    blocks.push(Block::heading(2, "Checks"));
    blocks.push(verdicts(r));
    blocks.extend(what_to_do(r));
    blocks.push(Block::heading(2, "Details"));
    blocks.extend(r.checks.iter().map(details::check_section));
    Document {
        title: format!("eceprobe check of {}", facts.host),
        blocks,
    }
}

#[cfg(test)]
#[path = "report_file_tests.rs"]
mod tests;
