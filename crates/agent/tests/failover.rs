//! Several collectors sharing one PostgreSQL (issue 18), with real processes and sockets:
//! two `eceprobe-collector serve` processes (TLS from one `ca init`, each with its own copy
//! of the CA directory, as two hosts have) and the real agent with `--collector A,B`.
//! What an administrator relies on: the agent moves to the collector that is up and back,
//! and every result it numbered is stored once, none missing; a revocation recorded in the
//! database through A ends the agent's stream on B and is refused by both.
//!
//! Needs `ECEPROBE_TEST_POSTGRES` (`url=$(.ci/postgres.sh start)`) and the collector binary
//! beside the agent's (`cargo build -p eceprobe-collector`; `cargo test --workspace` builds
//! it); skips, saying why, without them, and fails instead under
//! `ECEPROBE_REQUIRE_POSTGRES=1`. The configuration errors need neither.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use e2e::{contiguous, eventually, Agent, CHECKS};
use eceprobe_collector::pki;
use eceprobe_collector::store::{Database, Store};
use eceprobe_testlab::{LabConfig, Testlab};
use sqlx::Connection;

const AGENT: &str = "svc-fo";

/// The test PostgreSQL's URL and the collector binary; None (said why) without them.
fn preconditions() -> Option<(String, PathBuf)> {
    let require = std::env::var("ECEPROBE_REQUIRE_POSTGRES").as_deref() == Ok("1");
    let skip = |why: String| -> Option<(String, PathBuf)> {
        assert!(!require, "ECEPROBE_REQUIRE_POSTGRES=1 but {why}");
        eprintln!("skipped: {why}");
        None
    };
    let url = match std::env::var("ECEPROBE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            return skip(
                "ECEPROBE_TEST_POSTGRES is not set (url=$(.ci/postgres.sh start) gives one)".into(),
            )
        }
    };
    let collector = Path::new(env!("CARGO_BIN_EXE_eceprobe-agent")).with_file_name(format!(
        "eceprobe-collector{}",
        std::env::consts::EXE_SUFFIX
    ));
    if !collector.is_file() {
        return skip(format!(
            "{} is not built (cargo build -p eceprobe-collector)",
            collector.display()
        ));
    }
    Some((url, collector))
}

/// The database both collectors share: a schema of its own in the test PostgreSQL, its URL
/// without the password (which goes to each collector's password file) and the password.
struct Shared {
    db_url: String,
    password: String,
}

impl Shared {
    async fn fresh(url: &str, name: &str) -> Shared {
        sqlx::any::install_default_drivers();
        let mut admin = sqlx::AnyConnection::connect(url).await.unwrap();
        let schema = format!("fo{}_{name}", std::process::id());
        for sql in [
            format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            format!("CREATE SCHEMA {schema}"),
        ] {
            sqlx::query(&sql).execute(&mut admin).await.unwrap();
        }
        admin.close().await.unwrap();
        let mut parsed = url::Url::parse(url).unwrap();
        let password = parsed.password().expect("a password in the URL").to_owned();
        parsed.set_password(None).unwrap();
        parsed
            .query_pairs_mut()
            .append_pair("options", &format!("-csearch_path={schema}"));
        Shared {
            db_url: parsed.to_string(),
            password,
        }
    }

    async fn store(&self) -> Store {
        let database = Database::parse(&self.db_url)
            .unwrap()
            .with_password(&self.password);
        Store::connect(&database).await.unwrap()
    }
}

/// One CA; the agent's bundle; a directory per collector host (`a`, `b`) with its copy of
/// the CA directory and its configuration. Returns the bundle's directory.
fn deployment(dir: &Path, shared: &Shared) -> PathBuf {
    let ca = dir.join("pki");
    pki::init(&ca, &["collector.contoso.local".into(), "127.0.0.1".into()]).unwrap();
    let bundle = dir.join("bundle");
    pki::enroll(&ca, AGENT, &bundle).unwrap();
    for host in ["a", "b"] {
        let home = dir.join(host);
        std::fs::create_dir_all(home.join("pki")).unwrap();
        for entry in std::fs::read_dir(&ca).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, home.join("pki").join(path.file_name().unwrap())).unwrap();
        }
        std::fs::write(home.join("pg.pass"), format!("{}\n", shared.password)).unwrap();
        std::fs::write(
            home.join("collector.toml"),
            "tls_dir = \"pki\"\n[store]\npassword_file = \"pg.pass\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
        )
        .unwrap();
    }
    bundle
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn url(port: u16) -> String {
    format!("https://127.0.0.1:{port}")
}

