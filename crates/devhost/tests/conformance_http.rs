//! Conformance of devhost's HTTP trigger, variables, files, outbound HTTP and isolation
//! against Spin's semantics (see shared/SPIN-FACTS.md), through the real binary over HTTP.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::*;

/// A tiny real HTTP server on a free port that answers every request with `body`.
fn upstream(body: &'static str) -> u16 {
    upstream_after(body, Duration::ZERO)
}

/// [`upstream`], answering each request `delay` after reading it (without burning CPU).
fn upstream_after(body: &'static str, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            std::thread::sleep(delay);
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    port
}

const ROUTES: &str = r#"spin_manifest_version = 2
[application]
name = "routes"
[[trigger.http]]
route = "/..."
component = "root"
[[trigger.http]]
route = "/api/..."
component = "api"
[[trigger.http]]
route = "/api/exact"
component = "exact"
[[trigger.http]]
route = "/users/:id/..."
component = "users"
[[trigger.http]]
route = { private = true }
component = "hidden"
[component.root]
source = "{conformance}"
[component.api]
source = "{conformance}"
[component.exact]
source = "{conformance}"
[component.users]
source = "{conformance}"
[component.hidden]
source = "{conformance}"
"#;

#[test]
fn most_specific_route_wins_and_spin_headers_are_set() {
    let host = DevHost::start(ROUTES);
    // /api/exact is exact: no path info; the wildcard /api/... would give "/exact".
    let exact = host.get_json("/api/exact");
    assert_eq!(exact["headers"]["spin-raw-component-route"], "/api/exact");
    assert_eq!(exact["headers"]["spin-path-info"], "");

    let api = host.get_json("/api/headers?x=1");
    let h = &api["headers"];
    assert_eq!(h["spin-raw-component-route"], "/api/...");
    assert_eq!(h["spin-component-route"], "/api");
    assert_eq!(h["spin-matched-route"], "/api/...");
    assert_eq!(h["spin-path-info"], "/headers");
    assert_eq!(h["spin-base-path"], "/");
    let full = h["spin-full-url"].as_str().unwrap();
    assert!(
        full.starts_with("http://127.0.0.1:") && full.ends_with("/api/headers?x=1"),
        "{full}"
    );
    let client = h["spin-client-addr"].as_str().unwrap();
    assert!(client.starts_with("127.0.0.1:"), "{client}");
    assert!(
        h.get("connection").is_none(),
        "Connection header must be removed"
    );

    let root = host.get_json("/headers");
    assert_eq!(root["headers"]["spin-raw-component-route"], "/...");
    assert_eq!(root["headers"]["spin-path-info"], "/headers");

    let users = host.get_json("/users/42/headers");
    assert_eq!(users["headers"]["spin-path-match-id"], "42");
    assert_eq!(users["headers"]["spin-path-info"], "/headers");
}

#[test]
fn unmatched_route_is_404_problem_json() {
    let host = DevHost::start(&ROUTES.replace(
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"root\"\n",
        "",
    ));
    let resp = host.get("/nothing/here");
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["status"], 404);
    // The private component is only reachable by service chaining.
    assert_eq!(host.get("/hidden/headers").status(), 404);
}

#[test]
fn well_known_health_is_answered_by_the_host() {
    let host = DevHost::start(&conformance_manifest(""));
    let resp = host.get("/.well-known/spin/health");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().unwrap(), "OK");
}

#[test]
fn variables_come_from_templates_env_and_defaults() {
    let manifest = r#"spin_manifest_version = 2
[application]
name = "vars"
[variables]
greeting = { default = "hello" }
api_key = { required = true, secret = true }
[[trigger.http]]
route = "/..."
component = "c"
[component.c]
source = "{conformance}"
[component.c.variables]
message = "{{ greeting }}, world"
key = "{{ api_key }}"
"#;
    let host = DevHost::start_with(manifest, &[("SPIN_VARIABLE_API_KEY", "s3cret")], &[]);
    assert_eq!(host.get_json("/vars?name=message")["value"], "hello, world");
    assert_eq!(host.get_json("/vars?name=key")["value"], "s3cret");
    // Application variables not listed for the component are invisible to it.
    assert_eq!(host.get_json("/vars?name=greeting")["error"], "undefined");
    assert_eq!(
        host.get_json("/vars?name=Bad-Name")["error"],
        "invalid-name"
    );
    drop(host);

    let host = DevHost::start_with(
        manifest,
        &[
            ("SPIN_VARIABLE_API_KEY", "k"),
            ("SPIN_VARIABLE_GREETING", "hi"),
        ],
        &[],
    );
    assert_eq!(host.get_json("/vars?name=message")["value"], "hi, world");
}

