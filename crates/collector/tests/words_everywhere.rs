//! Every failure testlab can produce, in words everywhere a person reads it: the probe runs
//! against the faulty lab, then its report goes through the agent's `check` table and
//! `--json` document, over gRPC into a real collector, onto the dashboard's server page and
//! into an audit's Markdown report. None may carry `Debug` text of a library type
//! (`ExpiredContext { .. }`, `DnsName("..")`, `UnixTime(..)`), and each must carry the
//! facts (dates, names, issuers, addresses).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::agent::Agent;
use common::dashboard::{get, Dashboard};
use eceprobe_checks::{
    catalog, CheckId, CheckReport, Cloud, FailureKind, JavaTrustInput, ProbeSettings, Prober,
    SuiteReport, Timeouts, Trust, TrustOptions,
};
use eceprobe_collector::export::{self, Format};
use eceprobe_proto::v1::{agent_message, collector_message, order, Hello, ResultBatch, Role};
use eceprobe_testlab::{Endpoint, Fault, LabConfig, ProxyMode, Testlab};

/// What no person should read.
const DEBUG_TEXT: [&str; 6] = ["{", "}", "Context", "DnsName(", "UnixTime(", "Some("];

/// How the prober is pointed at the lab besides the resolve overrides.
#[derive(Clone, Copy)]
enum Via {
    Direct,
    /// This host does not trust the interception proxy's CA.
    Distrusting,
    LabProxy,
    /// A proxy address nothing listens on.
    DeadProxy,
    /// The ECE URL names a host that does not resolve.
    NoSuchHost,
    /// This host trusts the lab; ECE's Java trust store ([`JAVA_STORE`]) holds the
    /// interception proxy's CA alone, not the lab's root.
    JavaWithoutLabRoot,
}

/// The trust store of ECE's Java in the Java scenarios, as details name it.
const JAVA_STORE: &str = "/opt/ece/jre/lib/security/cacerts";

/// Where the agent would have read the lab's root from (`trust.ca_files`,
/// `trust.expected_roots`): what `keytool -importcert -file` is told to take.
const LAB_ROOT_FILE: &str = "/etc/eceprobe/lab-root.pem";

#[derive(Clone)]
struct Scenario {
    name: &'static str,
    lab: LabConfig,
    via: Via,
    check: CheckId,
    /// The kinds this may give (DNS in a sandbox may fail rather than say NXDOMAIN).
    kinds: &'static [FailureKind],
    /// Facts the detail must carry, in every rendering.
    facts: &'static [&'static str],
}

