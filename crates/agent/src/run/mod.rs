//! `eceprobe-agent run`: the long-lived agent. The schedule probes and spools; the uplink
//! streams the spool to the collector. They share only the spool, so a collector outage
//! never stops probing and a slow probe never stalls the link.

mod backoff;
mod failover;
mod link_words;
pub(crate) mod refused;
mod schedule;
mod spool_link;
mod uplink;

use std::time::Duration;

use anyhow::Context;
use eceprobe_checks::{CheckSpec, Prober};
use tokio::sync::{mpsc, watch};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::mailbox::Mailbox;
use backoff::Backoff;
pub use schedule::OfflineChecks;
use schedule::Schedule;
use spool_link::SharedSpool;
use uplink::Uplink;

pub use link_words::link_error;
pub use uplink::Revoked;

pub use crate::run_config::RunSettings;

/// Runs until `shutdown` turns true: the suite only (see [`run_with_mailboxes`]).
pub async fn run(
    settings: RunSettings,
    prober: Prober,
    specs: Vec<CheckSpec>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    run_with_mailboxes(
        settings,
        prober,
        specs,
        Vec::new(),
        OfflineChecks::default(),
        shutdown,
    )
    .await
}

/// Runs until `shutdown` turns true: each cycle (interval or audit) runs the suite, then
/// every mailbox's OAuth checks, and `ece-config` when ECE facts are declared.
pub async fn run_with_mailboxes(
    settings: RunSettings,
    prober: Prober,
    specs: Vec<CheckSpec>,
    mailboxes: Vec<Mailbox>,
    offline: impl Into<OfflineChecks>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let offline = offline.into();
    let mut settings = settings;
    // Joining with a token first, when the bundle is not there yet (crate::join).
    let joining = settings.join.is_some();
    let mut waiting = shutdown.clone();
    if !join_first(&mut settings, &mut waiting).await? {
        return Ok(());
    }
    if joining {
        log_enrolled(&settings);
    }
    let spool = SharedSpool::open(&settings.spool_dir, settings.spool_max_bytes)
        .with_context(|| format!("opening the spool in {}", settings.spool_dir.display()))?;
    let collectors = settings
        .collectors
        .iter()
        .map(|url| collector_endpoint(url, settings.tls.as_ref()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    tracing::info!(
        agent = %settings.hello.agent_id,
        collectors = %settings.collectors.join(", "),
        interval_s = settings.interval.as_secs(),
        mailboxes = mailboxes.len(),
        spool = %settings.spool_dir.display(),
        "agent running"
    );
    let (audits_tx, audits_rx) = mpsc::channel(1);
    let schedule = Schedule {
        prober,
        specs,
        mailboxes,
        offline,
        interval: settings.interval,
        spool: spool.clone(),
    };
    let uplink = Uplink {
        collectors,
        hello: settings.hello,
        spool,
        audits: audits_tx,
        refused: refused::Refused::beside(&settings.spool_dir),
    };
    // The schedule stops on the caller's shutdown, or when the link learns this agent is
    // revoked (probing on for a collector that refuses every result would only fill the
    // spool).
    let (stop, stopping) = watch::channel(false);
    let forward = {
        let stop = stop.clone();
        let mut outer = shutdown.clone();
        tokio::spawn(async move {
            stopped(&mut outer).await;
            let _ = stop.send(true);
        })
    };
    let probing = tokio::spawn(schedule.run(audits_rx, stopping));
    let linked = tokio::spawn(uplink.run(shutdown))
        .await
        .context("the collector link stopped unexpectedly")?;
    let _ = stop.send(true);
    forward.abort();
    probing
        .await
        .context("the probe schedule stopped unexpectedly")?;
    if let Err(revoked) = linked {
        // Kept as its type, so the Windows service can tell it from other errors.
        return Err(anyhow::Error::new(revoked)
            .context("the agent stopped, since retrying cannot help a revoked certificate"));
    }
    tracing::info!("agent stopped");
    Ok(())
}

/// After a join: who this agent is now, where it joined, and until when its certificate is
/// valid, as an event for the Application event log (never the token, which the settings
/// no longer hold).
pub fn log_enrolled(settings: &RunSettings) {
    use rustls::pki_types::pem::PemObject;
    let cert = settings.tls.as_ref().and_then(|tls| {
        rustls::pki_types::CertificateDer::from_pem_slice(tls.cert_pem.as_bytes())
            .ok()
            .and_then(|der| eceprobe_checks::tls::cert_info(&der))
    });
    let (valid_until, sha256) = match &cert {
        Some(info) => (info.not_after.as_str(), info.sha256.as_str()),
        None => ("(the certificate could not be read)", ""),
    };
    tracing::info!(
        eventlog = crate::eventlog::ENROLLED,
        agent = %settings.hello.agent_id,
        deployment = %settings.hello.deployment,
        collector = %settings.collectors.join(", "),
        certificate_valid_until = %valid_until,
        certificate_sha256 = %sha256,
        "enrolled with a join token: this server made its key and the collector issued its certificate"
    );
}

/// The endpoint of one collector: the same bundle for every collector (one CA per
/// deployment), each verified by the override name or its own host name.
fn collector_endpoint(
    url: &str,
    tls: Option<&crate::run_config::TlsBundle>,
) -> anyhow::Result<uplink::Collector> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("collector URL '{url}'"))?
        .connect_timeout(Duration::from_secs(10))
        .tcp_keepalive(Some(Duration::from_secs(60)))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20));
    if let Some(tls) = tls {
        // Only the collector's own CA is trusted here, not the OS store: a TLS-inspecting
        // proxy cannot stand in for the collector.
        let config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&tls.ca_pem))
            .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem))
            .domain_name(tls.server_name_for(url));
        endpoint = endpoint
            .tls_config(config)
            .context("the agent's TLS bundle (agent.pem, agent.key, ca.pem)")?;
    }
    Ok(uplink::Collector {
        url: url.to_owned(),
        endpoint,
    })
}

/// Backoff between join attempts when no collector could take the join.
const JOIN_RETRY_FIRST: Duration = Duration::from_secs(5);
const JOIN_RETRY_MAX: Duration = Duration::from_secs(300);

/// Joins first when the plan says so. No collector reachable (or none able to sign) is what
/// a rollout meets before the firewall opens: the agent waits and tries again, as its link
/// does, instead of stopping (a service would only be restarted into the same failure); a
/// refused token, a wrong CA or the agent's own files stop it. False: stopped while waiting.
async fn join_first(
    settings: &mut RunSettings,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<bool> {
    let mut backoff = Backoff::new(JOIN_RETRY_FIRST, JOIN_RETRY_MAX);
    loop {
        // A stop asked for during an attempt (each collector may take tens of seconds) ends
        // it: the key is on disk and a later attempt spends no use for it.
        let attempt = tokio::select! {
            attempt = crate::join::complete(settings) => attempt,
            () = stopped(shutdown) => return Ok(false),
        };
        match attempt {
            Ok(()) => return Ok(true),
            Err(e) if e.is_transient() => {
                let wait = backoff.next_wait();
                tracing::warn!(
                    error = %e,
                    retry_in_s = wait.as_secs(),
                    "cannot join yet: no collector could take the join; trying again (the token stays unused meanwhile)"
                );
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stopped(shutdown) => return Ok(false),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Resolves once `shutdown` is true (or its sender is gone). The watch guard is dropped
/// here, so callers' futures stay `Send`.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
