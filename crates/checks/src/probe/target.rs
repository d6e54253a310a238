//! Where a check's connections go, for every check alike (a suite's, one address each, and
//! the one-connection checks): the catalog's verdict on the spec, the proxy or the host, DNS,
//! then per address TCP and, through a proxy, the CONNECT tunnel. A failure to reach a
//! configured proxy is the proxy's (`proxy_unreachable`), never a Microsoft host's.

use std::net::SocketAddr;

use tokio::net::TcpStream;

use super::{Attempt, Prober};
use crate::catalog::{CheckSpec, Dialog};
use crate::failure::{FailureKind, Stage};
use crate::net::{connect, connect_tunnel, mss, os_resolvers, resolve, TcpWatch};
use crate::report::{AddressSource, CheckReport, DnsReport};
use crate::slow::dns_warning;
use crate::StageError;

/// The addresses a check connects to, in resolver order and at most `max_addresses`.
pub(crate) struct Target {
    pub addresses: Vec<SocketAddr>,
    /// The addresses are the proxy's: each connection asks it for a tunnel to the host.
    pub via_proxy: bool,
}

impl Prober {
    /// A spec the catalog marked invalid fails at `dns`. Otherwise HTTPS goes to the
    /// configured proxy (`via_proxy` is recorded; only its first address, a proxy being one
    /// hop) and everything else to the check's host, and the name is resolved. The DNS
    /// answer or the failure goes into `report`; None when there is nothing to connect to.
    pub(crate) async fn resolve_target(
        &self,
        spec: &CheckSpec,
        report: &mut CheckReport,
    ) -> Option<Target> {
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
                let kind = match proxy {
                    Some(_) => FailureKind::ProxyUnreachable,
                    None => err.kind,
                };
                report.failure = Some(self.finding(spec, kind, Stage::Dns, err.detail));
                report.dns = Some(DnsReport {
                    source: AddressSource::System,
                    duration_us: took,
                    addresses: Vec::new(),
                    families: Vec::new(),
                });
                return None;
            }
        };
        let name = proxy.map_or(spec.host.as_str(), |p| p.host.as_str());
        let budgets = &self.settings.budgets;
        if let Some((kind, stage, detail)) = dns_warning(budgets, name, &dns, os_resolvers) {
            report
                .warnings
                .push(self.finding(spec, kind, stage, detail));
        }
        let addresses = dns
            .addresses
            .iter()
            .take(self.settings.max_addresses.max(1))
            .copied()
            .collect();
        report.dns = Some(dns);
        Some(Target {
            addresses,
            via_proxy: proxy.is_some(),
        })
    }

    /// TCP to one of the target's addresses, then through a proxy the CONNECT tunnel to the
    /// check's host; the `tcp` and `proxy` stages end in `run`. Returns the stream and its
    /// local address (SMTP's EHLO names it).
    pub(crate) async fn open(
        &self,
        spec: &CheckSpec,
        addr: SocketAddr,
        via_proxy: bool,
        run: &mut Attempt,
    ) -> Result<(TcpStream, Option<SocketAddr>), (Stage, StageError)> {
        let t = self.settings.timeouts;
        let tcp = connect(addr, t.tcp).await.map_err(|e| {
            // Through a proxy, the connection that failed is the one to the proxy: the fix
            // is there, not on the firewall rule for Microsoft's host.
            let e = match via_proxy {
                true => StageError::new(
                    FailureKind::ProxyUnreachable,
                    format!("{} ({})", e.detail, e.kind),
                ),
                false => e,
            };
            (Stage::Tcp, e)
        })?;
        run.end(Stage::Tcp, true);
        run.watch = TcpWatch::of(&tcp);
        let local = tcp.local_addr().ok();
        if !via_proxy {
            // Kept for a stalled handshake's detail: the segment size that did not get through.
            run.mss = mss(&tcp);
            return Ok((tcp, local));
        }
        let tunnel = connect_tunnel(tcp, &spec.host, spec.port, self.settings.lines, t.tcp)
            .await
            .map_err(|e| (Stage::Proxy, e))?;
        run.end(Stage::Proxy, true);
        Ok((tunnel, local))
    }
}
