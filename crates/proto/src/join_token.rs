//! The join token an operator gives an agent (`eceprobe-collector token create`), as text:
//! `ej1.<id>.<secret>.sha256:<CA fingerprint>`, e.g.
//! `ej1.3f9a2c10b7d4.<40 hex digits>.sha256:<64 hex digits>`.
//!
//! - `id` (12 hex digits) names the token in `token list` and `token revoke`; it is not a
//!   secret and may be logged.
//! - `secret` (40 hex digits, 160 random bits) proves the agent holds the token; the
//!   collector keeps only its SHA-256. It is never logged, stored or written by the agent.
//! - the SHA-256 of the collector's CA certificate (DER): the agent refuses a collector
//!   whose chain does not end at that CA, before it sends anything (as kubeadm's
//!   `--discovery-token-ca-cert-hash sha256:...`).
//!
//! One parser for both sides; its errors say what is wrong without repeating the token.

/// The version prefix: a later format gets another.
pub const PREFIX: &str = "ej1";
pub const ID_HEX: usize = 12;
pub const SECRET_HEX: usize = 40;
const FINGERPRINT_HEX: usize = 64;
/// Longer text is not a token (bounds what is read from a file or a flag).
pub const MAX_LEN: usize = 256;

/// A parsed join token. Its `Debug` leaves the secret out, so it can never reach a log by
/// a stray `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    pub id: String,
    pub secret: String,
    /// Lowercase hex.
    pub ca_sha256: String,
}

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinToken")
            .field("id", &self.id)
            .field("secret", &"<hidden>")
            .field("ca_sha256", &self.ca_sha256)
            .finish()
    }
}

/// Why a text is not a join token; never holds the text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError(pub &'static str);

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the join token is not valid ({}): copy it whole, as `eceprobe-collector token create` printed it (ej1.<id>.<secret>.sha256:<64 hex digits>)",
            self.0
        )
    }
}

impl std::error::Error for TokenError {}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl JoinToken {
    pub fn parse(text: &str) -> Result<JoinToken, TokenError> {
        let text = text.trim();
        if text.len() > MAX_LEN {
            return Err(TokenError("far too long"));
        }
        let mut parts = text.split('.');
        if parts.next() != Some(PREFIX) {
            return Err(TokenError("it does not start with ej1."));
        }
        let id = parts.next().unwrap_or_default();
        if !is_hex(id, ID_HEX) {
            return Err(TokenError("its id is not 12 hex digits"));
        }
        let secret = parts.next().unwrap_or_default();
        if !is_hex(secret, SECRET_HEX) {
            return Err(TokenError("its secret is not 40 hex digits"));
        }
        let fingerprint = parts
            .next()
            .and_then(|f| f.strip_prefix("sha256:"))
            .unwrap_or_default();
        if !is_hex(fingerprint, FINGERPRINT_HEX) {
            return Err(TokenError(
                "it does not end with sha256: and the CA's 64 hex digits",
            ));
        }
        if parts.next().is_some() {
            return Err(TokenError(
                "it has more parts than ej1.<id>.<secret>.sha256:<hash>",
            ));
        }
        Ok(JoinToken {
            id: id.to_ascii_lowercase(),
            secret: secret.to_ascii_lowercase(),
            ca_sha256: fingerprint.to_ascii_lowercase(),
        })
    }

    /// The token as the operator copies it (holds the secret: print it, never log it).
    pub fn to_text(&self) -> String {
        format!(
            "{PREFIX}.{}.{}.sha256:{}",
            self.id, self.secret, self.ca_sha256
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_bad_ones_say_why_without_the_secret() {
        let t = JoinToken {
            id: "3f9a2c10b7d4".into(),
            secret: "a".repeat(40),
            ca_sha256: "b".repeat(64),
        };
        assert_eq!(JoinToken::parse(&t.to_text()), Ok(t.clone()));
        assert_eq!(
            JoinToken::parse(&format!(" {} \n", t.to_text())),
            Ok(t.clone())
        );
        assert!(!format!("{t:?}").contains(&t.secret));
        for bad in [
            "",
            "ej2.3f9a2c10b7d4",
            &t.to_text().replace(".sha256:", ".sha1:"),
            &format!("{}.x", t.to_text()),
            &t.to_text().replace("3f9a2c10b7d4", "3f9a"),
        ] {
            let e = JoinToken::parse(bad).unwrap_err().to_string();
            assert!(e.contains("token create"), "{e}");
            assert!(!e.contains(&t.secret), "{e}");
        }
    }
}
