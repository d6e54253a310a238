//! A report as a document, and its renderings. The collector builds one from an audit
//! (`collector/src/export/document.rs`), the agent from a `check` run
//! (`agent/src/report_file.rs`); [`html::render`] and [`markdown::render`] only lay it out.
//! The text in a document is raw (unescaped): each renderer escapes it for its format, as
//! host names and details come from agents and servers and are hostile input.

pub mod civil;
mod document;
pub mod html;
pub mod markdown;

pub use document::{Block, Class, Document, Row, Span, Table, Tone};
