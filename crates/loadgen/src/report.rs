//! One run's figures: a table for people, or one JSON object (`--json`). Every figure's
//! name carries its unit (`_ms`, `_per_s`, `_mib`, ...).

use serde_json::{json, Map, Value};

use crate::stats::Summary;

pub struct Report {
    scenario: &'static str,
    command: String,
    figures: Vec<(String, Value)>,
    notes: Vec<String>,
    blocks: Vec<String>,
}

/// Rounds to 3 decimals, so the JSON does not carry float noise.
fn round3(v: f64) -> Value {
    let r = (v * 1000.0).round() / 1000.0;
    serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number)
}

impl Report {
    pub fn new(scenario: &'static str, command: String) -> Report {
        Report {
            scenario,
            command,
            figures: Vec::new(),
            notes: Vec::new(),
            blocks: Vec::new(),
        }
    }

    pub fn float(&mut self, name: &str, value: f64) {
        self.figures.push((name.to_string(), round3(value)));
    }

    pub fn int(&mut self, name: &str, value: u64) {
        self.figures.push((name.to_string(), json!(value)));
    }

    pub fn text(&mut self, name: &str, value: impl Into<String>) {
        self.figures
            .push((name.to_string(), Value::String(value.into())));
    }

    /// `<prefix>_p50_ms`, `_p99_ms`, `_max_ms`, `_mean_ms` and `<prefix>_count`.
    pub fn latency(&mut self, prefix: &str, s: &Summary) {
        self.int(&format!("{prefix}_count"), s.count as u64);
        self.float(&format!("{prefix}_p50_ms"), s.p50_ms);
        self.float(&format!("{prefix}_p99_ms"), s.p99_ms);
        self.float(&format!("{prefix}_max_ms"), s.max_ms);
        self.float(&format!("{prefix}_mean_ms"), s.mean_ms);
    }

    /// A remark printed under the table (and in the JSON's `notes`).
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// Preformatted text (a Markdown table) printed after the figures; the JSON has the
    /// same figures by name, so it leaves blocks out.
    pub fn block(&mut self, text: impl Into<String>) {
        self.blocks.push(text.into());
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("scenario".into(), json!(self.scenario));
        m.insert("command".into(), json!(self.command));
        for (k, v) in &self.figures {
            m.insert(k.clone(), v.clone());
        }
        m.insert("notes".into(), json!(self.notes));
        Value::Object(m)
    }

    pub fn to_table(&self) -> String {
        let width = self.figures.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = format!(
            "eceprobe-loadgen {}\ncommand: {}\n",
            self.scenario, self.command
        );
        for (k, v) in &self.figures {
            let shown = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push_str(&format!("  {k:<width$}  {shown}\n"));
        }
        for b in &self.blocks {
            out.push('\n');
            out.push_str(b);
            out.push('\n');
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }
}

/// A URL's password as `***` (`--db postgres://u:secret@h/db`, or `--db=...`): the
/// command line is printed with the figures.
fn without_password(arg: String) -> String {
    let (flag, value) = match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (format!("{flag}="), value),
        _ => (String::new(), arg.as_str()),
    };
    match url::Url::parse(value) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            format!("{flag}{url}")
        }
        _ => arg,
    }
}

/// The command line that produced a run, quoted where a shell would need it, without
/// passwords.
pub fn command_line() -> String {
    std::env::args()
        .map(without_password)
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+".contains(c));
            if plain {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_not_printed() {
        assert_eq!(
            without_password("postgres://u:s3cret@h:5432/db".into()),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            without_password("--db=postgres://u:s3cret@h/db".into()),
            "--db=postgres://u:***@h/db"
        );
        assert_eq!(
            without_password("postgres://u@h/db".into()),
            "postgres://u@h/db"
        );
        assert_eq!(without_password("--agents=4".into()), "--agents=4");
    }
}
