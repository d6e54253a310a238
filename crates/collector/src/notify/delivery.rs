//! One webhook's delivery task: takes its outbox rows in order and POSTs each event (hyper
//! HTTP/1.1 over a TCP or rustls stream, every step on a deadline), retrying with
//! exponential backoff and jitter (the attempts and the next attempt's time kept in the
//! row, so a restart continues the schedule), then dead-lettering.

use eceprobe_proto::now_ms;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eceprobe_checks::words;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_rustls::TlsConnector;

use super::{NotifyError, Scheme, WebhookConfig, WebhookUrl};
use crate::leader::Leadership;
use crate::outbound::tls::{client_tls, os_roots, tls_words};
use crate::store::{OutboxRow, Store, StoreError};

/// TCP connect and TLS handshake together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole request, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of an answer's body read; the rest is ignored (the connection is closed).
const MAX_RESPONSE_BODY: usize = 64 * 1024;
/// The answer's head (hyper's floor is 8 KiB).
const MAX_RESPONSE_HEAD: usize = 16 * 1024;
/// The store treats a retry scheduled further ahead as due (a clock that stepped back).
const MAX_DELAY: Duration = Duration::from_millis(crate::store::MAX_RETRY_WAIT_MS.unsigned_abs());
const USER_AGENT_VALUE: &str = concat!("eceprobe-collector/", env!("CARGO_PKG_VERSION"));

/// Rows one turn of the loop takes.
const DUE_BATCH: u32 = 100;
/// The longest the task sleeps without looking at its queue again (a clock that stepped,
/// a store that failed).
const MAX_IDLE: Duration = Duration::from_secs(60);
/// ...and at most this when the outbox is shared by collectors: another collector's events
/// (an audit closed there, a retirement asked of it) wake only that collector's tasks, so
/// the leader looks at the outbox this often.
const SHARED_IDLE: Duration = Duration::from_secs(5);
/// After a failed store read or write.
const STORE_RETRY: Duration = Duration::from_secs(5);

/// One webhook's queue in the store.
pub(super) struct Outbox {
    pub store: Store,
    /// The outbox's key ([`super::outbox_key`]).
    pub webhook: String,
}

/// What this process's delivery task shows of itself; what was delivered, dead-lettered
/// and is pending the store counts (the outbox is shared by collectors).
#[derive(Default)]
pub(super) struct Stats {
    /// A turn of delivery is under way.
    pub busy: AtomicBool,
}

/// Headers the request itself sets; a configured one would break the framing.
const RESERVED: [&str; 4] = ["host", "content-length", "transfer-encoding", "connection"];

/// A configured header, parsed; the value is marked sensitive so hyper never shows it.
pub(super) fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("'{name}' is not a valid header name"))?;
    if RESERVED.contains(&name.as_str()) {
        return Err(format!(
            "'{name}' is set by the collector itself; remove it"
        ));
    }
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        format!("the value of '{name}' has characters a header cannot carry (e.g. a newline)")
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

/// Everything needed to POST to one webhook.
pub(super) struct Endpoint {
    url: WebhookUrl,
    headers: Vec<(HeaderName, HeaderValue)>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    max_attempts: u32,
    retry_base: Duration,
}

impl Endpoint {
    pub fn new(config: &WebhookConfig) -> Result<Endpoint, NotifyError> {
        let target = config.url.to_string();
        let invalid = |reason: String| NotifyError::Invalid {
            target: target.clone(),
            reason,
        };
        let headers = config
            .headers
            .iter()
            .map(|(n, v)| header(n, v).map_err(&invalid))
            .collect::<Result<_, _>>()?;
        let tls = match config.url.scheme {
            Scheme::Http => None,
            Scheme::Https => {
                let name = ServerName::try_from(config.url.host.clone())
                    .map_err(|e| invalid(format!("host: {e}")))?;
                Some((tls_connector(config, &target)?, name))
            }
        };
        Ok(Endpoint {
            url: config.url.clone(),
            headers,
            tls,
            max_attempts: config.max_attempts.max(1),
            retry_base: config.retry_base,
        })
    }
}

fn tls_connector(config: &WebhookConfig, target: &str) -> Result<TlsConnector, NotifyError> {
    let mut roots = os_roots();
    if let Some(path) = &config.ca_file {
        let bad = |reason: String| NotifyError::BadCa {
            target: target.to_owned(),
            path: path.clone(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|error| NotifyError::ReadCa {
            target: target.to_owned(),
            path: path.clone(),
            error,
        })?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| bad(e.to_string()))?;
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad("no CERTIFICATE block found".into()));
        }
    }
    if roots.is_empty() {
        return Err(NotifyError::NoRoots {
            target: target.to_owned(),
        });
    }
    client_tls(roots).map_err(|reason| NotifyError::Invalid {
        target: target.to_owned(),
        reason,
    })
}

