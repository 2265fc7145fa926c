//! Logs end to end: every request leaves one structured JSON line from its component (route,
//! status, latency, tenant, request id) beside devhost's access line; request ids reach the
//! embedding sidecar; and tokens, secrets and what visitors and admins send never appear in
//! any log.

use core_logic::auth::Role;
use e2e::TEST_JWT_SECRET;
use e2e::http::{post_json, request, send, staff_token};
use e2e::platform::{Backend, PlatformApp, TenantSeed};
use e2e::services::{Chroma, Embedder};
use reqwest::Method;
use serde_json::{Value, json};

const METRICS_TOKEN: &str = "metrics-token-never-logged-5521";

#[test]
fn request_lines_carry_ids_and_no_secrets_or_content_reach_the_logs() {
    let tenant = TenantSeed::unique("logs", "{}");
    let chroma = Chroma::start();
    let embedder = Embedder::start();
    let app = PlatformApp::start_with_retrieval(
        Backend::Sqlite,
        std::slice::from_ref(&tenant),
        &chroma,
        &embedder,
        &[("SPIN_VARIABLE_METRICS_TOKEN", METRICS_TOKEN)],
    );
    let admin = staff_token(&tenant.id, Role::Admin, "ops");

    // A visitor with personal details starts a session and reads it with their token.
    let created = send(post_json(
        &app,
        "/api/sessions",
        None,
        &json!({
            "widget_key": tenant.widget_key,
            "visitor": { "name": "Zelda Quillfeather", "email": "zelda.quill@example.test" }
        }),
    ));
    assert_eq!(created.status, 201, "{}", created.text);
    let visitor = created.json()["token"].as_str().unwrap().to_string();
    let id = created.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let read = send(request(
        &app,
        Method::GET,
        &format!("/api/sessions/{id}"),
        Some(&visitor),
    ));
    assert_eq!(read.status, 200);

    // An admin uploads a document and searches it, with a request id of their own.
    let upload = send(post_json(
        &app,
        "/api/kb/documents",
        Some(&admin),
        &json!({ "external_id": "notes.md",
                 "content": "# Notes\n\nThe PINEAPPLE-CONTENT-7731 clause covers returns.\n" }),
    ));
    assert_eq!(upload.status, 201, "{}", upload.text);
    let searched = send(
        post_json(
            &app,
            "/api/kb/search",
            Some(&admin),
            &json!({ "query": "ultraviolet walrus returns clause" }),
        )
        .header("x-request-id", "trace-e2e-42"),
    );
    assert_eq!(searched.status, 200, "{}", searched.text);
    assert_eq!(searched.header("x-request-id"), Some("trace-e2e-42"));

    // Metrics with their token, and a request with a forged token.
    let metrics = send(request(&app, Method::GET, "/metrics", Some(METRICS_TOKEN)));
    assert_eq!(metrics.status, 200);
    let forged = send(request(
        &app,
        Method::GET,
        "/api/kb/documents",
        Some("forged-token-value-8812"),
    ));
    assert_eq!(forged.status, 401);
    // Every response carries a request id, made up by the host when the client sent none.
    let generated = forged.header("x-request-id").expect("a request id");
    assert_eq!(generated.len(), 16);

    let app_logs = app.logs();
    let sidecar_logs = embedder.logs();

    // One JSON line per request from the component, with tenant and request id.
    let lines: Vec<Value> = app_logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "request")
        .collect();
    let search_line = lines
        .iter()
        .find(|v| v["request_id"] == "trace-e2e-42")
        .unwrap_or_else(|| panic!("no request line for the search:\n{app_logs}"));
    assert_eq!(search_line["component"], "ingest");
    assert_eq!(search_line["path"], "/api/kb/search");
    assert_eq!(search_line["status"], 200);
    assert_eq!(search_line["tenant"], tenant.id.as_str());
    assert!(search_line["latency_ms"].as_f64().unwrap() > 0.0);
    let session_line = lines
        .iter()
        .find(|v| v["component"] == "session" && v["status"] == 201)
        .expect("a request line for the new session");
    assert_eq!(session_line["tenant"], tenant.id.as_str());
    assert!(
        session_line["request_id"]
            .as_str()
            .is_some_and(|s| s.len() == 16)
    );
    assert!(
        lines
            .iter()
            .any(|v| v["request_id"] == generated && v["status"] == 401)
    );
    // The sidecar logged the same request id for the query it embedded.
    assert!(
        sidecar_logs.contains("trace-e2e-42"),
        "the sidecar did not log the request id:\n{sidecar_logs}"
    );

    for (what, secret) in [
        ("the JWT secret", TEST_JWT_SECRET),
        ("an admin token", admin.as_str()),
        ("a visitor token", visitor.as_str()),
        ("the metrics token", METRICS_TOKEN),
        ("a forged token", "forged-token-value-8812"),
        ("a visitor's name", "Quillfeather"),
        ("a visitor's email", "zelda.quill@example.test"),
        ("document content", "PINEAPPLE-CONTENT"),
        ("a search query", "ultraviolet"),
    ] {
        assert!(!app_logs.contains(secret), "{what} is in the app's log");
        assert!(
            !sidecar_logs.contains(secret),
            "{what} is in the sidecar's log"
        );
    }
}
