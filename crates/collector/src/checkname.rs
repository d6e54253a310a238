//! A check's name as agents send it and the store keeps it: a catalog id (`imap`), or an
//! OAuth check of one mailbox (`oauth-imap/ece-mail@contoso.com`). The one place that
//! parses them: ingest validation, the gap engine, the dashboard's parameters, the Query
//! API's filters and the exports all go through [`CheckName::parse`].
//!
//! Grammar:
//!
//! ```text
//! name     = catalog-id | oauth-id "/" mailbox
//! catalog  = login-https | outlook-https | imap | pop3 | smtp | ece-url
//! oauth-id = oauth-token | oauth-imap | oauth-pop3 | oauth-smtp
//! mailbox  = local "@" domain      ; 1 to 254 characters, lower case
//! local    = 1*( a-z / 0-9 / "." / "_" / "%" / "+" / "-" )
//! domain   = 1*( a-z / 0-9 / "." / "-" )
//! ```
//!
//! An OAuth id without a mailbox, a catalog id with one, upper case, a second `@` or any
//! other character is refused with a message naming the name.
//!
//! A newer agent may report a check this collector's catalog does not have. Such a name is
//! **well-formed** (stored and shown, never a gap) when it follows the same grammar with
//! an id this version does not know:
//!
//! ```text
//! newer    = new-id [ "/" mailbox ]
//! new-id   = a-z 1*63( a-z / 0-9 / "-" )   ; a plain identifier, as every catalog id
//! ```
//!
//! Anything else (a known id with the wrong mailbox shape, a bad mailbox, other characters,
//! longer than 64 + 1 + 254) is malformed: [`CheckName::reported`] says why.

use std::fmt;

use eceprobe_checks::{CheckId, Runs};
use serde::{Serialize, Serializer};

/// The longest mailbox address accepted (RFC 5321's path limit less the brackets).
pub const MAX_MAILBOX: usize = 254;

/// Characters of a refused name repeated in its message.
const MAX_SHOWN: usize = 300;

/// The longest check id a newer agent may use (the catalog's longest is 13).
pub const MAX_NEW_ID: usize = 64;

/// A check name as an agent reported it: one this collector knows, or a well-formed one
/// of a newer agent's catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reported {
    Known(CheckName),
    /// Not in this collector's catalog: stored and shown, never judged.
    Newer,
}

/// A valid check name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckName {
    id: CheckId,
    /// Some exactly for the OAuth checks ([`CheckId::OAUTH`]).
    mailbox: Option<String>,
}

/// Why a check name was refused. The name is shown escaped and shortened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckNameError {
    #[error("unknown check '{0}'")]
    Unknown(String),
    #[error("check '{0}' is not a check name: 1 to 64 characters of a-z, 0-9 and '-', starting with a letter, optionally followed by /<mailbox>")]
    NotAName(String),
    #[error("check '{name}': {id} is per mailbox: name it {id}/<mailbox>")]
    NoMailbox { name: String, id: &'static str },
    #[error(
        "check '{name}': only the OAuth checks ({}) name a mailbox",
        oauth_checks()
    )]
    NotPerMailbox { name: String },
    #[error("check '{name}': the mailbox {problem}")]
    Mailbox { name: String, problem: &'static str },
}

/// The OAuth checks as a message lists them, from the table: "oauth-token, oauth-imap, ...".
fn oauth_checks() -> String {
    CheckId::OAUTH.map(CheckId::as_str).join(", ")
}

/// A name for a message: at most [`MAX_SHOWN`] characters, control characters escaped.
pub fn shown(name: &str) -> String {
    name.chars()
        .take(MAX_SHOWN)
        .flat_map(char::escape_debug)
        .collect()
}

impl CheckName {
    /// Parses a name as sent on the wire or stored.
    pub fn parse(name: &str) -> Result<CheckName, CheckNameError> {
        let (id_part, mailbox) = match name.split_once('/') {
            Some((id, mailbox)) => (id, Some(mailbox)),
            None => (name, None),
        };
        let id = CheckId::known()
            .find(|c| c.as_str() == id_part)
            .ok_or_else(|| CheckNameError::Unknown(shown(name)))?;
        let oauth = CheckId::OAUTH.contains(&id);
        match (oauth, mailbox) {
            (false, None) => Ok(CheckName { id, mailbox: None }),
            (false, Some(_)) => Err(CheckNameError::NotPerMailbox { name: shown(name) }),
            (true, None) => Err(CheckNameError::NoMailbox {
                name: shown(name),
                id: id.as_str(),
            }),
            (true, Some(m)) => match mailbox_problem(m) {
                None => Ok(CheckName {
                    id,
                    mailbox: Some(m.to_owned()),
                }),
                Some(problem) => Err(CheckNameError::Mailbox {
                    name: shown(name),
                    problem,
                }),
            },
        }
    }

