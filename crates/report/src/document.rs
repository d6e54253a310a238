//! The document model: a title and blocks (headings, paragraphs, facts, tables, code,
//! sections), in the order every format prints them.

/// How a row is coloured: red for a gap (a failure), amber for a warning, green for a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Gap,
    Warning,
    Pass,
}

impl Class {
    /// A finding's colour by its severity as the collector names it: "gap" is red, anything
    /// else amber.
    pub fn of_severity(severity: &str) -> Class {
        match severity {
            "gap" => Class::Gap,
            _ => Class::Warning,
        }
    }

    /// The HTML class, and the label Markdown adds where colour is not available.
    pub fn name(self) -> &'static str {
        match self {
            Class::Gap => "gap",
            Class::Warning => "warning",
            Class::Pass => "pass",
        }
    }
}

/// The whole report: its title and its blocks.
#[derive(Debug)]
pub struct Document {
    pub title: String,
    pub blocks: Vec<Block>,
}

#[derive(Debug)]
pub enum Block {
    /// Level 1 to 4.
    Heading(u8, String),
    Paragraph(Tone, Vec<Span>),
    /// Item/value pairs, the summary's facts.
    Facts(Vec<(&'static str, String)>),
    Table(Table),
    /// Preformatted text in a language (the policy, TOML).
    Code {
        lang: &'static str,
        text: String,
    },
    /// A group the HTML page frames with this class (a server, the changes).
    Section(&'static str, Vec<Block>),
}

impl Block {
    /// A plain paragraph of one text.
    pub fn text(s: impl Into<String>) -> Block {
        Block::Paragraph(Tone::Plain, vec![Span::Text(s.into())])
    }

    pub fn heading(level: u8, s: impl Into<String>) -> Block {
        Block::Heading(level, s.into())
    }
}

/// How a paragraph stands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Plain,
    /// The summary line the report opens with.
    Summary,
    /// A server that did not answer.
    Missing,
}

/// A run of a paragraph's text.
#[derive(Debug)]
pub enum Span {
    Text(String),
    /// A value from an agent that may be empty: HTML shows an empty one as "-".
    Value(String),
}

#[derive(Debug)]
pub struct Table {
    /// What kind of table, for the HTML class.
    pub class: &'static str,
    pub header: &'static [&'static str],
    pub rows: Vec<Row>,
    /// The column that names the row's class (but a pass) where colour is not available.
    pub marked: Option<usize>,
}

#[derive(Debug)]
pub struct Row {
    pub class: Class,
    pub cells: Vec<String>,
}
