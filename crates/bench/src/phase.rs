//! What one measured phase produced: latencies per check, and the CPU each party spent.

use std::collections::BTreeMap;
use std::time::Duration;

use eceprobe_checks::CheckId;

use crate::stats::median;

#[derive(Clone, Debug, Default)]
pub struct Phase {
    /// Per check, one latency sample (ms) per run.
    pub latency_ms: BTreeMap<CheckId, Vec<f64>>,
    /// Whole suites only: each suite's wall time (ms).
    pub suite_ms: Vec<f64>,
    /// Whole suites only: each suite's wall time over its slowest check.
    pub wall_over_slowest: Vec<f64>,
    /// CPU time of the prober under test (our process, or the exporter) over the phase.
    pub cpu: Duration,
    /// CPU time of the testlab process over the phase.
    pub lab_cpu: Duration,
    /// Rounds of the whole catalog.
    pub rounds: usize,
    /// Probes (checks) run in total.
    pub probes: usize,
}

impl Phase {
    pub fn add_latency(&mut self, check: CheckId, ms: f64) {
        self.latency_ms.entry(check).or_default().push(ms);
    }

    pub fn median_ms(&self, check: CheckId) -> Option<f64> {
        self.latency_ms.get(&check).and_then(|s| median(s))
    }

    /// CPU ms of the prober per round of the whole catalog.
    pub fn cpu_ms_per_round(&self) -> f64 {
        per(self.cpu, self.rounds)
    }

    /// CPU ms of the prober per probe.
    pub fn cpu_ms_per_probe(&self) -> f64 {
        per(self.cpu, self.probes)
    }

    /// CPU ms of the lab per probe.
    pub fn lab_cpu_ms_per_probe(&self) -> f64 {
        per(self.lab_cpu, self.probes)
    }
}

fn per(d: Duration, n: usize) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    d.as_secs_f64() * 1e3 / n as f64
}