    /// Classifies a reported name: known, a newer agent's (well-formed, see the module
    /// doc), or malformed (Err, naming what is wrong).
    pub fn reported(name: &str) -> Result<Reported, CheckNameError> {
        match CheckName::parse(name) {
            Ok(known) => Ok(Reported::Known(known)),
            Err(CheckNameError::Unknown(shown_name)) => {
                let (id, mailbox) = match name.split_once('/') {
                    Some((id, mailbox)) => (id, Some(mailbox)),
                    None => (name, None),
                };
                let id_ok = id.len() <= MAX_NEW_ID
                    && id.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !id_ok {
                    return Err(CheckNameError::NotAName(shown_name));
                }
                match mailbox.and_then(mailbox_problem) {
                    None => Ok(Reported::Newer),
                    Some(problem) => Err(CheckNameError::Mailbox {
                        name: shown_name,
                        problem,
                    }),
                }
            }
            Err(other) => Err(other),
        }
    }

    /// The check id (`oauth-imap` for `oauth-imap/ece-mail@contoso.com`).
    pub fn id(&self) -> CheckId {
        self.id
    }

    /// The mailbox of an OAuth check; None for a catalog check.
    pub fn mailbox(&self) -> Option<&str> {
        self.mailbox.as_deref()
    }

    /// Whether `name`, as stored and sent (`oauth-imap/<mailbox>`), is this check: the
    /// typed name compares with a row's or a wire message's text without parsing it back.
    pub fn names(&self, name: &str) -> bool {
        match &self.mailbox {
            None => name == self.id.as_str(),
            Some(m) => {
                name.strip_prefix(self.id.as_str())
                    .and_then(|rest| rest.strip_prefix('/'))
                    == Some(m.as_str())
            }
        }
    }

    /// An OAuth check of a mailbox: required wherever it is reported.
    pub fn is_oauth(&self) -> bool {
        self.mailbox.is_some()
    }

    /// Required wherever it is reported, whatever the role: a mailbox's OAuth checks,
    /// `ece-config` and `ece-java`, which exist where the administrator configured them (the
    /// mailbox, the ECE facts) or ECE's Java was found.
    pub fn required_when_reported(&self) -> bool {
        self.id.runs() != Runs::Network
    }
}

/// A catalog check (no mailbox). For the policy's ids, which are never OAuth ids.
impl From<CheckId> for CheckName {
    fn from(id: CheckId) -> Self {
        CheckName { id, mailbox: None }
    }
}

impl fmt::Display for CheckName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.mailbox {
            None => f.write_str(self.id.as_str()),
            Some(m) => write!(f, "{}/{m}", self.id.as_str()),
        }
    }
}

