//! The path's health on an attempt and on the check: when the dialog is over, the
//! connection's TCP_INFO is read and the stages are held against their budgets (`slow`,
//! `packet_loss`, see `crate::slow`); a check takes its used address's warnings, and those
//! of its other working addresses that the used one lacks.

use super::{Attempt, Prober};
use crate::catalog::CheckSpec;
use crate::failure::{FailureKind, Finding};
use crate::report::AddressAttempt;
use crate::slow;

impl Prober {
    /// Reads the connection's TCP_INFO (then lets its socket go) and adds the attempt's
    /// `slow` and `packet_loss` warnings.
    pub(crate) fn path_warnings(&self, spec: &CheckSpec, run: &mut Attempt) {
        if let Some(watch) = run.watch.take() {
            run.out.tcp_info = watch.stats();
        }
        for (kind, stage, detail) in slow::attempt_warnings(&self.settings.budgets, &run.out) {
            let finding = self.finding(spec, kind, stage, detail);
            run.out.warnings.push(finding);
        }
    }
}

/// The kinds an address other than the used one still brings to the check: ECE may be
/// sent to any of them.
const PATH_KINDS: [FailureKind; 2] = [FailureKind::Slow, FailureKind::PacketLoss];

/// Adds to the check the `slow` and `packet_loss` warnings of its other passing addresses,
/// one per kind, when the used address has none of that kind.
pub(super) fn other_addresses(
    warnings: &mut Vec<Finding>,
    passed: &[&AddressAttempt],
    used: Option<&AddressAttempt>,
) {
    for kind in PATH_KINDS {
        if warnings.iter().any(|w| w.kind == kind) {
            continue;
        }
        let other = passed
            .iter()
            .filter(|a| used.is_none_or(|u| u.address != a.address))
            .flat_map(|a| a.warnings.iter().map(move |w| (a.address, w)))
            .find(|(_, w)| w.kind == kind);
        if let Some((address, w)) = other {
            let mut w = w.clone();
            if kind == FailureKind::Slow {
                w.detail = format!("on {address}, {}", w.detail);
            }
            warnings.push(w);
        }
    }
}
