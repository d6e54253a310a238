//! Webhook notifications: when the continuous stream (the gap [`Tracker`]) or an audit
//! opens or closes a gap, every configured webhook receives one JSON event per change,
//! POSTed over HTTP/1.1 (`Content-Type: application/json`,
//! `User-Agent: eceprobe-collector/<version>`, plus the webhook's configured `headers`).
//!
//! ## Events
//!
//! `gap_opened` / `gap_closed`:
//!
//! | field | meaning |
//! |---|---|
//! | `event` | `"gap_opened"` or `"gap_closed"` |
//! | `source` | `"continuous"` (the tracker over the live results) or `"audit"` |
//! | `audit_id` | the audit's id; only when `source` is `"audit"` |
//! | `deployment` | the server's deployment |
//! | `server` | the agent id |
//! | `check` | the check id (`""` for a server that did not answer an audit) |
//! | `kind` | `failing`, `missing`, `stale`, a warning kind, `not_answered`, ... |
//! | `severity` | `"gap"` or `"warning"` |
//! | `owner` | who closes it: `"network"`, `"m365"`, `"ece"`, `"host"` or `"unknown"` (derived from `kind` and `detail`, as on the dashboard) |
//! | `detail` | the probe's detail (a failure kind or short text; no secrets) |
//! | `opened_unix_ms` | when the gap opened (audit: when the audit that first found it closed) |
//! | `closed_unix_ms` | when it closed; only on `gap_closed` |
//! | `close_reason` | only on a `gap_closed` that is no fix: `"retired"` (`eceprobe-collector retire`) |
//! | `at` | when the change was seen, RFC 3339 UTC (`2026-11-28T15:23:17.042Z`) |
//! | `event_id` | stable per change: retries carry the same id, so receivers can deduplicate |
//!
//! `audit_closed`, sent once per audit, after its gap events: `event`, `audit_id`,
//! `deployment`, `servers` (in scope), `answered`, `gaps` (everything the audit found,
//! warnings and servers that did not answer included), `new` and `resolved` (against the
//! previous closed audit of the same scope; with none, every gap is new), `at`, `event_id`.
//!
//! An audit sends a `gap_opened` per *new* gap of its diff and a `gap_closed` per
//! *resolved* one, not per gap it found: a gap every audit finds is reported once. The
//! continuous stream sends one event per gap the tracker opens or closes; a probe failing
//! again and again keeps its gap open and sends nothing more.
//!
//! ## Delivery
//!
//! Events are durable: [`Notifier::send`] writes each event, for every webhook, to the
//! store's webhook outbox (`webhook_outbox`, one row per webhook and event, in one
//! transaction) and wakes the webhooks' delivery tasks; nothing is sent from memory. Each
//! webhook's task takes its due rows oldest first and delivers them in order, one
//! connection per event (`Connection: close`: events are rare). Success is a 2xx answer:
//! the row is deleted. A failure (no connection within 10 s, no answer within 30 s, 408,
//! 429, 5xx) is retried with exponential backoff and jitter (`retry_base_ms` doubled per
//! attempt, capped at 60 s) up to `max_attempts`; the attempts made and the next attempt's
//! time are kept in the row, and the queue waits for its head (order is kept). After
//! `max_attempts`, or at once for any other 4xx (retrying would not help), the event is
//! dead-lettered: its row is deleted, it is counted (in the store, with the deletion) and
//! logged at warn with its event id. A webhook holds at most [`QUEUE_CAPACITY`] rows: the
//! oldest beyond are dead-lettered. At most 64 KiB of an answer's body is read.
//!
//! Restarts: what is queued or being retried when the collector stops (or dies) stays in
//! the outbox; at the next start each webhook's task delivers it, continuing its retry
//! schedule. Delivery is at least once: an event delivered just before a crash, before its
//! row was deleted, is sent again with the same `event_id` (receivers deduplicate on it).
//! At start, the rows of webhooks no longer configured are deleted (logged by
//! `scheme://host:port` with their count). On shutdown [`Notifier::drain`] waits a short
//! grace for due events to go out; the rest is kept for the next start.
//!
//! ## Secrets
//!
//! A payload holds only the fields above. Webhook URLs often carry a token in their path
//! (Slack, Teams), so logs name a webhook by `scheme://host:port` only; header values
//! (e.g. `Authorization`) are never logged, and `{:?}` of the configuration hides both.
//!
//! [`Tracker`]: crate::gaps::Tracker

