//! `GET /metrics` of the real app: protected by its token, parsed by a real Prometheus
//! parser (promtool), and moving with real requests, on both counters backends.

use e2e::App;
use e2e::platform::{Backend, PlatformApp, TenantSeed};
use std::io::Write;
use std::process::{Command, Stdio};

const TOKEN: &str = "metrics-test-token";

fn scrape(app: &App) -> String {
    let resp = App::client()
        .get(app.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    resp.text().unwrap()
}

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no series {series}"))
}

fn promtool_accepts(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; `make test` installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool rejected the exposition: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check_backend(backend: Backend) {
    // One session per client address per window: the second create is a 429.
    let tenant = TenantSeed::unique(
        "metrics",
        r#"{"rate_limits":{"per_visitor":100,"per_client":1,"window_secs":60}}"#,
    );
    let app = PlatformApp::start(
        backend,
        std::slice::from_ref(&tenant),
        &[("SPIN_VARIABLE_METRICS_TOKEN", TOKEN)],
    );
    let before = scrape(&app);
    promtool_accepts(&before);
    let ready = "support_http_requests_total{route=\"health\",status=\"2xx\"}";
    let missing = "support_http_requests_total{route=\"sessions\",status=\"4xx\"}";
    let (r0, m0) = (value(&before, ready), value(&before, missing));
    for _ in 0..3 {
        assert_eq!(app.get("/health/ready").status(), 200);
    }
    let resp = App::client()
        .post(app.url("/api/sessions"))
        .header("content-type", "application/json")
        .body(r#"{"widget_key":"wk_nobody"}"#)
        .send()
        .unwrap();
    assert!(resp.status().is_client_error());
    let limited = "support_rate_limited_total{limit=\"client\"}";
    let l0 = value(&before, limited);
    let create = || {
        App::client()
            .post(app.url("/api/sessions"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"widget_key":"{}"}}"#, tenant.widget_key))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(create(), 201);
    assert_eq!(create(), 429);
    let after = scrape(&app);
    assert!(value(&after, limited) - l0 >= 1.0, "{after}");
    promtool_accepts(&after);
    assert!(value(&after, ready) - r0 >= 3.0, "{after}");
    assert!(value(&after, missing) - m0 >= 1.0, "{after}");
    let count = value(
        &after,
        "support_http_request_duration_seconds_count{route=\"health\"}",
    );
    assert!(count >= 3.0);
}

#[test]
fn metrics_parse_and_move_with_requests_on_sqlite_counters() {
    check_backend(Backend::Sqlite);
}

#[test]
fn metrics_parse_and_move_with_requests_on_postgres_and_redis() {
    check_backend(Backend::Postgres);
}

#[test]
fn metrics_need_the_token_and_are_off_without_one() {
    let app = App::start(&[("SPIN_VARIABLE_METRICS_TOKEN", TOKEN)]);
    assert_eq!(app.get("/metrics").status(), 401);
    let wrong = App::client()
        .get(app.url("/metrics"))
        .bearer_auth("nope")
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.headers()["content-type"], "application/problem+json");
    post_is_not_allowed(&app);
    drop(app);
    let off = App::start(&[]);
    assert_eq!(off.get("/metrics").status(), 404);
    post_is_not_allowed(&off);
}

/// Enabled or not, `/metrics` takes GET and HEAD only, and says so.
fn post_is_not_allowed(app: &App) {
    let post = App::client().post(app.url("/metrics")).send().unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    assert_eq!(post.headers()["content-type"], "application/problem+json");
}
