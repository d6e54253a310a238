//! `eceprobe-testlab`: run the simulated Microsoft 365 by hand.
//!
//! - `serve`: start it (with faults) and print how to point `eceprobe-agent check` at it.
//! - `demo`: start it with a firewall blocking 993/995 and run the agent built beside this
//!   binary against it, as an application server would.
//! - `dns-stub`: a scripted DNS server, for network-namespace tests of the OS resolver.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use eceprobe_testlab::dns::{DnsAnswer, DnsStub};
use eceprobe_testlab::{Endpoint, Fault, LabConfig, ProxyMode, Testlab};

#[derive(Parser)]
#[command(
    name = "eceprobe-testlab",
    version,
    about = "A simulated Microsoft 365 on loopback, with fault injection"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve until Ctrl-C and print the agent command line that targets the lab.
    Serve {
        /// ENDPOINT=FAULT, e.g. imap=refuse, pop3=black-hole, smtp=no-starttls,
        /// login=http-status:503, imap=delay:300 (ms). Repeatable.
        #[arg(long = "fault", value_parser = parse_fault)]
        faults: Vec<(Endpoint, Fault)>,
        /// Also run an HTTP CONNECT proxy: allow, deny or auth.
        #[arg(long, value_parser = parse_proxy)]
        proxy: Option<ProxyMode>,
        /// Where to write the lab's CA certificates.
        #[arg(long, default_value_os_t = std::env::temp_dir().join("eceprobe-testlab"))]
        dir: PathBuf,
    },
    /// Block 993 and 995 (refused, dropped), then run `eceprobe-agent check` against the lab.
    Demo {
        /// The agent to run (default: eceprobe-agent beside this binary).
        #[arg(long, value_name = "PATH")]
        agent: Option<PathBuf>,
        /// Run the agent through this program, e.g. wine64 for a Windows build.
        #[arg(long, value_name = "PROGRAM")]
        via: Option<PathBuf>,
    },
    /// Answer DNS queries on UDP: --rule SUFFIX=ANSWER, ANSWER = an IP, nxdomain, servfail or
    /// silent. Names matching no rule get NXDOMAIN. Serves until stdin closes.
    DnsStub {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long = "rule", value_parser = parse_rule)]
        rules: Vec<(String, DnsAnswer)>,
    },
}

fn parse_fault(s: &str) -> Result<(Endpoint, Fault), String> {
    let (ep, fault) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected ENDPOINT=FAULT, e.g. imap=refuse"))?;
    let endpoint = Endpoint::ALL
        .into_iter()
        .find(|e| e.name() == ep)
        .ok_or_else(|| {
            let names: Vec<_> = Endpoint::ALL.iter().map(|e| e.name()).collect();
            format!("unknown endpoint '{ep}' (known: {})", names.join(", "))
        })?;
    let (name, arg) = match fault.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (fault, None),
    };
    let num = |what: &str| -> Result<u64, String> {
        arg.and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("fault '{name}' needs a number: {name}:{what}"))
    };
    let fault = match name {
        "none" => Fault::None,
        "refuse" => Fault::Refuse,
        "black-hole" => Fault::BlackHole,
        "silent" => Fault::Silent,
        "delay" => Fault::Delay(Duration::from_millis(num("MS")?)),
        "trickle" => Fault::Trickle(Duration::from_millis(num("MS")?)),
        "untrusted-cert" => Fault::UntrustedCert,
        "expired-cert" => Fault::ExpiredCert,
        "wrong-name-cert" => Fault::WrongNameCert,
        "intercepted-cert" => Fault::InterceptedCert,
        "expiring-cert" => {
            Fault::ExpiringCert(u32::try_from(num("DAYS")?).map_err(|e| e.to_string())?)
        }
        "tls-legacy-only" => Fault::TlsLegacyOnly,
        "no-xoauth2" => Fault::NoXoauth2,
        "no-starttls" => Fault::NoStarttls,
        "endless-line" => Fault::EndlessLine,
        "huge-banner" => {
            Fault::HugeBanner(usize::try_from(num("BYTES")?).map_err(|e| e.to_string())?)
        }
        "garbage" => Fault::Garbage,
        "http-status" => Fault::HttpStatus(u16::try_from(num("CODE")?).map_err(|e| e.to_string())?),
        "no-token-endpoint" => Fault::NoTokenEndpoint,
        other => return Err(format!("unknown fault '{other}'")),
    };
    Ok((endpoint, fault))
}

