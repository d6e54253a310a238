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
//! | `detail` | the probe's detail (a failure kind or short text; no secrets) |
//! | `opened_unix_ms` | when the gap opened (audit: when the audit that first found it closed) |
//! | `closed_unix_ms` | when it closed; only on `gap_closed` |
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
//! Sending never blocks ingest or the tracker: each webhook has a bounded queue
//! ([`QUEUE_CAPACITY`] events) and a task that delivers its events in order, one
//! connection per event (`Connection: close`: events are rare). An event whose queue is
//! full is dropped and counted as a dead letter. Success is a 2xx answer; a failure (no
//! connection within 10 s, no answer within 30 s, 408, 429, 5xx) is retried with
//! exponential backoff and jitter (`retry_base_ms` doubled per attempt, capped at 60 s)
//! up to `max_attempts`; then, or at once for any other 4xx (retrying would not help),
//! the event is dead-lettered: counted ([`Notifier::dead_letters`]) and logged at warn with
//! its event id. At most 64 KiB of an answer's body is read.
//!
//! Events live in memory only: on shutdown [`Notifier::drain`] waits a short grace for
//! the queues to empty; what is still queued then, or queued when the collector dies, is
//! lost (the gaps themselves are stored, and the Query API shows them).
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
pub mod url;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::audits::Audits;
use crate::store::GapChanges;
use delivery::{Endpoint, Queued, Stats};
pub use event::{AuditClosedEvent, Event, GapEvent, Source};
pub use url::{Scheme, WebhookUrl};

/// Events waiting per webhook; beyond this they are dead-lettered.
pub const QUEUE_CAPACITY: usize = 10_000;
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
}

/// What one webhook's deliveries came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookStats {
    /// `scheme://host:port`.
    pub target: String,
    pub delivered: u64,
    /// Given up after every attempt, refused for good, or dropped on a full queue.
    pub dead_letters: u64,
    /// Queued or being delivered.
    pub pending: u64,
}

struct Hook {
    target: String,
    tx: mpsc::Sender<Queued>,
    stats: Arc<Stats>,
}

/// Sends events to the configured webhooks; cheap to clone. Disabled (sending nothing)
/// when no webhook is configured.
#[derive(Clone, Default)]
pub struct Notifier {
    hooks: Option<Arc<Vec<Hook>>>,
}

impl Notifier {
    pub fn disabled() -> Notifier {
        Notifier::default()
    }

    /// Starts one delivery task per webhook (call within the runtime); none: disabled.
    pub fn start(webhooks: &[WebhookConfig]) -> Result<Notifier, NotifyError> {
        if webhooks.is_empty() {
            return Ok(Notifier::disabled());
        }
        let mut hooks = Vec::new();
        for config in webhooks {
            let endpoint = Endpoint::new(config)?;
            let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
            let stats = Arc::new(Stats::default());
            tokio::spawn(delivery::run(endpoint, rx, Arc::clone(&stats)));
            hooks.push(Hook {
                target: config.url.to_string(),
                tx,
                stats,
            });
        }
        Ok(Notifier {
            hooks: Some(Arc::new(hooks)),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.hooks.is_some()
    }

    /// How many webhooks receive events.
    pub fn webhooks(&self) -> usize {
        self.hooks.as_ref().map_or(0, |h| h.len())
    }

    /// Queues an event for every webhook; never waits.
    pub fn send(&self, event: &Event) {
        let Some(hooks) = &self.hooks else { return };
        let body = match serde_json::to_vec(event) {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                tracing::warn!(event_id = event.event_id(), error = %e, "cannot serialise a webhook event");
                return;
            }
        };
        for hook in hooks.iter() {
            hook.stats.pending.fetch_add(1, Ordering::Relaxed);
            let queued = Queued {
                event_id: event.event_id().to_owned(),
                body: body.clone(),
            };
            if hook.tx.try_send(queued).is_err() {
                hook.stats.pending.fetch_sub(1, Ordering::Relaxed);
                hook.stats.dead_letters.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(webhook = %hook.target, event_id = event.event_id(), "webhook queue full (or its task ended); event dead-lettered");
            }
        }
    }

    /// The events of one tracker evaluation: one per gap opened or closed.
    pub fn gap_changes(&self, changes: &GapChanges, at_unix_ms: i64) {
        if self.is_enabled() {
            for e in event::continuous(changes, at_unix_ms) {
                self.send(&e);
            }
        }
    }

    /// The events of an audit that just closed (its new and resolved gaps, then the
    /// summary). Call once, from the call that closed it.
    pub async fn audit_closed(&self, audits: &Audits, audit_id: &str) {
        if !self.is_enabled() {
            return;
        }
        let built = async {
            let f = audits.findings(audit_id).await?;
            let previous = match &f.previous {
                Some((id, diff)) => {
                    let before = audits.summary(id).await?.record;
                    Some((
                        before.closed_unix_ms.unwrap_or(before.started_unix_ms),
                        diff,
                    ))
                }
                None => None,
            };
            let record = &f.summary.record;
            Ok::<_, crate::audits::AuditError>(event::audit(&event::AuditOutcome {
                audit_id: &record.audit_id,
                deployment: &record.deployment,
                closed_unix_ms: record.closed_unix_ms.unwrap_or_else(crate::gaps::now_ms),
                servers: &f.summary.servers,
                gaps: &f.gaps,
                previous,
            }))
        };
        match built.await {
            Ok(events) => events.iter().for_each(|e| self.send(e)),
            Err(e) => {
                tracing::warn!(audit = audit_id, error = %e, "cannot read the closed audit; no webhook events for it")
            }
        }
    }

    /// Dead letters over every webhook.
    pub fn dead_letters(&self) -> u64 {
        self.stats().iter().map(|s| s.dead_letters).sum()
    }

    pub fn stats(&self) -> Vec<WebhookStats> {
        let Some(hooks) = &self.hooks else {
            return Vec::new();
        };
        hooks
            .iter()
            .map(|h| WebhookStats {
                target: h.target.clone(),
                delivered: h.stats.delivered.load(Ordering::Relaxed),
                dead_letters: h.stats.dead_letters.load(Ordering::Relaxed),
                pending: h.stats.pending.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Waits until every queue is empty, or `grace` has passed (shutdown).
    pub async fn drain(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        while self.stats().iter().any(|s| s.pending > 0) {
            if tokio::time::Instant::now() >= deadline {
                let pending: u64 = self.stats().iter().map(|s| s.pending).sum();
                tracing::warn!(
                    pending,
                    "webhook events still undelivered at shutdown are lost"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