mod delivery;
pub mod event;
mod stats;

use eceprobe_proto::now_ms;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::leader::Leadership;
pub use crate::outbound::{HttpUrl as WebhookUrl, Scheme, UrlError};
use crate::store::{GapChanges, OutboxCounts, OutboxEvent, Store, StoreError};
use delivery::{Endpoint, Stats};
pub use event::{AuditClosedEvent, Event, GapEvent, Source};
pub use stats::WebhookStats;

/// `[[webhook]] url`, parsed; a refusal says what to write instead, never repeating the URL
/// (its path often is the receiver's secret).
pub fn webhook_url(text: &str) -> Result<WebhookUrl, String> {
    WebhookUrl::parse(text).map_err(|e| {
        match e {
            UrlError::Scheme => {
                "must start with http:// or https:// (e.g. \"https://hooks.example.com/eceprobe\")"
            }
            UrlError::Credentials => {
                "credentials in the URL are not supported: put them in `headers` (e.g. headers = { Authorization = \"Bearer ...\" })"
            }
            UrlError::NoHost => "the URL has no host",
            UrlError::Ipv6Bracket => "an IPv6 address needs its closing ']'",
            UrlError::AfterIpv6 => "junk after the IPv6 address",
            UrlError::HostCharacters => "the host has characters a host name cannot have",
            UrlError::Port => "the port must be a number from 1 to 65535",
            UrlError::PathCharacters => {
                "the path has spaces or control characters: percent-encode them"
            }
        }
        .to_owned()
    })
}

/// Events waiting per webhook (outbox rows); beyond this the oldest are dead-lettered.
pub const QUEUE_CAPACITY: usize = 10_000;
/// How long a scrape waits for the outbox's counts before showing the last ones read.
pub(super) const COUNTS_WAIT: Duration = Duration::from_secs(1);
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
pub const MAX_ATTEMPTS_LIMIT: u32 = 20;
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(1);

/// One `[[webhook]]` of the configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: WebhookUrl,
    /// Extra request headers (e.g. Authorization); their values are secrets.
    pub headers: BTreeMap<String, String>,
    /// A PEM file of CA certificates trusted besides the OS store (an internal CA).
    pub ca_file: Option<PathBuf>,
    /// Attempts per event, 1 to [`MAX_ATTEMPTS_LIMIT`].
    pub max_attempts: u32,
    /// The first retry's delay; each next one doubles it (capped at 60 s).
    pub retry_base: Duration,
}

impl WebhookConfig {
    pub fn new(url: WebhookUrl) -> WebhookConfig {
        WebhookConfig {
            url,
            headers: BTreeMap::new(),
            ca_file: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            retry_base: DEFAULT_RETRY_BASE,
        }
    }
}

/// Header names only: their values (and the URL's path) are secrets.
impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("ca_file", &self.ca_file)
            .field("max_attempts", &self.max_attempts)
            .field("retry_base", &self.retry_base)
            .finish()
    }
}

/// Checks a configured header; the reason never repeats the value.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    delivery::header(name, value).map(|_| ())
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("webhook {target}: cannot read ca_file {path}: {error}")]
    ReadCa {
        target: String,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("webhook {target}: ca_file {path}: {reason}")]
    BadCa {
        target: String,
        path: PathBuf,
        reason: String,
    },
    #[error("webhook {target}: no trusted CA certificates (the OS store is empty): set ca_file")]
    NoRoots { target: String },
    #[error("webhook {target}: {reason}")]
    Invalid { target: String, reason: String },
    #[error("the webhook outbox: {0}")]
    Store(#[from] StoreError),
}

struct Hook {
    /// `scheme://host:port`: what logs and metrics show.
    target: String,
    /// The outbox's key ([`outbox_key`]): no secret in it.
    key: String,
    stats: Arc<Stats>,
    wake: Arc<Notify>,
    /// Events this process could not write to the outbox (dead letters the store cannot
    /// count).
    unqueued: AtomicU64,
}

