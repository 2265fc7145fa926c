//! The metrics component: `GET /metrics`, the Prometheus text exposition of the series every
//! component records into the shared counters. Protected by the `metrics_token` variable (a
//! bearer token); empty means the route is disabled (404 to GET and HEAD; 405 to other
//! methods either way).
//!
//! A scrape first settles the outcome of conversations idle for `outcome_idle_secs` (a
//! batch each time) and counts them, so `support_conversations_total` moves as Prometheus
//! looks; a store that cannot be reached only delays that (logged), the exposition goes on.

use std::time::Instant;

use core_logic::auth::constant_time_eq;
use core_logic::problem::ProblemKind;
use edge::counters::now_ms;
use edge::{ApiError, config, metrics};
use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Response {
    let started = Instant::now();
    edge::log::begin(&req);
    let resp = serve(&req).unwrap_or_else(IntoResponse::into_response);
    metrics::record_request("metrics", *resp.status(), started.elapsed());
    edge::log::request("metrics", &req, *resp.status(), started.elapsed());
    resp
}

fn serve(req: &Request) -> Result<Response, ApiError> {
    // The route's methods do not depend on whether it is enabled: 405 with `Allow` first.
    if !matches!(req.method(), Method::Get | Method::Head) {
        return Err(ApiError::method_not_allowed("GET, HEAD"));
    }
    let token = config::required("metrics_token").unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::not_found(
            "metrics are disabled (set the metrics_token variable)",
        ));
    }
    let given = req
        .header("authorization")
        .and_then(|v| v.as_str())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
        return Err(ApiError::new(
            ProblemKind::Unauthorized,
            "a valid metrics token is required",
        ));
    }
    settle_outcomes();
    let text = metrics::exposition().map_err(|e| ApiError(e.into()))?;
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
        .body(text)
        .build())
}

/// Conversations settled per scrape, at most (the rest wait for the next one).
const SETTLE_BATCH: u32 = 200;

/// Settles and counts the conversations that went idle (see the module doc).
fn settle_outcomes() {
    let idle_secs = config::optional("outcome_idle_secs")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| *v >= 0)
        .unwrap_or(DEFAULT_IDLE_SECS);
    let settled = config::store_backend()
        .map_err(|e| e.to_string())
        .and_then(|backend| edge::db::Db::open(&backend).map_err(|e| e.to_string()))
        .and_then(|db| {
            edge::feedback::settle_idle(&db, now_ms(), idle_secs * 1000, SETTLE_BATCH)
                .map_err(|e| e.to_string())
        });
    match settled {
        Ok(outcomes) => metrics::record_outcomes(&outcomes),
        Err(e) => edge::log::warn("metrics", &format!("outcomes not settled: {e}")),
    }
}

/// A conversation with nothing new for this long is finished (30 minutes).
const DEFAULT_IDLE_SECS: i64 = 30 * 60;
