//! Markdown (GitHub-flavoured tables) for pasting into a change ticket.
//!
//! Text from the agents goes through [`cell`] or [`inline`]: a `|` or a newline would end a
//! table cell or start a block, and `<`/`>` would be raw HTML to a renderer that allows it.

use crate::{Block, Class, Document, Row, Span, Table, Tone};

/// Text for one table cell: `|` escaped, newlines as `<br>`, no raw HTML.
fn cell(s: &str) -> String {
    let s = s
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|");
    let s = s.replace("\r\n", "<br>").replace(['\r', '\n'], "<br>");
    match s.trim() {
        "" => "-".to_owned(),
        t => t.to_owned(),
    }
}

/// Text in a heading or a paragraph: one line, no raw HTML.
pub fn inline(s: &str) -> String {
    s.replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("\r\n", " ")
        .replace(['\r', '\n'], " ")
}

/// A table of `header` and `rows`, each cell escaped ([`cell`]).
pub fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push('\n');
}

/// A table's cells; without colour, the marked column names the row's class (but a pass).
fn rows(t: &Table) -> Vec<Vec<String>> {
    let mark = |row: &Row| {
        let mut cells = row.cells.clone();
        let labelled = row.class != Class::Pass;
        if let Some(c) = t.marked.and_then(|i| cells.get_mut(i)).filter(|_| labelled) {
            c.push_str(&format!(" ({})", row.class.name()));
        }
        cells
    };
    t.rows.iter().map(mark).collect()
}

/// The longest run of backticks in `s`, so a fence around it can be longer.
fn longest_backticks(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

fn block(out: &mut String, b: &Block) {
    match b {
        Block::Heading(level, text) => {
            let hashes = "#".repeat(usize::from(*level));
            out.push_str(&format!("{hashes} {}\n\n", inline(text)));
        }
        Block::Paragraph(tone, spans) => {
            let text: String = spans
                .iter()
                .map(|s| match s {
                    Span::Text(s) | Span::Value(s) => inline(s),
                })
                .collect();
            match tone {
                Tone::Summary => out.push_str(&format!("**{text}**\n\n")),
                Tone::Plain | Tone::Missing => out.push_str(&format!("{text}\n\n")),
            }
        }
        Block::Facts(facts) => {
            let rows: Vec<Vec<String>> = facts
                .iter()
                .map(|(k, v)| vec![(*k).to_owned(), v.clone()])
                .collect();
            table(out, &["Item", "Value"], &rows);
        }
        Block::Table(t) => table(out, t.header, &rows(t)),
        Block::Code { lang, text } => {
            let fence = "`".repeat(longest_backticks(text).max(2) + 1);
            out.push_str(&format!("{fence}{lang}\n{text}"));
            if !text.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!("{fence}\n"));
        }
        Block::Section(_, blocks) => blocks.iter().for_each(|b| block(out, b)),
    }
}

/// The Markdown of `doc` (its title is the first heading's business).
pub fn render(doc: &Document) -> String {
    let mut out = String::new();
    doc.blocks.iter().for_each(|b| block(&mut out, b));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\nc\r\nd"), "a\\|b<br>c<br>d");
        assert_eq!(cell("<script>"), "&lt;script&gt;");
        assert_eq!(cell(""), "-");
        assert_eq!(inline("x\ny"), "x y");
        assert_eq!(longest_backticks("a ```` b ` c"), 4);
    }
}
