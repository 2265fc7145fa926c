//! The health component: `GET /health` (liveness, no I/O) and `GET /health/ready`
//! (one round trip to each dependency; 200 when the store and counters answer — `degraded`
//! when the embedder or vector index does not — else 503, with per-dependency status and
//! the optional dependencies' circuit breakers; a probe that succeeds closes its breaker).

use core_logic::health::Readiness;
use edge::error::json_response;
use edge::{ApiError, config, probe};
use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;

const VERSION: &str = env!("CARGO_PKG_VERSION");

#[http_component]
fn handle(req: Request) -> Response {
    let started = std::time::Instant::now();
    edge::log::begin(&req);
    let info = req
        .header("spin-path-info")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .trim_end_matches('/')
        .to_string();
    let result = match info.as_str() {
        "" => only_get(&req).map(|()| liveness()),
        "/ready" => only_get(&req).and_then(|()| readiness(&req)),
        other => Err(ApiError::not_found(format!("no health route {other}"))),
    };
    let resp = result.unwrap_or_else(IntoResponse::into_response);
    // Liveness stays free of I/O: only readiness and errors are counted.
    if !info.is_empty() {
        edge::metrics::record_request("health", *resp.status(), started.elapsed());
    }
    edge::log::request("health", &req, *resp.status(), started.elapsed());
    resp
}

fn only_get(req: &Request) -> Result<(), ApiError> {
    match req.method() {
        Method::Get | Method::Head => Ok(()),
        _ => Err(ApiError::method_not_allowed("GET, HEAD")),
    }
}

fn liveness() -> Response {
    json_response(
        200,
        &serde_json::json!({ "status": "ok", "version": VERSION }),
    )
}

fn readiness(req: &Request) -> Result<Response, ApiError> {
    let request_id = req.header("x-request-id").and_then(|v| v.as_str());
    let store = config::store_backend().map_err(|e| {
        edge::log::warn("health", &e.to_string());
        ApiError::internal()
    })?;
    let counters = config::counters_backend().map_err(|e| {
        edge::log::warn("health", &e.to_string());
        ApiError::internal()
    })?;
    // The breakers live in the counters; without them the probes still answer.
    let breakers = edge::counters::open(&counters).ok();
    let breakers = breakers.as_deref();
    let report = Readiness::from_checks(
        VERSION,
        vec![
            probe::store(&store),
            probe::counters(&counters),
            probe::embedder(request_id, breakers),
            probe::vector_index(request_id, breakers),
        ],
    );
    let body = serde_json::to_value(&report).map_err(|_| ApiError::internal())?;
    Ok(json_response(report.http_status(), &body))
}
