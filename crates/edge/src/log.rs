//! Structured logs from the components: one JSON line per request (component, method, path,
//! status, latency, tenant, request id) and JSON lines for warnings, on stderr, which Spin
//! and devhost collect.
//!
//! What goes in is chosen here, not by callers: never a header value, a query string or a
//! body, so tokens, keys and messages cannot reach the log. The tenant is noted once a route
//! has authenticated the caller ([`note_tenant`]); an instance serves one request, so a
//! process-wide slot is per request.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use spin_sdk::http::Request;

static TENANT: Mutex<Option<String>> = Mutex::new(None);
static REQUEST_ID: Mutex<Option<String>> = Mutex::new(None);

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// Records which tenant the current request acts for.
pub fn note_tenant(tenant_id: &str) {
    if let Ok(mut slot) = TENANT.lock() {
        *slot = Some(tenant_id.to_string());
    }
}

/// The request id the host gave this request (`x-request-id`), kept for warnings and
/// outbound calls.
pub fn begin(req: &Request) -> Option<String> {
    let id = req
        .header("x-request-id")
        .and_then(|v| v.as_str())
        .filter(|id| id.len() <= 128)
        .map(str::to_string);
    if let Ok(mut slot) = REQUEST_ID.lock() {
        slot.clone_from(&id);
    }
    id
}

fn current(slot: &Mutex<Option<String>>) -> Option<String> {
    slot.lock().ok().and_then(|s| s.clone())
}

/// The request line: written once, when the response is ready.
pub fn request(component: &str, req: &Request, status: u16, elapsed: Duration) {
    let line = json!({
        "ts": now_ms(),
        "level": "info",
        "target": "request",
        "component": component,
        "method": req.method().to_string(),
        "path": req.path(),
        "status": status,
        "latency_ms": (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        "tenant": current(&TENANT),
        "request_id": current(&REQUEST_ID),
    });
    eprintln!("{line}");
}

/// A warning about something the request survived or that an operator should fix. The
/// message must not carry secrets or user content; callers pass fixed phrases and ids.
pub fn warn(target: &str, message: &str) {
    let line = json!({
        "ts": now_ms(),
        "level": "warn",
        "target": target,
        "message": message,
        "tenant": current(&TENANT),
        "request_id": current(&REQUEST_ID),
    });
    eprintln!("{line}");
}
