//! `eceprobe-collector token create|list|revoke`: join tokens, recorded in the collector's
//! database (hashed), so every collector sharing it knows them. The token is printed once,
//! by `create`, and nowhere else.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use eceprobe_collector::civil::utc_minutes;
use eceprobe_collector::config::Config;
use eceprobe_collector::join;
use eceprobe_collector::store::Store;

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a join token and print it: an agent joining with it makes its own key and
    /// gets its certificate (`eceprobe-agent run --join TOKEN`).
    Create {
        /// The deployment the servers joining with it belong to, e.g. prod.
        #[arg(long)]
        deployment: String,
        /// How long it can be used: 30m, 24h, 7d (at most 365d).
        #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
        expires: Duration,
        /// How many servers can join with it (1-10000).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        uses: u32,
        /// Let a server join under an agent id already enrolled with another key (a
        /// reinstalled server); without it such a join is refused.
        #[arg(long)]
        allow_reenroll: bool,
        /// The CA directory (its CA's fingerprint goes into the token).
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// The tokens, newest first, with their uses and state (never their secrets).
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a token by its id: agents can no longer join with it (those that joined keep
    /// their certificates; revoke those with `eceprobe-collector revoke AGENT_ID`).
    Revoke {
        id: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// The database, as `serve` takes it.
#[derive(clap::Args)]
pub(crate) struct DbArgs {
    /// The database (as `serve --db`; default eceprobe.db).
    #[arg(long, value_name = "FILE|URL")]
    db: Option<String>,
    /// The database of this configuration (as `serve --config`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl DbArgs {
    async fn open(self) -> anyhow::Result<Store> {
        let mut settings = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(db) = self.db {
            if let Some(path) = settings.store.apply_flag(&db)? {
                settings.database = path;
            }
        }
        let database = settings.store.database(&settings.database)?;
        Ok(Store::connect(&database).await?)
    }
}

/// `30m`, `24h`, `7d`, `90s`: a number and its unit.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.len().saturating_sub(1);
    let (number, unit) = (text.get(..split).unwrap_or_default(), text.get(split..));
    let seconds = match unit {
        Some("s") => 1,
        Some("m") => 60,
        Some("h") => 3600,
        Some("d") => 86_400,
        _ => {
            return Err(format!(
                "'{text}': give a number and a unit, e.g. 30m, 24h or 7d"
            ))
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{text}': give a number and a unit, e.g. 30m, 24h or 7d"))?;
    let total = n.saturating_mul(seconds);
    if total == 0 || total > 365 * 86_400 {
        return Err(format!("'{text}': from 1s to 365d"));
    }
    Ok(Duration::from_secs(total))
}

pub(crate) async fn run(command: TokenCommand) -> anyhow::Result<String> {
    match command {
        TokenCommand::Create {
            deployment,
            expires,
            uses,
            allow_reenroll,
            dir,
            db,
        } => {
            // Written into issued.log's tab-separated lines and the certificates' subject.
            if deployment.is_empty()
                || deployment.chars().count() > 128
                || deployment.chars().any(char::is_control)
            {
                anyhow::bail!(
                    "--deployment '{}': use 1-128 characters without tabs or line breaks, e.g. prod",
                    deployment.escape_default()
                );
            }
            let minted = join::mint(&dir, &deployment, expires, uses, allow_reenroll)?;
            let store = db.open().await?;
            let created = store.create_join_token(minted.record).await;
            store.close().await;
            let t = created.context("recording the join token")?;
            let text = minted.token.to_text();
            let reenroll = match allow_reenroll {
                true => ", re-enrollment allowed",
                false => "",
            };
            Ok(format!(
                "join token {id} for deployment '{deployment}': {uses} use(s){reenroll}, until {until}\n{text}\n\nOn each server (the token is shown this once; keep it like a password until it is used up or expires):\n  eceprobe-agent run --collector https://<collector name>:7443 --join {text}\n  (or join = \"...\" in [run] of agent.toml; the agent makes its own key and gets its certificate)\nRevoke it with: eceprobe-collector token revoke {id}",
                id = t.id,
                until = utc_minutes(t.expires_unix_ms),
            ))
        }
        TokenCommand::List { db } => {
            let store = db.open().await?;
            let tokens = store.join_tokens().await;
            store.close().await;
            let tokens = tokens.context("reading the join tokens")?;
            if tokens.is_empty() {
                return Ok("no join tokens: create one with `eceprobe-collector token create --deployment NAME`".into());
            }
            let mut out = format!(
                "{:<12}  {:<12}  {:>9}  {:<17}  {}\n",
                "ID", "DEPLOYMENT", "USES", "EXPIRES", "STATE"
            );
            for t in tokens {
                let state = if t.revoked_unix_ms != 0 {
                    "revoked"
                } else if t.expires_unix_ms <= t.now_unix_ms {
                    "expired"
                } else if t.uses >= t.max_uses {
                    "used up"
                } else {
                    "usable"
                };
                let reenroll = if t.allow_reenroll { ", re-enroll" } else { "" };
                out.push_str(&format!(
                    "{:<12}  {:<12}  {:>9}  {:<17}  {state}{reenroll}\n",
                    t.id,
                    t.deployment,
                    format!("{}/{}", t.uses, t.max_uses),
                    utc_minutes(t.expires_unix_ms),
                ));
            }
            Ok(out)
        }
        TokenCommand::Revoke { id, db } => {
            // Ids are stored in lowercase hex; one copied in capitals is the same token.
            let id = id.trim().to_ascii_lowercase();
            let store = db.open().await?;
            let revoked = store.revoke_join_token(&id).await;
            store.close().await;
            match revoked.context("revoking the join token")? {
                true => Ok(format!("join token {id} revoked: no agent can join with it from now on (agents that joined keep their certificates)")),
                false => anyhow::bail!("no standing join token {id}: `eceprobe-collector token list` shows the tokens and their state"),
            }
        }
    }
}
