//! `eceprobe-testlab`: run the simulated Microsoft 365 by hand.
//!
//! - `serve`: start it (with faults) and print how to point `eceprobe-agent check` at it.
//! - `demo`: start it with a firewall blocking 993/995 and run the agent built beside this
//!   binary against it, as an application server would.
//! - `mailbox-demo`: a mailbox's OAuth checks through the agent binary, its refresh token
//!   file protected by `eceprobe-agent secret protect` (DPAPI when the agent is a .exe).
//! - `dns-stub`: a scripted DNS server, for network-namespace tests of the OS resolver.

mod mailbox_demo;

use std::net::{IpAddr, SocketAddr};
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
        /// Serve the endpoint on these IPs (one address each) instead of 127.0.0.x, e.g.
        /// login=10.0.0.1 or imap=10.0.0.2,10.0.0.3. Repeatable.
        #[arg(long = "ip", value_name = "ENDPOINT=IP[,IP...]", value_parser = parse_ips)]
        ips: Vec<(Endpoint, Vec<IpAddr>)>,
        /// Listen on the real ports (443, 993, 995, 587) instead of ephemeral ones; the three
        /// HTTPS endpoints (login, outlook-https, ece-web) then need their own --ip.
        #[arg(long)]
        real_ports: bool,
        /// Print one JSON line once serving (ca_file, endpoints, resolve, agent_args) instead
        /// of the text, for scripts and tests.
        #[arg(long)]
        json: bool,
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
    /// Run a mailbox's OAuth checks through the agent: its refresh token file protected with
    /// `eceprobe-agent secret protect`, read, refreshed, rotated and written back protected.
    MailboxDemo {
        /// The agent to run (default: eceprobe-agent beside this binary).
        #[arg(long, value_name = "PATH")]
        agent: Option<PathBuf>,
        /// Run the agent through this program, e.g. wine64 for a Windows build.
        #[arg(long, value_name = "PROGRAM")]
        via: Option<PathBuf>,
    },
    /// Answer DNS queries on UDP: --rule SUFFIX=ANSWER, ANSWER = an IP, nxdomain, servfail,
    /// silent, or IPv4,silent-aaaa (A answered, AAAA queries dropped). Names matching no rule
    /// get NXDOMAIN. Serves until stdin closes.
    DnsStub {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long = "rule", value_parser = parse_rule)]
        rules: Vec<(String, DnsAnswer)>,
    },
}

fn parse_endpoint(ep: &str) -> Result<Endpoint, String> {
    Endpoint::ALL
        .into_iter()
        .find(|e| e.name() == ep)
        .ok_or_else(|| {
            let names: Vec<_> = Endpoint::ALL.iter().map(|e| e.name()).collect();
            format!("unknown endpoint '{ep}' (known: {})", names.join(", "))
        })
}

fn parse_ips(s: &str) -> Result<(Endpoint, Vec<IpAddr>), String> {
    let (ep, ips) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected ENDPOINT=IP[,IP...], e.g. login=10.0.0.1"))?;
    let ips = ips
        .split(',')
        .map(|ip| {
            ip.parse()
                .map_err(|_| format!("'{ip}' is not an IP address"))
        })
        .collect::<Result<Vec<IpAddr>, String>>()?;
    Ok((parse_endpoint(ep)?, ips))
}

fn parse_fault(s: &str) -> Result<(Endpoint, Fault), String> {
    let (ep, fault) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected ENDPOINT=FAULT, e.g. imap=refuse"))?;
    let endpoint = parse_endpoint(ep)?;
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
        "missing-intermediate" => Fault::MissingIntermediate,
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
        other => match other.strip_suffix(",silent-aaaa") {
            Some(ip) => DnsAnswer::SilentAaaa(
                ip.parse()
                    .map_err(|_| format!("'{ip}' is not an IPv4 address (before ,silent-aaaa)"))?,
            ),
            None => DnsAnswer::Address(other.parse().map_err(|_| {
                format!("'{other}' is not an IP, IPv4,silent-aaaa, nxdomain, servfail or silent")
            })?),
        },
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
            Command::Serve {
                faults,
                proxy,
                dir,
                ips,
                real_ports,
                json,
            } => {
                let opts = ServeOptions {
                    faults,
                    proxy,
                    ips,
                    real_ports,
                    json,
                };
                serve(opts, &dir).await
            }
            Command::Demo { agent, via } => demo(agent, via).await,
            Command::MailboxDemo { agent, via } => match agent_path(agent) {
                Ok(agent) => mailbox_demo::run(agent, via).await,
                Err(e) => Err(e),
            },
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

struct ServeOptions {
    faults: Vec<(Endpoint, Fault)>,
    proxy: Option<ProxyMode>,
    ips: Vec<(Endpoint, Vec<IpAddr>)>,
    real_ports: bool,
    json: bool,
}

async fn serve(opts: ServeOptions, dir: &Path) -> anyhow::Result<u8> {
    let mut cfg = LabConfig::healthy();
    for (ep, fault) in opts.faults {
        cfg = cfg.fault(ep, fault);
    }
    for (ep, ips) in opts.ips {
        // Several IPs for one fault: every address gets that fault.
        if let [fault] = cfg.faults(ep) {
            let faults = vec![fault.clone(); ips.len()];
            cfg = cfg.addresses(ep, faults);
        }
        cfg = cfg.ips(ep, ips);
    }
    if opts.real_ports {
        cfg = cfg.real_ports();
    }
    if let Some(mode) = opts.proxy {
        cfg = cfg.proxy(mode);
    }
    let lab = Testlab::start(cfg).await.context("starting the lab")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (ca, interceptor) = lab.write_ca_files(dir).context("writing the CA files")?;
    if opts.json {
        println!("{}", serve_json(&lab, &ca, &interceptor));
    } else {
        print_serving(&lab, &ca);
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    lab.shutdown().await;
    Ok(0)
}

/// `serve --json`: where everything is, and the agent arguments that target it.
fn serve_json(lab: &Testlab, ca: &Path, interceptor: &Path) -> serde_json::Value {
    let endpoints: Vec<serde_json::Value> = Endpoint::ALL
        .iter()
        .map(|&ep| {
            let addrs: Vec<String> = lab.addrs(ep).iter().map(|a| a.to_string()).collect();
            serde_json::json!({
                "endpoint": ep.name(),
                "host": ep.host(lab.hostnames()),
                "port": ep.real_port(),
                "addrs": addrs,
            })
        })
        .collect();
    serde_json::json!({
        "ca_file": ca,
        "interceptor_ca_file": interceptor,
        "endpoints": endpoints,
        "proxy": lab.proxy_addr().map(|p| format!("http://{p}")),
        "resolve": lab.resolve_args(),
        "agent_args": lab.agent_check_args(ca),
    })
}

fn print_serving(lab: &Testlab, ca: &Path) {
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
        lab.agent_check_args(ca).join(" ")
    );
}

/// The agent binary to run: the one given, or eceprobe-agent beside this binary.
fn agent_path(agent: Option<PathBuf>) -> anyhow::Result<PathBuf> {
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
    Ok(agent)
}

async fn demo(agent: Option<PathBuf>, via: Option<PathBuf>) -> anyhow::Result<u8> {
    let agent = agent_path(agent)?;
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
