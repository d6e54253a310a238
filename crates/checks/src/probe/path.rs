//! After a failure that leaves the path in doubt (a timeout, an ICMP refusal, a handshake
//! that stalled after TCP connected), the path to the same address and port is traced
//! (`crate::trace`): the trace goes on the attempt, its sentence on the finding's detail
//! and the device it names in the finding's own field. Not through a proxy: the path that
//! matters is then the proxy's.

use std::net::SocketAddr;

use super::Prober;
use crate::failure::{FailureKind, Finding};
use crate::report::AddressAttempt;
use crate::trace;

/// The kinds whose cause is somewhere on the path.
fn traced(kind: FailureKind) -> bool {
    matches!(
        kind,
        FailureKind::TcpTimeout
            | FailureKind::TcpUnreachable
            | FailureKind::TlsStalled
            | FailureKind::PathMtuBlackhole
    )
}

impl Prober {
    /// `found` with the path's verdict and device when its kind calls for a trace (and
    /// tracing is on); the trace itself goes into `out`.
    pub(super) async fn with_path(
        &self,
        addr: SocketAddr,
        via_proxy: bool,
        mut found: Finding,
        out: &mut AddressAttempt,
    ) -> Finding {
        let settings = &self.settings.trace;
        if !settings.enabled || via_proxy || !traced(found.kind) {
            return found;
        }
        let path = trace::trace(addr, settings).await;
        found.detail = format!("{}; path: {}", found.detail, path.verdict);
        found.device = path.device;
        out.path = Some(path);
        found
    }
}
