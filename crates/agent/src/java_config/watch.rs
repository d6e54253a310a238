//! ECE's Java re-read at each probe cycle, so a changed trust store is judged without a restart.

use eceprobe_checks::java::JavaView;
use eceprobe_checks::{Trust, TrustOptions};

use super::{load, EceJava, JavaConfig};

/// ECE's Java re-read at each probe cycle of `run`: an imported root, a new `jssecacerts` or
/// a changed `java.security` is judged from the next cycle on, without restarting the agent
/// (the Hello keeps what was read when the connection opened).
#[derive(Debug, Clone)]
pub struct JavaWatch {
    cfg: JavaConfig,
    trust: TrustOptions,
    seen: String,
}

impl JavaWatch {
    /// Watches from what `java` (read with `cfg`) says; `trust` is the probes' trust without it.
    pub fn new(cfg: JavaConfig, trust: TrustOptions, java: &EceJava) -> JavaWatch {
        JavaWatch {
            cfg,
            trust,
            seen: fingerprint(java),
        }
    }

    /// Re-reads ECE's Java. Some when what the probes judge by changed: the trust to probe
    /// with and ECE's Java as now read. A store that can no longer be read keeps the last
    /// one, said in the log (at start it would be a configuration error).
    pub fn poll(&mut self) -> Option<(Trust, EceJava)> {
        let java = match load(&self.cfg) {
            Ok(java) => java,
            Err(e) => {
                tracing::warn!("ECE's Java can no longer be read ({e}); the checks are judged by the trust store read before");
                return None;
            }
        };
        let print = fingerprint(&java);
        if print == self.seen {
            return None;
        }
        let mut opts = self.trust.clone();
        opts.java = java.trust.clone();
        let trust = match Trust::new(&opts) {
            Ok(trust) => trust,
            Err(e) => {
                tracing::warn!("ECE's Java changed but the probes' trust cannot be rebuilt ({e}); the checks are judged by the trust store read before");
                return None;
            }
        };
        self.seen = print;
        tracing::info!(java = %java.view.summary(), "ECE's Java changed; the checks are judged by it from this cycle on");
        Some((trust, java))
    }
}

/// What the probes judge by: the store's line and its certificates, the runtime's facts.
fn fingerprint(java: &EceJava) -> String {
    let anchors: Vec<&str> = match &java.view {
        JavaView::Found { anchors, .. } => anchors.iter().map(|a| a.sha256.as_str()).collect(),
        _ => Vec::new(),
    };
    let runtime = match &java.runtime {
        Some(Ok(rt)) => serde_json::to_string(rt).unwrap_or_default(),
        Some(Err(e)) => e.clone(),
        None => String::new(),
    };
    format!("{}\n{}\n{runtime}", java.view.summary(), anchors.join(","))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::Path;

    use crate::java_config::{resolve, EceConfig};

    use eceprobe_testlab::jdk::keytool;

    fn keytool_run(tool: &Path, args: &[&str]) {
        let out = std::process::Command::new(tool)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn run_rereads_eces_java_when_its_store_changes() {
        let Some(tool) = keytool() else { return };
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("trust.jks");
        let s = store.to_str().unwrap();
        let key = |alias: &str| {
            keytool_run(
                &tool,
                &[
                    "-genkeypair",
                    "-noprompt",
                    "-storetype",
                    "JKS",
                    "-keystore",
                    s,
                    "-storepass",
                    "changeit",
                    "-keypass",
                    "changeit",
                    "-alias",
                    alias,
                    "-keyalg",
                    "EC",
                    "-dname",
                    &format!("CN={alias}"),
                ],
            )
        };
        key("first");
        let cfg = resolve(EceConfig::default(), None, Some(store.clone()), false).unwrap();
        let java = load(&cfg).unwrap();
        let mut watch = JavaWatch::new(cfg.clone(), TrustOptions::default(), &java);
        assert!(watch.poll().is_none(), "nothing changed, nothing rebuilt");

        // The administrator adds a certificate (as keytool -importcert would): judged from
        // the next cycle on, once.
        key("second");
        let (_, now) = watch.poll().expect("the changed store is read again");
        let JavaView::Found { anchors, .. } = &now.view else {
            panic!("{}", now.view.summary())
        };
        assert_eq!(anchors.len(), 2);
        assert_eq!(now.trust.as_ref().map(|t| t.anchors.len()), Some(2));
        assert!(watch.poll().is_none());

        // A store that became unreadable: the last one stays (said in the log).
        std::fs::write(&store, b"not a store").unwrap();
        assert!(watch.poll().is_none());
    }
}