/// One row per failure: (name, lab, how the prober reaches it, check, kinds, facts).
#[rustfmt::skip]
fn scenarios() -> Vec<Scenario> {
    use CheckId as C;
    use Endpoint as E;
    use FailureKind as K;
    let f = |ep, fault| LabConfig::healthy().fault(ep, fault);
    let healthy = LabConfig::healthy;
    let s = |name, lab, via, check, kinds, facts| Scenario { name, lab, via, check, kinds, facts };
    vec![
        s("refused", f(E::Imap, Fault::Refuse), Via::Direct, C::Imap, &[K::TcpRefused], &["connection refused by 127.0.0.1:"]),
        s("black-hole", f(E::Pop3, Fault::BlackHole), Via::Direct, C::Pop3, &[K::TcpTimeout], &["no answer from 127.0.0.1:", "within 500 ms"]),
        s("silent", f(E::Imap, Fault::Silent), Via::Direct, C::Imap, &[K::TlsStalled], &["not one byte of the server's TLS answer arrived within 2000 ms", "a retry with MSS 536 stalled too"]),
        s("delay", f(E::Pop3, Fault::Delay(Duration::from_secs(3))), Via::Direct, C::Pop3, &[K::TlsStalled], &["went out but not one byte of the server's TLS answer arrived within"]),
        s("smtp-silent", f(E::Smtp, Fault::Silent), Via::Direct, C::Smtp, &[K::ProtocolTimeout], &["did not finish its reply in time"]),
        s("trickle", f(E::Imap, Fault::Trickle(Duration::from_millis(300))), Via::Direct, C::Imap, &[K::ProtocolTimeout], &["did not finish its reply in time"]),
        s("untrusted", f(E::EceWeb, Fault::UntrustedCert), Via::Direct, C::EceUrl, &[K::TlsUntrusted], &["was issued by ", "eceprobe testlab Rogue CA", "which this server does not trust"]),
        s("rogue", f(E::Imap, Fault::UntrustedCert), Via::Direct, C::Imap, &[K::TlsIntercepted], &["was issued by ", "eceprobe testlab Rogue CA", "which this server does not trust", "Rogue CA' inspects TLS to this host"]),
        s("expired", f(E::Login, Fault::ExpiredCert), Via::Direct, C::LoginHttps, &[K::TlsExpired], &["CN=login.microsoftonline.com", " expired on 20", ", 30 days ago", "clock says 20"]),
        s("wrong-name", f(E::OutlookHttps, Fault::WrongNameCert), Via::Direct, C::OutlookHttps, &[K::TlsNameMismatch], &["is for wrong.example.net, not outlook.office365.com"]),
        s("intercepted-untrusted", f(E::Smtp, Fault::InterceptedCert), Via::Distrusting, C::Smtp, &[K::TlsIntercepted], &["eceprobe testlab Interception CA", "which this server does not trust", "Interception CA' inspects TLS to this host"]),
        s("intercepted", f(E::OutlookHttps, Fault::InterceptedCert), Via::Direct, C::OutlookHttps, &[K::TlsIntercepted], &["eceprobe testlab Interception CA", "neither a root Microsoft uses nor an expected root you declared", "Interception CA' inspects TLS to this host"]),
        s("expiring", f(E::EceWeb, Fault::ExpiringCert(10)), Via::Direct, C::EceUrl, &[K::CertExpiringSoon], &["CN=ece.example.com", "expires on 20", ", in "]),
        s("slow", f(E::OutlookHttps, Fault::Delay(Duration::from_millis(1200))), Via::Direct, C::OutlookHttps, &[K::Slow], &["the TLS handshake took 1.", "its budget is 1 s"]),
        s("legacy-tls", f(E::Pop3, Fault::TlsLegacyOnly), Via::Direct, C::Pop3, &[K::TlsVersionUnsupported], &["refused TLS 1.2 and 1.3"]),
        s("no-xoauth2", f(E::Imap, Fault::NoXoauth2), Via::Direct, C::Imap, &[K::Xoauth2Missing], &["without XOAUTH2"]),
        s("no-starttls", f(E::Smtp, Fault::NoStarttls), Via::Direct, C::Smtp, &[K::StarttlsMissing], &["without STARTTLS"]),
        s("http-503", f(E::Login, Fault::HttpStatus(503)), Via::Direct, C::LoginHttps, &[K::HttpStatus], &["answered 503"]),
        s("no-token-endpoint", f(E::Login, Fault::NoTokenEndpoint), Via::Direct, C::LoginHttps, &[K::OpenidInvalid], &["token_endpoint"]),
        s("garbage", f(E::Imap, Fault::Garbage), Via::Direct, C::Imap, &[K::ProtocolUnexpected], &["HTTP/1.1 400 Bad Request"]),
        s("smtp-garbage", f(E::Smtp, Fault::Garbage), Via::Direct, C::Smtp, &[K::ProtocolUnexpected], &["HTTP/1.1 400 Bad Request"]),
        s("endless-line", f(E::Pop3, Fault::EndlessLine), Via::Direct, C::Pop3, &[K::ProtocolLineTooLong], &["exceeded 8192 bytes"]),
        s("huge-banner", f(E::Smtp, Fault::HugeBanner(200_000)), Via::Direct, C::Smtp, &[K::ProtocolTooMuchData, K::ProtocolTimeout], &["bytes"]),
        s("partial", healthy().addresses(E::Imap, vec![Fault::None, Fault::Refuse]), Via::Direct, C::Imap, &[K::PartialReachability], &["reachable on 1 of 2 addresses", "tcp_refused"]),
        s("proxy-403", healthy().proxy(ProxyMode::Deny403), Via::LabProxy, C::OutlookHttps, &[K::ProxyDenied], &["403 Forbidden"]),
        s("proxy-407", healthy().proxy(ProxyMode::RequireAuth407), Via::LabProxy, C::OutlookHttps, &[K::ProxyAuthRequired], &["407 Proxy Authentication Required"]),
        s("proxy-dead", healthy(), Via::DeadProxy, C::LoginHttps, &[K::ProxyUnreachable], &["connection refused by 127.0.0.1:"]),
        s("nxdomain", healthy(), Via::NoSuchHost, C::EceUrl, &[K::DnsNxdomain, K::DnsFailure, K::DnsTimeout], &["ece.eceprobe-words.invalid"]),
        s("chain-incomplete", f(E::Imap, Fault::MissingIntermediate), Via::Direct, C::Imap, &[K::ChainIncomplete], &["the server sent only its own certificate but not '", "CN=eceprobe testlab TLS CA', the intermediate that issued it", "Windows and browsers may fetch it, ECE's Java and this agent do not"]),
        s("java-untrusted", healthy(), Via::JavaWithoutLabRoot, C::Imap, &[K::JavaUntrusted], &["this server trusts the chain, but ECE's Java does not", "its trust store /opt/ece/jre/lib/security/cacerts lacks 'eceprobe testlab Root CA'", "keytool -importcert", "-keystore \"/opt/ece/jre/lib/security/cacerts\" -storepass changeit (ROOT.crt from /etc/eceprobe/lab-root.pem)"]),
    ]
}

