//! The agent's configuration as `eceprobe-agent check --config` and `run --config` read it
//! (agent/src/config.rs `load_file` and `resolve`, with `[[mailbox]]` (mailbox.rs),
//! `[ece]`, `[slow]`, `[trace]`, and `[run]` through run_config.rs `resolve`). The input is
//! a flags byte, then four parts split at NUL bytes: agent.toml, and three files written
//! next to it that it may name: `rt` and `cs` (secret files; each 0x01 byte in them becomes
//! a refresh-token-like canary) and `ca.pem` (also the bundle of `tls/`). Read or refused
//! with a message naming the file or a key of agent.toml, never quoting a secret, bounded by
//! what was given; what is read keeps the documented ranges.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use eceprobe_agent::config::{self, ConfigError, Overrides};
use eceprobe_agent::mailbox::GrantKind;
use eceprobe_agent::run_config::{self, RunOverrides};
use libfuzzer_sys::fuzz_target;

/// What a secret file's 0x01 bytes become: a token no message may show.
const CANARY: &str = "0.AWcanaryR3fr3shT0kenZ9";

/// agent.toml's top-level keys and sections: every error names one (as `key`, `sec.key` or
/// `mailbox[..].key`).
const KEYS: [&str; 17] = [
    "role",
    "cloud",
    "tenant",
    "ece_url",
    "redirect_uri",
    "proxy",
    "checks",
    "resolve",
    "hosts",
    "trust",
    "timeouts",
    "limits",
    "slow",
    "trace",
    "ece",
    "run",
    "mailbox",
];

/// This process's folder (fuzzing runs one input at a time per process).
fn home() -> &'static PathBuf {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        base.join(format!("eceprobe-fuzz-agent-config-{}", std::process::id()))
    })
}

fn secret_bytes(part: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(part.len());
    for &b in part {
        match b {
            1 => out.extend_from_slice(CANARY.as_bytes()),
            b => out.push(b),
        }
    }
    out
}

fn write(path: &Path, bytes: &[u8], mode: u32) {
    std::fs::write(path, bytes).expect("the target's own folder");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .expect("chmod in the target's own folder");
    }
    #[cfg(not(unix))]
    let _ = mode;
}

/// A refusal's message: names the file or a key, quotes no secret, bounded by the input.
fn check_error(e: &ConfigError, file: &Path, input_len: usize) {
    let text = e.to_string();
    assert!(!text.is_empty());
    assert!(!text.contains(CANARY), "a secret in {text:?}");
    assert!(text.len() <= 2 * input_len + 4096, "{} bytes", text.len());
    match e {
        ConfigError::Read(_) | ConfigError::Parse { .. } => {
            assert!(text.contains(&file.display().to_string()), "{text}");
        }
        ConfigError::Invalid { key, message } => {
            assert!(!message.is_empty(), "{text}");
            let first = key.split(['.', '[']).next().unwrap_or_default();
            assert!(KEYS.contains(&first), "key {key:?}: {text}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, rest @ ..] = data else { return };
    let mut parts = rest.splitn(4, |&b| b == 0);
    let toml = parts.next().unwrap_or_default();
    let rt = parts.next();
    let cs = parts.next();
    let pem = parts.next();

    let home = home();
    let _ = std::fs::remove_dir_all(home);
    std::fs::create_dir_all(home).expect("the fuzz target's own folder");
    let file = home.join("agent.toml");
    write(&file, toml, 0o644);
    // Bit 0: the secret files readable by others (refused).
    let secret_mode = if flags & 1 == 0 { 0o600 } else { 0o644 };
    for (name, part) in [("rt", rt), ("cs", cs)] {
        if let Some(part) = part {
            write(&home.join(name), &secret_bytes(part), secret_mode);
        }
    }
    if let Some(pem) = pem {
        write(&home.join("ca.pem"), pem, 0o644);
        // Bit 1: an enrollment bundle in tls/ (an https collector then resolves).
        if flags & 2 != 0 {
            let tls = home.join("tls");
            std::fs::create_dir_all(&tls).expect("the bundle's folder");
            for name in ["agent.pem", "agent.key", "ca.pem"] {
                write(&tls.join(name), pem, 0o600);
            }
        }
    }
    // Bit 2: `--no-trace --no-java`; bit 3: `--plaintext`.
    let overrides = Overrides {
        no_trace: flags & 4 != 0,
        no_java: flags & 4 != 0,
        ..Overrides::default()
    };
    let run_overrides = RunOverrides {
        plaintext: flags & 8 != 0,
        ..RunOverrides::default()
    };

    let outcome = check(&file, overrides, run_overrides, data.len());
    let _ = std::fs::remove_dir_all(home);
    outcome.unwrap_or_else(|e| check_error(&e, &file, data.len()));
});

fn check(
    file: &Path,
    overrides: Overrides,
    run_overrides: RunOverrides,
    input_len: usize,
) -> Result<(), ConfigError> {
    let mut read = config::load_file(file)?;
    let run_file = std::mem::take(&mut read.run);
    let probes = config::resolve(read, overrides)?;
    let s = &probes.settings;
    assert!((1..=32).contains(&s.max_addresses));
    for t in [
        s.timeouts.dns,
        s.timeouts.tcp,
        s.timeouts.tls,
        s.timeouts.protocol,
    ] {
        assert!(t.as_millis() >= 1 && t.as_millis() <= 600_000, "{t:?}");
    }
    for m in &probes.mailboxes {
        assert!(
            m.address.contains('@') && m.address.len() <= 254,
            "{}",
            m.address
        );
        assert!(!m.protocols.is_empty());
        for (i, p) in m.protocols.iter().enumerate() {
            assert!(!m.protocols[..i].contains(p), "{} twice", p.as_str());
        }
        match m.grant {
            GrantKind::RefreshToken => assert!(m.refresh_token_file.is_some()),
            GrantKind::ClientCredentials => {
                assert!(m.refresh_token_file.is_none() && m.client_secret_file.is_some());
            }
        }
        // Anchored at agent.toml's folder: a service's working directory is not the admin's.
        for p in [&m.refresh_token_file, &m.client_secret_file]
            .into_iter()
            .flatten()
        {
            assert!(p.is_absolute(), "{}", p.display());
        }
        assert!(!m.client_id.is_empty());
    }
    let run = run_config::resolve(run_file, run_overrides, probes.role)?;
    assert!((1..=16).contains(&run.collectors.len()));
    for (i, url) in run.collectors.iter().enumerate() {
        assert!(!run.collectors[..i].contains(url), "{url} twice");
        assert!(
            url.starts_with("https://") || url.starts_with("http://"),
            "{url}"
        );
        assert!(url.len() <= input_len, "{url}");
    }
    assert_eq!(run.tls.is_some(), run.collectors[0].starts_with("https://"));
    assert!((5..=86_400).contains(&run.interval.as_secs()));
    assert!((1..=4096).contains(&(run.spool_max_bytes / (1024 * 1024))));
    let id = &run.hello.agent_id;
    assert!(!id.is_empty() && id.len() <= 128, "{id}");
    Ok(())
}
