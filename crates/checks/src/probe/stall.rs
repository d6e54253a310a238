//! A stalled handshake (TCP connected, the ClientHello went out, not one byte of the
//! server's answer came back) is retried once on a fresh connection to the same address
//! whose MSS is 536, set before connecting so the SYN announces it: the server then sends
//! small segments. If those get through, full-size packets are what is lost (an MTU black
//! hole: a smaller MTU on the path and the ICMP "fragmentation needed" that would report it
//! dropped); if they do not, TLS itself is dropped. The retry has the same TCP, protocol
//! (SMTP's dialog up to STARTTLS) and TLS timeouts as the first try.

use std::net::SocketAddr;

use super::{Attempt, Prober};
use crate::catalog::CheckSpec;
use crate::failure::FailureKind;
use crate::StageError;

/// The retry's MSS: the smallest every IPv4 host must accept (RFC 879), small enough for
/// any tunnel's MTU.
#[cfg(unix)]
const SMALL_MSS: u32 = 536;

impl Prober {
    /// What a stall means, after the small-MSS retry where one makes sense:
    /// `path_mtu_blackhole` when the server's answer arrived with MSS 536 (its TLS info
    /// then goes into `run`), else `tls_stalled` with why it was not retried or how the
    /// retry went.
    pub(super) async fn after_stall(
        &self,
        spec: &CheckSpec,
        addr: SocketAddr,
        via_proxy: bool,
        stalled: StageError,
        run: &mut Attempt,
    ) -> StageError {
        let stall = |why: String| {
            StageError::new(
                FailureKind::TlsStalled,
                format!("{}; {why}", stalled.detail),
            )
        };
        if via_proxy {
            return stall(format!(
                "not retried with a small MSS: the connection goes through the proxy, whose path to {} is not this server's",
                spec.host
            ));
        }
        #[cfg(not(unix))]
        {
            // Read here too, so that Windows builds see every field used.
            let _ = (addr, run.mss);
            stall(
                "not retried with a small MSS: Windows does not let a program set the MSS (TCP_MAXSEG) before connecting"
                    .to_string(),
            )
        }
        #[cfg(unix)]
        {
            let start = tokio::time::Instant::now();
            let (info, result, received) = match self.small_mss_handshake(spec, addr).await {
                Ok(done) => done,
                Err(e) => {
                    return stall(format!(
                        "a retry with MSS {SMALL_MSS} failed before TLS: {}",
                        e.detail
                    ))
                }
            };
            if received == 0 {
                let how = match result {
                    Err(e) if e.kind == FailureKind::TlsStalled => "stalled too".to_string(),
                    Err(e) => format!("failed too: {}", e.detail),
                    // A handshake cannot complete with nothing read; said plainly if it did.
                    Ok(_) => "completed".to_string(),
                };
                return stall(format!(
                    "a retry with MSS {SMALL_MSS} {how}: the server's TLS answer never arrived (a firewall or IPS dropping TLS, or a proxy)"
                ));
            }
            run.out.tls = Some(info);
            let first = match run.mss {
                Some(mss) => format!("the default MSS ({mss} on this connection)"),
                None => "the default MSS".to_string(),
            };
            let took = start.elapsed().as_millis();
            let then = match result {
                Ok(_) => format!("completed with MSS {SMALL_MSS} in {took} ms"),
                Err(e) => format!(
                    "got the server's answer with MSS {SMALL_MSS} (that handshake then failed: {})",
                    e.detail
                ),
            };
            StageError::new(
                FailureKind::PathMtuBlackhole,
                format!(
                    "the TLS handshake stalled with {first} and {then}: packets of full size are lost on the path (an MTU black hole)"
                ),
            )
        }
    }

    /// TCP with MSS 536 to `addr`, SMTP's plain dialog up to STARTTLS where the check has
    /// one, then the TLS handshake; the connection is dropped after it.
    #[cfg(unix)]
    async fn small_mss_handshake(
        &self,
        spec: &CheckSpec,
        addr: SocketAddr,
    ) -> Result<crate::tls::Handshake<tokio::net::TcpStream>, StageError> {
        use crate::catalog::Dialog;
        use crate::lines::LineStream;
        use crate::report::ProtocolInfo;
        let t = self.settings.timeouts;
        let tcp = crate::net::connect_with_mss(addr, SMALL_MSS, t.tcp).await?;
        let tcp = match spec.dialog {
            Dialog::Smtp => {
                let helo = super::helo_name(tcp.local_addr().ok());
                let deadline = tokio::time::Instant::now() + t.protocol;
                let mut plain = LineStream::new(tcp, self.settings.lines, deadline);
                crate::mail::smtp_plain(&mut plain, &mut ProtocolInfo::default(), &helo).await?;
                plain.into_inner()?
            }
            _ => tcp,
        };
        let alpn: &[&[u8]] = match spec.dialog {
            Dialog::Https { .. } => &[b"http/1.1"],
            _ => &[],
        };
        Ok(self.trust.handshake(&spec.host, tcp, alpn, t.tls).await)
    }
}

/// A stall in a one-connection check (the OAuth grant and logins) is not retried there: the
/// network check of the same host and port does, and tells an MTU black hole.
pub(super) fn not_retried(mut e: StageError) -> StageError {
    if e.kind == FailureKind::TlsStalled {
        e.detail.push_str(
            "; the network check of this host retries with a small MSS to tell an MTU black hole",
        );
    }
    e
}
