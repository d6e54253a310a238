//! Helpers: a testlab and a prober pointed at it, as an agent on an ECE server would be,
//! with the lab's CA standing in for Microsoft's roots.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use eceprobe_checks::{
    catalog, CheckId, CheckReport, CheckSpec, Cloud, FailureKind, ProbeSettings, Prober, Stage,
    Timeouts, Trust, TrustOptions,
};
use eceprobe_testlab::{LabConfig, Testlab};

pub mod oauth;

pub const ECE_URL: &str = "https://ece.example.com/system";

pub fn test_timeouts() -> Timeouts {
    Timeouts {
        dns: Duration::from_secs(2),
        tcp: Duration::from_millis(500),
        tls: Duration::from_secs(2),
        protocol: Duration::from_secs(2),
    }
}

pub struct Lab {
    pub lab: Testlab,
    pub prober: Prober,
    pub specs: Vec<CheckSpec>,
}

pub struct LabOptions {
    /// Trust the interception proxy's CA too (as a host whose admins deployed it would).
    pub trust_interceptor: bool,
    /// Trust the lab's CA (which stands in for Microsoft's roots, an expected root either
    /// way): false is a host that lacks Microsoft's root.
    pub trust_lab_ca: bool,
    pub proxy: Proxy,
}

/// Which CONNECT proxy the prober is given.
pub enum Proxy {
    None,
    /// The lab's own proxy.
    Lab,
    /// Somewhere else, e.g. a port nothing listens on.
    At(String),
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            trust_interceptor: true,
            trust_lab_ca: true,
            proxy: Proxy::None,
        }
    }
}

pub async fn lab(cfg: LabConfig) -> Lab {
    lab_with(cfg, LabOptions::default()).await
}

pub async fn lab_with(cfg: LabConfig, opts: LabOptions) -> Lab {
    lab_timed(cfg, opts, test_timeouts()).await
}

/// A lab whose prober has these stage timeouts (the agent's defaults, say, so that a
/// delayed server stays within them).
pub async fn lab_timed(cfg: LabConfig, opts: LabOptions, timeouts: Timeouts) -> Lab {
    let lab = Testlab::start(cfg).await.expect("testlab starts");
    let mut trust = TrustOptions {
        os_store: false,
        extra_cas: Vec::new(),
        microsoft_roots: true,
        extra_expected_roots: vec![("lab CA".into(), lab.ca_pem())],
        java: None,
    };
    if opts.trust_lab_ca {
        trust.extra_cas.push(("lab CA".into(), lab.ca_pem()));
    }
    if opts.trust_interceptor {
        trust
            .extra_cas
            .push(("interceptor CA".into(), lab.interceptor_ca_pem()));
    }
    let mut settings = ProbeSettings {
        timeouts,
        ..ProbeSettings::default()
    };
    for spec in lab.resolve_args() {
        settings
            .overrides
            .add_spec(&spec)
            .expect("testlab's resolve args parse");
    }
    let proxy = match opts.proxy {
        Proxy::None => None,
        Proxy::Lab => Some(lab.proxy_addr().expect("lab has a proxy").to_string()),
        Proxy::At(addr) => Some(addr),
    };
    settings.proxy = proxy.map(|p| p.parse().expect("proxy address parses"));
    let prober = Prober::new(settings, Trust::new(&trust).expect("trust builds"));
    let specs = catalog(&Cloud::Global.hosts(), "common", Some(ECE_URL));
    Lab { lab, prober, specs }
}

impl Lab {
    pub fn spec(&self, id: CheckId) -> &CheckSpec {
        self.specs
            .iter()
            .find(|s| s.id == id)
            .expect("check in catalog")
    }

    pub async fn run(&self, id: CheckId) -> CheckReport {
        self.prober.check(self.spec(id)).await
    }
}

/// Asserts the check failed with this kind at this stage, and the hint says what to do.
pub fn assert_fails(report: &CheckReport, kind: FailureKind, stage: Stage) {
    let failure = report
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("{} should fail with {kind}, got {report:#?}", report.check));
    assert_eq!(
        (failure.kind, failure.stage),
        (kind, stage),
        "{}: {}",
        report.check,
        failure.detail
    );
    assert!(failure.hint.contains("needed by"), "hint: {}", failure.hint);
    assert!(
        failure.hint.contains("(C"),
        "hint names a checklist item: {}",
        failure.hint
    );
}
