//! `/health` and `/health/ready` of the real app, on both backends and with each
//! dependency unreachable.

use e2e::{App, closed_port};
use serde_json::Value;

fn ready(app: &App) -> (u16, Value) {
    let resp = app.get("/health/ready");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap())
}

fn dep<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[test]
fn liveness_answers_ok_with_version() {
    let app = App::start(&[]);
    let resp = app.get("/health");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn ready_on_embedded_sqlite_defaults() {
    let app = App::start(&[]);
    let (status, report) = ready(&app);
    assert_eq!(status, 200, "{report}");
    // No embedder or Chroma here: search would fall back to keywords.
    assert_eq!(report["status"], "degraded");
    assert_eq!(dep(&report, "embedder")["ok"], false);
    assert_eq!(dep(&report, "embedder")["required"], false);
    assert_eq!(dep(&report, "vector_index")["ok"], false);
    assert_eq!(dep(&report, "vector_index")["error"], "unreachable");
    assert_eq!(dep(&report, "store")["backend"], "sqlite");
    assert_eq!(dep(&report, "counters")["backend"], "sqlite");
    assert!(dep(&report, "store")["latency_ms"].is_number());
}

#[test]
fn ready_on_postgres_and_redis() {
    let app = App::start(&[
        (
            "SPIN_VARIABLE_DB_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        ),
        ("SPIN_VARIABLE_COUNTERS_URL", "redis://127.0.0.1:6379"),
    ]);
    let (status, report) = ready(&app);
    assert_eq!(status, 200, "{report}");
    assert_eq!(dep(&report, "store")["backend"], "postgres");
    assert_eq!(dep(&report, "store")["ok"], true);
    assert_eq!(dep(&report, "counters")["backend"], "redis");
    assert_eq!(dep(&report, "counters")["ok"], true);
}

#[test]
fn unreachable_postgres_makes_ready_503_without_leaking_the_password() {
    let port = closed_port();
    let url = format!("postgres://app:hunter2@127.0.0.1:{port}/test");
    let app = App::start(&[
        ("SPIN_VARIABLE_DB_URL", url.as_str()),
        ("SPIN_VARIABLE_DB_HOST", &format!("127.0.0.1:{port}")),
    ]);
    let resp = app.get("/health/ready");
    assert_eq!(resp.status(), 503);
    let text = resp.text().unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dep(&report, "store")["ok"], false);
    assert_eq!(dep(&report, "counters")["ok"], true);
    assert!(
        !app.logs().contains("hunter2"),
        "secrets never reach the logs"
    );
    // Liveness does no I/O and stays up.
    assert_eq!(app.get("/health").status(), 200);
}

#[test]
fn unreachable_redis_makes_ready_503() {
    let port = closed_port();
    let app = App::start(&[
        (
            "SPIN_VARIABLE_COUNTERS_URL",
            &format!("redis://127.0.0.1:{port}"),
        ),
        ("SPIN_VARIABLE_COUNTERS_HOST", &format!("127.0.0.1:{port}")),
    ]);
    let (status, report) = ready(&app);
    assert_eq!(status, 503, "{report}");
    assert_eq!(dep(&report, "counters")["ok"], false);
    assert_eq!(dep(&report, "store")["ok"], true);
}

#[test]
fn unknown_routes_and_methods_are_problem_json() {
    let app = App::start(&[]);
    let resp = app.get("/nope");
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let resp = app.get("/health/nope");
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let resp = App::client().post(app.url("/health")).send().unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
}

#[test]
fn production_runtime_config_runs_against_local_postgres_and_redis() {
    // runtime-config/production.toml as an operator uses it: PostgreSQL for data, Redis for
    // counters and the key-value store.
    let app = App::start_with_args(
        &[
            (
                "SPIN_VARIABLE_DB_URL",
                "postgres://postgres@127.0.0.1:5432/test",
            ),
            ("SPIN_VARIABLE_COUNTERS_URL", "redis://127.0.0.1:6379"),
        ],
        &["--runtime-config-file", "runtime-config/production.toml"],
    );
    let (status, report) = ready(&app);
    assert_eq!(status, 200, "{report}");
    assert_eq!(dep(&report, "store")["backend"], "postgres");
    assert_eq!(dep(&report, "counters")["backend"], "redis");
}