/// Runs the scenario's check against its lab, as an ECE server's agent would.
async fn probe(s: &Scenario) -> CheckReport {
    let lab = Testlab::start(s.lab.clone()).await.unwrap();
    // Labelled as the agent labels the files it reads ("<key> <path>"), which details name.
    let mut trust = TrustOptions {
        os_store: false,
        extra_cas: vec![(format!("trust.ca_files {LAB_ROOT_FILE}"), lab.ca_pem())],
        microsoft_roots: true,
        extra_expected_roots: vec![(
            format!("trust.expected_roots {LAB_ROOT_FILE}"),
            lab.ca_pem(),
        )],
        java: None,
    };
    if matches!(s.via, Via::JavaWithoutLabRoot) {
        use rustls_pki_types::pem::PemObject;
        let anchor =
            rustls_pki_types::CertificateDer::from_pem_slice(lab.interceptor_ca_pem().as_bytes())
                .unwrap();
        trust.java = Some(JavaTrustInput {
            store: JAVA_STORE.into(),
            anchors: vec![anchor],
            storepass: String::new(),
            unreadable: None,
        });
    }
    if !matches!(s.via, Via::Distrusting) {
        trust
            .extra_cas
            .push(("interceptor CA".into(), lab.interceptor_ca_pem()));
    }
    let mut settings = ProbeSettings {
        timeouts: Timeouts {
            dns: Duration::from_secs(2),
            tcp: Duration::from_millis(500),
            tls: Duration::from_secs(2),
            protocol: Duration::from_secs(2),
        },
        ..ProbeSettings::default()
    };
    for spec in lab.resolve_args() {
        settings.overrides.add_spec(&spec).unwrap();
    }
    let proxy = match s.via {
        Via::LabProxy => Some(lab.proxy_addr().unwrap().to_string()),
        Via::DeadProxy => {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            Some(l.local_addr().unwrap().to_string())
        }
        _ => None,
    };
    settings.proxy = proxy.map(|p| p.parse().unwrap());
    let ece = match s.via {
        Via::NoSuchHost => "https://ece.eceprobe-words.invalid/system",
        _ => "https://ece.example.com/system",
    };
    let specs = catalog(&Cloud::Global.hosts(), "common", Some(ece));
    let spec = specs.iter().find(|c| c.id == s.check).unwrap();
    let prober = Prober::new(settings, Trust::new(&trust).unwrap());
    let report = prober.check(spec).await;
    lab.shutdown().await;
    report
}

/// The scenario's finding: its failure, or its first warning.
fn finding(s: &Scenario, r: &CheckReport) -> eceprobe_checks::Finding {
    let f = r.failure.clone().or_else(|| r.warnings.first().cloned());
    let f = f.unwrap_or_else(|| panic!("{}: no finding: {r:#?}", s.name));
    assert!(
        s.kinds.contains(&f.kind),
        "{}: {} is not one of {:?}: {}",
        s.name,
        f.kind,
        s.kinds,
        f.detail
    );
    f
}

/// `text` (one rendering of the scenario) has the facts and no debug text.
fn assert_words(s: &Scenario, surface: &str, text: &str, detail: &str) {
    for bad in DEBUG_TEXT {
        assert!(
            !text.contains(bad),
            "{} {surface}: '{bad}' in:\n{text}",
            s.name
        );
    }
    for fact in s.facts {
        assert!(
            text.contains(fact),
            "{} {surface}: no '{fact}' in:\n{text}",
            s.name
        );
    }
    assert!(
        text.contains(detail),
        "{} {surface}: the detail is missing:\n{text}",
        s.name
    );
}

