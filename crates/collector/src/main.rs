//! `eceprobe-collector`: receives agents' probe results and keeps them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use eceprobe_collector::ingest::IngestLimits;
use eceprobe_collector::server::Bound;
use eceprobe_collector::store::Store;

#[derive(Parser)]
#[command(
    name = "eceprobe-collector",
    version,
    about = "Collects eceprobe agents' results into SQLite"
)]
struct Cli {
    /// Log level (error, warn, info, debug, trace); ECEPROBE_LOG also works.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Accept agents' streams and store their results.
    Serve {
        /// gRPC address for agents. Plaintext, so loopback only until TLS lands.
        #[arg(long, default_value = "127.0.0.1:7443")]
        listen: SocketAddr,
        /// The SQLite database file (created if missing).
        #[arg(long, default_value = "eceprobe.db")]
        db: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = std::env::var("ECEPROBE_LOG").unwrap_or_else(|_| cli.log_level.clone());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("eceprobe-collector: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { listen, db } => serve(listen, db).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eceprobe-collector: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn serve(listen: SocketAddr, db: PathBuf) -> anyhow::Result<()> {
    let store = Store::open(&db)
        .await
        .with_context(|| format!("opening {}", db.display()))?;
    let bound = Bound::bind(listen).await?;
    let addr = bound.local_addr().context("reading the bound address")?;
    // Scripts and tests read this line to find the port when --listen asks for port 0.
    println!("listening on {addr}");
    tracing::info!(%addr, db = %db.display(), "collector serving");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    };
    bound
        .serve(store.clone(), IngestLimits::default(), shutdown)
        .await?;
    store.close().await;
    Ok(())
}
