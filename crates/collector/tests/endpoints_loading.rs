//! Microsoft's endpoint list loaded from a real loopback HTTP server and from files: the
//! version asked first and the list fetched only when it changed, the ClientRequestId sent
//! and stable, and every bad answer or file leaving the list in use with an error naming
//! the URL or file; a restart without the service uses the copy kept next to the database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

mod common;

use common::endpoints_service::{list_json, serve, Service};
use eceprobe_collector::endpoints::{
    EndpointsConfig, EndpointsHandle, Loader, Source, MAX_LIST_BYTES,
};
use eceprobe_collector::outbound::get::Limits;
use eceprobe_collector::outbound::HttpUrl;

fn url_config(addr: SocketAddr) -> EndpointsConfig {
    EndpointsConfig {
        source: Source::Url(HttpUrl::parse(&format!("http://{addr}")).unwrap()),
        ..EndpointsConfig::default()
    }
}

/// The requests made since the last call, as request lines.
fn asked(state: &Mutex<Service>) -> Vec<(String, Vec<(String, String)>)> {
    std::mem::take(&mut state.lock().unwrap().asked)
}

#[tokio::test]
async fn the_service_is_asked_its_version_and_a_bad_answer_never_replaces_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("collector.db");
    let state = Arc::new(Mutex::new(Service {
        version: "2026110300".into(),
        list: (200, list_json("40.96.0.0/13").into_bytes()),
        asked: Vec::new(),
        stall: false,
    }));
    let addr = serve(Arc::clone(&state)).await;
    let handle = EndpointsHandle::default();
    let mut loader = Loader::new(url_config(addr), &db, handle.clone());
    loader.start().await;
    assert!(
        handle.current().origin().source.contains("snapshot"),
        "nothing kept yet: the snapshot until the service answers"
    );
    loader.refresh().await;

    let list = handle.current();
    assert_eq!(list.origin().version, "2026110300");
    assert_eq!(
        list.origin().source,
        format!("http://{addr}/endpoints/Worldwide")
    );
    assert_eq!(list.sets().len(), 2);
    assert!(handle.last_error().is_none());
    let first = asked(&state);
    let lines: Vec<&str> = first.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let id = lines[0]
        .strip_prefix("GET /version/Worldwide?ClientRequestId=")
        .and_then(|r| r.strip_suffix(" HTTP/1.1"))
        .expect("the version asked with the ClientRequestId");
    assert_eq!(id.len(), 36, "a GUID: {id}");
    assert_eq!(
        lines[1],
        format!("GET /endpoints/Worldwide?ClientRequestId={id} HTTP/1.1")
    );
    // Nothing else identifies the collector: the standard headers, no cookie, no token.
    for (_, headers) in &first {
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["host", "user-agent", "accept", "connection"],
            "{headers:?}"
        );
    }
    let id_on_disk =
        std::fs::read_to_string(dir.path().join("collector.db.endpoints-client-id")).unwrap();
    assert_eq!(id_on_disk.trim(), id, "kept next to the database");

    // The same version: only the version is asked.
    loader.refresh().await;
    let lines: Vec<String> = asked(&state).into_iter().map(|(l, _)| l).collect();
    assert_eq!(
        lines,
        [format!(
            "GET /version/Worldwide?ClientRequestId={id} HTTP/1.1"
        )]
    );

    // A new version, and each bad answer: the list in use stays; the error names the URL.
    let url = format!("http://{addr}/endpoints/Worldwide");
    let bad: Vec<((u16, Vec<u8>), &str)> = vec![
        (
            (200, b"<html>Service Unavailable</html>".to_vec()),
            "not Microsoft's endpoint list",
        ),
        (
            (
                200,
                br#"{"instance":"Worldwide","latest":"2026120100"}"#.to_vec(),
            ),
            "not Microsoft's endpoint list",
        ),
        (
            (200, list_json("40.96.0.0/13").as_bytes()[..200].to_vec()),
            "not Microsoft's endpoint list",
        ),
        ((200, Vec::new()), "empty"),
        ((500, b"oops".to_vec()), "answered HTTP 500, not 200"),
        ((429, b"slow down".to_vec()), "answered HTTP 429"),
        (
            (200, vec![b' '; MAX_LIST_BYTES + 10]),
            "larger than the 4194304 bytes accepted",
        ),
    ];
    state.lock().unwrap().version = "2026120100".into();
    for (answer, says) in bad {
        state.lock().unwrap().list = answer;
        loader.refresh().await;
        let in_use = handle.current();
        assert_eq!(
            in_use.origin().version,
            "2026110300",
            "{says}: the good list stays"
        );
        let err = handle.last_error().expect("the failure is shown").message;
        assert!(err.contains(&url), "{says}: {err}");
        assert!(err.contains(says), "{says}: {err}");
        assert!(err.contains("the list in use stays"), "{err}");
        let fix = if says.contains("429") {
            "called less often"
        } else {
            "try again later, or save the list"
        };
        assert!(err.contains(fix), "{says}: {err}");
        assert!(
            !err.contains(id),
            "the id is not repeated in messages: {err}"
        );
    }

    // An answer that starts and then stalls: bounded in time, the list in use stays.
    let quick = Limits {
        connect: Duration::from_secs(1),
        read: Duration::from_secs(1),
        total: Duration::from_secs(3),
        max_body: MAX_LIST_BYTES,
    };
    let mut impatient =
        Loader::new(url_config(addr), &db, handle.clone()).with_limits(quick, quick);
    state.lock().unwrap().stall = true;
    let started = std::time::Instant::now();
    impatient.refresh().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(handle.current().origin().version, "2026110300");
    let err = handle.last_error().unwrap().message;
    assert!(
        err.contains(&url) && err.contains("nothing more of the answer for 1 s"),
        "{err}"
    );
    state.lock().unwrap().stall = false;

    // Fixed: the new version is loaded and the error goes.
    state.lock().unwrap().list = (200, list_json("52.96.0.0/14").into_bytes());
    loader.refresh().await;
    assert_eq!(handle.current().origin().version, "2026120100");
    assert!(handle.last_error().is_none());
    asked(&state);

    // A restart (same database) with the service gone: the kept copy, not the snapshot,
    // and the same ClientRequestId would be sent.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut config = url_config(addr);
    let handle2 = EndpointsHandle::default();
    if let Source::Url(u) = &mut config.source {
        u.port = closed.port();
    }
    // The kept copy belongs to the service it came from: another URL does not use it.
    let mut other = Loader::new(config, &db, handle2.clone());
    other.start().await;
    other.refresh().await;
    assert!(handle2.current().origin().source.contains("snapshot"));
    let err = handle2.last_error().unwrap().message;
    assert!(
        err.contains(&format!("http://{closed}/version/Worldwide")),
        "{err}"
    );
    assert!(err.contains("connection refused"), "{err}");
    assert!(
        err.contains(&format!("Fix: let the collector reach http://{closed}")),
        "{err}"
    );

    drop(loader);
    let handle3 = EndpointsHandle::default();
    let mut again = Loader::new(url_config(addr), &db, handle3.clone());
    // The service answers 500 now: the kept copy stays in use.
    state.lock().unwrap().list = (500, b"down".to_vec());
    state.lock().unwrap().version = "2026120200".into();
    again.start().await;
    assert!(handle3
        .current()
        .origin()
        .source
        .contains("the copy kept at"));
    again.refresh().await;
    let kept = handle3.current();
    assert_eq!(kept.origin().version, "2026120100");
    assert!(
        kept.origin().source.contains("the copy kept at"),
        "{:?}",
        kept.origin()
    );
    assert!(kept.set(2).unwrap().contains("52.96.0.1".parse().unwrap()));
    assert!(handle3.last_error().unwrap().message.contains("HTTP 500"));
    let lines: Vec<String> = asked(&state).into_iter().map(|(l, _)| l).collect();
    assert!(
        lines[0].contains(&format!("ClientRequestId={id} ")),
        "{lines:?}"
    );
}

