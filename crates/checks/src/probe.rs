//! Running checks: one attempt per resolved address through every stage, concurrently, then
//! one verdict per check; and a suite of checks, concurrently too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::catalog::{CheckSpec, Dialog};
use crate::failure::{FailureKind, Finding, Stage};
use crate::lines::LineStream;
use crate::net::{micros, TcpWatch};
use crate::report::{
    AddressAttempt, CheckReport, Outcome, ProtocolInfo, StageReport, SuiteReport, TlsInfo,
};
use crate::settings::ProbeSettings;
use crate::tls::{intercept, java_judge, ClientTls, Trust};
use crate::words;
use crate::{http, mail, StageError};

mod health;
mod path;
mod single;
mod stall;
mod target;
pub(crate) use single::{conclude_single, Connected};
use target::Target;

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

/// Runs checks with one set of settings and trust. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Prober {
    settings: Arc<ProbeSettings>,
    trust: Trust,
}

impl Prober {
    pub fn new(settings: ProbeSettings, trust: Trust) -> Self {
        Prober {
            settings: Arc::new(settings),
            trust,
        }
    }

    /// Judges from now on by this trust (ECE's Java store re-read by a long-running agent).
    pub fn set_trust(&mut self, trust: Trust) {
        self.trust = trust;
    }

