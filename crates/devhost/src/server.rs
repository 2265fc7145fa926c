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

async fn handle(
    app: Arc<App>,
    req: hyper::Request<hyper::body::Incoming>,
    client: SocketAddr,
) -> hyper::Response<wasmtime_wasi_http::p2::body::HyperOutgoingBody> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (resp, component) = app.handle(req, client).await;
    tracing::info!(
        target: "access",
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        component = component.as_deref().unwrap_or("-"),
        client = %client,
        request_id = request_id.as_deref().unwrap_or("-"),
        "request"
    );
    resp
}
