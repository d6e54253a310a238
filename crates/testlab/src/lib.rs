//! testlab: an in-process simulated Microsoft 365 on loopback.
//!
//! It speaks the real protocols (IMAP and POP3 over TLS, SMTP with STARTTLS, HTTPS) over real
//! TLS with certificates for the real host names, issued by a lab CA. The probe under test is
//! pointed at the lab through resolve overrides ([`Testlab::resolve_args`]) and trusts
//! [`Testlab::ca_pem`] in place of Microsoft's roots. Each address of each endpoint can carry a
//! [`Fault`] (refused, black-holed, slow, bad certificate, no XOAUTH2, hostile replies...).
//! By default every address is on loopback (127.0.0.x) on an ephemeral port;
//! [`LabConfig::ips`] and [`LabConfig::real_ports`] put it on chosen IPs and the real ports
//! (443, 993, 995, 587), e.g. in a network namespace that other namespaces probe.
//! Everything runs on the caller's tokio runtime and stops on [`Testlab::shutdown`] or drop.

mod certs;
mod clock;
mod config;
pub mod dns;
mod faults;
mod https;
mod imap;
pub mod jdk;
mod lineio;
mod listener;
pub mod oauth;
mod pop3;
mod proxy;
mod routes;
mod smtp;
mod tls;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use certs::{INTERCEPTOR_CN, LAB_INTERMEDIATE_CN, LAB_ROOT_CN, ROGUE_CN, WRONG_NAME};
pub use config::{Endpoint, Fault, Hostnames, LabConfig, ProxyMode, DEFAULT_IDLE_TIMEOUT};
pub use oauth::{
    Account, MailboxState, OAuthConfig, SmtpAuth, TokenFault, DELEGATED_SCOPES, LAB_CLIENT_ID,
};
pub use proxy::{PROXY_PASSWORD, PROXY_USER};
pub use routes::LAB_TENANT_ID;

use certs::{CertKind, Pki};
use listener::{accept_loop, address_ip, black_hole, frontend_name, refused_port, ConnCtx};
use oauth::Authority;
use proxy::ProxyCtx;

