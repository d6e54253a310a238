use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing_subscriber::layer::SubscriberExt;

use super::*;

/// The entries a layer wrote, for the tests (here and of the modules that log to it).
#[derive(Clone, Default)]
pub(crate) struct Recorded(pub(crate) Arc<Mutex<Vec<(EntryType, u32, String)>>>);

impl Sink for Recorded {
    fn write(&self, entry_type: EntryType, id: u32, text: &str) {
        self.0
            .lock()
            .unwrap()
            .push((entry_type, id, text.to_owned()));
    }
}

fn record(f: impl FnOnce()) -> Vec<(EntryType, u32, String)> {
    let sink = Recorded::default();
    let layer = EventLogLayer::new(
        sink.clone(),
        LIMITS,
        Some("Service log: C:\\logs\\agent.log".into()),
    );
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f);
    let out = sink.0.lock().unwrap().clone();
    out
}

#[test]
fn errors_warnings_and_marked_info_go_with_their_fields_in_words() {
    let entries = record(|| {
        tracing::info!(
            eventlog = SERVICE_STARTED,
            version = "1.2.0",
            config = %"C:\\ProgramData\\eceprobe\\agent.toml",
            "service started"
        );
        tracing::info!(checks = 5, "probe cycle spooled"); // not marked: file log only
        tracing::debug!(eventlog = SERVICE_STARTED, "debug never goes");
        tracing::warn!(
            eventlog = SPOOL_OVERFLOW,
            dropped = 12u64,
            interval_s = 60,
            "the spool is full"
        );
        tracing::warn!(error = %"connection refused", "link down");
        tracing::error!(target: "h2", "a library's error stays in the file log");
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e: &(dyn std::error::Error + 'static) = &io;
        tracing::error!(error = e, "cannot open the spool");
    });
    let ids: Vec<_> = entries.iter().map(|(t, id, _)| (*t, *id)).collect();
    assert_eq!(
        ids,
        [
            (EntryType::Information, SERVICE_STARTED),
            (EntryType::Warning, SPOOL_OVERFLOW),
            (EntryType::Warning, OTHER_WARNING),
            (EntryType::Error, OTHER_ERROR),
        ]
    );
    assert_eq!(
        entries[0].2,
        "service started\nversion: 1.2.0\nconfig: C:\\ProgramData\\eceprobe\\agent.toml\n\nService log: C:\\logs\\agent.log"
    );
    assert_eq!(
        entries[1].2,
        "the spool is full\ndropped: 12\ninterval (seconds): 60\n\nService log: C:\\logs\\agent.log"
    );
    assert!(
        entries[2]
            .2
            .starts_with("link down\nerror: connection refused\n"),
        "{}",
        entries[2].2
    );
    assert!(
        entries[3]
            .2
            .starts_with("cannot open the spool\nerror: no such file"),
        "{}",
        entries[3].2
    );
    assert!(
        entries.iter().all(|(_, _, t)| !t.contains("eventlog")),
        "the marker is not text"
    );
}

#[test]
fn selection_follows_level_target_and_marker() {
    let fields = |id: Option<u32>| words::Fields {
        message: "m".into(),
        eventlog: id,
        fields: vec![],
    };
    let pick =
        |target, level, id| select(target, level, fields(id)).map(|e| (e.entry_type, e.kind.id));
    assert_eq!(
        pick("eceprobe_agent::run", Level::ERROR, None),
        Some((EntryType::Error, OTHER_ERROR))
    );
    assert_eq!(
        pick("eceprobe_agent::run::uplink", Level::WARN, None),
        Some((EntryType::Warning, OTHER_WARNING))
    );
    assert_eq!(pick("eceprobe_agent", Level::INFO, None), None);
    assert_eq!(
        pick("eceprobe_agent", Level::INFO, Some(ENROLLED)),
        Some((EntryType::Information, ENROLLED))
    );
    assert_eq!(
        pick("eceprobe_agent", Level::ERROR, Some(CONFIGURATION_ERROR)),
        Some((EntryType::Error, CONFIGURATION_ERROR))
    );
    // An id that is not in the table has no message in the exe: the level's own id.
    assert_eq!(pick("eceprobe_agent", Level::INFO, Some(77)), None);
    assert_eq!(
        pick("eceprobe_agent", Level::WARN, Some(77)),
        Some((EntryType::Warning, OTHER_WARNING))
    );
    assert_eq!(pick("tonic::transport", Level::ERROR, None), None);
    assert_eq!(
        pick("eceprobe_spool::spool::write", Level::WARN, None),
        None
    );
    assert_eq!(
        pick("eceprobe_agent", Level::DEBUG, Some(SERVICE_STARTED)),
        None
    );
}

#[test]
fn every_id_has_its_message_in_the_message_table() {
    let mc = include_str!("../../windows/messages.mc");
    let mut in_mc: Vec<u32> = mc
        .lines()
        .filter_map(|l| l.trim().strip_prefix("MessageId="))
        .map(|n| n.trim().parse().unwrap())
        .collect();
    let mut ids: Vec<u32> = KINDS.iter().map(|k| k.id).collect();
    in_mc.sort_unstable();
    ids.sort_unstable();
    assert_eq!(in_mc, ids);
    // Each message is the event's own text.
    assert_eq!(mc.matches("\n%1\n.\n").count(), ids.len());
}

#[test]
fn a_long_event_is_cut_but_keeps_its_note_and_footer() {
    let long = "x".repeat(10_000);
    let text = words::text(
        &long,
        &[("path".into(), "C:\\a".into())],
        Some("held: 3"),
        Some("footer"),
    );
    assert_eq!(text.chars().count(), words::MAX_CHARS);
    assert!(
        text.ends_with("(cut: the whole event is in the service log)\n\nheld: 3\nfooter"),
        "{}",
        &text[3900..]
    );
    let short = words::text("a\u{7}b\r\nc 100%%", &[], None, None);
    assert_eq!(short, "a b \nc 100% %");
    assert_eq!(words::field_name("first_seq"), "first seq");
    assert_eq!(words::field_name("budget_ms"), "budget (ms)");
}

#[test]
fn a_failure_loop_is_bounded() {
    let t0 = Instant::now();
    let mut limiter = Limiter::new(LIMITS);
    // The same message every second for 10 minutes: written once.
    let written = (0..600)
        .filter(|s| {
            limiter.admit("link down", false, t0 + Duration::from_secs(*s)) != Verdict::Skip
        })
        .count();
    assert_eq!(written, 1);
    // After the window it is written again, saying how often it happened meanwhile.
    let Verdict::Write { note } = limiter.admit("link down", false, t0 + Duration::from_secs(601))
    else {
        panic!("written after the window")
    };
    let note = note.unwrap();
    assert!(note.contains("599 more times"), "{note}");

    // A thousand different messages at once: the burst (19 tokens left), then nothing
    // until a minute passes; the next one written counts what was held back.
    let t1 = t0 + Duration::from_secs(601);
    let burst = (0..1000)
        .filter(|i| limiter.admit(&format!("error {i}"), false, t1) != Verdict::Skip)
        .count();
    assert_eq!(burst, 19);
    // Start, stop and the error that stops the service pass regardless, and carry the
    // count of what was held back.
    let Verdict::Write { note } = limiter.admit("service stopped", true, t1) else {
        panic!("always written")
    };
    let note = note.unwrap_or_default();
    assert!(
        note.contains("981 other events of this agent were not written here (at most 20 at once, then one every 60 s)"),
        "{note}"
    );
    assert_eq!(
        limiter.admit("later", false, t1 + Duration::from_secs(59)),
        Verdict::Skip
    );
    let Verdict::Write { note } = limiter.admit("later", false, t1 + Duration::from_secs(61))
    else {
        panic!("one a minute")
    };
    let note = note.unwrap_or_default();
    assert!(
        note.contains("1 other event of this agent was not written here"),
        "{note}"
    );
}

#[test]
fn the_repeat_memory_is_bounded() {
    let limits = Limits {
        max_messages: 4,
        burst: 100,
        ..LIMITS
    };
    let mut limiter = Limiter::new(limits);
    let now = Instant::now();
    for i in 0..50 {
        assert!(matches!(
            limiter.admit(&format!("m{i}"), false, now),
            Verdict::Write { .. }
        ));
    }
    assert!(limiter.seen_len() <= 4);
}

#[test]
fn a_configuration_error_is_told_from_other_failures() {
    let config: anyhow::Error = crate::config_error::invalid("run.collector", "not a URL").into();
    assert!(is_configuration_error(&config.context("configuration")));
    assert!(!is_configuration_error(&anyhow::anyhow!(
        "the collector link stopped"
    )));
}

/// After a join: the agent, the collector and the certificate's validity, never a token.
#[test]
fn enrollment_names_the_agent_the_collector_and_the_certificate() {
    use crate::run_config::{resolve, RunConfig, RunOverrides, TlsBundle};
    let file = RunConfig {
        collector: Some("http://127.0.0.1:7443".into()),
        agent_id: Some("svc-1".into()),
        ..RunConfig::default()
    };
    let cli = RunOverrides {
        plaintext: true,
        ..RunOverrides::default()
    };
    let mut settings = resolve(file, cli, eceprobe_checks::Role::Services).unwrap();
    settings.hello.deployment = "prod".into();
    let issued = rcgen::generate_simple_self_signed(vec!["svc-1".to_owned()]).unwrap();
    settings.tls = Some(TlsBundle {
        cert_pem: issued.cert.pem(),
        key_pem: issued.signing_key.serialize_pem(),
        ca_pem: issued.cert.pem(),
        server_name: None,
        joined_deployment: Some("prod".into()),
    });
    let entries = record(|| crate::run::log_enrolled(&settings));
    assert_eq!(entries.len(), 1, "{entries:?}");
    let (entry_type, id, text) = &entries[0];
    assert_eq!((*entry_type, *id), (EntryType::Information, ENROLLED));
    assert!(text.starts_with("enrolled with a join token: "), "{text}");
    for line in [
        "\nagent: svc-1\n",
        "\ndeployment: prod\n",
        "\ncollector: http://127.0.0.1:7443\n",
        "\ncertificate valid until: 4096-01-01",
        "\ncertificate sha256: ",
    ] {
        assert!(text.contains(line), "no {line:?} in {text}");
    }
}

/// deploy/windows/README.md's table lists every id, and no other.
#[test]
fn the_windows_readme_lists_every_event_id() {
    let readme = include_str!("../../../../deploy/windows/README.md");
    let mut listed: Vec<u32> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next()?.parse().ok())
        .collect();
    let mut ids: Vec<u32> = KINDS.iter().map(|k| k.id).collect();
    listed.sort_unstable();
    ids.sort_unstable();
    assert_eq!(listed, ids);
}
