//! Tests of `config.rs`: the collector's configuration file, as an administrator writes it.

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("/etc/eceprobe/collector.toml"))
}

#[test]
fn the_http_section_is_read() {
    let c = parse("[http]\nlisten = \"0.0.0.0:8080\"\ntoken_file = \"t.token\"\n").unwrap();
    assert_eq!(c.http.listen, Some(SocketAddr::from(([0, 0, 0, 0], 8080))));
    assert_eq!(
        c.http.token_file.as_deref(),
        Some(Path::new("/etc/eceprobe/t.token"))
    );
    let err = parse("[http]\ntoken = \"x\"").unwrap_err().to_string();
    assert!(err.contains("token"), "{err}");
}

#[test]
fn an_empty_file_is_the_defaults() {
    assert_eq!(parse("").unwrap(), Config::default());
}

#[test]
fn keys_are_read_and_relative_paths_anchored_at_the_file() {
    let c = parse(
        "listen = \"127.0.0.1:9000\"\ndatabase = \"data/c.db\"\npolicy_file = \"p.toml\"\n\
         evaluate_every_s = 5\n[retention]\nresults_days = 7\ngaps_days = 0\n",
    )
    .unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.database, Path::new("/etc/eceprobe/data/c.db"));
    assert_eq!(
        c.policy_file.as_deref(),
        Some(Path::new("/etc/eceprobe/p.toml"))
    );
    assert_eq!(c.evaluate_every, Duration::from_secs(5));
    assert_eq!(c.retention.results, Some(DAY * 7));
    assert_eq!(c.retention.gaps, None, "0 keeps closed gaps forever");
}

#[test]
fn mistakes_are_named() {
    let err = parse("retention_days = 3").unwrap_err().to_string();
    assert!(err.contains("retention_days"), "{err}");
    let err = parse("[retention]\nresult_days = 3")
        .unwrap_err()
        .to_string();
    assert!(err.contains("result_days"), "{err}");
    let err = parse("evaluate_every_s = 0").unwrap_err().to_string();
    assert!(err.contains("evaluate_every_s: 0 is out of range"), "{err}");
    let err = parse("listen = \"nowhere\"").unwrap_err().to_string();
    assert!(err.contains("/etc/eceprobe/collector.toml"), "{err}");
}

#[test]
fn webhooks_are_read_and_checked_without_leaking_secrets() {
    let c = parse(
        "[[webhook]]\nurl = \"https://hooks.example.com/T0/SECRET\"\n\
         headers = { Authorization = \"Bearer TOKEN\" }\nca_file = \"ca.pem\"\n\
         max_attempts = 3\nretry_base_ms = 50\n\
         [[webhook]]\nurl = \"http://127.0.0.1:9000\"\n",
    )
    .unwrap();
    assert_eq!(c.webhooks.len(), 2);
    let w = &c.webhooks[0];
    assert_eq!(w.url.to_string(), "https://hooks.example.com:443");
    assert_eq!(w.url.path_and_query, "/T0/SECRET");
    assert_eq!(w.headers["Authorization"], "Bearer TOKEN");
    assert_eq!(
        w.ca_file.as_deref(),
        Some(Path::new("/etc/eceprobe/ca.pem"))
    );
    assert_eq!(
        (w.max_attempts, w.retry_base),
        (3, Duration::from_millis(50))
    );
    assert_eq!(c.webhooks[1].max_attempts, notify::DEFAULT_MAX_ATTEMPTS);
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("SECRET") && !shown.contains("TOKEN"),
        "{shown}"
    );

    for (text, expect) in [
        (
            "[[webhook]]\nurl = \"ftp://x/SECRET\"",
            "webhook.url: [[webhook]] #1: must start with http:// or https://",
        ),
        (
            "[[webhook]]\nurl = \"http://x\"\nmax_attempts = 0",
            "webhook.max_attempts: [[webhook]] #1: 0 is out of range",
        ),
        (
            "[[webhook]]\nurl = \"http://x\"\nretry_base_ms = 1",
            "webhook.retry_base_ms",
        ),
        (
            "[[webhook]]\nurl = \"http://x\"\nheaders = { Host = \"SECRET\" }",
            "webhook.headers",
        ),
        (
            "[[webhook]]\nurl = \"http://x\"\nheaders = { \"X-A\" = \"a\\nSECRET\" }",
            "webhook.headers",
        ),
        ("[[webhook]]\nurl = \"http://x\"\nretries = 3", "retries"),
        ("[[webhook]]\nheaders = {}", "url"),
    ] {
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains(expect), "{text}: {err}");
        assert!(!err.contains("SECRET"), "{err}");
    }
}