#[test]
fn missing_required_variable_stops_start_without_leaking_secrets() {
    let manifest = r#"spin_manifest_version = 2
[application]
name = "vars"
[variables]
api_key = { required = true, secret = true }
[[trigger.http]]
route = "/..."
component = "c"
[component.c]
source = "{conformance}"
[component.c.variables]
key = "{{ api_key }}"
"#;
    let err = match DevHost::try_start(manifest, &[], &[]) {
        Ok(_) => panic!("devhost must refuse to start"),
        Err(e) => e,
    };
    assert!(
        err.contains("api_key") && err.contains("SPIN_VARIABLE_API_KEY"),
        "{err}"
    );
}

#[test]
fn invalid_manifest_fails_at_start_naming_the_field() {
    for (manifest, field) in [
        (
            conformance_manifest("")
                .replace("component = \"conformance\"", "component = \"missing\""),
            "trigger.http[0].component",
        ),
        (
            conformance_manifest("allowed_outbound_hosts = [\"example.com\"]"),
            "allowed_outbound_hosts[0]",
        ),
        (
            conformance_manifest("")
                .replace("spin_manifest_version = 2", "spin_manifest_version = 3"),
            "spin_manifest_version",
        ),
        (
            conformance_manifest("").replace("{conformance}", "/nope.wasm"),
            "component.conformance.source",
        ),
        (
            conformance_manifest("").replace("[application]", "[application]\nbogus = ["),
            "TOML",
        ),
    ] {
        let err = match DevHost::try_start(&manifest, &[], &[]) {
            Ok(_) => panic!("devhost must refuse {field}"),
            Err(e) => e,
        };
        assert!(!err.contains("panicked"), "{err}");
        if field != "TOML" {
            assert!(err.contains(field), "error should name {field}: {err}");
        } else {
            assert!(err.contains("invalid manifest"), "{err}");
        }
    }
}

#[test]
fn environment_and_read_only_file_mounts() {
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(host_dir.path().join("assets")).unwrap();
    std::fs::write(host_dir.path().join("assets/a.txt"), "mounted").unwrap();
    let manifest = conformance_manifest(&format!(
        "files = [{{ source = \"{}\", destination = \"/data\" }}]\nenvironment = {{ GREETING = \"hey\" }}",
        host_dir.path().join("assets").display()
    ));
    let host = DevHost::start(&manifest);
    let r = host.get_json("/files?path=/data/a.txt");
    assert_eq!(r["content"], "mounted");
    assert_eq!(r["write_ok"], false, "mounts are read-only");
    assert_eq!(
        std::fs::read_to_string(host_dir.path().join("assets/a.txt")).unwrap(),
        "mounted"
    );
    let missing = host.get_json("/files?path=/etc/passwd");
    assert!(
        missing["content"].is_null(),
        "nothing outside the mounts is visible"
    );
    assert_eq!(host.get_json("/env?name=GREETING")["value"], "hey");
    assert!(
        host.get_json("/env?name=PATH")["value"].is_null(),
        "host env is not inherited"
    );
}