impl Serialize for CheckName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What is wrong with a mailbox address, if anything.
fn mailbox_problem(m: &str) -> Option<&'static str> {
    if m.is_empty() {
        return Some("is empty");
    }
    if m.len() > MAX_MAILBOX {
        return Some("is longer than 254 characters");
    }
    if m.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some("must be lower case");
    }
    let Some((local, domain)) = m.split_once('@') else {
        return Some("must be an address: local@domain");
    };
    if domain.contains('@') {
        return Some("must have exactly one '@'");
    }
    if local.is_empty() || domain.is_empty() {
        return Some("must be an address: local@domain");
    }
    let local_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._%+-".contains(&b);
    if !local.bytes().all(local_ok) {
        return Some("has a character outside a-z 0-9 . _ % + - before the '@'");
    }
    let domain_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-".contains(&b);
    if !domain.bytes().all(domain_ok) {
        return Some("has a character outside a-z 0-9 . - after the '@'");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_name_knows_its_text_and_no_other() {
        let oauth = CheckName::parse("oauth-imap/a@contoso.com").unwrap();
        assert!(oauth.names("oauth-imap/a@contoso.com"));
        for other in [
            "oauth-imap",
            "oauth-imap/",
            "oauth-imap/b@contoso.com",
            "oauth-pop3/a@contoso.com",
            "oauth-imapx/a@contoso.com",
        ] {
            assert!(!oauth.names(other), "{other}");
        }
        let imap = CheckName::parse("imap").unwrap();
        assert!(imap.names("imap"));
        assert!(!imap.names("imaps") && !imap.names("imap/a@contoso.com"));
    }

    #[test]
    fn catalog_and_mailbox_names_parse_and_print_back() {
        for name in [
            "imap",
            "login-https",
            "ece-url",
            "oauth-token/ece-mail@contoso.com",
            "oauth-imap/support+eu_2%x.y-z@mail.contoso.co.uk",
            "oauth-pop3/a@b",
            "oauth-smtp/x@contoso-1.com",
        ] {
            let parsed = CheckName::parse(name).unwrap();
            assert_eq!(parsed.to_string(), name);
            assert_eq!(serde_json::to_value(&parsed).unwrap(), name);
        }
        let n = CheckName::parse("oauth-imap/ece-mail@contoso.com").unwrap();
        assert_eq!(n.id(), CheckId::OauthImap);
        assert_eq!(n.mailbox(), Some("ece-mail@contoso.com"));
        assert!(n.is_oauth());
        let imap = CheckName::parse("imap").unwrap();
        assert_eq!((imap.id(), imap.mailbox()), (CheckId::Imap, None));
        assert_eq!(imap, CheckName::from(CheckId::Imap));
        let longest = format!("oauth-imap/{}@{}", "a".repeat(64), "b".repeat(189));
        assert!(CheckName::parse(&longest).is_ok(), "254 characters");
    }

    #[test]
    fn a_newer_agents_names_are_well_formed_and_the_rest_named_as_malformed() {
        assert!(matches!(
            CheckName::reported("imap"),
            Ok(Reported::Known(_))
        ));
        for newer in [
            "quic-443",
            "graph",
            "oauth-graph/ece-mail@contoso.com",
            &"a".repeat(MAX_NEW_ID),
        ] {
            assert_eq!(CheckName::reported(newer), Ok(Reported::Newer), "{newer}");
        }
        for (bad, expect) in [
            ("", "is not a check name"),
            ("Quic", "is not a check name"),
            ("1quic", "is not a check name"),
            ("quic_443", "is not a check name"),
            ("../etc/passwd", "is not a check name"),
            (&"a".repeat(MAX_NEW_ID + 1), "is not a check name"),
            ("graph/", "mailbox is empty"),
            ("graph/x@y/z", "after the '@'"),
            // A known id keeps its own rules.
            ("imap/ece-mail@contoso.com", "only the OAuth checks"),
            ("oauth-imap", "per mailbox"),
        ] {
            let err = CheckName::reported(bad).unwrap_err().to_string();
            assert!(err.contains(expect), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_names_are_refused_naming_them() {
        let refused = |name: &str, expect: &str| {
            let err = CheckName::parse(name).unwrap_err().to_string();
            assert!(err.contains(expect), "{name}: {err}");
        };
        refused("ftp", "unknown check 'ftp'");
        refused("", "unknown check ''");
        refused("oauth-ftp/a@b.com", "unknown check 'oauth-ftp/a@b.com'");
        refused("oauth-imap", "oauth-imap is per mailbox");
        refused(
            "imap/a@b.com",
            "check 'imap/a@b.com': only the OAuth checks (oauth-token, oauth-imap, oauth-pop3, oauth-smtp) name a mailbox",
        );
        refused("oauth-imap/", "mailbox is empty");
        refused("oauth-imap/ECE@contoso.com", "lower case");
        refused("oauth-imap/contoso.com", "local@domain");
        refused("oauth-imap/@contoso.com", "local@domain");
        refused("oauth-imap/a@", "local@domain");
        refused("oauth-imap/a@b@c.com", "exactly one '@'");
        refused("oauth-imap/a b@c.com", "before the '@'");
        refused("oauth-imap/<script>@c.com", "before the '@'");
        refused("oauth-imap/a@c.com/../x", "after the '@'");
        refused("oauth-imap/a@c_d.com", "after the '@'");
        refused("oauth-imap/é@c.com", "before the '@'");
        let long = format!("oauth-imap/{}@{}", "a".repeat(64), "b".repeat(190));
        refused(&long, "longer than 254");
        // A hostile name is repeated shortened and escaped.
        let err = CheckName::parse(&format!("x\n\u{1b}[31m{}", "y".repeat(5000)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("x\\n\\u{1b}[31m"), "{err}");
        assert!(err.len() < 400, "{}", err.len());
    }
}