#[test]
fn schedules_are_read_and_checked_at_load() {
    let c = parse(
        "[[schedule]]\nname = \"monday\"\ncron = \"0 7 * * MON\"\n\
         time_zone = \"Europe/Madrid\"\ndeployment = \"prod\"\ndeadline_s = 300\n\
         [[schedule]]\nname = \"nightly\"\ncron = \"@daily\"\n",
    )
    .unwrap();
    let [monday, nightly] = &c.schedules[..] else {
        panic!("{:?}", c.schedules);
    };
    assert_eq!(
        (monday.name.as_str(), monday.time_zone_name.as_str()),
        ("monday", "Europe/Madrid")
    );
    assert_eq!(
        (monday.deployment.as_str(), monday.deadline_s),
        ("prod", 300)
    );
    assert_eq!(nightly.time_zone_name, "UTC", "the default zone");
    assert_eq!((nightly.deployment.as_str(), nightly.deadline_s), ("", 0));
    let at = "2026-11-27T12:00:00Z".parse().unwrap();
    let next = monday.next_after(at).unwrap();
    assert_eq!(monday.local(next), "2026-11-30 07:00 Europe/Madrid");

    for (text, expect) in [
        (
            "[[schedule]]\nname = \"monday\"\ncron = \"0 7 * * MOM\"",
            "configuration /etc/eceprobe/collector.toml: schedule \"monday\": cron \"0 7 * * MOM\": \
             day of week: unknown name 'MOM' (use 0-7 or SUN-SAT)",
        ),
        (
            "[[schedule]]\nname = \"m\"\ncron = \"@daily\"\ntime_zone = \"Europe/Madird\"",
            "schedule \"m\": time_zone: unknown time zone 'Europe/Madird'",
        ),
        (
            "[[schedule]]\nname = \"m\"\ncron = \"@daily\"\ndeadline_s = 3601",
            "schedule \"m\": deadline_s: 3601 is out of range",
        ),
        (
            "[[schedule]]\nname = \"m\"\ncron = \"@daily\"\n[[schedule]]\nname = \"m\"\ncron = \"@hourly\"",
            "schedule \"m\": name: used by more than one schedule",
        ),
        ("[[schedule]]\nname = \" \"\ncron = \"@daily\"", "name: must not be empty"),
        ("[[schedule]]\nname = \"m\"", "missing field `cron`"),
        ("[[schedule]]\ncron = \"@daily\"", "missing field `name`"),
        ("[[schedule]]\nname = \"m\"\ncron = \"@daily\"\ntimezone = \"UTC\"", "timezone"),
    ] {
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains(expect), "{text}: {err}");
    }
}

/// A configuration or policy path mistyped to a device or a huge file is refused with the
/// file's name and the bound, not read until memory runs out.
#[cfg(unix)]
#[test]
fn an_endless_configuration_or_policy_is_read_only_to_the_bound() {
    let err = Config::load(Path::new("/dev/zero"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "the configuration: /dev/zero holds more than 1024 KiB, the most eceprobe reads from such a file: check the path"
    );
    let c = parse("policy_file = \"/dev/zero\"\n").unwrap();
    let err = c.policy().unwrap_err().to_string();
    assert!(
        err.starts_with("the policy: /dev/zero holds more than 1024 KiB"),
        "{err}"
    );
    let err = Config::load(Path::new("/nonexistent/collector.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("the configuration: cannot read /nonexistent/collector.toml: "),
        "{err}"
    );
}
