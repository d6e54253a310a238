//! Realistic results: what an agent sends (a `CheckResult` with DNS, two address attempts,
//! stage timings, TLS and protocol details; about 600 bytes encoded) and the row the
//! collector stores for it (the same columns, the same detail bytes).

use std::sync::LazyLock;

use eceprobe_checks::{CheckId, Cloud, CloudHosts};
use eceprobe_proto::v1::{Attempt, CheckResult, Dns, Finding, Outcome, Protocol, StageTiming, Tls};
use prost::Message;

/// The Microsoft checks every role needs, in the order agents run them.
pub const CHECKS: [&str; CheckId::REQUIRED_BY_DEFAULT.len()] =
    CheckId::names(CheckId::REQUIRED_BY_DEFAULT);

const ADDRESSES: [&str; 2] = ["52.97.146.162", "40.99.150.34"];

/// The global cloud's host names, where the made-up results point.
static GLOBAL: LazyLock<CloudHosts> = LazyLock::new(|| Cloud::Global.hosts());

/// The check's host and port in the global cloud (the catalog's); outlook's web front door
/// for a check without a cloud host.
fn endpoint(check: &str) -> (&'static str, u32) {
    let cloud = check.parse::<CheckId>().ok().and_then(|c| {
        let target = c.target();
        Some((GLOBAL.host(target.host)?, u32::from(target.port)))
    });
    cloud.unwrap_or((GLOBAL.outlook.as_str(), 443))
}

fn greeting(check: &str) -> &'static str {
    match check {
        "imap" => "* OK The Microsoft Exchange IMAP4 service is ready. [TQBOADIAUABSADAAMQBDAEEAMAAwADIANwAuAG4AYQBtAHAAcgBkADAAMQAuAHAAcgBvAGQA]",
        "pop3" => "+OK The Microsoft Exchange POP3 service is ready. [TQBOADIAUABSADAAMQBDAEEAMAAwADIANwAuAG4AYQBtAHAAcgBkADAAMQAuAHAAcgBvAGQA]",
        "smtp" => "220 MN2PR01CA0027.outlook.office365.com Microsoft ESMTP MAIL Service ready",
        "outlook-https" => {
            "HTTP/1.1 200 OK; x-feserver: MN2PR01CA0027; request-id: 8f3c1e2a-4b5d-4e6f-9a7b"
        }
        _ => "HTTP/1.1 200 OK",
    }
}

/// A cheap, deterministic spread of durations (microseconds) around `base`.
fn jitter(seed: u64, base: u64) -> u64 {
    let x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    base + x % (base / 2 + 1)
}

fn stage(name: &str, ok: bool, duration_us: u64) -> StageTiming {
    StageTiming {
        stage: name.into(),
        ok,
        duration_us,
    }
}

fn timeout_finding(address: &str, port: u32) -> Finding {
    Finding {
        kind: "tcp_timeout".into(),
        stage: "tcp".into(),
        detail: format!("no answer from {address}:{port} within 5 s"),
        hint: "C10: open outbound TCP to Microsoft 365 from this server".into(),
        ..Default::default()
    }
}

fn attempt(check: &str, address: &str, port: u32, seed: u64, fail: bool) -> Attempt {
    if fail {
        return Attempt {
            address: address.into(),
            stages: vec![stage("tcp", false, 5_000_000)],
            failure: Some(timeout_finding(address, port)),
            ..Attempt::default()
        };
    }
    let mail = matches!(check, "imap" | "pop3" | "smtp");
    Attempt {
        address: address.into(),
        stages: vec![
            stage("tcp", true, jitter(seed, 9_000)),
            stage("tls", true, jitter(seed + 1, 21_000)),
            stage("protocol", true, jitter(seed + 2, 30_000)),
        ],
        tls: Some(Tls {
            version: "TLSv1_3".into(),
            cipher: "TLS13_AES_256_GCM_SHA384".into(),
            chain: Vec::new(),
            trusted: true,
            expected_root: Some(true),
            chain_root: "DigiCert Global Root G2".into(),
            expected_root_source: "microsoft".into(),
            ..Tls::default()
        }),
        protocol: Some(Protocol {
            greeting: greeting(check).into(),
            front_end: "MN2PR01CA0027".into(),
            capabilities: if mail {
                vec!["IMAP4rev1".into(), "AUTH=XOAUTH2".into(), "IDLE".into()]
            } else {
                Vec::new()
            },
            sasl_mechanisms: if mail {
                vec!["PLAIN".into(), "XOAUTH2".into()]
            } else {
                Vec::new()
            },
            http_status: if mail { 0 } else { 200 },
            token_endpoint: if check == "login-https" {
                "https://login.microsoftonline.com/common/oauth2/v2.0/token".into()
            } else {
                String::new()
            },
            bytes_received: jitter(seed + 3, 400),
            ..Protocol::default()
        }),
        ..Attempt::default()
    }
}

