//! What matters first: the one order in which results and findings are listed wherever a
//! person reads them (the server page and its JSON, `show`, `audit run --wait` and `audit
//! show`, the Markdown and HTML reports): failures, then warnings, then passes; by name
//! within each. A server's one failure must not sit below a screenful of passing checks.
//!
//! Each caller says how its item reads as an [`Attention`] (an outcome, a finding's
//! severity, a cell's state) and which name sorts it; the order itself is only here.

/// How much a result needs a person's attention, most first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Attention {
    /// Failing, a gap, missing, stale, or a server that did not answer.
    Fail,
    /// Working but degraded, or failing where the policy does not need it.
    Warn,
    Pass,
}

impl Attention {
    /// A result's outcome as stored, sent and printed ("fail", "WARN", ...). An outcome this
    /// version does not know (a newer agent, a damaged row) reads as a warning: it is not
    /// known to work, so it is not listed among the passes.
    pub fn of_outcome(outcome: &str) -> Attention {
        if outcome.eq_ignore_ascii_case("fail") {
            Attention::Fail
        } else if outcome.eq_ignore_ascii_case("pass") {
            Attention::Pass
        } else {
            Attention::Warn
        }
    }

    /// A finding's severity: "gap", else a warning.
    pub fn of_severity(severity: &str) -> Attention {
        match severity {
            "gap" => Attention::Fail,
            _ => Attention::Warn,
        }
    }
}

/// Sorts `items` failures first, then warnings, then passes, and by `key`'s name within
/// each (stable: equal keys keep their order).
pub fn by_attention<T>(items: &mut [T], key: impl Fn(&T) -> (Attention, &str)) {
    items.sort_by(|a, b| key(a).cmp(&key(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_then_warnings_then_passes_by_name() {
        let mut rows = vec![
            ("imap", "pass"),
            ("smtp", "FAIL"),
            ("ece-url", "warn"),
            ("login-https", "pass"),
            ("pop3", "fail"),
            ("oauth-imap/a@contoso.com", "something new"),
        ];
        by_attention(&mut rows, |(name, outcome)| {
            (Attention::of_outcome(outcome), name)
        });
        let names: Vec<&str> = rows.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "pop3",
                "smtp",
                "ece-url",
                "oauth-imap/a@contoso.com",
                "imap",
                "login-https"
            ]
        );
        assert_eq!(Attention::of_severity("gap"), Attention::Fail);
        assert_eq!(Attention::of_severity("warning"), Attention::Warn);
    }
}
