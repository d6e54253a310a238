//! Java's properties-file syntax, as `java.util.Properties.load(InputStream)` reads a
//! runtime's `java.security` (its javadoc is the specification followed here):
//!
//! - bytes are ISO 8859-1, so every byte is one character and no input is invalid;
//! - a natural line ends at `\n`, `\r` or `\r\n`; a line ending in an odd number of
//!   backslashes continues on the next, whose leading white space is dropped;
//! - blank lines and comment lines (first non-blank character `#` or `!`) are skipped; a
//!   comment line is never continued;
//! - the key ends at the first unescaped `=`, `:` or white space (space, tab, form feed);
//!   white space, then one `=` or `:`, then white space separate it from the value;
//! - `\t`, `\n`, `\r`, `\f`, `\uXXXX` are escapes, and a backslash before any other
//!   character stands for that character.
//!
//! The last occurrence of a key wins, as `Properties.put` replaces.

/// The key/value pairs of a properties file, in file order (later ones override earlier).
pub(super) fn parse(bytes: &[u8]) -> Vec<(String, String)> {
    // ISO 8859-1: byte n is the character U+00nn.
    let text: Vec<char> = bytes.iter().map(|&b| char::from(b)).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let (line, next) = logical_line(&text, i);
        i = next;
        if let Some(kv) = key_value(&line) {
            out.push(kv);
        }
    }
    out
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\u{c}'
}

fn is_eol(c: char) -> bool {
    c == '\n' || c == '\r'
}

/// The logical line starting at `start` (continuations joined, escapes still in place), or
/// an empty one for a blank or comment line; and where the next one starts.
fn logical_line(text: &[char], start: usize) -> (Vec<char>, usize) {
    let mut i = start;
    // Leading white space of a line is never part of it.
    while i < text.len() && is_blank(text[i]) {
        i += 1;
    }
    if i < text.len() && (text[i] == '#' || text[i] == '!') {
        // A comment: skipped to the end of this natural line, never continued.
        while i < text.len() && !is_eol(text[i]) {
            i += 1;
        }
        return (Vec::new(), skip_eol(text, i));
    }
    let mut line = Vec::new();
    loop {
        let begin = i;
        while i < text.len() && !is_eol(text[i]) {
            i += 1;
        }
        let natural = &text[begin..i];
        let trailing = natural.iter().rev().take_while(|&&c| c == '\\').count();
        let at_end = i >= text.len();
        i = skip_eol(text, i);
        if trailing % 2 == 1 && !at_end {
            // An escaped line terminator: drop the backslash, join the next natural line
            // without its leading white space.
            line.extend_from_slice(&natural[..natural.len() - 1]);
            while i < text.len() && is_blank(text[i]) {
                i += 1;
            }
            continue;
        }
        if trailing % 2 == 1 {
            // A backslash at the very end of the file: Properties drops it.
            line.extend_from_slice(&natural[..natural.len() - 1]);
        } else {
            line.extend_from_slice(natural);
        }
        return (line, i);
    }
}

/// Past one line terminator (`\r\n` counts as one).
fn skip_eol(text: &[char], mut i: usize) -> usize {
    if i < text.len() && text[i] == '\r' {
        i += 1;
        if i < text.len() && text[i] == '\n' {
            i += 1;
        }
    } else if i < text.len() && text[i] == '\n' {
        i += 1;
    }
    i
}

/// Splits a logical line into its key and value, both unescaped.
fn key_value(line: &[char]) -> Option<(String, String)> {
    if line.is_empty() {
        return None;
    }
    let mut i = 0;
    let mut escaped = false;
    while i < line.len() {
        let c = line[i];
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || is_blank(c) {
            break;
        }
        i += 1;
    }
    let key = &line[..i];
    // White space, then at most one '=' or ':', then white space.
    while i < line.len() && is_blank(line[i]) {
        i += 1;
    }
    if i < line.len() && (line[i] == '=' || line[i] == ':') {
        i += 1;
    }
    while i < line.len() && is_blank(line[i]) {
        i += 1;
    }
    Some((unescape(key), unescape(&line[i..])))
}

fn unescape(s: &[char]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c != '\\' || i >= s.len() {
            out.push(c);
            continue;
        }
        let e = s[i];
        i += 1;
        match e {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\u{c}'),
            'u' => {
                // Properties throws on a malformed \uXXXX (the JVM then runs without the
                // file's settings); here it is kept as written, which matches no name.
                let hex: String = s.iter().skip(i).take(4).collect();
                let well_formed = hex.len() == 4 && hex.chars().all(|c| c.is_ascii_hexdigit());
                match u32::from_str_radix(&hex, 16).ok().filter(|_| well_formed) {
                    Some(n) => {
                        out.push(char::from_u32(n).unwrap_or('\u{fffd}'));
                        i += 4;
                    }
                    None => out.push_str("\\u"),
                }
            }
            other => out.push(other),
        }
    }
    out
}
