//! The metrics component: `GET /metrics`, the Prometheus text exposition of the series every
//! component records into the shared counters. Protected by the `metrics_token` variable (a
//! bearer token); empty means the route is disabled (404).

use std::time::Instant;

use core_logic::auth::constant_time_eq;
use core_logic::problem::ProblemKind;
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
    let token = config::required("metrics_token").unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::not_found(
            "metrics are disabled (set the metrics_token variable)",
        ));
    }
    if !matches!(req.method(), Method::Get | Method::Head) {
        return Err(ApiError::method_not_allowed("GET, HEAD"));
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
    let text = metrics::exposition().map_err(|e| ApiError(e.into()))?;
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
        .body(text)
        .build())
}
