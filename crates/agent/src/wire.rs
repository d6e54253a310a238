//! A probe report as the collector receives it: `eceprobe_checks::CheckReport` to the
//! `eceprobe.v1.CheckResult` message. Field for field; the probe engine knows nothing of
//! the wire, so this mapping lives with the agent.

use eceprobe_checks::{
    AddressAttempt, AddressSource, CertInfo, CheckReport, DnsReport, Finding, Outcome,
    ProtocolInfo, StageReport, TlsInfo,
};
use eceprobe_proto::v1 as pb;

/// The message for one check, numbered `seq`, started at `started_unix_ms`; `audit_id` is
/// empty unless the collector ordered the run.
pub fn check_result(
    report: &CheckReport,
    seq: u64,
    started_unix_ms: i64,
    audit_id: &str,
) -> pb::CheckResult {
    pb::CheckResult {
        seq,
        started_unix_ms,
        check: report.check.as_str().to_owned(),
        host: report.host.clone(),
        port: u32::from(report.port),
        outcome: outcome(report.outcome) as i32,
        failure: report.failure.as_ref().map(finding),
        warnings: report.warnings.iter().map(finding).collect(),
        duration_us: report.duration_us,
        dns: report.dns.as_ref().map(dns),
        via_proxy: report.via_proxy.clone().unwrap_or_default(),
        attempts: report.attempts.iter().map(attempt).collect(),
        used_address: report
            .used_address
            .map(|a| a.to_string())
            .unwrap_or_default(),
        audit_id: audit_id.to_owned(),
    }
}

fn outcome(o: Outcome) -> pb::Outcome {
    match o {
        Outcome::Pass => pb::Outcome::Pass,
        Outcome::Warn => pb::Outcome::Warn,
        Outcome::Fail => pb::Outcome::Fail,
    }
}

fn finding(f: &Finding) -> pb::Finding {
    pb::Finding {
        kind: f.kind.as_str().to_owned(),
        stage: f.stage.as_str().to_owned(),
        detail: f.detail.clone(),
        hint: f.hint.clone(),
    }
}

fn dns(d: &DnsReport) -> pb::Dns {
    pb::Dns {
        source: match d.source {
            AddressSource::System => "system",
            AddressSource::Override => "override",
            AddressSource::Proxy => "proxy",
        }
        .to_owned(),
        duration_us: d.duration_us,
        addresses: d.addresses.iter().map(|a| a.to_string()).collect(),
    }
}

fn attempt(a: &AddressAttempt) -> pb::Attempt {
    pb::Attempt {
        address: a.address.to_string(),
        stages: a.stages.iter().map(stage).collect(),
        tls: a.tls.as_ref().map(tls),
        protocol: a.protocol.as_ref().map(protocol),
        failure: a.failure.as_ref().map(finding),
        warnings: a.warnings.iter().map(finding).collect(),
    }
}

fn stage(s: &StageReport) -> pb::StageTiming {
    pb::StageTiming {
        stage: s.stage.as_str().to_owned(),
        ok: s.ok,
        duration_us: s.duration_us,
    }
}

fn tls(t: &TlsInfo) -> pb::Tls {
    pb::Tls {
        version: t.version.clone().unwrap_or_default(),
        cipher: t.cipher.clone().unwrap_or_default(),
        chain: t.chain.iter().map(certificate).collect(),
        trusted: t.trusted,
        expected_root: t.expected_root,
        chain_root: t.chain_root.clone().unwrap_or_default(),
    }
}

fn certificate(c: &CertInfo) -> pb::Certificate {
    pb::Certificate {
        subject: c.subject.clone(),
        issuer: c.issuer.clone(),
        dns_names: c.dns_names.clone(),
        not_after: c.not_after.clone(),
        not_after_unix: c.not_after_unix,
        sha256: c.sha256.clone(),
    }
}

fn protocol(p: &ProtocolInfo) -> pb::Protocol {
    pb::Protocol {
        greeting: p.greeting.clone().unwrap_or_default(),
        front_end: p.front_end.clone().unwrap_or_default(),
        capabilities: p.capabilities.clone(),
        sasl_mechanisms: p.sasl_mechanisms.clone(),
        capabilities_before_tls: p.capabilities_before_tls.clone(),
        http_status: p.http_status.map(u32::from).unwrap_or(0),
        token_endpoint: p.token_endpoint.clone().unwrap_or_default(),
        bytes_received: p.bytes_received,
    }
}