/// maud's and the Markdown cell's escaping, undone for comparison.
fn unescape(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("\\|", "|")
        .replace("&amp;", "&")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_is_words_in_the_table_json_server_page_and_report() {
    let scenarios = scenarios();
    let reports = futures_join(&scenarios).await;

    // The agent's `check` table and its `--json` document.
    for (s, r) in scenarios.iter().zip(&reports) {
        let f = finding(s, r);
        assert_words(s, "detail", &f.detail, &f.detail);
        let suite = SuiteReport {
            checks: vec![r.clone()],
            duration_us: r.duration_us,
            started_unix: 0,
        };
        let table = eceprobe_agent::render::table(&suite, "check");
        assert_words(s, "table", &table, &f.detail);
        assert!(table.contains(&f.hint), "{}: the hint in the table", s.name);
        let json = serde_json::to_value(r).unwrap();
        let field = if r.failure.is_some() {
            &json["failure"]
        } else {
            &json["warnings"][0]
        };
        for key in ["detail", "hint"] {
            let text = field[key].as_str().unwrap();
            for bad in DEBUG_TEXT {
                assert!(
                    !text.contains(bad),
                    "{} json {key}: '{bad}' in {text}",
                    s.name
                );
            }
        }
        assert_eq!(field["detail"], f.detail.as_str());
    }

    // Into a real collector: one agent per scenario, answering an audit with its result.
    let d = Dashboard::start();
    let mut agents = Vec::new();
    for (i, (s, r)) in scenarios.iter().zip(&reports).enumerate() {
        agents.push(answering(d.agents, &format!("w-{i:02}-{}", s.name), r.clone()).await);
    }
    let audit = common::run_audit(d.query, "words", 30).await;
    let report = common::wait_closed(d.query, &audit).await;
    let markdown = unescape(&export::render(&report, Format::Markdown));
    for (i, (s, r)) in scenarios.iter().zip(&reports).enumerate() {
        let f = finding(s, r);
        let page = get(d.web, &format!("/servers/w-{i:02}-{}", s.name)).await;
        assert_eq!(page.status, 200, "{}", s.name);
        let page = unescape(&page.body);
        for bad in ["Context", "DnsName(", "UnixTime(", "Some("] {
            assert!(!page.contains(bad), "{} server page: '{bad}'", s.name);
        }
        for fact in s.facts {
            assert!(page.contains(fact), "{} server page: no '{fact}'", s.name);
        }
        // ECE's Java's verdict beside the TLS line, only where Java judged the chain.
        let java = format!("ECE's Java: does NOT trust this chain (trust store {JAVA_STORE})");
        assert_eq!(
            page.contains(&java),
            matches!(s.via, Via::JavaWithoutLabRoot),
            "{} server page: {java}",
            s.name
        );
        if !matches!(s.via, Via::JavaWithoutLabRoot) {
            assert!(!page.contains("ECE's Java: "), "{} server page", s.name);
        }
        assert!(
            page.contains(&f.detail),
            "{} server page: no detail {}",
            s.name,
            f.detail
        );
        assert!(
            markdown.contains(&f.detail),
            "{} report: no detail {}",
            s.name,
            f.detail
        );
    }
    for bad in DEBUG_TEXT {
        assert!(!markdown.contains(bad), "report: '{bad}' in:\n{markdown}");
    }
    drop(agents);
}

/// Runs every scenario's probe at once (each has its own lab).
async fn futures_join(scenarios: &[Scenario]) -> Vec<CheckReport> {
    let mut set = tokio::task::JoinSet::new();
    for (i, s) in scenarios.iter().cloned().enumerate() {
        set.spawn(async move { (i, probe(&s).await) });
    }
    let mut out: Vec<Option<CheckReport>> = vec![None; scenarios.len()];
    while let Some(joined) = set.join_next().await {
        let (i, r) = joined.unwrap();
        out[i] = Some(r);
    }
    out.into_iter().map(Option::unwrap).collect()
}

/// An agent in deployment "words" that answers every audit order with `report`, sent as
/// the agent sends it (`eceprobe_agent::wire`); aborted when dropped.
async fn answering(addr: std::net::SocketAddr, id: &str, report: CheckReport) -> AbortOnDrop {
    let hello = Hello {
        agent_id: id.into(),
        hostname: format!("{id}.contoso.local"),
        role: Role::Services as i32,
        deployment: "words".into(),
        agent_version: "0.1.0".into(),
        probe_interval_s: 60,
        ..Hello::default()
    };
    let (Agent { tx, mut rx }, last) = Agent::connect_with(addr, hello).await;
    let task = tokio::spawn(async move {
        let mut seq = last;
        while let Ok(Some(m)) = rx.message().await {
            let Some(collector_message::Body::Order(o)) = m.body else {
                continue;
            };
            let Some(order::Kind::RunAudit(audit)) = o.kind else {
                continue;
            };
            seq += 1;
            let now = eceprobe_proto::now_ms();
            let result = eceprobe_agent::wire::check_result(&report, seq, now, &audit.audit_id);
            let batch = common::msg(agent_message::Body::Batch(ResultBatch {
                results: vec![result],
            }));
            if tx.send(batch).await.is_err() {
                return;
            }
        }
    });
    AbortOnDrop(task)
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