fn parse_proxy(s: &str) -> Result<ProxyMode, String> {
    match s {
        "allow" => Ok(ProxyMode::Allow),
        "deny" => Ok(ProxyMode::Deny403),
        "auth" => Ok(ProxyMode::RequireAuth407),
        _ => Err(format!("unknown proxy mode '{s}' (allow, deny, auth)")),
    }
}

fn parse_rule(s: &str) -> Result<(String, DnsAnswer), String> {
    let (suffix, answer) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected SUFFIX=ANSWER"))?;
    let answer = match answer {
        "nxdomain" => DnsAnswer::NxDomain,
        "servfail" => DnsAnswer::ServFail,
        "silent" => DnsAnswer::Silent,
        ip => DnsAnswer::Address(
            ip.parse()
                .map_err(|_| format!("'{ip}' is not an IP, nxdomain, servfail or silent"))?,
        ),
    };
    Ok((suffix.to_string(), answer))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ECEPROBE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("eceprobe-testlab: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { faults, proxy, dir } => serve(faults, proxy, &dir).await,
            Command::Demo { agent, via } => demo(agent, via).await,
            Command::DnsStub { listen, rules } => dns_stub(listen, rules).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("eceprobe-testlab: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn serve(
    faults: Vec<(Endpoint, Fault)>,
    proxy: Option<ProxyMode>,
    dir: &Path,
) -> anyhow::Result<u8> {
    let mut cfg = LabConfig::healthy();
    for (ep, fault) in faults {
        cfg = cfg.fault(ep, fault);
    }
    if let Some(mode) = proxy {
        cfg = cfg.proxy(mode);
    }
    let lab = Testlab::start(cfg).await.context("starting the lab")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (ca, _) = lab.write_ca_files(dir).context("writing the CA files")?;
    println!("testlab is serving; lab CA: {}", ca.display());
    for ep in Endpoint::ALL {
        let addrs: Vec<String> = lab.addrs(ep).iter().map(|a| a.to_string()).collect();
        println!(
            "  {:<14} {}:{} -> {}",
            ep.name(),
            ep.host(lab.hostnames()),
            ep.real_port(),
            addrs.join(", ")
        );
    }
    if let Some(p) = lab.proxy_addr() {
        println!("  proxy          http://{p}");
    }
    println!(
        "\nprobe it with:\n  eceprobe-agent {}\n\nCtrl-C stops.",
        lab.agent_check_args(&ca).join(" ")
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    lab.shutdown().await;
    Ok(0)
}

async fn demo(agent: Option<PathBuf>, via: Option<PathBuf>) -> anyhow::Result<u8> {
    let agent = match agent {
        Some(path) => path,
        None => std::env::current_exe()
            .context("locating this binary")?
            .with_file_name(format!("eceprobe-agent{}", std::env::consts::EXE_SUFFIX)),
    };
    if !agent.exists() {
        bail!(
            "{} not found: build it first (cargo build --release)",
            agent.display()
        );
    }
    let cfg = LabConfig::healthy()
        .fault(Endpoint::Imap, Fault::Refuse)
        .fault(Endpoint::Pop3, Fault::BlackHole);
    let lab = Testlab::start(cfg).await.context("starting the lab")?;
    let dir = std::env::temp_dir().join(format!("eceprobe-testlab-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (ca, _) = lab.write_ca_files(&dir).context("writing the CA files")?;
    println!(
        "testlab: a simulated Microsoft 365 on loopback; its firewall refuses 993 and drops 995."
    );
    println!("running: eceprobe-agent check --role application (pointed at the lab)\n");
    let mut args = lab.agent_check_args(&ca);
    args.extend(["--role".into(), "application".into()]);
    let mut command = match &via {
        Some(runner) => {
            let mut c = tokio::process::Command::new(runner);
            c.arg(&agent);
            c
        }
        None => tokio::process::Command::new(&agent),
    };
    let status = command
        .args(&args)
        .status()
        .await
        .with_context(|| format!("running {}", agent.display()))?;
    lab.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    // The staged faults must be found: exit 1 from the agent is the demo working.
    match status.code() {
        Some(1) => {
            println!("\n(eceprobe-agent exited 1: it found the blocked ports, as staged)");
            Ok(0)
        }
        other => bail!("eceprobe-agent exited {other:?}; expected 1 (the staged failures)"),
    }
}

async fn dns_stub(listen: SocketAddr, rules: Vec<(String, DnsAnswer)>) -> anyhow::Result<u8> {
    let stub = DnsStub::start(listen, rules)
        .await
        .with_context(|| format!("binding {listen}/udp"))?;
    println!("dns-stub listening on {}", stub.addr());
    // Serve until the parent closes our stdin (or dies).
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink)
    })
    .await;
    Ok(0)
}