    /// Runs every check at once; the suite takes about as long as its slowest check.
    pub async fn suite(&self, specs: &[CheckSpec]) -> SuiteReport {
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let start = Instant::now();
        let mut set = JoinSet::new();
        for (i, spec) in specs.iter().enumerate() {
            let prober = self.clone();
            let spec = spec.clone();
            set.spawn(async move { (i, prober.check(&spec).await) });
        }
        let mut checks: Vec<Option<CheckReport>> = vec![None; specs.len()];
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((i, report)) => checks[i] = Some(report),
                Err(e) => tracing::error!(error = %e, "a check task failed"),
            }
        }
        SuiteReport {
            started_unix,
            duration_us: micros(start),
            checks: checks.into_iter().flatten().collect(),
        }
    }

    /// Runs one check.
    pub async fn check(&self, spec: &CheckSpec) -> CheckReport {
        let start = Instant::now();
        let mut report = new_report(spec);
        let Some(target) = self.resolve_target(spec, &mut report).await else {
            report.duration_us = micros(start);
            return report;
        };
        report.attempts = self.attempts(spec, target).await;
        conclude(&mut report, |kind, stage, detail| {
            self.finding(spec, kind, stage, detail)
        });
        report.duration_us = micros(start);
        report
    }

    async fn attempts(&self, spec: &CheckSpec, target: Target) -> Vec<AddressAttempt> {
        let mut set = JoinSet::new();
        let Target {
            addresses: addrs,
            via_proxy,
        } = target;
        for (i, addr) in addrs.iter().copied().enumerate() {
            let prober = self.clone();
            let spec = spec.clone();
            set.spawn(async move { (i, prober.attempt(&spec, addr, via_proxy).await) });
        }
        let mut out: Vec<Option<AddressAttempt>> = vec![None; addrs.len()];
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((i, attempt)) => out[i] = Some(attempt),
                Err(e) => {
                    tracing::error!(error = %e, check = %spec.id, "an address attempt failed")
                }
            }
        }
        out.into_iter().flatten().collect()
    }

    fn finding(
        &self,
        spec: &CheckSpec,
        kind: FailureKind,
        stage: Stage,
        detail: String,
    ) -> Finding {
        Finding {
            kind,
            stage,
            hint: kind.hint(spec.id, self.settings.role, &spec.host, spec.port),
            detail,
            device: None,
        }
    }

    /// One address through every stage. Never returns early without saying why.
    async fn attempt(&self, spec: &CheckSpec, addr: SocketAddr, via_proxy: bool) -> AddressAttempt {
        let mut run = Attempt::new(addr, via_proxy);
        if let Err((stage, err)) = self.stages(spec, addr, via_proxy, &mut run).await {
            run.end(stage, false);
            // Ended first: the stage's time is the first handshake's, not the retry's.
            let err = match err.kind {
                FailureKind::TlsStalled => {
                    self.after_stall(spec, addr, via_proxy, err, &mut run).await
                }
                _ => err,
            };
            let found = self.finding(spec, err.kind, stage, err.detail);
            run.out.failure = Some(self.with_path(addr, via_proxy, found, &mut run.out).await);
        }
        if let Some(tls) = &run.out.tls {
            run.out.warnings = self.tls_warnings(spec, tls);
        }
        self.path_warnings(spec, &mut run);
        run.out
    }

    async fn stages(
        &self,
        spec: &CheckSpec,
        addr: SocketAddr,
        via_proxy: bool,
        run: &mut Attempt,
    ) -> Result<(), (Stage, StageError)> {
        let (tcp, local) = self.open(spec, addr, via_proxy, run).await?;
        let mut info = ProtocolInfo::default();
        let result = self.dialog(spec, tcp, local, run, &mut info).await;
        if info != ProtocolInfo::default() {
            run.out.protocol = Some(info);
        }
        result?;
        run.end(Stage::Protocol, true);
        Ok(())
    }

    async fn dialog(
        &self,
        spec: &CheckSpec,
        tcp: TcpStream,
        local: Option<SocketAddr>,
        run: &mut Attempt,
        info: &mut ProtocolInfo,
    ) -> Result<(), (Stage, StageError)> {
        let t = self.settings.timeouts;
        let proto = |e| (Stage::Protocol, e);
        match &spec.dialog {
            Dialog::Imap | Dialog::Pop3 | Dialog::Smtp => {
                let (mut lines, helo) = self.mail_channel(spec, tcp, local, run, info).await?;
                let before = info.bytes_received;
                let r = match spec.dialog {
                    Dialog::Imap => mail::imap(&mut lines, info).await,
                    Dialog::Pop3 => mail::pop3(&mut lines, info).await,
                    _ => mail::smtp_secure(&mut lines, info, &helo).await,
                };
                info.bytes_received = before + lines.received();
                r.map_err(proto)
            }
            Dialog::Https { path, expect } => {
                let tls = self.tls(spec, tcp, &[b"http/1.1"], run).await?;
                let req = http::HttpGet {
                    host: &spec.host,
                    port: spec.port,
                    path,
                    expect,
                    max_bytes: self.settings.max_http_bytes,
                };
                http::get(tls, req, Instant::now() + t.protocol, info)
                    .await
                    .map_err(proto)
            }
        }
    }

    /// The secure channel of a mail dialog: TLS from the first byte (IMAP, POP3), or SMTP's
    /// plain-text dialog up to STARTTLS (its own stage) and then TLS. Returns the TLS line
    /// stream, on a fresh protocol deadline, and the name the client gives in EHLO.
    async fn mail_channel(
        &self,
        spec: &CheckSpec,
        tcp: TcpStream,
        local: Option<SocketAddr>,
        run: &mut Attempt,
        info: &mut ProtocolInfo,
    ) -> Result<(LineStream<ClientTls<TcpStream>>, String), (Stage, StageError)> {
        let t = self.settings.timeouts;
        let limits = self.settings.lines;
        let helo = helo_name(local);
        let tcp = if spec.dialog == Dialog::Smtp {
            let mut plain = LineStream::new(tcp, limits, Instant::now() + t.protocol);
            let r = mail::smtp_plain(&mut plain, info, &helo).await;
            info.bytes_received = plain.received();
            r.map_err(|e| (Stage::Starttls, e))?;
            let tcp = plain.into_inner().map_err(|e| (Stage::Starttls, e))?;
            run.end(Stage::Starttls, true);
            tcp
        } else {
            tcp
        };
        let tls = self.tls(spec, tcp, &[], run).await?;
        Ok((
            LineStream::new(tls, limits, Instant::now() + t.protocol),
            helo,
        ))
    }

    async fn tls<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        spec: &CheckSpec,
        stream: S,
        alpn: &[&[u8]],
        run: &mut Attempt,
    ) -> Result<ClientTls<S>, (Stage, StageError)> {
        let (info, result, _) = self
            .trust
            .handshake(&spec.host, stream, alpn, self.settings.timeouts.tls)
            .await;
        // ECE's own URL may chain to any public CA; a Microsoft host's chain is judged by
        // its root's key. A trusted interception completed the handshake, but the check
        // stops here: Microsoft does not support inspecting this traffic.
        let result = match spec.id.is_microsoft() {
            true => java_judge::judge(&info, intercept::judge(&info, result)),
            false => result,
        };
        let chain_root = info.chain_root.clone();
        run.out.tls = Some(info);
        let tls = result.map_err(|mut e| {
            // Who issued the chain tells Microsoft from a proxy or a wrong host; the
            // sentence may have named it already (an untrusted issuer).
            if let Some(root) = chain_root.filter(|r| !e.detail.contains(r.as_str())) {
                e.detail = format!("{}; the chain presented ends at '{root}'", e.detail);
            }
            (Stage::Tls, e)
        })?;
        run.end(Stage::Tls, true);
        Ok(tls)
    }

    /// Degraded but working TLS: certificates about to expire. (Interception is a failure
    /// at the TLS stage, see `tls::intercept`.)
    fn tls_warnings(&self, spec: &CheckSpec, tls: &TlsInfo) -> Vec<Finding> {
        let mut out = Vec::new();
        if tls.trusted {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default();
            let horizon = i64::from(self.settings.cert_warning_days) * 86_400;
            if let Some(c) = tls.chain.iter().find(|c| c.not_after_unix - now < horizon) {
                let left = u64::try_from(c.not_after_unix - now).unwrap_or_default();
                let detail = format!(
                    "the certificate '{}' expires on {}, in {}",
                    c.subject,
                    words::utc_date(c.not_after_unix),
                    words::days(left)
                );
                out.push(self.finding(spec, FailureKind::CertExpiringSoon, Stage::Tls, detail));
            }
        }
        out
    }
}