/// Why an attempt failed; `permanent` ones are not retried.
struct Failure {
    permanent: bool,
    message: String,
}

fn transient(message: impl Into<String>) -> Failure {
    Failure {
        permanent: false,
        message: message.into(),
    }
}

/// What to do after one row.
enum Next {
    /// The next due row.
    Go,
    /// Read the queue again (a retry was scheduled: the head now waits).
    Again,
    /// The store is closed: the collector is stopping.
    Stop,
}

/// Delivers the webhook's outbox in order, forever: takes the due rows oldest first;
/// when none is due, sleeps until the head's next attempt or a wake-up (a new event).
/// Ends when the store closes.
pub(super) async fn run(
    endpoint: Endpoint,
    outbox: Outbox,
    stats: Arc<Stats>,
    wake: Arc<Notify>,
    leadership: Leadership,
) {
    let target = endpoint.url.to_string();
    let cap = match leadership.is_shared() {
        true => SHARED_IDLE,
        false => MAX_IDLE,
    };
    loop {
        // Only the leading collector delivers: another waits here, its events queued in
        // the shared outbox for the leader.
        if leadership.leading().await.is_none() {
            return;
        }
        let due = match outbox
            .store
            .outbox_due(&outbox.webhook, now_ms(), DUE_BATCH)
            .await
        {
            Ok(due) => due,
            Err(StoreError::Closed) => return,
            Err(e) => {
                tracing::warn!(webhook = %target, error = %e, "cannot read the webhook outbox; trying again in 5 s");
                idle(&wake, Some(now_ms() + STORE_RETRY.as_millis() as i64), cap).await;
                continue;
            }
        };
        if due.is_empty() {
            let next = match outbox.store.outbox_next_attempt(&outbox.webhook).await {
                Ok(next) => next,
                Err(StoreError::Closed) => return,
                Err(e) => {
                    tracing::warn!(webhook = %target, error = %e, "cannot read the webhook outbox; trying again in 5 s");
                    Some(now_ms() + STORE_RETRY.as_millis() as i64)
                }
            };
            idle(&wake, next, cap).await;
            continue;
        }
        stats.busy.store(true, Ordering::Relaxed);
        let mut next = Next::Go;
        for row in due {
            if !leadership.is_leading() {
                break;
            }
            next = deliver(&endpoint, &outbox, &target, row).await;
            if !matches!(next, Next::Go) {
                break;
            }
        }
        stats.busy.store(false, Ordering::Relaxed);
        if matches!(next, Next::Stop) {
            return;
        }
    }
}

/// Waits for a wake-up, or until `next` (Unix ms; none: only a wake-up), at most `cap`.
async fn idle(wake: &Notify, next: Option<i64>, cap: Duration) {
    let wait = match next {
        Some(at) => Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)).min(cap),
        None => cap,
    };
    if wait.is_zero() {
        return;
    }
    tokio::select! {
        () = wake.notified() => {}
        () = tokio::time::sleep(wait) => {}
    }
}

/// One attempt at one row, and what the outbox records of it.
async fn deliver(endpoint: &Endpoint, outbox: &Outbox, target: &str, row: OutboxRow) -> Next {
    let attempt = row.attempts.saturating_add(1);
    let event_id = row.event_id;
    let store = &outbox.store;
    let failure = match endpoint.post(Bytes::from(row.body.into_bytes())).await {
        Ok(status) => {
            tracing::debug!(webhook = %target, event_id = %event_id, status, attempt, "webhook event delivered");
            return match store.outbox_delivered(row.outbox_id).await {
                // False: dropped meanwhile (a full outbox), counted then.
                Ok(_) => Next::Go,
                Err(StoreError::Closed) => Next::Stop,
                Err(e) => {
                    tracing::warn!(webhook = %target, event_id = %event_id, error = %e, "webhook event delivered, but the outbox could not forget it: it will be sent again");
                    tokio::time::sleep(STORE_RETRY).await;
                    Next::Again
                }
            };
        }
        Err(f) => f,
    };
    if failure.permanent || attempt >= endpoint.max_attempts {
        tracing::warn!(webhook = %target, event_id = %event_id, attempts = attempt, error = %failure.message, "webhook event dead-lettered");
        return match store.outbox_dead_letter(row.outbox_id).await {
            Ok(_) => Next::Go,
            Err(StoreError::Closed) => Next::Stop,
            Err(e) => {
                tracing::warn!(webhook = %target, event_id = %event_id, error = %e, "cannot remove a dead-lettered webhook event from the outbox");
                tokio::time::sleep(STORE_RETRY).await;
                Next::Again
            }
        };
    }
    let wait = backoff(endpoint.retry_base, attempt);
    let retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    let at = now_ms().saturating_add(i64::try_from(retry_in_ms).unwrap_or(i64::MAX));
    let recorded = store.outbox_failed(row.outbox_id, attempt, at).await;
    tracing::info!(webhook = %target, event_id = %event_id, attempt, error = %failure.message, retry_in_ms, "webhook attempt failed; retrying");
    match recorded {
        Ok(_) => Next::Again,
        Err(StoreError::Closed) => Next::Stop,
        Err(e) => {
            tracing::warn!(webhook = %target, event_id = %event_id, error = %e, "cannot record a failed webhook attempt in the outbox");
            tokio::time::sleep(wait.max(STORE_RETRY)).await;
            Next::Again
        }
    }
}