/// Result `seq` of a check, started at `started_unix_ms`; `fail` makes it a TCP timeout.
pub fn check_result(seq: u64, check: &str, started_unix_ms: i64, fail: bool) -> CheckResult {
    let (host, port) = endpoint(check);
    let attempts: Vec<Attempt> = ADDRESSES
        .iter()
        .enumerate()
        .map(|(i, a)| attempt(check, a, port, seq * 8 + i as u64 * 4, fail))
        .collect();
    let slowest = attempts
        .iter()
        .map(|a| a.stages.iter().map(|s| s.duration_us).sum::<u64>())
        .max()
        .unwrap_or(0);
    let dns_us = jitter(seq, 1_500);
    CheckResult {
        seq,
        started_unix_ms,
        check: check.into(),
        host: host.into(),
        port,
        outcome: if fail { Outcome::Fail } else { Outcome::Pass } as i32,
        failure: fail.then(|| timeout_finding(ADDRESSES[0], port)),
        warnings: Vec::new(),
        duration_us: dns_us + slowest,
        dns: Some(Dns {
            source: "system".into(),
            duration_us: dns_us,
            addresses: ADDRESSES.iter().map(|a| a.to_string()).collect(),
            families: Vec::new(),
        }),
        via_proxy: String::new(),
        used_address: if fail { "" } else { ADDRESSES[0] }.into(),
        attempts,
        audit_id: String::new(),
        oauth: None,
    }
}

/// The row the collector stores for a result (convert::batch_rows): summary columns and
/// the encoded result as the detail blob.
#[derive(Clone, Debug)]
pub struct Row {
    pub seq: i64,
    pub check: &'static str,
    pub started_unix_ms: i64,
    pub outcome: &'static str,
    pub failure_kind: Option<String>,
    pub failure_stage: Option<String>,
    pub duration_us: i64,
    pub detail: Vec<u8>,
}

/// `check` must be one of [`CHECKS`] (its static name is kept).
pub fn row(r: &CheckResult, check: &'static str) -> Row {
    Row {
        seq: i64::try_from(r.seq).unwrap_or(i64::MAX),
        check,
        started_unix_ms: r.started_unix_ms,
        outcome: match Outcome::try_from(r.outcome) {
            Ok(Outcome::Fail) => "fail",
            Ok(Outcome::Warn) => "warn",
            _ => "pass",
        },
        failure_kind: r.failure.as_ref().map(|f| f.kind.clone()),
        failure_stage: r.failure.as_ref().map(|f| f.stage.clone()),
        duration_us: i64::try_from(r.duration_us).unwrap_or(i64::MAX),
        detail: r.encode_to_vec(),
    }
}

/// The check of result `seq` (agents cycle through the five).
pub fn check_of(seq: u64) -> &'static str {
    CHECKS[((seq.max(1) - 1) % CHECKS.len() as u64) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_point_at_the_catalogs_global_targets() {
        let got: Vec<_> = CHECKS.iter().map(|c| (*c, endpoint(c))).collect();
        assert_eq!(
            got,
            [
                ("login-https", ("login.microsoftonline.com", 443)),
                ("outlook-https", ("outlook.office365.com", 443)),
                ("imap", ("outlook.office365.com", 993)),
                ("pop3", ("outlook.office365.com", 995)),
                ("smtp", ("smtp.office365.com", 587)),
            ]
        );
        assert_eq!(endpoint("ece-url"), ("outlook.office365.com", 443));
    }

    #[test]
    fn details_are_about_600_bytes_and_rows_mirror_them() {
        for (i, check) in CHECKS.iter().enumerate() {
            let r = check_result(1000 + i as u64, check, 1_800_000_000_000, false);
            let len = r.encoded_len();
            assert!((500..=800).contains(&len), "{check}: {len} bytes");
            let row = row(&r, check);
            assert_eq!((row.outcome, row.failure_kind.as_deref()), ("pass", None));
            assert_eq!(row.detail.len(), len);
        }
        let failed = row(&check_result(7, "imap", 0, true), "imap");
        assert_eq!(failed.outcome, "fail");
        assert_eq!(failed.failure_kind.as_deref(), Some("tcp_timeout"));
        assert_eq!(failed.failure_stage.as_deref(), Some("tcp"));
        assert_eq!(
            (check_of(1), check_of(5), check_of(6)),
            ("login-https", "smtp", "login-https")
        );
    }
}
