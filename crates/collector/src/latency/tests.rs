#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn peer(id: &str, role: &str) -> Peer {
    Peer {
        agent_id: id.to_owned(),
        deployment: "prod".to_owned(),
        role: role.to_owned(),
    }
}

fn stages(tcp_ms: u64, tls_ms: u64) -> Vec<(String, u64)> {
    vec![
        ("dns".to_owned(), 2_000),
        ("tcp".to_owned(), tcp_ms * 1000),
        ("tls".to_owned(), tls_ms * 1000),
    ]
}

fn timings(id: &str, recent: &[(u64, u64)], baseline: &[(u64, u64)]) -> Timings {
    let mut by_stage: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for (a, b) in baseline {
        for (stage, us) in stages(*a, *b) {
            by_stage.entry(stage).or_default().push(us);
        }
    }
    Timings {
        agent_id: id.to_owned(),
        check: "imap".to_owned(),
        recent: recent.iter().map(|(a, b)| stages(*a, *b)).collect(),
        baseline: by_stage
            .into_iter()
            .map(|(stage, v)| {
                let n = v.len() as u32;
                (stage, (median(v).unwrap(), n))
            })
            .collect(),
    }
}

#[test]
fn median_of_odd_even_and_none() {
    assert_eq!(median(vec![5, 1, 3]), Some(3));
    assert_eq!(median(vec![4, 1, 3, 2]), Some(2));
    assert_eq!(median(vec![3, 4]), Some(3));
    assert_eq!(median(vec![u64::MAX, u64::MAX]), Some(u64::MAX));
    assert_eq!(median(vec![]), None);
}

#[test]
fn words_for_durations() {
    assert_eq!(seconds(120_000), "0.12 s");
    assert_eq!(seconds(1_900_000), "1.9 s");
    assert_eq!(seconds(45_400), "45 ms");
    assert_eq!(seconds(300), "1 ms");
    assert_eq!(seconds(0), "0 ms");
}

#[test]
fn thresholds_need_both_the_ratio_and_the_margin() {
    let th = LatencyThresholds::default();
    assert!(th.over(1_900_000, 120_000));
    assert!(!th.over(7_000, 2_000), "3.5x but 5 ms over");
    assert!(!th.over(5_500_000, 4_000_000), "1.5 s over but 1.4x");
    assert!(!th.over(360_000, 120_000), "exactly 3x is not over");
}

#[test]
fn one_server_far_slower_than_three_peers_names_the_stage() {
    let servers = ["a", "b", "c", "d"].map(|s| peer(s, "application"));
    let t = vec![
        timings("a", &[(30, 1900), (31, 1800), (29, 2000)], &[]),
        timings("b", &[(30, 120), (30, 110)], &[]), // 2 results: no figure
        timings("b2", &[], &[]),
        timings("c", &[(28, 115), (30, 125), (31, 120)], &[]),
        timings("d", &[(29, 130), (32, 118), (30, 122)], &[]),
    ];
    let judged: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
    assert!(
        judge(&LatencyThresholds::default(), &servers, &t, &judged).is_empty(),
        "two peers with a figure are not enough"
    );
    let mut t = t;
    t[1] = timings("b", &[(30, 120), (30, 110), (30, 121)], &[]);
    let found = judge(&LatencyThresholds::default(), &servers, &t, &judged);
    assert_eq!(found.len(), 1, "{found:?}");
    let o = &found[0];
    assert_eq!(
        (o.agent_id.as_str(), o.kind, o.stage.as_str()),
        ("a", SLOWER_THAN_PEERS, "tls")
    );
    assert_eq!(
        (o.here_us, o.reference_us, o.reference_count),
        (1_900_000, 120_000, 3)
    );
}

#[test]
fn peers_are_the_same_deployment_and_role() {
    let mut servers = vec![peer("a", "application")];
    for (i, role) in ["services", "services", "services"].iter().enumerate() {
        servers.push(peer(&format!("s{i}"), role));
    }
    let mut t = vec![timings("a", &[(30, 1900), (31, 1800), (29, 2000)], &[])];
    for i in 0..3 {
        t.push(timings(
            &format!("s{i}"),
            &[(30, 120), (30, 110), (30, 121)],
            &[],
        ));
    }
    let found = judge(
        &LatencyThresholds::default(),
        &servers,
        &t,
        &["a".to_owned()],
    );
    assert!(
        found.is_empty(),
        "services servers are not an application server's peers: {found:?}"
    );
}

#[test]
fn a_jump_over_the_own_history_is_a_regression() {
    let servers = [peer("a", "application")];
    let history: Vec<(u64, u64)> = (0..30).map(|i| (30 + i % 5, 100 + i % 7)).collect();
    let t = [timings(
        "a",
        &[(900, 110), (950, 100), (880, 120)],
        &history,
    )];
    let found = judge(
        &LatencyThresholds::default(),
        &servers,
        &t,
        &["a".to_owned()],
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].kind, found[0].stage.as_str()),
        (LATENCY_REGRESSION, "tcp")
    );
    assert_eq!(found[0].reference_count, 30);
    // Too short a history says nothing.
    let t = [timings(
        "a",
        &[(900, 110), (950, 100), (880, 120)],
        &history[..23],
    )];
    assert!(judge(
        &LatencyThresholds::default(),
        &servers,
        &t,
        &["a".to_owned()]
    )
    .is_empty());
}

#[test]
fn thresholds_read_and_write_back() {
    let file: LatencyThresholdsFile =
        toml::from_str("factor = 2.5\nmargin_ms = 100\nmin_peers = 4").unwrap();
    let th = LatencyThresholds::from_file(file).unwrap();
    assert_eq!((th.factor_tenths, th.margin_ms, th.min_peers), (25, 100, 4));
    let text = th.to_toml();
    let body = text.strip_prefix("[latency]\n").unwrap();
    let file: LatencyThresholdsFile = toml::from_str(body).unwrap();
    assert_eq!(LatencyThresholds::from_file(file).unwrap(), th);
    let file: LatencyThresholdsFile = toml::from_str("factor = 1.0").unwrap();
    let (key, message) = LatencyThresholds::from_file(file).unwrap_err();
    assert_eq!(key, "latency.factor");
    assert!(message.contains("1.5 to 100"), "{message}");
}
