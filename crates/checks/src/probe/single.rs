//! Checks on one connection instead of one per address: a token grant or a mailbox login
//! happens once (a grant rotates the refresh token, and Exchange limits a mailbox's
//! concurrent sessions). DNS as usual, then TCP (and the proxy's CONNECT for HTTPS) to each
//! address in resolver order until one connects, and the dialog runs there. Whether every
//! address is reachable is the network checks' question, not these.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{Attempt, Prober};
use crate::catalog::CheckSpec;
use crate::failure::{FailureKind, Finding, Stage};
use crate::lines::LineStream;
use crate::report::{AddressAttempt, CheckReport, Outcome, ProtocolInfo};
use crate::settings::ProbeSettings;
use crate::tls::ClientTls;
use crate::StageError;

/// A TCP connection (or proxy tunnel) to the first address that answered, with its
/// attempt's stage timings so far.
pub(crate) struct Connected {
    pub tcp: TcpStream,
    pub local: Option<SocketAddr>,
    pub run: Attempt,
}

/// The verdict of a one-connection check: the last attempt (the one that connected, else
/// the last that failed) is the check's.
pub(crate) fn conclude_single(report: &mut CheckReport) {
    if let Some(used) = report.attempts.last() {
        report.used_address = Some(used.address);
        report.failure = used.failure.clone();
        // After any the check found before its attempt (`dns_slow`).
        report.warnings.extend(used.warnings.iter().cloned());
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
        let target = self.resolve_target(spec, report).await?;
        for addr in target.addresses {
            let mut run = Attempt::new(addr, target.via_proxy);
            let opened = self.open(spec, addr, target.via_proxy, &mut run).await;
            match opened {
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
    ) -> Result<ClientTls<S>, (Stage, StageError)> {
        self.tls(spec, stream, alpn, run)
            .await
            .map_err(|(stage, e)| (stage, super::stall::not_retried(e)))
    }

    /// The mail channel for a one-connection check (see `Prober::mail_channel`).
    pub(crate) async fn mail_session(
        &self,
        spec: &CheckSpec,
        c: Connected,
        info: &mut ProtocolInfo,
    ) -> (
        Attempt,
        Result<(LineStream<ClientTls<TcpStream>>, String), (Stage, StageError)>,
    ) {
        let Connected {
            tcp,
            local,
            mut run,
        } = c;
        let r = self.mail_channel(spec, tcp, local, &mut run, info).await;
        let r = r.map_err(|(stage, e)| (stage, super::stall::not_retried(e)));
        (run, r)
    }

    /// Closes an attempt: the protocol details, the failure if any, the TLS warnings, the
    /// path's (`slow`, `packet_loss`).
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
        self.path_warnings(spec, &mut run);
        run.out
    }
}