/// The name the client gives in EHLO: its address literal, as RFC 5321 allows.
fn helo_name(local: Option<SocketAddr>) -> String {
    match local {
        Some(SocketAddr::V4(a)) => format!("[{}]", a.ip()),
        Some(SocketAddr::V6(a)) => format!("[IPv6:{}]", a.ip()),
        None => "eceprobe.invalid".to_string(),
    }
}

/// Turns the attempts into the check's verdict.
fn conclude(report: &mut CheckReport, finding: impl Fn(FailureKind, Stage, String) -> Finding) {
    let any_v4 = report.attempts.iter().any(|a| a.address.is_ipv4());
    // A host without IPv6 routing cannot use the IPv6 addresses, and neither can ECE
    // (Java prefers IPv4): those attempts are kept in the report but not counted.
    let counts = |a: &&AddressAttempt| {
        !(any_v4
            && a.address.is_ipv6()
            && a.failure
                .as_ref()
                .is_some_and(|f| f.kind == FailureKind::TcpUnreachable))
    };
    let counted: Vec<&AddressAttempt> = report.attempts.iter().filter(counts).collect();
    let passed: Vec<&AddressAttempt> = counted.iter().copied().filter(|a| a.passed()).collect();
    let used = passed.first().copied().or_else(|| {
        // Furthest stage reached wins; ties go to the first in resolver order
        // (max_by_key keeps the last maximum, hence the reversed index).
        counted
            .iter()
            .enumerate()
            .max_by_key(|(i, a)| {
                let reached = a.stages.iter().filter(|s| s.ok).count();
                (reached, std::cmp::Reverse(*i))
            })
            .map(|(_, a)| *a)
    });
    report.used_address = used.map(|a| a.address);
    if let Some(u) = used {
        // After any the check found before its attempts (`dns_slow`).
        report.warnings.extend(u.warnings.iter().cloned());
    }
    health::other_addresses(&mut report.warnings, &passed, used);
    let failed: Vec<&AddressAttempt> = counted.iter().copied().filter(|a| !a.passed()).collect();
    report.failure = match (passed.len(), failed.first()) {
        (_, None) => None,
        (0, Some(_)) => used.and_then(|u| u.failure.clone()),
        (ok, Some(first)) => {
            let stage = first.failure.as_ref().map_or(Stage::Tcp, |f| f.stage);
            let broken: Vec<String> = failed
                .iter()
                .filter_map(|a| {
                    a.failure
                        .as_ref()
                        .map(|f| format!("{} {}", a.address.ip(), f.kind))
                })
                .collect();
            let detail = format!(
                "reachable on {ok} of {} addresses; failing: {}",
                counted.len(),
                broken.join(", ")
            );
            Some(finding(FailureKind::PartialReachability, stage, detail))
        }
    };
    report.outcome = match (&report.failure, report.warnings.is_empty()) {
        (Some(_), _) => Outcome::Fail,
        (None, true) => Outcome::Pass,
        (None, false) => Outcome::Warn,
    };
}

/// Stage timing for one attempt: each stage's duration runs from the end of the previous.
pub(crate) struct Attempt {
    out: AddressAttempt,
    started: Instant,
    /// The MSS of the direct connection, where the OS tells it.
    mss: Option<u32>,
    /// The connection's socket, for its TCP_INFO once the dialog is over.
    watch: Option<TcpWatch>,
}

impl Attempt {
    /// `via_proxy`: the firewall sees the connection to the proxy, not to `address`, so no
    /// source toward `address` is recorded.
    fn new(address: SocketAddr, via_proxy: bool) -> Attempt {
        Attempt {
            out: AddressAttempt {
                address,
                stages: Vec::new(),
                tls: None,
                protocol: None,
                failure: None,
                warnings: Vec::new(),
                tcp_info: None,
                path: None,
                source: if via_proxy {
                    None
                } else {
                    crate::net::route_source(address)
                },
            },
            started: Instant::now(),
            mss: None,
            watch: None,
        }
    }

    pub(crate) fn end(&mut self, stage: Stage, ok: bool) {
        let now = Instant::now();
        self.out.stages.push(StageReport {
            stage,
            ok,
            duration_us: u64::try_from((now - self.started).as_micros()).unwrap_or(u64::MAX),
        });
        self.started = now;
    }
}

#[cfg(test)]
mod tests;
