//! Checks on one connection instead of one per address: a token grant or a mailbox login
//! happens once (a grant rotates the refresh token, and Exchange limits a mailbox's
//! concurrent sessions). DNS as usual, then TCP (and the proxy's CONNECT for HTTPS) to each
//! address in resolver order until one connects, and the dialog runs there. Whether every
//! address is reachable is the network checks' question, not these.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::{Attempt, Prober};
use crate::catalog::{CheckSpec, Dialog};
use crate::failure::{FailureKind, Finding, Stage};
use crate::lines::LineStream;
use crate::net::{connect, connect_tunnel, resolve};
use crate::report::{AddressAttempt, AddressSource, CheckReport, DnsReport, Outcome, ProtocolInfo};
use crate::settings::ProbeSettings;
use crate::StageError;

/// A TCP connection (or proxy tunnel) to the first address that answered, with its
/// attempt's stage timings so far.
pub(crate) struct Connected {
    pub tcp: TcpStream,
    pub local: Option<SocketAddr>,
    pub run: Attempt,
}

/// An empty report for `spec`, failing until concluded.
pub(crate) fn new_report(spec: &CheckSpec) -> CheckReport {
    CheckReport {
        check: spec.id,
        host: spec.host.clone(),
        port: spec.port,
        outcome: Outcome::Fail,
        failure: None,
        warnings: Vec::new(),
        duration_us: 0,
        dns: None,
        via_proxy: None,
        attempts: Vec::new(),
        used_address: None,
        oauth: None,
    }
}

/// The verdict of a one-connection check: the last attempt (the one that connected, else
/// the last that failed) is the check's.
pub(crate) fn conclude_single(report: &mut CheckReport) {
    if let Some(used) = report.attempts.last() {
        report.used_address = Some(used.address);
        report.failure = used.failure.clone();
        report.warnings = used.warnings.clone();
    }
    report.outcome = match (&report.failure, report.warnings.is_empty()) {
        (Some(_), _) => Outcome::Fail,
        (None, true) => Outcome::Pass,
        (None, false) => Outcome::Warn,
    };
}

impl Prober {
    pub(crate) fn settings(&self) -> &ProbeSettings {
        &self.settings
    }

    /// A finding for `spec`, with its hint.
    pub(crate) fn finding_for(
        &self,
        spec: &CheckSpec,
        kind: FailureKind,
        stage: Stage,
        detail: String,
    ) -> Finding {
        self.finding(spec, kind, stage, detail)
    }

    /// DNS, then each address in resolver order until TCP (and the proxy's CONNECT, for
    /// HTTPS when a proxy is configured) succeeds. Failed addresses are kept in the report;
    /// None when nothing connected, the report then concluded.
    pub(crate) async fn connect_first(
        &self,
        spec: &CheckSpec,
        report: &mut CheckReport,
    ) -> Option<Connected> {
        if let Some((kind, detail)) = &spec.invalid {
            report.failure = Some(self.finding(spec, *kind, Stage::Dns, detail.clone()));
            return None;
        }
        let proxy = match spec.dialog {
            Dialog::Https { .. } => self.settings.proxy.as_ref(),
            _ => None,
        };
        let resolved = match proxy {
            Some(p) => {
                report.via_proxy = Some(format!("{}:{}", p.host, p.port));
                resolve(&p.host, p.port, &self.settings).await.map(|mut d| {
                    d.source = AddressSource::Proxy;
                    d.addresses.truncate(1);
                    d
                })
            }
            None => resolve(&spec.host, spec.port, &self.settings).await,
        };
        let dns = match resolved {
            Ok(dns) => dns,
            Err((err, took)) => {
                let kind = if proxy.is_some() {
                    FailureKind::ProxyUnreachable
                } else {
                    err.kind
                };
                report.failure = Some(self.finding(spec, kind, Stage::Dns, err.detail));
                report.dns = Some(DnsReport {
                    source: AddressSource::System,
                    duration_us: took,
                    addresses: Vec::new(),
                });
                return None;
            }
        };
        let addrs: Vec<SocketAddr> = dns
            .addresses
            .iter()
            .take(self.settings.max_addresses.max(1))
            .copied()
            .collect();
        report.dns = Some(dns);
        let t = self.settings.timeouts;
        for addr in addrs {
            let mut run = Attempt::new(addr);
            let step = async {
                let tcp = connect(addr, t.tcp).await.map_err(|e| match proxy {
                    Some(_) => (
                        Stage::Tcp,
                        StageError::new(
                            FailureKind::ProxyUnreachable,
                            format!("{} ({})", e.detail, e.kind),
                        ),
                    ),
                    None => (Stage::Tcp, e),
                })?;
                run.end(Stage::Tcp, true);
                let local = tcp.local_addr().ok();
                let tcp = match proxy {
                    Some(_) => {
                        let limits = self.settings.lines;
                        let tunnel = connect_tunnel(tcp, &spec.host, spec.port, limits, t.tcp)
                            .await
                            .map_err(|e| (Stage::Proxy, e))?;
                        run.end(Stage::Proxy, true);
                        tunnel
                    }
                    None => tcp,
                };
                Ok::<_, (Stage, StageError)>((tcp, local))
            };
            let outcome = step.await;
            match outcome {
                Ok((tcp, local)) => return Some(Connected { tcp, local, run }),
                Err(e) => {
                    let attempt = self.finish(spec, run, ProtocolInfo::default(), Err(e));
                    report.attempts.push(attempt);
                }
            }
        }
        conclude_single(report);
        None
    }

    /// TLS for a one-connection check (see `Prober::tls`).
    pub(crate) async fn secure<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        spec: &CheckSpec,
        stream: S,
        alpn: &[&[u8]],
        run: &mut Attempt,
    ) -> Result<TlsStream<S>, (Stage, StageError)> {
        self.tls(spec, stream, alpn, run).await
    }

    /// The mail channel for a one-connection check (see `Prober::mail_channel`).
    pub(crate) async fn mail_session(
        &self,
        spec: &CheckSpec,
        c: Connected,
        info: &mut ProtocolInfo,
    ) -> (
        Attempt,
        Result<(LineStream<TlsStream<TcpStream>>, String), (Stage, StageError)>,
    ) {
        let Connected {
            tcp,
            local,
            mut run,
        } = c;
        let r = self.mail_channel(spec, tcp, local, &mut run, info).await;
        (run, r)
    }

    /// Closes an attempt: the protocol details, the failure if any, the TLS warnings.
    pub(crate) fn finish(
        &self,
        spec: &CheckSpec,
        mut run: Attempt,
        info: ProtocolInfo,
        result: Result<(), (Stage, StageError)>,
    ) -> AddressAttempt {
        if info != ProtocolInfo::default() {
            run.out.protocol = Some(info);
        }
        if let Err((stage, err)) = result {
            run.end(stage, false);
            run.out.failure = Some(self.finding(spec, err.kind, stage, err.detail));
        }
        if let Some(tls) = &run.out.tls {
            run.out.warnings = self.tls_warnings(spec, tls);
        }
        run.out
    }
}