fn touch(path: &Path, bytes: &[u8], at: u64) {
    std::fs::write(path, bytes).unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + at))
        .unwrap();
}

#[tokio::test]
async fn a_file_is_read_when_it_changes_and_a_bad_one_never_replaces_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("endpoints-worldwide.json");
    let good = list_json("40.96.0.0/13");
    touch(&file, good.as_bytes(), 0);
    let config = EndpointsConfig {
        source: Source::File(file.clone()),
        ..EndpointsConfig::default()
    };
    let handle = EndpointsHandle::default();
    let mut loader = Loader::new(config, &dir.path().join("c.db"), handle.clone());
    loader.start().await;
    let list = handle.current();
    assert_eq!(list.origin().source, file.display().to_string());
    assert_eq!(list.sets().len(), 2);
    assert!(handle.last_error().is_none());

    let name = file.display().to_string();
    for (i, (bytes, says)) in [
        (
            good.as_bytes()[..good.len() / 2].to_vec(),
            "not Microsoft's endpoint list",
        ),
        (
            br#"{"instance":"Worldwide","latest":"2026110300"}"#.to_vec(),
            "not Microsoft's endpoint list",
        ),
        (Vec::new(), "the list is empty"),
    ]
    .into_iter()
    .enumerate()
    {
        touch(&file, &bytes, 60 * (i as u64 + 1));
        loader.refresh().await;
        assert_eq!(
            handle.current().sets().len(),
            2,
            "{says}: the good list stays"
        );
        assert_eq!(handle.current().origin().source, name);
        let err = handle.last_error().unwrap().message;
        assert!(err.contains(&name) && err.contains(says), "{err}");
        assert!(err.contains("not /version"), "the fix is said: {err}");
    }
    // Unchanged modification time: not read again (the error stays as it was).
    loader.refresh().await;
    assert!(handle.last_error().is_some());
    std::fs::remove_file(&file).unwrap();
    loader.refresh().await;
    let err = handle.last_error().unwrap().message;
    assert!(
        err.contains(&format!("cannot read Microsoft's endpoint list {name}")),
        "{err}"
    );
    assert_eq!(handle.current().sets().len(), 2);
    // A good file again: loaded, the error gone.
    touch(&file, list_json("52.96.0.0/14").as_bytes(), 600);
    loader.refresh().await;
    assert!(handle.last_error().is_none());
    assert!(handle
        .current()
        .set(2)
        .unwrap()
        .contains("52.96.0.1".parse().unwrap()));
}

