//! HTML: one self-contained page (inline style, no script, nothing fetched), printable, and
//! well-formed XML as well as HTML (every element closed, attributes quoted) so any tool
//! can read it back. All text from the report goes through [`esc`]: host names and details
//! come from agents and are hostile input.

use crate::{Block, Document, Span, Table, Tone};

const STYLE: &str = "
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; font-size: 14px; color: #222; margin: 2em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #ccc; margin-top: 1.6em; }
h3 { font-size: 1.1em; margin-bottom: 0.3em; }
p.summary { font-weight: bold; }
table { border-collapse: collapse; margin: 0.5em 0 1em 0; width: 100%; }
th, td { border: 1px solid #bbb; padding: 3px 6px; text-align: left; vertical-align: top; }
td { white-space: pre-wrap; }
th { background: #eee; }
table.facts { width: auto; }
table.facts th { width: 10em; }
tr.gap td { background: #f8d7da; }
tr.warning td { background: #fff3cd; }
tr.pass td { background: #d4edda; }
td.fix { width: 40%; }
section.server { border: 1px solid #ddd; padding: 0 1em; margin-bottom: 1em; }
p.status-missing { color: #a00; font-weight: bold; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 0.6em; white-space: pre-wrap; }
@media print {
  body { margin: 0; font-size: 10pt; }
  section.server, table.facts, tr { page-break-inside: avoid; break-inside: avoid; }
  h2, h3 { page-break-after: avoid; break-after: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
";

/// Escapes text for element content and quoted attributes. Characters XML forbids (C0
/// controls but tab, CR, LF) become U+FFFD so a hostile host name cannot break the parse.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() && (c as u32) < 0x20 => out.push('\u{fffd}'),
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn or_dash(s: &str) -> &str {
    match s {
        "" => "-",
        s => s,
    }
}

/// A table; each row with its class (colour). Cells are escaped here.
fn table(out: &mut String, t: &Table) {
    out.push_str(&format!("<table class=\"{}\">\n<thead><tr>", t.class));
    for h in t.header {
        out.push_str(&format!("<th>{}</th>", esc(h)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &t.rows {
        out.push_str(&format!("<tr class=\"{}\">", row.class.name()));
        let last = row.cells.len().saturating_sub(1);
        for (i, c) in row.cells.iter().enumerate() {
            // The fix column is the wide one where there is one.
            let td = match (i == last, t.header.last() == Some(&"Fix")) {
                (true, true) => "<td class=\"fix\">",
                _ => "<td>",
            };
            out.push_str(&format!("{td}{}</td>", esc(or_dash(c))));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

fn block(out: &mut String, b: &Block) {
    match b {
        Block::Heading(level, text) => {
            out.push_str(&format!("<h{level}>{}</h{level}>\n", esc(text)));
        }
        Block::Paragraph(tone, spans) => {
            let class = match tone {
                Tone::Plain => "",
                Tone::Summary => " class=\"summary\"",
                Tone::Missing => " class=\"status-missing\"",
            };
            out.push_str(&format!("<p{class}>"));
            for span in spans {
                match span {
                    Span::Text(s) => out.push_str(&esc(s)),
                    Span::Value(s) => out.push_str(&esc(or_dash(s))),
                }
            }
            out.push_str("</p>\n");
        }
        Block::Facts(rows) => {
            out.push_str("<table class=\"facts\">\n<tbody>\n");
            for (k, v) in rows {
                out.push_str(&format!(
                    "<tr><th>{}</th><td>{}</td></tr>\n",
                    esc(k),
                    esc(v)
                ));
            }
            out.push_str("</tbody>\n</table>\n");
        }
        Block::Table(t) => table(out, t),
        Block::Code { text, .. } => out.push_str(&format!("<pre>{}</pre>\n", esc(text))),
        Block::Section(class, blocks) => {
            out.push_str(&format!("<section class=\"{class}\">\n"));
            blocks.iter().for_each(|b| block(out, b));
            out.push_str("</section>\n");
        }
    }
}

/// The page for `doc`.
pub fn render(doc: &Document) -> String {
    let mut out = String::from("<!DOCTYPE html>\n");
    out.push_str("<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n");
    out.push_str("<meta charset=\"utf-8\"/>\n");
    out.push_str(&format!(
        "<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&doc.title)
    ));
    doc.blocks.iter().for_each(|b| block(&mut out, b));
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_characters_xml_forbids() {
        assert_eq!(
            esc("<a href='x'>\"&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(esc("a\u{0}b\u{1b}c\td"), "a\u{fffd}b\u{fffd}c\td");
    }
}
