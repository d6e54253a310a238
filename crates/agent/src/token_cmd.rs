//! `eceprobe-agent token --mailbox ADDRESS`: obtains a mailbox's refresh token with the
//! device code flow, shows which account signed in, and saves the refresh token (mode 0600)
//! only when that account is the mailbox (or, for a shared mailbox, its `account`) and the
//! scopes of the configured protocols and `offline_access` were granted. The wrong-user
//! pitfall (M365-FACTS.md): a browser with Windows SSO signs in as the workstation's user.
//!
//! Exit codes: 0 saved, 1 refused (nothing written), 2 could not run (configuration,
//! network, expired code). No token is ever printed or logged, the device code included.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use eceprobe_agent::{config, secret_file};
use eceprobe_checks::oauth::{decode_claims, DeviceFlowError};
use eceprobe_checks::{FailureKind, Grant, MailboxSpec, Prober, Protocol, Secret, Trust};

use super::{ProbeArgs, EXIT_CANNOT_RUN, EXIT_FAILED, EXIT_PASS};

mod verdict;

use verdict::{judge, Verdict};

#[derive(Args)]
pub(crate) struct TokenArgs {
    #[command(flatten)]
    probe: ProbeArgs,
    /// The mailbox to get a refresh token for (its [[mailbox]] table, when --config is given).
    #[arg(long, value_name = "ADDRESS")]
    mailbox: String,
    /// Application (client) ID (default: the mailbox's client_id).
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// A file holding the client secret's Value (default: the mailbox's client_secret_file).
    #[arg(long, value_name = "FILE")]
    client_secret_file: Option<PathBuf>,
    /// Where to save the refresh token (default: the mailbox's refresh_token_file).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Protocols ECE uses on the mailbox, e.g. imap,smtp (default: the mailbox's, else all).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    protocols: Vec<String>,
}

/// The mailbox as the token command needs it (no secret read yet).
struct Target {
    address: String,
    tenant: String,
    client_id: String,
    client_secret_file: Option<PathBuf>,
    out: PathBuf,
    protocols: Vec<Protocol>,
    shared: bool,
    account: Option<String>,
}

fn parse_protocols(list: &[String]) -> anyhow::Result<Vec<Protocol>> {
    let mut out = Vec::new();
    for p in list {
        let protocol = match p.trim().to_ascii_lowercase().as_str() {
            "imap" => Protocol::Imap,
            "pop3" | "pop" => Protocol::Pop3,
            "smtp" => Protocol::Smtp,
            _ => bail!("protocol '{p}': use imap, pop3 and/or smtp"),
        };
        if !out.contains(&protocol) {
            out.push(protocol);
        }
    }
    if out.is_empty() {
        bail!("no protocols: list the protocols ECE uses on this mailbox (imap, pop3, smtp)");
    }
    Ok(out)
}

fn private_window_advice(who: &str) -> String {
    format!(
        "Use a private (InPrivate/incognito) browser window and sign in as {who} itself, with its own credentials (Windows SSO would sign you in as yourself)."
    )
}

/// Refusals that come from the configuration rather than from the sign-in: exit 2.
fn is_setup_error(kind: FailureKind) -> bool {
    matches!(
        kind,
        FailureKind::OauthAppNotFound
            | FailureKind::OauthClientSecretInvalid
            | FailureKind::OauthClientSecretExpired
            | FailureKind::OauthWrongCloud
            | FailureKind::OauthInvalidScope
    )
}