/// `base * 2^(attempt-1)`, capped at a minute, then a random point in its upper half so
/// a fleet of collectors does not retry in lockstep against a recovering receiver.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(MAX_DELAY);
    let mut byte = [0u8; 2];
    let random = match ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut byte) {
        Ok(()) => u16::from_be_bytes(byte),
        Err(_) => u16::MAX / 2,
    };
    let half = full / 2;
    half + half.mul_f64(f64::from(random) / f64::from(u16::MAX))
}

impl Endpoint {
    /// One attempt: connect, POST, read the status; Ok(2xx status).
    async fn post(&self, body: Bytes) -> Result<u16, Failure> {
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        let attempt = async {
            let connect_by = Instant::now() + CONNECT_TIMEOUT;
            let late = || transient("no connection within 10 s");
            let addr = (self.url.host.as_str(), self.url.port);
            let tcp = match timeout_at(connect_by, TcpStream::connect(addr)).await {
                Err(_) => return Err(late()),
                Ok(r) => r.map_err(|e| {
                    let peer = format!("{}:{}", self.url.host, self.url.port);
                    transient(words::connect(&peer, &e))
                })?,
            };
            // Small requests: no waiting for Nagle.
            let _ = tcp.set_nodelay(true);
            match &self.tls {
                None => self.exchange(tcp, body).await,
                Some((connector, name)) => {
                    let tls =
                        match timeout_at(connect_by, connector.connect(name.clone(), tcp)).await {
                            Err(_) => return Err(late()),
                            Ok(r) => r.map_err(|e| transient(format!("TLS: {}", tls_words(&e))))?,
                        };
                    self.exchange(tls, body).await
                }
            }
        };
        let status = match timeout_at(deadline, attempt).await {
            Err(_) => return Err(transient("no complete answer within 30 s")),
            Ok(r) => r?,
        };
        match status {
            200..=299 => Ok(status),
            408 | 429 | 500..=599 => Err(transient(format!("answered {status}"))),
            400..=499 => Err(Failure {
                permanent: true,
                message: format!("answered {status} (a client error: not retried)"),
            }),
            _ => Err(transient(format!("answered {status}"))),
        }
    }

    async fn exchange<S>(&self, stream: S, body: Bytes) -> Result<u16, Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let http = |e: hyper::Error| transient(format!("HTTP: {}", words::error(&e)));
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(MAX_RESPONSE_HEAD)
            .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(http)?;
        let mut request = Request::post(self.url.path_and_query.as_str())
            .header(HOST, self.url.host_header())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, USER_AGENT_VALUE)
            // One event per connection: events are rare, and nothing lingers.
            .header(CONNECTION, "close")
            .body(Full::new(body))
            .map_err(|e| Failure {
                permanent: true,
                message: format!("cannot build the request: {e}"),
            })?;
        for (name, value) in &self.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let work = async {
            let response = sender.send_request(request).await.map_err(http)?;
            let status = response.status().as_u16();
            // Read (at most) a bounded part of the body so the receiver sees a clean end;
            // its content does not matter, nor does an error after the status.
            let mut body = response.into_body();
            let mut read = 0;
            while read < MAX_RESPONSE_BODY {
                match timeout(Duration::from_secs(5), body.frame()).await {
                    Ok(Some(Ok(frame))) => read += frame.data_ref().map_or(0, |d| d.len()),
                    _ => break,
                }
            }
            Ok::<_, Failure>(status)
        };
        tokio::pin!(work);
        tokio::select! {
            r = &mut work => r,
            c = conn => match c {
                Err(e) => Err(http(e)),
                // The connection finished first: the answer is complete or failed already.
                Ok(()) => work.await,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_secs(1);
        for attempt in 1..=10 {
            let full = Duration::from_secs(1 << (attempt - 1)).min(MAX_DELAY);
            let d = backoff(base, attempt);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        assert!(backoff(base, 40) <= MAX_DELAY);
    }

    #[test]
    fn headers_are_checked_without_repeating_values() {
        let (_, v) = header("Authorization", "Bearer s3cret").unwrap();
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("s3cret"));
        assert!(header("Host", "x").unwrap_err().contains("remove it"));
        assert!(header("bad name", "x").is_err());
        let err = header("X-Token", "a\nb-s3cret").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
