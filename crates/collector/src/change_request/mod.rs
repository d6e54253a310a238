//! Change requests (issue 15, item 3): what each team must change, generated from the open
//! gaps of one deployment that team owns ([`crate::gaps::owner_of`]) and the latest results
//! behind them, never typed by hand:
//!
//! - `network`: the firewall rules, one per (source server, destination host, port), with
//!   the addresses on both sides, Microsoft's endpoint set, what fails now and the ECE
//!   process that needs it ([`network`]); CSV or Markdown ([`network_text`]);
//! - `m365`: the PowerShell the tenant administrator runs, filled in with the mailbox and
//!   the app, never a secret ([`m365`]);
//! - `ece`: what to set where in ECE's console, for the version each server runs ([`ece`]).
//!
//! The dashboard (`/gaps/change-request.*`), the Query API (`ChangeRequest`), the admin
//! CLI (`gaps --change-request`) and the audit reports all come through here; the Query API
//! and the dashboard through the one [`answer`].

mod answer;
mod ece;
mod inputs;
mod m365;
pub mod network;
pub mod network_text;

use eceprobe_checks::Owner;

pub use answer::{answer, AnswerError};
pub use inputs::{Inputs, ServerFacts};

use crate::endpoints::EndpointList;

/// A change request's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Markdown,
    PowerShell,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Markdown => "md",
            Format::PowerShell => "ps1",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::PowerShell => "text/plain; charset=utf-8",
        }
    }

    /// A team's first format: what it pastes or runs.
    pub fn default_for(owner: Owner) -> Format {
        match owner {
            Owner::Network => Format::Csv,
            Owner::M365 => Format::PowerShell,
            Owner::Ece | Owner::Host => Format::Markdown,
        }
    }
}

/// A request that cannot be answered, in words with the fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChangeRequestError {
    #[error("owner '{0}': a change request is for network, m365 or ece")]
    UnknownOwner(String),
    #[error("the host group (clock, certificates, Java on each server) has no change request: each server's page says what to change on it")]
    HostOwner,
    #[error("format '{format}': the {owner} change request is {allowed}")]
    Format {
        format: String,
        owner: &'static str,
        allowed: String,
    },
    #[error(
        "a change request is for one deployment: name it (deployment=NAME, --deployment NAME)"
    )]
    NoDeployment,
    #[error("deployment: longer than {MAX_DEPLOYMENT} bytes, so no agent declares it")]
    DeploymentTooLong,
}

/// The longest deployment name asked for: an agent's Hello declares at most this many
/// bytes (`convert::agent_record`), so a longer one names no server.
pub const MAX_DEPLOYMENT: usize = 256;

/// The deployment a request names, checked: given and not longer than any agent declares.
/// Any other character is allowed: agents declare any text, and each is downloadable.
pub fn deployment(name: &str) -> Result<&str, ChangeRequestError> {
    match name.len() {
        0 => Err(ChangeRequestError::NoDeployment),
        n if n > MAX_DEPLOYMENT => Err(ChangeRequestError::DeploymentTooLong),
        _ => Ok(name),
    }
}

/// The formats each team's request comes in, as requests spell them (the first is the
/// team's default, [`Format::default_for`]): the parser and its error both read this.
fn formats(owner: Owner) -> &'static [(&'static str, Format)] {
    match owner {
        Owner::Network => &[
            ("csv", Format::Csv),
            ("md", Format::Markdown),
            ("markdown", Format::Markdown),
        ],
        Owner::M365 => &[("ps1", Format::PowerShell)],
        Owner::Ece | Owner::Host => &[("md", Format::Markdown), ("markdown", Format::Markdown)],
    }
}

/// The formats in words ("csv or md"): each format once, by its extension.
fn allowed(owner: Owner) -> String {
    let mut names: Vec<&str> = Vec::new();
    for (_, f) in formats(owner) {
        if !names.contains(&f.extension()) {
            names.push(f.extension());
        }
    }
    names.join(" or ")
}

/// The owner and format of a request as the web, the Query API and the CLI spell them
/// (empty: network; a team's default format).
pub fn parse_request(owner: &str, format: &str) -> Result<(Owner, Format), ChangeRequestError> {
    let owner = match owner {
        "" => Owner::Network,
        name => Owner::ALL
            .into_iter()
            .find(|o| o.as_str() == name)
            .ok_or_else(|| ChangeRequestError::UnknownOwner(crate::checkname::shown(name)))?,
    };
    if owner == Owner::Host {
        return Err(ChangeRequestError::HostOwner);
    }
    if format.is_empty() {
        return Ok((owner, Format::default_for(owner)));
    }
    let found = formats(owner)
        .iter()
        .find(|(name, _)| *name == format)
        .map(|(_, f)| *f);
    match found {
        Some(f) => Ok((owner, f)),
        None => Err(ChangeRequestError::Format {
            format: crate::checkname::shown(format),
            owner: owner.as_str(),
            allowed: allowed(owner),
        }),
    }
}

/// A generated document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub text: String,
    /// "change-request-prod-network.csv".
    pub filename: String,
    pub format: Format,
    /// Rules, commands or settings in it.
    pub items: usize,
}

/// The change request of `owner` for the deployment `inputs` were read for.
/// `list`: Microsoft's endpoint list the network rules name their sets from.
pub fn generate(
    inputs: &Inputs,
    owner: Owner,
    format: Format,
    list: &EndpointList,
    now_unix_ms: i64,
) -> Document {
    // The deployment is the agents' word (their Hello bounds only its length): one line,
    // so it cannot start a command in the .ps1 or a block in the Markdown; each format's
    // writer escapes it further where the format needs it.
    let mut generated = format!(
        "Generated by eceprobe on {} from the open {} gaps of deployment {} and their latest results.",
        crate::civil::utc_minutes(now_unix_ms),
        owner.as_str(),
        one_line(&inputs.deployment)
    );
    if let Some(n) = inputs.gaps_cut_at {
        generated.push_str(&format!(
            " Only the first {n} open gaps were read (the most one read returns): this request may be incomplete; close or filter gaps and generate it again."
        ));
    }
    let (text, items) = match owner {
        Owner::Network => {
            let request = network::request(inputs, list);
            let text = match format {
                Format::Csv => network_text::csv(&request.rules),
                _ => network_text::markdown(&inputs.deployment, &generated, &request),
            };
            (text, request.rules.len())
        }
        Owner::M365 => m365::powershell(inputs, &generated),
        Owner::Ece | Owner::Host => ece::markdown(inputs, &generated),
    };
    Document {
        text,
        filename: filename(&inputs.deployment, owner, format),
        format,
        items,
    }
}

/// A file name safe in a header and on any file system: the deployment's letters, digits,
/// `-`, `_` and `.` kept, anything else `_`.
fn filename(deployment: &str, owner: Owner, format: Format) -> String {
    let safe: String = deployment
        .chars()
        .take(64)
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .collect();
    format!(
        "change-request-{safe}-{}.{}",
        owner.as_str(),
        format.extension()
    )
}

/// Agent-supplied text on one line (a PowerShell comment, a Markdown paragraph): control
/// characters, line breaks included, become spaces, so nothing it says can start a line
/// of its own.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_network;