pub(crate) fn run(args: TokenArgs) -> anyhow::Result<u8> {
    let TokenArgs {
        probe,
        mailbox,
        client_id,
        client_secret_file,
        out,
        protocols,
    } = args;
    let mailbox = mailbox.trim().to_string();
    let mut file = match &probe.config {
        Some(path) => config::load_file(path)?,
        None => config::FileConfig::default(),
    };
    let tables = std::mem::take(&mut file.mailbox);
    let table = tables.into_iter().find(|t| {
        t.address
            .as_deref()
            .is_some_and(|a| a.trim().eq_ignore_ascii_case(&mailbox))
    });
    if probe.config.is_some() && table.is_none() {
        bail!("--mailbox {mailbox}: no [[mailbox]] with that address in the configuration");
    }
    let table = table.unwrap_or_default();
    if table.grant.as_deref() == Some("client_credentials") {
        bail!("mailbox[{mailbox}] uses grant = \"client_credentials\" (app-only): it needs no refresh token");
    }
    let tenant = probe
        .tenant
        .clone()
        .or(table.tenant)
        .or_else(|| file.tenant.clone())
        .unwrap_or_else(|| "organizations".to_string());
    let Some(client_id) = client_id
        .or(table.client_id)
        .filter(|c| !c.trim().is_empty())
    else {
        bail!("no client id: give --client-id or client_id in the mailbox's [[mailbox]]");
    };
    let Some(out) = out.or(table.refresh_token_file) else {
        bail!("nowhere to save the refresh token: give --out FILE or refresh_token_file in the mailbox's [[mailbox]]");
    };
    let protocols = if !protocols.is_empty() {
        parse_protocols(&protocols)?
    } else if let Some(list) = &table.protocols {
        parse_protocols(list).with_context(|| format!("mailbox[{mailbox}].protocols"))?
    } else {
        Protocol::ALL.to_vec()
    };
    let target = Target {
        address: mailbox,
        tenant,
        client_id,
        client_secret_file: client_secret_file.or(table.client_secret_file),
        out,
        protocols,
        shared: table.shared.unwrap_or(false),
        account: table.account.map(|a| a.trim().to_string()),
    };
    if let Some(dir) = target.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            bail!(
                "cannot save to {}: the directory {} does not exist",
                target.out.display(),
                dir.display()
            );
        }
    }
    let client_secret = match &target.client_secret_file {
        Some(path) => Some(secret_file::read(path).context("client secret")?),
        None => None,
    };

    // The probe settings, trust and hosts as `check` uses them, without the mailbox tables
    // (their refresh token files may not exist yet).
    let mut hosts = probe.cloud.or(file.cloud).unwrap_or_default().hosts();
    if let Some(login) = file.hosts.login.clone() {
        hosts.login = login;
    }
    if let Some(outlook) = file.hosts.outlook.clone() {
        hosts.outlook = outlook;
    }
    let overrides = config::Overrides {
        role: probe.role,
        cloud: probe.cloud,
        tenant: probe.tenant,
        ece_url: probe.ece_url,
        proxy: probe.proxy,
        checks: probe.only,
        ca_files: probe.ca_files,
        expected_roots: probe.expected_roots,
        resolve: probe.resolve,
        ..config::Overrides::default()
    };
    let resolved = config::resolve(file, overrides).context("configuration")?;
    let trust = Trust::new(&resolved.trust).context("trust")?;

    let mut spec = MailboxSpec::new(
        &target.address,
        hosts,
        &target.tenant,
        &target.client_id,
        Grant::RefreshToken(Secret::default()),
    );
    spec.client_secret = client_secret;
    spec.protocols = target.protocols.clone();
    let client = spec.client();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let prober = Prober::new(resolved.settings, trust);
    let who = if target.shared {
        target
            .account
            .clone()
            .unwrap_or_else(|| "the account with FullAccess on the mailbox".to_string())
    } else {
        target.address.clone()
    };

    let code = match runtime.block_on(prober.start_device_code(&client)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("eceprobe-agent token: could not start the sign-in: {e}");
            if e.kind() == FailureKind::OauthClientSecretInvalid {
                eprintln!("If the app registration is a confidential client, give its secret (client_secret_file), or enable \"Allow public client flows\" on its Authentication page.");
            }
            return Ok(EXIT_CANNOT_RUN);
        }
    };
    println!(
        "Getting a refresh token for {} (scopes: {}).",
        target.address,
        client.device_scopes().join(" ")
    );
    println!();
    println!("{}", code.message);
    println!();
    println!("{}", private_window_advice(&who));
    println!(
        "Waiting for the sign-in (the code is valid for {} s)...",
        code.expires_in
    );

    let grant = match runtime.block_on(prober.poll_device_code(&client, &code)) {
        Ok(grant) => grant,
        Err(e) => return Ok(flow_failed(&e, &who)),
    };
    let claims = decode_claims(&grant.access_token);
    let user = claims
        .as_ref()
        .and_then(|c| c.user.clone())
        .unwrap_or_else(|| "(not in the token)".to_string());
    println!();
    println!("Signed in as: {user}");
    println!(
        "Scopes: {}",
        if grant.scopes.is_empty() {
            "(none listed)".to_string()
        } else {
            grant.scopes.join(" ")
        }
    );
    match (grant.expires_in, claims.as_ref().and_then(|c| c.lifetime_s)) {
        (Some(s), _) => println!("Access token lifetime: {s} s"),
        (None, Some(s)) => println!("Access token lifetime: {s} s (from the token's claims)"),
        (None, None) => println!("Access token lifetime: unknown"),
    }
    println!(
        "Refresh token: {}",
        if grant.refresh_token.is_some() {
            "issued (valid 90 days, renewed on every use)"
        } else {
            "not issued"
        }
    );

    match judge(
        &target.address,
        target.shared,
        target.account.as_deref(),
        &target.protocols,
        claims.as_ref(),
        &grant,
    ) {
        Verdict::Refuse(problems) => {
            eprintln!();
            eprintln!(
                "REFUSED: the refresh token was not saved ({} left as it was).",
                target.out.display()
            );
            for p in &problems {
                eprintln!("  - {p}");
            }
            eprintln!("{}", private_window_advice(&who));
            eprintln!("Then run this command again.");
            Ok(EXIT_FAILED)
        }
        Verdict::Save(notes) => {
            for n in &notes {
                println!("Note: {n}");
            }
            let Some(rt) = grant.refresh_token.as_ref() else {
                return Ok(EXIT_FAILED);
            };
            if let Err(e) = secret_file::write_atomic(&target.out, rt) {
                eprintln!(
                    "eceprobe-agent token: cannot write {}: {e}",
                    target.out.display()
                );
                return Ok(EXIT_CANNOT_RUN);
            }
            println!(
                "Saved the refresh token to {} (mode 0600).",
                target.out.display()
            );
            Ok(EXIT_PASS)
        }
    }
}

/// The flow ended without a token: the exit code, after saying why.
fn flow_failed(e: &DeviceFlowError, who: &str) -> u8 {
    eprintln!("eceprobe-agent token: {e}");
    match e {
        DeviceFlowError::Unreachable { .. } | DeviceFlowError::Expired { .. } => EXIT_CANNOT_RUN,
        DeviceFlowError::Refused { kind, .. } if is_setup_error(*kind) => EXIT_CANNOT_RUN,
        DeviceFlowError::Refused { kind, .. } => {
            eprintln!("REFUSED: nothing was saved.");
            match kind {
                FailureKind::OauthConsentMissing | FailureKind::OauthAdminConsentRequired => eprintln!(
                    "The account that signed in has not consented to the mail scopes the configured protocols need: grant consent for the app (an administrator can grant it for the tenant), or check that this is the mailbox's own account."
                ),
                FailureKind::OauthDeviceUserMismatch => eprintln!(
                    "The browser is signed in as another user than the one chosen."
                ),
                _ => {}
            }
            eprintln!("{}", private_window_advice(who));
            EXIT_FAILED
        }
    }
}