/// Why a lab could not start (or write its files).
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("certificate generation failed: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("invalid lab configuration: {0}")]
    Config(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> LabError {
    let what = what.into();
    move |source| LabError::Io { what, source }
}

/// How long `shutdown` waits for listeners to close their connections before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running lab. Dropping it aborts every listener and connection; [`Testlab::shutdown`]
/// does the same and waits until they are gone.
pub struct Testlab {
    hostnames: Hostnames,
    ca_pem: String,
    interceptor_ca_pem: String,
    ca_der: CertificateDer<'static>,
    interceptor_ca_der: CertificateDer<'static>,
    addrs: [Vec<SocketAddr>; 6],
    accepted: [Arc<AtomicU64>; 6],
    proxy_addr: Option<SocketAddr>,
    proxy_seen: Arc<Mutex<Vec<String>>>,
    oauth: Arc<Authority>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Testlab {
    /// Generates the PKI, binds every address and starts serving on the current runtime.
    pub async fn start(cfg: LabConfig) -> Result<Testlab, LabError> {
        validate(&cfg)?;
        let mut pki = Pki::generate()?;
        let hostnames = Arc::new(cfg.hostnames.clone());
        let oauth = Arc::new(Authority::new(cfg.oauth.clone())?);
        let (stop, _) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let accepted: [Arc<AtomicU64>; 6] = std::array::from_fn(|_| Arc::default());
        let mut slots: [Vec<Option<SocketAddr>>; 6] = Default::default();
        let mut refused = Vec::new();

        for ep in Endpoint::ALL {
            for (i, fault) in cfg.faults(ep).iter().enumerate() {
                let ip = endpoint_ip(&cfg, ep, i)?;
                let port = if cfg.real_ports { ep.real_port() } else { 0 };
                let at = SocketAddr::new(ip, port);
                let addr = match fault {
                    // On a real port: nothing listens there (validate made sure no other
                    // endpoint does).
                    Fault::Refuse if cfg.real_ports => Some(at),
                    // Reserved after every real listener is bound, so none of them can
                    // land on the port that must refuse.
                    Fault::Refuse => {
                        refused.push((ep, i, ip));
                        None
                    }
                    Fault::BlackHole => {
                        let (addr, hole) = black_hole(at)
                            .await
                            .map_err(io_err(format!("{ep}: black hole on {at}")))?;
                        let mut rx = stop.subscribe();
                        tasks.spawn(async move {
                            let _hole = hole;
                            let _ = rx.changed().await;
                        });
                        Some(addr)
                    }
                    _ => {
                        let listener = TcpListener::bind(at)
                            .await
                            .map_err(io_err(format!("{ep}: bind {at}")))?;
                        let addr = listener
                            .local_addr()
                            .map_err(io_err(format!("{ep}: local address")))?;
                        let ctx = Arc::new(ConnCtx {
                            endpoint: ep,
                            fault: fault.clone(),
                            tls: pki.server_config(
                                ep.host(&hostnames),
                                CertKind::for_fault(fault),
                                ep.is_https(),
                            )?,
                            hostnames: hostnames.clone(),
                            frontend: frontend_name(i, &hostnames),
                            idle: cfg.idle_timeout,
                            oauth: oauth.clone(),
                        });
                        tasks.spawn(accept_loop(
                            listener,
                            ep.name(),
                            accepted[ep.index()].clone(),
                            stop.subscribe(),
                            move |tcp, peer| listener::serve_endpoint(tcp, peer, ctx.clone()),
                        ));
                        Some(addr)
                    }
                };
                slots[ep.index()].push(addr);
            }
        }
        for (ep, i, ip) in refused {
            let addr = refused_port(ip).map_err(io_err(format!("{ep}: reserve port on {ip}")))?;
            if let Some(slot) = slots[ep.index()].get_mut(i) {
                *slot = Some(addr);
            }
        }
        let addrs = slots.map(|v| v.into_iter().flatten().collect::<Vec<_>>());

        let proxy_seen = Arc::new(Mutex::new(Vec::new()));
        let proxy_addr = match cfg.proxy {
            None => None,
            Some(mode) => {
                let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                    .await
                    .map_err(io_err("proxy: bind"))?;
                let addr = listener
                    .local_addr()
                    .map_err(io_err("proxy: local address"))?;
                let ctx = Arc::new(ProxyCtx {
                    mode,
                    routes: proxy_routes(&hostnames, &addrs),
                    seen: proxy_seen.clone(),
                    idle: cfg.idle_timeout,
                });
                tasks.spawn(accept_loop(
                    listener,
                    "proxy",
                    Arc::default(),
                    stop.subscribe(),
                    move |tcp, _| proxy::serve(tcp, ctx.clone()),
                ));
                Some(addr)
            }
        };

        tracing::debug!(?addrs, ?proxy_addr, "testlab started");
        Ok(Testlab {
            hostnames: cfg.hostnames,
            ca_pem: pki.root_pem(),
            interceptor_ca_pem: pki.interceptor_pem(),
            ca_der: pki.root_der(),
            interceptor_ca_der: pki.interceptor_der(),
            addrs,
            accepted,
            proxy_addr,
            proxy_seen,
            oauth,
            stop,
            tasks,
        })
    }

    /// The lab root CA (PEM), standing in for Microsoft's roots.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// The TLS-inspection proxy's CA (PEM), behind `Fault::InterceptedCert`.
    pub fn interceptor_ca_pem(&self) -> String {
        self.interceptor_ca_pem.clone()
    }

    /// The lab root CA (DER).
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca_der.clone()
    }

    /// The interception CA (DER).
    pub fn interceptor_ca_der(&self) -> CertificateDer<'static> {
        self.interceptor_ca_der.clone()
    }

    /// The endpoint's addresses, in configuration order (refused and black-holed included).
    pub fn addrs(&self, ep: Endpoint) -> Vec<SocketAddr> {
        self.addrs[ep.index()].clone()
    }

    pub fn hostnames(&self) -> &Hostnames {
        &self.hostnames
    }

    /// One override per endpoint: `HOST:REALPORT:ADDR:PORT[,ADDR:PORT...]`.
    pub fn resolve_args(&self) -> Vec<String> {
        Endpoint::ALL
            .iter()
            .map(|&ep| {
                let targets: Vec<String> = self.addrs[ep.index()]
                    .iter()
                    .map(SocketAddr::to_string)
                    .collect();
                format!(
                    "{}:{}:{}",
                    ep.host(&self.hostnames),
                    ep.real_port(),
                    targets.join(",")
                )
            })
            .collect()
    }

    /// The `eceprobe-agent check` arguments that aim the agent at this lab: a `--resolve` per
    /// endpoint, `ca` (the lab CA file from [`Testlab::write_ca_files`]) as trusted and as
    /// expected root (it stands in for Microsoft's), the lab's ECE URL, and `--no-java` (the
    /// lab's roots are in no Java trust store, so ECE's Java is not looked for).
    pub fn agent_check_args(&self, ca: &Path) -> Vec<String> {
        let mut args = self.agent_check_args_judging_java(ca);
        args.push("--no-java".into());
        args
    }

    /// As [`Testlab::agent_check_args`], for tests that give ECE's Java themselves
    /// (`--java-home`, `--java-truststore`).
    pub fn agent_check_args_judging_java(&self, ca: &Path) -> Vec<String> {
        let mut args = vec!["check".to_string()];
        for r in self.resolve_args() {
            args.extend(["--resolve".to_string(), r]);
        }
        let ca = ca.display().to_string();
        args.extend([
            "--ca-file".into(),
            ca.clone(),
            "--expected-roots".into(),
            ca,
        ]);
        args.extend([
            "--ece-url".into(),
            format!("https://{}/", self.hostnames.ece),
        ]);
        args
    }

    pub fn proxy_addr(&self) -> Option<SocketAddr> {
        self.proxy_addr
    }

    /// TCP connections accepted so far on all of the endpoint's addresses.
    pub fn connections(&self, ep: Endpoint) -> u64 {
        self.accepted[ep.index()].load(Ordering::Relaxed)
    }

    /// CONNECT targets the proxy saw, in order (e.g. `login.microsoftonline.com:443`).
    pub fn proxy_connects(&self) -> Vec<String> {
        self.proxy_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many access tokens the lab's token endpoint minted.
    pub fn issued_tokens(&self) -> usize {
        self.oauth.minted()
    }

    /// Writes `lab-ca.pem` and `interceptor-ca.pem` into `dir`.
    pub fn write_ca_files(&self, dir: &Path) -> Result<(PathBuf, PathBuf), LabError> {
        let lab = dir.join("lab-ca.pem");
        let interceptor = dir.join("interceptor-ca.pem");
        std::fs::write(&lab, &self.ca_pem).map_err(io_err(format!("write {}", lab.display())))?;
        std::fs::write(&interceptor, &self.interceptor_ca_pem)
            .map_err(io_err(format!("write {}", interceptor.display())))?;
        Ok((lab, interceptor))
    }

    /// Stops every listener and open connection and waits until they are gone.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        let tasks = &mut self.tasks;
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            self.tasks.shutdown().await;
        }
    }
}

