//! Faults in the dependencies retrieval can do without, with real processes: the embedding
//! sidecar and Chroma each hung (SIGSTOP: the port accepts, nothing answers) and refused
//! (killed) while visitors chat, on both backends (the circuit breakers live in SQLite or
//! Redis counters).
//!
//! A hung dependency costs one time limit, not the host's 30 s: the message is answered from
//! keywords with `degraded: true`; after `breaker_failures` failures in a row the breaker
//! opens (`/health/ready` and `/metrics` say so) and the dependency is skipped; once it
//! answers again, the readiness probe closes the breaker and answers use vectors again.
//! Ingest with a hung dependency stores the document with its vectors pending.
//!
//! The stores: PostgreSQL and Redis dropping connections or hung (through a fault proxy)
//! mean 503 with `Retry-After` within devhost's store deadlines, and service again without a
//! restart. And devhost killed under concurrent chat on both backends: every acknowledged
//! message is stored exactly once after retries with the same Idempotency-Key.

use std::time::{Duration, Instant};

use core_logic::auth::Role;
use e2e::fault_proxy::{Fault, FaultProxy};
use e2e::http::{Reply, metric_value, post_json, request, send, staff_token};
use e2e::platform::{Backend, PG_HOST, PG_PORT, PlatformApp, TenantSeed};
use e2e::services::{Chroma, Embedder};
use reqwest::Method;
use serde_json::{Value, json};

const ROOMY: &str = r#"{"rate_limits":{"per_visitor":100000,"per_client":100000}}"#;
const METRICS_TOKEN: &str = "faults-metrics-token-0123456789";

const SHIPPING: &str = "# Shipping\n\n## Delivery times\n\nStandard delivery takes 3 to 5 \
working days. Express delivery arrives the next working day when you order before 2 pm.\n";

/// Each wait on the answer path, in milliseconds (the default is 1000).
const ANSWER_LIMIT_MS: u64 = 300;
/// Failures in a row that open a breaker, and its cool-down.
const BREAKER_FAILURES: usize = 3;
const COOLDOWN_SECS: u64 = 2;
/// What "bounded" means here: far below the host's 30 s request limit that a hung
/// dependency used to run into, with room for a loaded machine.
const BOUND: Duration = Duration::from_secs(8);

struct Site {
    app: PlatformApp,
    tenant: TenantSeed,
    chroma: Chroma,
    embedder: Embedder,
}

#[derive(Clone, Copy, Debug)]
enum Dep {
    Embedder,
    Chroma,
}

impl Dep {
    fn name(self) -> &'static str {
        match self {
            Dep::Embedder => "embedder",
            Dep::Chroma => "vector_index",
        }
    }
}

impl Site {
    fn start(backend: Backend) -> Site {
        let tenant = TenantSeed::unique("faults", ROOMY);
        let chroma = Chroma::start();
        let embedder = Embedder::start();
        let answer_limit = ANSWER_LIMIT_MS.to_string();
        let failures = BREAKER_FAILURES.to_string();
        let cooldown = COOLDOWN_SECS.to_string();
        let app = PlatformApp::start_with_retrieval(
            backend,
            std::slice::from_ref(&tenant),
            &chroma,
            &embedder,
            &[
                ("SPIN_VARIABLE_METRICS_TOKEN", METRICS_TOKEN),
                ("SPIN_VARIABLE_EMBEDDER_TIMEOUT_MS", &answer_limit),
                ("SPIN_VARIABLE_CHROMA_TIMEOUT_MS", &answer_limit),
                ("SPIN_VARIABLE_INDEX_TIMEOUT_MS", "500"),
                ("SPIN_VARIABLE_BREAKER_FAILURES", &failures),
                ("SPIN_VARIABLE_BREAKER_COOLDOWN_SECS", &cooldown),
            ],
        );
        Site::with_shipping_page(app, tenant, chroma, embedder)
    }

    /// The site of `app`, its shipping page stored and indexed.
    fn with_shipping_page(
        app: PlatformApp,
        tenant: TenantSeed,
        chroma: Chroma,
        embedder: Embedder,
    ) -> Site {
        let site = Site {
            app,
            tenant,
            chroma,
            embedder,
        };
        let stored = site.put_document("shipping.md", SHIPPING);
        assert_eq!(stored.status, 201, "{}", stored.text);
        assert_eq!(stored.json()["vector_index"], "indexed");
        site
    }

