//! `Secret`: a token, refresh token or client secret. It prints as `[redacted]` (Debug and
//! Display), cannot be serialised, and its bytes are overwritten when it is dropped, so a
//! secret reaches logs and reports only by an explicit [`Secret::expose`].

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A secret string. Every access token, refresh token and client secret lives in one.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it (a form body, a SASL string).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `text` contains this secret (tests and self-checks: "is it in the report?").
    /// An empty secret is never "contained".
    pub fn is_in(&self, text: &str) -> bool {
        !self.0.is_empty() && text.contains(&self.0)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Configuration files may hold secrets (deserialising is fine); nothing serialises them.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl Drop for Secret {
    /// Best effort: overwrite the buffer before it goes back to the allocator (copies made
    /// by the HTTP and TLS layers are out of reach).
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("0.AXEA-very-secret-refresh-token");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{:#?}", Some(&s)), "Some(\n    [redacted],\n)");
        assert_eq!(s.expose(), "0.AXEA-very-secret-refresh-token");
        assert!(s.is_in("xx 0.AXEA-very-secret-refresh-token yy"));
        assert!(!Secret::default().is_in("anything"));
    }

    #[test]
    fn deserialises_from_a_string() {
        let s: Secret = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(s.expose(), "abc");
    }
}
