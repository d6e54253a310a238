//! The three HTTPS endpoints on hyper's HTTP/1 server: Login (OpenID discovery, the token
//! and device code endpoints), Outlook's web front door, and the ECE web server. The hostile faults
//! bypass hyper and write raw bytes, since a broken server is exactly what hyper won't be.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};
use tokio_rustls::server::TlsStream;
use tracing::debug;

use crate::config::Fault;
use crate::faults::{delay_of, hostile_greeting, trickle_of, Proto};
use crate::lineio::{read_head, request_line};
use crate::listener::ConnCtx;
use crate::routes::{self, route, Reply};
use crate::tls;

/// Largest request body read before answering, e.g. a token request form; a larger one
/// is answered 413.
const MAX_BODY: usize = 16 * 1024;
/// A keep-alive connection lives at most this many idle periods, however busy.
const MAX_CONN_IDLES: u32 = 4;

pub(crate) async fn serve(tcp: TcpStream, ctx: Arc<ConnCtx>) {
    let Some(stream) = tls::accept(tcp, &ctx).await else {
        return;
    };
    match ctx.fault {
        Fault::EndlessLine | Fault::HugeBanner(_) | Fault::Garbage | Fault::Trickle(_) => {
            raw(stream, &ctx).await;
        }
        _ => with_hyper(stream, ctx).await,
    }
}

async fn with_hyper(stream: TlsStream<TcpStream>, ctx: Arc<ConnCtx>) {
    let svc_ctx = ctx.clone();
    let service = service_fn(move |req: Request<Incoming>| {
        let ctx = svc_ctx.clone();
        async move { Ok::<_, Infallible>(answer(&ctx, req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(ctx.idle)
        .serve_connection(TokioIo::new(stream), service);
    match timeout(ctx.idle * MAX_CONN_IDLES, conn).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(endpoint = %ctx.endpoint, error = %e, "HTTP connection error"),
        Err(_) => debug!(endpoint = %ctx.endpoint, "HTTP connection lifetime exceeded"),
    }
}

async fn answer(ctx: &ConnCtx, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    // Read the body (bounded) so the client is never reset mid-upload.
    let body = match timeout(ctx.idle, Limited::new(body, MAX_BODY).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return to_response(Reply::too_large());
        }
        _ => Bytes::new(),
    };
    if let Some(d) = delay_of(&ctx.fault) {
        sleep(d).await;
    }
    let req = routes::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        body: &body,
    };
    to_response(route(
        ctx.endpoint,
        &ctx.hostnames,
        &ctx.fault,
        &ctx.oauth,
        &req,
    ))
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(reply.body)));
    *resp.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    if let Some(loc) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(LOCATION, loc);
    }
    resp
}

/// The hostile faults: read the request head first (so the client is not reset while still
/// sending), then misbehave.
async fn raw(mut stream: TlsStream<TcpStream>, ctx: &ConnCtx) {
    let head = match read_head(&mut stream, ctx.idle).await {
        Ok(Some((head, _))) => head,
        _ => return,
    };
    if hostile_greeting(&mut stream, &ctx.fault, Proto::Https, ctx.idle).await {
        return;
    }
    let Some(interval) = trickle_of(&ctx.fault) else {
        return;
    };
    let (method, target) = request_line(&head).unwrap_or_default();
    let path = target.split('?').next().unwrap_or("/");
    // The body (if any) is not read on this path: a token request gets "no grant_type".
    let req = routes::Request {
        method: &method,
        path,
        body: b"",
    };
    let reply = route(ctx.endpoint, &ctx.hostnames, &ctx.fault, &ctx.oauth, &req);
    for byte in serialize(&reply).as_bytes() {
        match timeout(ctx.idle, stream.write_all(std::slice::from_ref(byte))).await {
            Ok(Ok(())) => sleep(interval).await,
            _ => return,
        }
    }
    let _ = timeout(ctx.idle, stream.shutdown()).await;
}

fn serialize(reply: &Reply) -> String {
    let reason = StatusCode::from_u16(reply.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let location = reply
        .location
        .as_ref()
        .map(|l| format!("Location: {l}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{location}Connection: close\r\n\r\n{}",
        reply.status,
        reply.content_type,
        reply.body.len(),
        reply.body
    )
}
