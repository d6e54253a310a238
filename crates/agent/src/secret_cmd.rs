//! `eceprobe-agent secret`: makes a secret file one the agent accepts, or says whether it
//! does. `protect` encrypts the file for this machine with DPAPI (Windows) or makes it
//! owner-only (Unix, `chmod 600`); `check` reads it as the agent would and says how it is
//! held. Neither prints the secret, only its length.

use std::path::PathBuf;

use clap::Subcommand;
use eceprobe_agent::secret_file::{self, Form, Protected};

#[derive(Subcommand)]
pub enum SecretCommand {
    /// Protect a secret file in place so the agent accepts it (Windows: DPAPI for this
    /// machine; Unix: chmod 600).
    Protect {
        /// The file: a refresh_token_file or client_secret_file of a [[mailbox]].
        file: PathBuf,
    },
    /// Read a secret file as the agent would and say whether it can use it.
    Check {
        /// The file: a refresh_token_file or client_secret_file of a [[mailbox]].
        file: PathBuf,
    },
}

fn form_text(form: Form) -> &'static str {
    match form {
        Form::Plain => "plain text, readable by its owner only",
        Form::Dpapi => "encrypted for this machine (Windows DPAPI)",
    }
}

/// Exit 0: the agent can use the file; 1: it cannot (the reason and fix on stderr).
pub fn run(cmd: SecretCommand) -> anyhow::Result<u8> {
    let (file, outcome) = match cmd {
        SecretCommand::Protect { file } => {
            let outcome = secret_file::protect(&file).map(|p| match p {
                Protected::Now(form) => format!("protected now: {}", form_text(form)),
                Protected::Already(form) => format!("already protected: {}", form_text(form)),
            });
            (file, outcome)
        }
        SecretCommand::Check { file } => {
            let outcome = secret_file::inspect(&file).map(|(secret, form)| {
                format!(
                    "usable: {}, {} characters",
                    form_text(form),
                    secret.expose().chars().count()
                )
            });
            (file, outcome)
        }
    };
    match outcome {
        Ok(text) => {
            println!("{}: {text}", file.display());
            Ok(0)
        }
        Err(e) => {
            eprintln!("eceprobe-agent: {e}\n  fix: {}", e.hint());
            Ok(1)
        }
    }
}
