//! The static component: serves the built web UI from `static/dist` (mounted by spin.toml's
//! `files`): the demo page, the chat page, the widget loader, the agent inbox and the admin
//! page, with their hashed assets.
//!
//! `core_logic::static_site` decides which file a path names and its headers; this reads
//! it. It is the catch-all route: an `/api/...` path that reaches it matched no API route
//! and gets the same problem+json 404 as the host's router, never a page.

use core_logic::problem::ProblemKind;
use core_logic::static_site::{self, Lookup};
use edge::ApiError;
use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;

/// Where spin.toml's `files = ["static/dist/**/*"]` puts the build in the guest.
const SITE_ROOT: &str = "/static/dist";

#[http_component]
fn handle(req: Request) -> Response {
    let started = std::time::Instant::now();
    edge::log::begin(&req);
    let resp = serve(&req).unwrap_or_else(IntoResponse::into_response);
    edge::metrics::record_request("static", *resp.status(), started.elapsed());
    edge::log::request("static", &req, *resp.status(), started.elapsed());
    resp
}

fn serve(req: &Request) -> Result<Response, ApiError> {
    let path = req.path().to_string();
    let head = match req.method() {
        Method::Get => false,
        Method::Head => true,
        _ if path.starts_with("/api/") => {
            return Err(ApiError::not_found(format!("no route matches {path}")));
        }
        _ => return Err(ApiError::method_not_allowed("GET, HEAD")),
    };
    let candidates = match static_site::lookup(&path) {
        Lookup::Files(files) => files,
        Lookup::UnknownApi => return Err(ApiError::not_found(format!("no route matches {path}"))),
        Lookup::Invalid => return Err(ApiError::not_found("no such page")),
    };
    for file in candidates {
        let bytes = match std::fs::read(format!("{SITE_ROOT}/{file}")) {
            Ok(bytes) => bytes,
            Err(_) => continue,
        };
        return Ok(file_response(req, &file, bytes, head));
    }
    if !std::path::Path::new(SITE_ROOT).join("index.html").exists() {
        return Err(ApiError::new(
            ProblemKind::Unavailable,
            "the web UI is not built: run `make ui` (static/dist is missing)",
        ));
    }
    Err(ApiError::not_found(format!("no page at {path}")))
}

fn file_response(req: &Request, file: &str, bytes: Vec<u8>, head: bool) -> Response {
    let etag = static_site::etag(&bytes);
    let if_none_match = req.header("if-none-match").and_then(|v| v.as_str());
    let not_modified = static_site::not_modified(if_none_match, &etag);
    let mut builder = Response::builder();
    builder
        .status(if not_modified { 304 } else { 200 })
        .header("content-type", static_site::content_type(file))
        .header("cache-control", static_site::cache_control(file))
        .header("etag", etag);
    for (name, value) in static_site::security_headers(file) {
        builder.header(name, value);
    }
    if not_modified || head {
        builder.header("content-length", bytes.len().to_string());
        return builder.build();
    }
    builder.body(bytes).build()
}
