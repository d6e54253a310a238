//! Our side: the eceprobe engine, configured as the tests configure it against a testlab,
//! running the full catalog as whole suites and as one check at a time.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use eceprobe_checks::{
    catalog, CheckReport, CheckSpec, Cloud, Outcome, ProbeSettings, Prober, SuiteReport, Trust,
    TrustOptions,
};

use crate::lab::LabInfo;

/// The External Application URL of the lab's ECE web server.
pub const ECE_URL: &str = "https://ece.example.com/";

/// A prober pointed at the lab, trusting only the lab CA, with the full catalog.
pub struct Ours {
    prober: Prober,
    specs: Vec<CheckSpec>,
}

impl Ours {
    pub fn new(lab: &LabInfo) -> Result<Ours> {
        let ca = lab.ca_pem()?;
        let trust = TrustOptions {
            os_store: false,
            extra_cas: vec![("lab CA".into(), ca.clone())],
            microsoft_roots: true,
            extra_expected_roots: vec![("lab CA".into(), ca)],
            java: None,
        };
        let mut settings = ProbeSettings::default();
        for spec in &lab.resolve {
            settings
                .overrides
                .add_spec(spec)
                .map_err(|e| anyhow!("lab resolve arg: {e}"))?;
        }
        let trust = Trust::new(&trust).context("building trust from the lab CA")?;
        Ok(Ours {
            prober: Prober::new(settings, trust),
            specs: catalog(&Cloud::Global.hosts(), "common", Some(ECE_URL)),
        })
    }

    pub fn specs(&self) -> &[CheckSpec] {
        &self.specs
    }

    /// One whole suite; fails unless every check of the catalog passed.
    pub async fn suite(&self) -> Result<SuiteReport> {
        let suite = self.prober.suite(&self.specs).await;
        if suite.checks.len() != self.specs.len() {
            bail!(
                "a suite returned {} of {} checks",
                suite.checks.len(),
                self.specs.len()
            );
        }
        for check in &suite.checks {
            passed(check)?;
        }
        Ok(suite)
    }

    /// One check alone; fails unless it passed.
    pub async fn check(&self, spec: &CheckSpec) -> Result<CheckReport> {
        let report = self.prober.check(spec).await;
        passed(&report)?;
        Ok(report)
    }
}

fn passed(check: &CheckReport) -> Result<()> {
    if check.outcome == Outcome::Pass {
        return Ok(());
    }
    let why = check
        .failure
        .as_ref()
        .map(|f| format!("{}: {}", f.kind, f.detail))
        .unwrap_or_else(|| format!("{:?}", check.warnings));
    bail!(
        "our check {} did not pass against the healthy lab ({}): {why}",
        check.check,
        check.outcome.as_str()
    )
}

pub fn us_to_ms(us: u64) -> f64 {
    Duration::from_micros(us).as_secs_f64() * 1e3
}