#[tokio::test]
async fn a_directory_or_an_oversized_file_is_refused_naming_it_and_the_list_stays() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("endpoints-worldwide.json");
    touch(&file, list_json("40.96.0.0/13").as_bytes(), 0);
    let config = EndpointsConfig {
        source: Source::File(file.clone()),
        ..EndpointsConfig::default()
    };
    let handle = EndpointsHandle::default();
    let mut loader = Loader::new(config, &dir.path().join("c.db"), handle.clone());
    loader.start().await;
    assert_eq!(handle.current().sets().len(), 2);
    let name = file.display().to_string();

    // Oversized: refused from its size, before it is read.
    let mut big = list_json("40.96.0.0/13").into_bytes();
    big.resize(MAX_LIST_BYTES + 10, b' ');
    touch(&file, &big, 60);
    loader.refresh().await;
    let err = handle.last_error().unwrap().message;
    assert!(
        err.contains(&name)
            && err.contains("more than the")
            && err.contains("the list in use stays"),
        "{err}"
    );
    assert_eq!(handle.current().sets().len(), 2);
    assert_eq!(handle.current().origin().source, name);

    // A directory at the path.
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    loader.refresh().await;
    let err = handle.last_error().unwrap().message;
    assert!(
        err.contains(&name) && err.contains("it is a directory") && err.contains("regular file"),
        "{err}"
    );
    assert_eq!(handle.current().sets().len(), 2);
}

/// A FIFO at the path is refused without being opened (opening it would wait for a writer).
#[cfg(unix)]
#[tokio::test]
async fn a_fifo_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("endpoints-worldwide.json");
    let made = std::process::Command::new("mkfifo").arg(&file).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    let config = EndpointsConfig {
        source: Source::File(file.clone()),
        ..EndpointsConfig::default()
    };
    let handle = EndpointsHandle::default();
    let mut loader = Loader::new(config, &dir.path().join("c.db"), handle.clone());
    tokio::time::timeout(Duration::from_secs(10), loader.start())
        .await
        .expect("a FIFO must not hang the load");
    let err = handle.last_error().unwrap().message;
    assert!(err.contains("not a regular file"), "{err}");
    assert!(handle.current().origin().source.contains("snapshot"));
}
