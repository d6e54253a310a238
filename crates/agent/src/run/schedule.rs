//! The probe schedule: the whole suite (then each `[[mailbox]]`'s OAuth checks) every interval (jittered, so a fleet does not fire at
//! once), and at once when the collector orders an audit. Every result is numbered and
//! written to the spool before the uplink may send it.

use eceprobe_proto::now_ms;
use std::time::Duration;

use eceprobe_checks::CheckReport;
use eceprobe_checks::{CheckSpec, EceFacts, Prober};
use prost::Message;
use tokio::sync::{mpsc, watch};

use super::backoff::{jittered, unit_random};
use super::spool_link::SharedSpool;
use super::stopped;
use crate::java_config::JavaWatch;
use crate::mailbox::{self, Mailbox};
use crate::wire;

/// How far each interval may move from the configured one.
const JITTER: f64 = 0.1;
/// The first run comes within this long of the start (not a whole interval later).
const FIRST_RUN_WITHIN: Duration = Duration::from_secs(5);

/// An audit the collector ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditOrder {
    pub audit_id: String,
}

pub struct Schedule {
    pub prober: Prober,
    pub specs: Vec<CheckSpec>,
    /// The OAuth checks, after the suite in each cycle.
    pub mailboxes: Vec<Mailbox>,
    /// `ece-config` and `ece-java`, reported in each cycle (no network).
    pub offline: OfflineChecks,
    pub interval: Duration,
    pub spool: SharedSpool,
}

impl Schedule {
    /// Runs until `shutdown` turns true; a probe cycle in progress is abandoned then (its
    /// results were not spooled, so nothing half-written remains).
    pub async fn run(
        mut self,
        mut audits: mpsc::Receiver<AuditOrder>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut wait = FIRST_RUN_WITHIN.min(self.interval).mul_f64(unit_random());
        loop {
            let audit_id = tokio::select! {
                () = stopped(&mut shutdown) => return,
                () = tokio::time::sleep(wait) => String::new(),
                Some(order) = audits.recv() => order.audit_id,
            };
            tokio::select! {
                () = stopped(&mut shutdown) => return,
                () = self.cycle(&audit_id) => {}
            }
            wait = jittered(self.interval, JITTER);
        }
    }

    /// One run of the suite, spooled as one batch.
    async fn cycle(&mut self, audit_id: &str) {
        if let Some((trust, java)) = self.offline.java_watch.as_mut().and_then(JavaWatch::poll) {
            self.prober.set_trust(trust);
            self.offline.ece_java = java.check;
        }
        let started_unix_ms = now_ms();
        let mut report = self.prober.suite(&self.specs).await;
        report.checks.extend(self.offline.reports());
        report
            .checks
            .extend(mailbox::probe_all(&self.prober, &self.mailboxes).await);
        let failing = report.checks.iter().filter(|c| c.failure.is_some()).count();
        let audit_id = audit_id.to_owned();
        let checks = report.checks;
        let count = checks.len();
        let spooled = self
            .spool
            .append_numbered(move |first_seq| {
                checks
                    .iter()
                    .zip(first_seq..)
                    .map(|(c, seq)| {
                        wire::check_result(c, seq, started_unix_ms, &audit_id).encode_to_vec()
                    })
                    .collect()
            })
            .await;
        match spooled {
            Ok((first, last)) => tracing::info!(
                checks = count,
                failing,
                first_seq = first,
                last_seq = last,
                "probe cycle spooled"
            ),
            Err(e) => {
                tracing::error!(error = %e, "cannot write the probe results to the spool; they are lost")
            }
        }
    }
}

/// The checks judged without network: `ece-config` from the declared ECE facts (evaluated
/// each cycle), `ece-java` from ECE's Java, re-read each cycle when watched.
#[derive(Debug, Clone, Default)]
pub struct OfflineChecks {
    pub ece_facts: Option<EceFacts>,
    pub ece_java: Option<CheckReport>,
    /// ECE's Java re-read before each cycle (None: as read at start, e.g. in-process demos).
    pub java_watch: Option<JavaWatch>,
}

impl OfflineChecks {
    pub fn reports(&self) -> impl Iterator<Item = CheckReport> + '_ {
        self.ece_facts
            .as_ref()
            .map(eceprobe_checks::ece::evaluate)
            .into_iter()
            .chain(self.ece_java.clone())
    }
}

/// Callers without ECE's Java (the collector's in-process demo): the facts alone.
impl From<Option<EceFacts>> for OfflineChecks {
    fn from(ece_facts: Option<EceFacts>) -> Self {
        OfflineChecks {
            ece_facts,
            ece_java: None,
            java_watch: None,
        }
    }
}
