//! The listening HTTP server: accepts connections, hands each request to the [`App`],
//! writes one access-log line per request, and shuts down gracefully on SIGTERM/SIGINT
//! (stops accepting, lets in-flight requests finish, then exits).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::app::App;

/// How long in-flight requests get to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until SIGTERM or SIGINT.
pub async fn serve(app: Arc<App>, listener: TcpListener) -> anyhow::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, client) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let service = service_fn(move |req| {
                    let app = app.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(app, req, client).await) }
                });
                let conn = http1::Builder::new()
                    .keep_alive(true)
                    .max_buf_size(256 * 1024)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, %client, "connection ended with an error");
                    }
                });
            }
            _ = sigterm.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
            _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: shutting down"); break; }
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("grace period over; closing remaining connections"),
    }
    Ok(())
}

/// Every `period`, POSTs `path` to the app with `Authorization: Bearer <token>`, as a cron
/// job beside a Spin deployment would (the outbox flush). A failure is logged; the next tick
/// tries again. Ticks do not overlap: the next waits for the previous to finish.
pub fn spawn_ticker(app: Arc<App>, period: Duration, path: &'static str, token: String) {
    tokio::spawn(async move {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            let request = hyper::Request::builder()
                .method(hyper::Method::POST)
                .uri(path)
                .header("host", "localhost")
                .header("authorization", format!("Bearer {token}"))
                .header("x-request-id", new_request_id())
                .body(http_body_util::Full::new(bytes::Bytes::new()));
            let Ok(request) = request else {
                tracing::warn!(path, "ticker: cannot build the request");
                return;
            };
            let started = Instant::now();
            let (response, _) = app.handle(request, loopback).await;
            let status = response.status().as_u16();
            // Read the body to its end so the component's work completes.
            let _ = http_body_util::BodyExt::collect(response.into_body()).await;
            if status == 200 {
                tracing::debug!(
                    path,
                    status,
                    latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "tick"
                );
            } else {
                tracing::warn!(path, status, "tick failed");
            }
        }
    });
}

/// Whether a client's `x-request-id` is kept: short, and only characters that cannot forge
/// log structure. Anything else is replaced by a fresh id.
fn acceptable_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A fresh request id: 16 hex digits, unique within this process and unlikely to repeat
/// across processes (hashed from the start time, the pid and a counter).
fn new_request_id() -> String {
    use sha2::{Digest, Sha256};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: OnceLock<u128> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = SEED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
            ^ u128::from(std::process::id())
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let digest = Sha256::digest(format!("{seed}:{n}"));
    hex::encode(&digest[..8])
}

async fn handle(
    app: Arc<App>,
    mut req: hyper::Request<hyper::body::Incoming>,
    client: SocketAddr,
) -> hyper::Response<wasmtime_wasi_http::p2::body::HyperOutgoingBody> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // Every request has an id: the client's when acceptable, else a new one. The component
    // sees it (and forwards it on outbound calls); the response carries it back.
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable_request_id(id))
        .map_or_else(new_request_id, str::to_string);
    if let Ok(value) = hyper::header::HeaderValue::from_str(&request_id) {
        req.headers_mut().insert("x-request-id", value.clone());
    }
    let (mut resp, component) = app.handle(req, client).await;
    if let Ok(value) = hyper::header::HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", value);
    }
    tracing::info!(
        target: "access",
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        component = component.as_deref().unwrap_or("-"),
        client = %client,
        request_id = %request_id,
        "request"
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_fresh_and_safe() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(acceptable_request_id(&a));
        assert!(acceptable_request_id("req-1.2_3:4"));
        for bad in ["", "a b", "x\"y", "line\nbreak", &"x".repeat(129)] {
            assert!(!acceptable_request_id(bad), "{bad:?}");
        }
    }
}