impl std::fmt::Debug for Testlab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<(Endpoint, &Vec<SocketAddr>)> = Endpoint::ALL
            .iter()
            .map(|&ep| (ep, &self.addrs[ep.index()]))
            .collect();
        f.debug_struct("Testlab")
            .field("hostnames", &self.hostnames)
            .field("addrs", &addrs)
            .field("proxy_addr", &self.proxy_addr)
            .finish_non_exhaustive()
    }
}

/// The IP of address `index` of an endpoint: the configured one, else 127.0.0.{index+1}.
fn endpoint_ip(cfg: &LabConfig, ep: Endpoint, index: usize) -> Result<IpAddr, LabError> {
    match cfg.ips_of(ep) {
        Some(ips) => ips.get(index).copied().ok_or_else(|| {
            LabError::Config(format!(
                "{ep}: {} IPs for {} addresses",
                ips.len(),
                cfg.faults(ep).len()
            ))
        }),
        None => address_ip(index)
            .map(IpAddr::V4)
            .ok_or_else(|| LabError::Config(format!("{ep}: too many addresses (at most 254)"))),
    }
}

fn validate(cfg: &LabConfig) -> Result<(), LabError> {
    // With real ports, who is on each (ip, port), so that two endpoints never share one.
    let mut taken: Vec<(SocketAddr, Endpoint)> = Vec::new();
    for ep in Endpoint::ALL {
        let faults = cfg.faults(ep);
        if faults.is_empty() {
            return Err(LabError::Config(format!("{ep}: no addresses")));
        }
        if let Some(ips) = cfg.ips_of(ep) {
            if ips.len() != faults.len() {
                return Err(LabError::Config(format!(
                    "{ep}: {} IPs for {} addresses (one IP per fault)",
                    ips.len(),
                    faults.len()
                )));
            }
        }
        if cfg.real_ports {
            for i in 0..faults.len() {
                let at = SocketAddr::new(endpoint_ip(cfg, ep, i)?, ep.real_port());
                if let Some((_, other)) = taken.iter().find(|(a, _)| *a == at) {
                    return Err(LabError::Config(format!(
                        "{other} and {ep} would both listen on {at}: give them their own IPs"
                    )));
                }
                taken.push((at, ep));
            }
        }
        for f in faults {
            if let Fault::HttpStatus(code) = f {
                if !(200..=599).contains(code) {
                    return Err(LabError::Config(format!(
                        "{ep}: HttpStatus({code}) must be 200..=599"
                    )));
                }
            }
        }
        if ep.host(&cfg.hostnames).is_empty() {
            return Err(LabError::Config(format!("{ep}: empty host name")));
        }
    }
    if cfg.idle_timeout.is_zero() {
        return Err(LabError::Config("idle_timeout must be positive".into()));
    }
    Ok(())
}

/// CONNECT targets the proxy tunnels: `host:realport` to the endpoint's first address (the
/// three port-443 services are told apart by host name), and every lab `ip:port` directly.
fn proxy_routes(h: &Hostnames, addrs: &[Vec<SocketAddr>; 6]) -> Vec<(String, SocketAddr)> {
    let mut routes = Vec::new();
    for ep in Endpoint::ALL {
        let list = &addrs[ep.index()];
        if let Some(first) = list.first() {
            let name = format!("{}:{}", ep.host(h), ep.real_port()).to_ascii_lowercase();
            routes.push((name, *first));
        }
        routes.extend(list.iter().map(|a| (a.to_string(), *a)));
    }
    routes
}