#[test]
fn glob_file_patterns_keep_relative_paths() {
    // Patterns are relative to the manifest's folder; write files beside it.
    let manifest = conformance_manifest("files = [\"static/**/*.txt\"]");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("static/sub")).unwrap();
    std::fs::write(dir.path().join("static/sub/b.txt"), "globbed").unwrap();
    std::fs::write(dir.path().join("static/skip.bin"), "no").unwrap();
    let manifest_path = dir.path().join("spin.toml");
    std::fs::write(
        &manifest_path,
        manifest.replace(
            "{conformance}",
            &wasm("conformance_component").to_string_lossy(),
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_devhost"))
        .args([
            "--from",
            manifest_path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let base = line.trim().strip_prefix("Serving ").unwrap().to_string();
    let get = |p: &str| -> serde_json::Value {
        DevHost::client()
            .get(format!("{base}{p}"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert_eq!(get("/files?path=/static/sub/b.txt")["content"], "globbed");
    assert!(get("/files?path=/static/skip.bin")["content"].is_null());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn outbound_http_is_allowed_only_to_listed_hosts() {
    let port = upstream("hello from upstream");
    let other = upstream("should not be reached");
    let host = DevHost::start(&conformance_manifest(&format!(
        "allowed_outbound_hosts = [\"http://127.0.0.1:{port}\"]"
    )));
    let ok = host.get_json(&format!("/http?url=http://127.0.0.1:{port}/x"));
    assert_eq!(ok["status"], 200, "{ok}");
    assert_eq!(ok["body"], "hello from upstream");

    let denied = host.get_json(&format!("/http?url=http://127.0.0.1:{other}/x"));
    let err = denied["error"].as_str().unwrap_or_default();
    assert!(err.contains("HttpRequestDenied"), "{denied}");
    // A denial is an error value, not a trap: the host keeps serving.
    assert_eq!(host.get("/headers").status(), 200);
}

#[test]
fn outbound_allowed_hosts_accept_templates_and_port_wildcards() {
    let port = upstream("templated");
    let manifest = r#"spin_manifest_version = 2
[application]
name = "tpl"
[variables]
upstream_host = { default = "127.0.0.1" }
[[trigger.http]]
route = "/..."
component = "c"
[component.c]
source = "{conformance}"
allowed_outbound_hosts = ["http://{{ upstream_host }}:*"]
"#;
    let host = DevHost::start(manifest);
    let ok = host.get_json(&format!("/http?url=http://127.0.0.1:{port}/"));
    assert_eq!(ok["body"], "templated", "{ok}");
    let denied = host.get_json(&format!("/http?url=http://localhost:{port}/"));
    assert!(
        denied["error"]
            .as_str()
            .unwrap_or("")
            .contains("HttpRequestDenied"),
        "{denied}"
    );
}

#[test]
fn service_chaining_reaches_private_components_when_allowed() {
    let manifest = r#"spin_manifest_version = 2
[application]
name = "chain"
[[trigger.http]]
route = "/..."
component = "front"
[[trigger.http]]
route = { private = true }
component = "back"
[component.front]
source = "{conformance}"
allowed_outbound_hosts = ["http://back.spin.internal"]
[component.back]
source = "{conformance}"
environment = { WHO = "back" }
[component.back.build]
command = "true"
"#;
    let host = DevHost::start(manifest);
    let r = host.get_json("/http?url=http://back.spin.internal/env?name=WHO");
    assert_eq!(r["status"], 200, "{r}");
    let body: serde_json::Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["value"], "back");
    drop(host);

    let denied =
        DevHost::start(&manifest.replace("http://back.spin.internal", "http://other.example"));
    let r = denied.get_json("/http?url=http://back.spin.internal/env?name=WHO");
    assert!(
        r["error"]
            .as_str()
            .unwrap_or("")
            .contains("HttpRequestDenied"),
        "{r}"
    );
}

#[test]
fn a_trapping_component_gets_500_and_the_host_keeps_serving() {
    let host = DevHost::start(&conformance_manifest(""));
    let resp = host.get("/trap");
    assert_eq!(resp.status(), 500);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    assert!(
        !resp.text().unwrap().contains("deliberate"),
        "no guest internals in the response"
    );
    assert_eq!(host.get("/headers").status(), 200);
}

#[test]
fn a_component_over_its_time_limit_is_stopped_with_503_and_retry_after() {
    let host = DevHost::start_with(
        &conformance_manifest(""),
        &[],
        &["--request-timeout-secs", "1"],
    );
    let started = std::time::Instant::now();
    let resp = host.get("/spin");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(resp.status(), 503, "{}", host.logs());
    assert_eq!(resp.headers()["retry-after"], "5");
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = resp.json().unwrap();
    assert_eq!(problem["type"], "urn:support-agent:problem:timeout");
    assert_eq!(problem["status"], 503);
    assert_eq!(host.get("/headers").status(), 200);
}

#[test]
fn components_that_compute_without_pause_do_not_hold_up_other_requests() {
    // More spinning requests than devhost has worker threads (one per core): each gives
    // its thread back at every epoch tick, so a quick request is served while they run.
    let host = DevHost::start_with(
        &conformance_manifest(""),
        &[],
        &["--request-timeout-secs", "6"],
    );
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let url = host.url("/spin");
            std::thread::spawn(move || DevHost::client().get(url).send().map(|r| r.status()))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let resp = host.get("/headers");
    assert_eq!(resp.status(), 200);
    assert!(
        spinners.iter().all(|s| !s.is_finished()),
        "the quick request was served only after the spinning ones ended"
    );
    for spinner in spinners {
        assert_eq!(spinner.join().unwrap().unwrap().as_u16(), 503);
    }
}

#[test]
fn a_full_instance_pool_answers_503_with_retry_after() {
    // An upstream that takes 2 s to answer: the request waiting on it holds the only
    // instance slot without burning CPU.
    let port = upstream_after("slow", Duration::from_secs(2));
    let host = DevHost::start_with(
        &conformance_manifest(&format!(
            "allowed_outbound_hosts = [\"http://127.0.0.1:{port}\"]"
        )),
        &[],
        &["--max-instances", "1"],
    );
    let url = host.url(&format!("/http?url=http://127.0.0.1:{port}/x"));
    let busy = std::thread::spawn(move || DevHost::client().get(url).send().map(|r| r.status()));
    std::thread::sleep(Duration::from_millis(700));
    let resp = host.get("/headers");
    assert_eq!(resp.status(), 503, "{}", host.logs());
    assert_eq!(
        resp.headers()["retry-after"],
        "1",
        "a full pool tells the client when to retry"
    );
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert_eq!(busy.join().unwrap().unwrap().as_u16(), 200);
    // Once the slot is free again (the instance is dropped just after its response),
    // requests are served.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while host.get("/headers").status() != 200 {
        assert!(std::time::Instant::now() < deadline, "{}", host.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_component_over_its_memory_limit_is_stopped_with_500() {
    let host = DevHost::start_with(&conformance_manifest(""), &[], &["--max-memory-mib", "64"]);
    assert_eq!(host.get("/grow").status(), 500);
    assert_eq!(host.get("/headers").status(), 200);
}

#[test]
fn oversized_request_bodies_are_rejected_with_413() {
    let host = DevHost::start_with(
        &conformance_manifest(""),
        &[],
        &["--max-request-body-bytes", "1024"],
    );
    let resp = host.post("/echo", vec![b'x'; 4096]);
    assert_eq!(resp.status(), 413);
    let small = host.post("/echo", vec![b'x'; 100]);
    assert_eq!(small.status(), 200);
    assert_eq!(small.json::<serde_json::Value>().unwrap()["len"], 100);
}

#[test]
fn every_request_gets_a_fresh_instance() {
    // Guest globals do not survive: the trap in one request leaves the next untouched,
    // and concurrent requests do not interfere.
    let host = DevHost::start(&conformance_manifest(""));
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let url = host.url(&format!("/echo?i={i}"));
            std::thread::spawn(move || {
                DevHost::client()
                    .post(url)
                    .body(vec![0u8; i * 10])
                    .send()
                    .unwrap()
                    .json::<serde_json::Value>()
                    .unwrap()
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap()["len"], i * 10);
    }
}

#[test]
fn compiled_components_are_cached_on_disk() {
    let host = DevHost::start(&conformance_manifest(""));
    let cache = host.state_dir().join("devhost-cache");
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert_eq!(
        entries.len(),
        1,
        "one cached artifact per component content"
    );
}

#[test]
fn access_log_is_json_with_one_line_per_request() {
    let host = DevHost::start_with(&conformance_manifest(""), &[], &["--log-format", "json"]);
    host.get("/headers");
    host.get("/nothing-special");
    std::thread::sleep(Duration::from_millis(200));
    let logs = host.logs();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "access")
        .collect();
    assert_eq!(lines.len(), 2, "{logs}");
    assert_eq!(lines[0]["path"], "/headers");
    assert_eq!(lines[0]["status"], 200);
    assert!(lines[0]["latency_ms"].is_number());
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let port = upstream("slow");
    let _ = port;
    let mut host = DevHost::start_with(
        &conformance_manifest(""),
        &[],
        &["--request-timeout-secs", "2"],
    );
    // A request that takes ~2 s (the time limit) is in flight when SIGTERM arrives.
    let url = host.url("/spin");
    let in_flight = std::thread::spawn(move || {
        DevHost::client()
            .get(url)
            .send()
            .map(|r| r.status().as_u16())
    });
    std::thread::sleep(Duration::from_millis(300));
    let pid = host.pid();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = in_flight
        .join()
        .unwrap()
        .expect("in-flight request got a response");
    assert_eq!(
        status, 503,
        "the in-flight request completed (with its timeout) instead of being cut"
    );
    assert_eq!(
        host.wait_exit(Duration::from_secs(20)),
        Some(true),
        "clean exit"
    );
}

#[test]
fn relative_requests_reach_the_app_itself_when_self_is_allowed() {
    let manifest = r#"spin_manifest_version = 2
[application]
name = "self"
[[trigger.http]]
route = "/..."
component = "front"
[[trigger.http]]
route = "/back/..."
component = "back"
[component.front]
source = "{conformance}"
allowed_outbound_hosts = ["http://self"]
[component.back]
source = "{conformance}"
environment = { WHO = "back" }
"#;
    let host = DevHost::start(manifest);
    let r = host.get_json("/http?url=/back/env?name=WHO");
    assert_eq!(r["status"], 200, "{r}");
    let body: serde_json::Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["value"], "back");
    // An unrouted relative path is the app's own 404, not an error.
    let missing = DevHost::start(&manifest.replace("route = \"/...\"", "route = \"/front/...\""));
    let r = missing.get_json("/front/http?url=/nowhere");
    assert_eq!(r["status"], 404, "{r}");
    drop(missing);

    // Without `self`, a relative request is denied, as an error value, not a trap.
    let denied = DevHost::start(&manifest.replace("[\"http://self\"]", "[]"));
    let r = denied.get_json("/http?url=/back/env?name=WHO");
    assert!(
        r["error"]
            .as_str()
            .unwrap_or("")
            .contains("HttpRequestDenied"),
        "{r}"
    );
    assert_eq!(denied.get("/headers").status(), 200);
}