struct Shared {
    store: Store,
    hooks: Vec<Hook>,
    keys: Vec<String>,
    /// Only the leading collector delivers.
    leadership: Leadership,
    /// The counts last read from the store: shown while it cannot be read.
    last_counts: Mutex<BTreeMap<String, OutboxCounts>>,
}

/// Sends events to the configured webhooks; cheap to clone. Disabled (sending nothing)
/// when no webhook is configured.
#[derive(Clone, Default)]
pub struct Notifier {
    shared: Option<Arc<Shared>>,
}

/// How logs name a webhook known only by its stored URL.
/// A webhook's name in the outbox: `scheme://host:port sha256:<hex of the full URL>`. The
/// full URL's path often is the receiver's secret (Teams, Slack), and secrets never reach
/// the database; the digest still tells two webhooks on one host apart, and the prefix is
/// what logs may show.
pub fn outbox_key(url: &WebhookUrl) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, url.full().as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("{url} sha256:{hex}")
}

/// The loggable part of an outbox key (`scheme://host:port`).
fn target_of(key: &str) -> &str {
    key.split_once(" sha256:").map_or(key, |(target, _)| target)
}

impl Notifier {
    pub fn disabled() -> Notifier {
        Notifier::default()
    }

    /// Prepares the outbox and starts one delivery task per webhook (call within the
    /// runtime); none: disabled. The outbox rows of webhooks no longer configured are
    /// deleted (logged with their count); the rows left from before are delivered.
    pub async fn start(webhooks: &[WebhookConfig], store: &Store) -> Result<Notifier, NotifyError> {
        Notifier::start_led(webhooks, store, Leadership::default()).await
    }