/// A real `eceprobe-collector serve` from its host directory, on a fixed agent port (so a
/// restart takes the same one), its log at info in that directory.
struct Serve {
    child: Child,
    log: PathBuf,
    /// Kept open: the collector prints its dashboard's URL after the addresses.
    _stdout: BufReader<ChildStdout>,
}

impl Serve {
    fn start(bin: &Path, home: &Path, port: u16, shared: &Shared, run: u32) -> Serve {
        let log = home.join(format!("collector-{run}.log"));
        let mut child = Command::new(bin)
            .args(["serve", "--log-level=info", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--query-listen", "127.0.0.1:0", "--db", &shared.db_url])
            .arg("--config")
            .arg(home.join("collector.toml"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        for expected in ["listening on ", "query on "] {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            assert!(
                line.starts_with(expected),
                "the collector said {line:?}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Serve {
            child,
            log,
            _stdout: stdout,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Like a power cut: SIGKILL.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn link(urls: &[String], bundle: &Path) -> Vec<String> {
    vec![
        "--collector".into(),
        urls.join(","),
        "--tls-dir".into(),
        bundle.display().to_string(),
    ]
}

/// How many streams the agent opened to the collector at `url`, by its log.
fn connections(agent: &Agent, url: &str) -> usize {
    let mark = format!("collector={url} ");
    agent
        .log()
        .lines()
        .filter(|l| l.contains("connected to the collector") && l.contains(&mark))
        .count()
}

/// Each seq stored for the agent, over all checks, sorted: a seq stored twice would be
/// listed twice.
async fn stored(store: &Store) -> Vec<u64> {
    let mut seqs = Vec::new();
    for check in CHECKS {
        let history = store.history(AGENT, check, 100_000).await.unwrap();
        seqs.extend(history.iter().map(|r| r.seq));
    }
    seqs.sort_unstable();
    seqs
}

/// Waits until the agent has opened `streams` streams to `url` and the database holds at
/// least `results` of its results.
async fn on(agent: &Agent, store: &Store, url: &str, streams: usize, results: u64, what: &str) {
    eventually(90, what, || async {
        let connected = connections(agent, url);
        let last = store.last_seq(AGENT).await.unwrap();
        match connected >= streams && last >= results {
            true => Ok(()),
            false => Err(format!(
                "{connected} stream(s) to {url}, last stored seq {last}\n{}",
                agent.log()
            )),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_moves_to_the_collector_that_is_up_and_back_losing_and_doubling_nothing() {
    let Some((pg, bin)) = preconditions() else {
        return;
    };
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let shared = Shared::fresh(&pg, "move").await;
    let bundle = deployment(dir.path(), &shared);
    let (a_home, b_home) = (dir.path().join("a"), dir.path().join("b"));
    let (pa, pb) = (free_port(), free_port());
    let urls = [url(pa), url(pb)];
    let a = Serve::start(&bin, &a_home, pa, &shared, 1);
    let b = Serve::start(&bin, &b_home, pb, &shared, 1);
    let store = shared.store().await;
    let cycle = CHECKS.len() as u64;
    let agent = Agent::start_with(
        &lab,
        &ca,
        &link(&urls, &bundle),
        AGENT,
        &dir.path().join("spool"),
        dir.path().join("agent.log"),
    );

    // A first, as listed.
    on(&agent, &store, &urls[0], 1, cycle, "results through A").await;
    assert_eq!(connections(&agent, &urls[1]), 0, "{}", agent.log());

    // A dies mid-stream: the agent moves to B and results go on.
    let before = store.last_seq(AGENT).await.unwrap();
    a.kill();
    on(
        &agent,
        &store,
        &urls[1],
        1,
        before + 2 * cycle,
        "results through B after A's death",
    )
    .await;
    let moved = format!("from={} to={}", urls[0], urls[1]);
    assert!(
        agent
            .log()
            .lines()
            .any(|l| l.contains("moving to the next collector") && l.contains(&moved)),
        "the move is logged with both collectors: {}",
        agent.log()
    );

    // A is back and B dies: the agent moves back to A.
    let a = Serve::start(&bin, &a_home, pa, &shared, 2);
    let before = store.last_seq(AGENT).await.unwrap();
    b.kill();
    on(
        &agent,
        &store,
        &urls[0],
        2,
        before + 2 * cycle,
        "results through A again",
    )
    .await;

    let log = agent.stop().await;
    let seqs = stored(&store).await;
    contiguous(&seqs).unwrap_or_else(|e| panic!("{e}\n{log}"));
    assert_eq!(
        seqs.len() as u64,
        store.last_seq(AGENT).await.unwrap(),
        "every seq the agent numbered up to the last stored is there once"
    );
    assert!(!a.log().contains("ERROR"), "{}", a.log());
    store.close().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_recorded_through_one_collector_ends_the_stream_on_the_other() {
    let Some((pg, bin)) = preconditions() else {
        return;
    };
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let shared = Shared::fresh(&pg, "revoke").await;
    let bundle = deployment(dir.path(), &shared);
    let (a_home, b_home) = (dir.path().join("a"), dir.path().join("b"));
    let (pa, pb) = (free_port(), free_port());
    let urls = [url(pa), url(pb)];
    // A is down at first: the agent settles on B.
    let b = Serve::start(&bin, &b_home, pb, &shared, 1);
    let store = shared.store().await;
    let mut agent = Agent::start_with(
        &lab,
        &ca,
        &link(&urls, &bundle),
        AGENT,
        &dir.path().join("spool"),
        dir.path().join("agent.log"),
    );
    on(&agent, &store, &urls[1], 1, 1, "results through B").await;
    let a = Serve::start(&bin, &a_home, pa, &shared, 1);

    // Revoked through A's CA directory and configuration: the file there, and the database.
    let out = Command::new(&bin)
        .args(["revoke", AGENT, "--dir"])
        .arg(a_home.join("pki"))
        .args(["--db", &shared.db_url, "--config"])
        .arg(a_home.join("collector.toml"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("revoked.txt and in the PostgreSQL database")
            && said.contains("(1 new there)"),
        "{said}"
    );
    assert!(!said.contains(&shared.password), "{said}");
    assert!(
        !b_home.join("pki").join(pki::REVOKED).exists(),
        "B can know of it only through the database"
    );

    // B ends the open stream; the agent stops as revoked (exit code 3).
    let code = agent.exited(60).await;
    assert_eq!(code, Some(3), "{}", agent.log());
    assert!(
        b.log()
            .contains("the agent's certificate was revoked: ending its stream"),
        "{}",
        b.log()
    );
    let last = store.last_seq(AGENT).await.unwrap();

    // Started again, it meets A first: refused there too; and B alone refuses its Hello.
    for (list, name) in [(&urls[..], "a"), (&urls[1..], "b")] {
        let mut again = Agent::start_with(
            &lab,
            &ca,
            &link(list, &bundle),
            AGENT,
            &dir.path().join("spool"),
            dir.path().join(format!("agent-again-{name}.log")),
        );
        assert_eq!(again.exited(60).await, Some(3), "{}", again.log());
        let refused_by = format!("collector={}", list[0]);
        assert!(
            again
                .log()
                .lines()
                .any(|l| l.contains("revoked") && l.contains(&refused_by)),
            "{}",
            again.log()
        );
    }
    assert_eq!(
        store.last_seq(AGENT).await.unwrap(),
        last,
        "nothing stored after the revocation"
    );
    drop(a);
    store.close().await;
    lab.shutdown().await;
}

/// `eceprobe-agent run` with this configuration file and flags: its exit code and stderr.
fn run_agent(dir: &Path, toml: &str, flags: &[&str]) -> (Option<i32>, String) {
    let config = dir.join("agent.toml");
    std::fs::write(&config, toml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_eceprobe-agent"))
        .args(["run", "--role", "services", "--agent-id", AGENT, "--config"])
        .arg(&config)
        .args(flags)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn collector_lists_that_cannot_work_are_refused_by_key_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    let both = "[run]\ncollector = \"https://a:7443\"\ncollectors = [\"https://a:7443\", \"https://b:7443\"]\n";
    let (code, err) = run_agent(dir.path(), both, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("both collector and collectors are set"),
        "{err}"
    );

    let bad = "[run]\ncollectors = [\"https://a:7443\", \"a.corp:7443\"]\n";
    let (code, err) = run_agent(dir.path(), bad, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("run.collectors[1]: 'a.corp:7443' is not a collector URL"),
        "{err}"
    );

    let (code, err) = run_agent(
        dir.path(),
        "[run]\n",
        &[
            "--plaintext",
            "--collector",
            "http://127.0.0.1:7443,http://10.1.2.3:7443",
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--collector[1]: 'http://10.1.2.3:7443': plaintext is only allowed"),
        "{err}"
    );
}