    fn admin(&self) -> String {
        staff_token(&self.tenant.id, Role::Admin, "ops")
    }

    /// Runs kb-loader against the app as the tenant's admin; its stdout (it must succeed).
    fn kb_loader(&self, args: &[&str]) -> String {
        let bin = e2e::devhost_bin().with_file_name("kb-loader");
        let out = std::process::Command::new(&bin)
            .args(args)
            .args(["--url", &self.app.base])
            .env("SUPPORT_AGENT_TOKEN", self.admin())
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        assert!(out.status.success(), "kb-loader {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    fn put_document(&self, id: &str, text: &str) -> Reply {
        send(post_json(
            &self.app,
            "/api/kb/documents",
            Some(&self.admin()),
            &json!({ "external_id": id, "content": text }),
        ))
    }

    fn session(&self) -> (String, String) {
        let reply = send(post_json(
            &self.app,
            "/api/sessions",
            None,
            &json!({ "widget_key": self.tenant.widget_key }),
        ));
        assert_eq!(reply.status, 201, "{}", reply.text);
        let body = reply.json();
        (
            body["session"]["id"].as_str().unwrap().to_string(),
            body["token"].as_str().unwrap().to_string(),
        )
    }

    /// Asks the delivery question in a new session: the turn and how long it took.
    fn ask(&self) -> (Value, Duration) {
        let (session, token) = self.session();
        let started = Instant::now();
        let reply = send(post_json(
            &self.app,
            &format!("/api/sessions/{session}/messages"),
            Some(&token),
            &json!({ "text": "How many days does standard delivery take?" }),
        ));
        let took = started.elapsed();
        assert_eq!(reply.status, 201, "{}", reply.text);
        (reply.json(), took)
    }

    fn pause(&self, dep: Dep) {
        match dep {
            Dep::Embedder => self.embedder.pause(),
            Dep::Chroma => self.chroma.pause(),
        }
    }

    fn resume(&self, dep: Dep) {
        match dep {
            Dep::Embedder => self.embedder.resume(),
            Dep::Chroma => self.chroma.resume(),
        }
    }

    /// `/health/ready`'s entry for `dep`.
    fn readiness(&self, dep: Dep) -> (u16, Value) {
        let reply = send(request(&self.app, Method::GET, "/health/ready", None));
        let body = reply.json();
        let entry = body["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == dep.name())
            .cloned()
            .unwrap_or_else(|| panic!("no {} in {body}", dep.name()));
        (reply.status, entry)
    }

    fn circuit_gauge(&self, dep: Dep) -> f64 {
        let reply = send(request(
            &self.app,
            Method::GET,
            "/metrics",
            Some(METRICS_TOKEN),
        ));
        assert_eq!(reply.status, 200, "{}", reply.text);
        let series = format!(
            "support_dependency_circuit_open{{dependency=\"{}\"}}",
            dep.name()
        );
        assert!(reply.text.contains(&series), "{series} missing");
        metric_value(&reply.text, &series)
    }
}

fn cites_the_shipping_page(turn: &Value) {
    let text = turn["reply"]["text"].as_str().unwrap_or_default();
    assert!(text.contains("3 to 5 working days"), "{turn}");
    assert_eq!(turn["reply"]["citations"][0]["title"], "Shipping", "{turn}");
}

fn a_hung_dependency_answers_from_keywords_opens_its_breaker_and_recovers(backend: Backend) {
    let site = Site::start(backend);
    let (turn, took) = site.ask();
    assert_eq!(turn["degraded"], false, "{turn}");
    cites_the_shipping_page(&turn);
    eprintln!("[{backend:?}] healthy: {took:?}");

    for dep in [Dep::Embedder, Dep::Chroma] {
        site.pause(dep);
        // Failures in a row up to the threshold: each waits one time limit, answers from
        // keywords and says so.
        for n in 1..=BREAKER_FAILURES {
            let (turn, took) = site.ask();
            eprintln!("[{backend:?}] {dep:?} hung, message {n}: {took:?}");
            assert!(took < BOUND, "{dep:?}: {took:?}");
            assert_eq!(turn["degraded"], true, "{dep:?}: {turn}");
            cites_the_shipping_page(&turn);
        }
        let (status, entry) = site.readiness(dep);
        assert_eq!(
            status, 200,
            "{dep:?}: optional dependencies only degrade readiness"
        );
        assert_eq!(entry["ok"], false, "{entry}");
        assert_eq!(entry["circuit"], "open", "{entry}");
        assert_eq!(site.circuit_gauge(dep), 1.0, "{dep:?}");

        // Open: skipped without waiting, still a keyword answer.
        let (turn, took) = site.ask();
        eprintln!("[{backend:?}] {dep:?} hung, breaker open: {took:?}");
        assert!(took < BOUND, "{dep:?}: {took:?}");
        assert_eq!(turn["degraded"], true, "{turn}");
        cites_the_shipping_page(&turn);

        // A document uploaded now is stored, its vectors pending, within the write limit.
        let started = Instant::now();
        let id = format!("outage-{}.md", dep.name());
        let words = match dep {
            Dep::Embedder => "quartz heron",
            Dep::Chroma => "amber falcon",
        };
        let stored = site.put_document(&id, &format!("# Outage\n\nThe {words} notice.\n"));
        assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
        assert_eq!(stored.status, 201, "{}", stored.text);
        assert_eq!(stored.json()["vector_index"], "pending", "{}", stored.text);

        // Back again: after the cool-down the readiness probe closes the breaker.
        site.resume(dep);
        std::thread::sleep(Duration::from_secs(COOLDOWN_SECS) + Duration::from_millis(200));
        let (_, entry) = site.readiness(dep);
        assert_eq!(entry["ok"], true, "{entry}");
        assert_eq!(entry["circuit"], "closed", "{entry}");
        assert_eq!(site.circuit_gauge(dep), 0.0, "{dep:?}");
        let (turn, _) = site.ask();
        assert_eq!(turn["degraded"], false, "{dep:?} resumed: {turn}");
        cites_the_shipping_page(&turn);

        // The pending document: `kb-loader list` says so, `kb-loader reindex` writes its
        // vectors, and vector search finds it.
        let listed = site.kb_loader(&["list"]);
        assert!(listed.contains("1 with vectors pending"), "{listed}");
        let reindexed = site.kb_loader(&["reindex"]);
        assert!(reindexed.contains(&format!("indexed {id}")), "{reindexed}");
        assert!(reindexed.ends_with("1 indexed, 0 pending\n"), "{reindexed}");
        let found = send(post_json(
            &site.app,
            "/api/kb/search",
            Some(&site.admin()),
            &json!({ "query": format!("{words} notice"), "mode": "vector" }),
        ))
        .json();
        assert_eq!(found["degraded"], false, "{found}");
        assert_eq!(found["results"][0]["external_id"], id.as_str(), "{found}");
    }

    let failures = send(request(
        &site.app,
        Method::GET,
        "/metrics",
        Some(METRICS_TOKEN),
    ));
    for dep in [Dep::Embedder, Dep::Chroma] {
        let series = format!(
            "support_dependency_failures_total{{dependency=\"{}\"}}",
            dep.name()
        );
        assert!(
            metric_value(&failures.text, &series) >= BREAKER_FAILURES as f64,
            "{series}"
        );
    }
}

/// A refused dependency (killed) fails fast, opens the breaker the same way, and a half-open
/// breaker lets a real message probe it once it is back.
fn a_refused_dependency_opens_the_breaker_and_a_message_probes_it_after_the_cool_down(
    backend: Backend,
) {
    let mut site = Site::start(backend);
    site.embedder.stop();
    for _ in 0..BREAKER_FAILURES {
        let (turn, _) = site.ask();
        assert_eq!(turn["degraded"], true, "{turn}");
        cites_the_shipping_page(&turn);
    }
    assert_eq!(site.circuit_gauge(Dep::Embedder), 1.0);
    site.embedder.restart();
    std::thread::sleep(Duration::from_secs(COOLDOWN_SECS) + Duration::from_millis(200));
    // Half-open: this message is the probe; it succeeds and closes the breaker.
    let (turn, _) = site.ask();
    assert_eq!(turn["degraded"], false, "{turn}");
    assert_eq!(site.circuit_gauge(Dep::Embedder), 0.0);
    let (turn, _) = site.ask();
    assert_eq!(turn["degraded"], false, "{turn}");
}

/// An embedding sidecar that answers garbage (bytes that are no HTTP) is a failed retriever:
/// a cited keyword answer with `degraded: true`; once it answers properly, vectors again.
fn an_embedder_answering_garbage_means_a_keyword_answer(backend: Backend) {
    let tenant = TenantSeed::unique("garbage", ROOMY);
    let chroma = Chroma::start();
    let embedder = Embedder::start();
    let proxy = FaultProxy::start(&embedder.host());
    let (chroma_host, proxy_url) = (chroma.host(), format!("http://{}", proxy.addr()));
    let app = PlatformApp::start(
        backend,
        std::slice::from_ref(&tenant),
        &[
            ("SPIN_VARIABLE_CHROMA_URL", &chroma.url),
            ("SPIN_VARIABLE_CHROMA_HOST", &chroma_host),
            ("SPIN_VARIABLE_EMBEDDER_URL", &proxy_url),
            ("SPIN_VARIABLE_EMBEDDER_HOST", &proxy.addr()),
        ],
    );
    let site = Site::with_shipping_page(app, tenant, chroma, embedder);

    proxy.set(Fault::Garbage);
    let (turn, took) = site.ask();
    eprintln!("[{backend:?}] embedder answering garbage: {took:?}");
    assert!(took < BOUND, "{took:?}");
    assert_eq!(turn["degraded"], true, "{turn}");
    cites_the_shipping_page(&turn);

    proxy.set(Fault::Pass);
    let (turn, _) = site.ask();
    assert_eq!(turn["degraded"], false, "{turn}");
    cites_the_shipping_page(&turn);
}

/// Visitors chatting at once while devhost is killed (SIGKILL) and restarted on the same
/// state: every sender retries with its Idempotency-Key until acknowledged; afterwards every
/// message is in its history exactly once, each with one bot reply.
fn a_crash_under_concurrent_chat_loses_and_duplicates_nothing(backend: Backend) {
    const SENDERS: usize = 4;
    const MESSAGES: usize = 25;
    let tenant = TenantSeed::unique("crash", ROOMY);
    let mut app = PlatformApp::start(backend, std::slice::from_ref(&tenant), &[]);
    let sessions: Vec<(String, String)> = (0..SENDERS)
        .map(|_| {
            let reply = send(post_json(
                &app,
                "/api/sessions",
                None,
                &json!({ "widget_key": tenant.widget_key }),
            ));
            assert_eq!(reply.status, 201, "{}", reply.text);
            let body = reply.json();
            (
                body["session"]["id"].as_str().unwrap().to_string(),
                body["token"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let base = std::sync::Arc::new(std::sync::Mutex::new(app.base.clone()));
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let senders: Vec<_> = sessions
        .iter()
        .cloned()
        .map(|(session, token)| {
            let base = std::sync::Arc::clone(&base);
            let acknowledged = std::sync::Arc::clone(&acknowledged);
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(20))
                    .build()
                    .unwrap();
                let mut retries = 0;
                for i in 0..MESSAGES {
                    let deadline = Instant::now() + Duration::from_secs(120);
                    loop {
                        let url =
                            format!("{}/api/sessions/{session}/messages", base.lock().unwrap());
                        let status = client
                            .post(url)
                            .bearer_auth(&token)
                            .header("idempotency-key", format!("{session}-{i}"))
                            .json(&json!({ "text": format!("message {i} about delivery times") }))
                            .send()
                            .map(|r| r.status().as_u16());
                        match status {
                            Ok(200 | 201) => break,
                            Ok(s) if (400..500).contains(&s) && s != 409 && s != 429 => {
                                panic!("message {i}: {s}")
                            }
                            _ => {
                                retries += 1;
                                assert!(
                                    Instant::now() < deadline,
                                    "message {i} never acknowledged"
                                );
                                std::thread::sleep(Duration::from_millis(100));
                            }
                        }
                    }
                    acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                retries
            })
        })
        .collect();

    // Crash once a third of the messages are in, while the rest are on their way.
    while acknowledged.load(std::sync::atomic::Ordering::SeqCst) < SENDERS * MESSAGES / 3 {
        std::thread::sleep(Duration::from_millis(10));
    }
    app.app.kill();
    let at_crash = acknowledged.load(std::sync::atomic::Ordering::SeqCst);
    app.app.restart(&[]);
    *base.lock().unwrap() = app.base.clone();
    let retries: usize = senders.into_iter().map(|t| t.join().unwrap()).sum();
    eprintln!("[{backend:?}] crashed after {at_crash} acknowledged; {retries} retries");
    assert!(retries > 0, "the crash interrupted nobody");

    for (session, token) in &sessions {
        let history = send(request(
            &app,
            Method::GET,
            &format!("/api/sessions/{session}/messages?limit=200"),
            Some(token),
        ))
        .json();
        let messages = history["messages"].as_array().unwrap();
        for i in 0..MESSAGES {
            let text = format!("message {i} about delivery times");
            let stored: Vec<&Value> = messages.iter().filter(|m| m["text"] == text).collect();
            assert_eq!(stored.len(), 1, "{session}: {text}");
            let id = &stored[0]["id"];
            let replies = messages.iter().filter(|m| m["reply_to"] == *id).count();
            assert_eq!(replies, 1, "{session}: the reply to {text}");
        }
        assert_eq!(messages.len(), 2 * MESSAGES, "{session}");
    }
}

e2e::on_both_backends!(
    a_hung_dependency_answers_from_keywords_opens_its_breaker_and_recovers,
    a_refused_dependency_opens_the_breaker_and_a_message_probes_it_after_the_cool_down,
    a_crash_under_concurrent_chat_loses_and_duplicates_nothing,
    an_embedder_answering_garbage_means_a_keyword_answer,
);

/// PostgreSQL or Redis dropping every connection, or hung, while visitors start sessions
/// and chat: a 503 problem with `Retry-After` within a bounded time, never a 500 or a hang;
/// readiness says `unavailable`; and once the store is back the app serves again without a
/// restart.
#[test]
fn a_dropped_or_hung_store_means_503_with_retry_after_and_recovery_without_restart() {
    let pg = FaultProxy::start(&format!("{PG_HOST}:{PG_PORT}"));
    let redis = FaultProxy::start("127.0.0.1:6379");
    let tenant = TenantSeed::unique("storefault", ROOMY);
    let app = PlatformApp::start_postgres_through(
        std::slice::from_ref(&tenant),
        &[],
        &[],
        &pg.addr(),
        &redis.addr(),
    );
    let start_session = || {
        let started = Instant::now();
        let reply = send(post_json(
            &app,
            "/api/sessions",
            None,
            &json!({ "widget_key": tenant.widget_key }),
        ));
        (reply, started.elapsed())
    };
    assert_eq!(start_session().0.status, 201);
    for (name, proxy) in [("postgres", &pg), ("redis", &redis)] {
        for fault in [Fault::Drop, Fault::Hang] {
            proxy.set(fault);
            let (reply, took) = start_session();
            eprintln!("{name} {fault:?}: {} in {took:?}", reply.status);
            reply.assert_problem(503, &format!("{name} {fault:?}"));
            assert!(reply.header("retry-after").is_some(), "{name} {fault:?}");
            assert!(took < BOUND, "{name} {fault:?}: {took:?}");
            let ready = send(request(&app, Method::GET, "/health/ready", None));
            assert_eq!(ready.status, 503, "{name} {fault:?}: {}", ready.text);
            assert_eq!(ready.json()["status"], "unavailable");

            proxy.set(Fault::Pass);
            let (reply, took) = start_session();
            eprintln!("{name} back after {fault:?}: {} in {took:?}", reply.status);
            assert_eq!(reply.status, 201, "{name} after {fault:?}: {}", reply.text);
        }
    }
}