    /// [`Notifier::start`] on one of several collectors sharing a database: every
    /// collector queues events in the shared outbox, only the one `leadership` says leads
    /// delivers them (each event keeps its `event_id` whoever delivers it).
    pub async fn start_led(
        webhooks: &[WebhookConfig],
        store: &Store,
        leadership: Leadership,
    ) -> Result<Notifier, NotifyError> {
        let mut endpoints = Vec::with_capacity(webhooks.len());
        let mut keys: Vec<String> = Vec::with_capacity(webhooks.len());
        for config in webhooks {
            let endpoint = Endpoint::new(config)?;
            let key = outbox_key(&config.url);
            if keys.contains(&key) {
                return Err(NotifyError::Invalid {
                    target: config.url.to_string(),
                    reason: "configured twice (the same URL): remove one".into(),
                });
            }
            keys.push(key);
            endpoints.push(endpoint);
        }
        for (key, events) in store.outbox_forget_others(&keys).await? {
            tracing::warn!(webhook = %target_of(&key), events, "webhook no longer configured: its undelivered events are dropped");
        }
        if webhooks.is_empty() {
            return Ok(Notifier::disabled());
        }
        let mut hooks = Vec::with_capacity(webhooks.len());
        for (config, (endpoint, key)) in webhooks.iter().zip(endpoints.into_iter().zip(&keys)) {
            let target = config.url.to_string();
            let stats = Arc::new(Stats::default());
            let dropped = store.outbox_cap(key, QUEUE_CAPACITY as u64).await?;
            if !dropped.is_empty() {
                tracing::warn!(webhook = %target, events = dropped.len(), "webhook outbox over its capacity: the oldest events are dead-lettered");
            }
            let pending = store.outbox_pending(Some(key)).await?;
            if pending > 0 {
                tracing::info!(webhook = %target, pending, "webhook events from before the start: delivering them");
            }
            let wake = Arc::new(Notify::new());
            tokio::spawn(delivery::run(
                endpoint,
                delivery::Outbox {
                    store: store.clone(),
                    webhook: key.clone(),
                },
                Arc::clone(&stats),
                Arc::clone(&wake),
                leadership.clone(),
            ));
            hooks.push(Hook {
                target,
                key: key.clone(),
                stats,
                wake,
                unqueued: AtomicU64::new(0),
            });
        }
        Ok(Notifier {
            shared: Some(Arc::new(Shared {
                store: store.clone(),
                hooks,
                keys,
                leadership,
                last_counts: Mutex::new(BTreeMap::new()),
            })),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// How many webhooks receive events.
    pub fn webhooks(&self) -> usize {
        self.shared.as_ref().map_or(0, |s| s.hooks.len())
    }

    /// Queues an event for every webhook (in the outbox); waits for the write only.
    pub async fn send(&self, event: &Event) {
        self.send_all(std::slice::from_ref(event)).await;
    }

    /// Queues events, in order, for every webhook: one outbox transaction, then the
    /// delivery tasks are woken. A failed write dead-letters the events (logged).
    pub async fn send_all(&self, events: &[Event]) {
        let Some(shared) = &self.shared else { return };
        let mut queued = Vec::with_capacity(events.len());
        for event in events {
            match serde_json::to_string(event) {
                Ok(body) => queued.push(OutboxEvent {
                    event_id: event.event_id().to_owned(),
                    kind: event.kind().to_owned(),
                    body,
                }),
                Err(e) => {
                    tracing::warn!(event_id = event.event_id(), error = %e, "cannot serialise a webhook event");
                }
            }
        }
        let n = queued.len() as u64;
        if n == 0 {
            return;
        }
        let cap = QUEUE_CAPACITY as u64;
        match shared
            .store
            .outbox_enqueue(&shared.keys, queued, now_ms(), cap)
            .await
        {
            Ok(outcomes) => {
                for (hook, done) in shared.hooks.iter().zip(outcomes) {
                    for event_id in &done.dropped {
                        tracing::warn!(webhook = %hook.target, event_id = %event_id, "webhook outbox full; its oldest event is dead-lettered");
                    }
                    hook.wake.notify_one();
                }
            }
            Err(e) => {
                for hook in &shared.hooks {
                    hook.unqueued.fetch_add(n, Ordering::Relaxed);
                    for event in events {
                        tracing::warn!(webhook = %hook.target, event_id = event.event_id(), error = %e, "cannot queue a webhook event in the outbox; event dead-lettered");
                    }
                }
            }
        }
    }

    /// The events of one tracker evaluation: one per gap opened or closed.
    pub async fn gap_changes(&self, changes: &GapChanges, at_unix_ms: i64) {
        if self.is_enabled() {
            self.send_all(&event::continuous(changes, at_unix_ms)).await;
        }
    }

    /// At shutdown: on the leader, waits until no webhook has an event due or on its way
    /// (whichever collector queued it: the leader delivers them all), or `grace` has
    /// passed, or this collector no longer leads. On a follower, returns at once: it
    /// delivers nothing, and its events wait in the shared outbox for the leader. Whatever
    /// is left (waiting for a retry, or not sent in time) stays in the outbox and goes out
    /// from the leader, or from this collector at its next start.
    pub async fn drain(&self, grace: Duration) {
        let Some(shared) = &self.shared else { return };
        if !shared.leadership.is_leading() {
            return;
        }
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let mut flushing = false;
            for hook in &shared.hooks {
                if hook.stats.busy.load(Ordering::Relaxed) {
                    flushing = true;
                    break;
                }
                match shared.store.outbox_due(&hook.key, now_ms(), 1).await {
                    Ok(due) if !due.is_empty() => {
                        flushing = true;
                        break;
                    }
                    _ => {}
                }
            }
            if !flushing
                || !shared.leadership.is_leading()
                || tokio::time::Instant::now() >= deadline
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pending: u64 = self.stats().await.iter().map(|s| s.pending).sum();
        if pending > 0 {
            tracing::info!(
                pending,
                "webhook events not yet delivered at shutdown stay in the outbox for the leading collector or the next start"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bad_webhook_url_says_what_to_write_without_repeating_it() {
        for (url, expect) in [
            ("ftp://x/y", "https://hooks.example.com/eceprobe"),
            ("https://user:TOKEN@example.com/x", "headers"),
            ("https://exa mple.com/x", "host name"),
            ("https://example.com:0/x", "1 to 65535"),
        ] {
            let err = super::webhook_url(url).unwrap_err();
            assert!(err.contains(expect), "{url}: {err}");
            assert!(!err.contains("TOKEN"), "{err}");
        }
    }
}
