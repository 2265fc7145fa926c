//! Faults in the app's dependencies, with real processes, while visitors chat; on both
//! backends unless a test says otherwise (the circuit breakers live in SQLite or Redis
//! counters).
//!
//! - The embedding sidecar and Chroma hung (SIGSTOP: the port accepts, nothing answers) and
//!   refused (killed): a hung dependency costs one time limit, not the host's 30 s: the
//!   message is answered from keywords with `degraded: true`; after `breaker_failures`
//!   failures in a row the breaker opens (`/health/ready` and `/metrics` say so) and the
//!   dependency is skipped; once it answers again, the readiness probe closes the breaker
//!   and answers use vectors again. Ingest with a hung dependency stores the document with
//!   its vectors pending.
//! - Through a fault proxy (`e2e::fault_proxy`): the embedder and Chroma slower than their
//!   limit or answering garbage mean a keyword answer, `degraded: true`; slow within the
//!   limit, no fault. The LLM server refused, hung, too slow or answering garbage (no HTTP,
//!   a web page, other JSON, an event stream cut off or of junk) means the extractive
//!   answer within its limit; slow within it, the model's answer. A ticketing receiver
//!   refused, hung, too slow or answering garbage never delays a hand-off past a bound nor
//!   loses an event: the outbox delivers every event once the receiver is back.
//! - The stores: PostgreSQL and Redis dropping connections, hung, or slower than devhost's
//!   store deadlines mean 503 with `Retry-After` within those deadlines, and service again
//!   without a restart; slow within them, service as usual.
//! - devhost killed under concurrent chat: every acknowledged message is stored exactly once
//!   after retries with the same Idempotency-Key.

use std::time::{Duration, Instant};

use core_logic::auth::Role;
use e2e::fault_proxy::{Fault, FaultProxy};
use e2e::http::{Reply, metric_value, post_json, request, send, staff_token};
use e2e::llm_server::{Reply as LlmReply, ScriptedLlm, content_chunk};
use e2e::platform::{Backend, PG_HOST, PG_PORT, PlatformApp, TenantSeed};
use e2e::services::{Chroma, Embedder};
use e2e::ticketing::{Behaviour, Received, Ticketing};
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

    /// Asks the delivery question in a new session: the turn and how long it took.
    fn ask(&self) -> (Value, Duration) {
        let (session, token) = new_session(&self.app, &self.tenant);
        let (reply, took) = say(
            &self.app,
            &session,
            &token,
            "How many days does standard delivery take?",
        );
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

/// A new session of `tenant`'s widget: its id and the visitor's token.
fn new_session(app: &PlatformApp, tenant: &TenantSeed) -> (String, String) {
    app.open_session_id(tenant, json!({}))
}

/// The visitor of `session` says `text`: the reply and how long it took.
fn say(app: &PlatformApp, session: &str, token: &str, text: &str) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = send(post_json(
        app,
        &format!("/api/sessions/{session}/messages"),
        Some(token),
        &json!({ "text": text }),
    ));
    (reply, started.elapsed())
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

/// The limit on each wait of an answer for the embedder, Chroma and the LLM in
/// [`Proxied`] (the embedder's and Chroma's default).
const LIMIT_MS: u64 = 1000;
/// `llm_turn_budget_ms` of the proxied app: all of one turn's LLM requests together.
const TURN_BUDGET_MS: u64 = 2500;
/// Each chunk this late: the first byte of every answer comes after the limit.
const TOO_SLOW: Duration = Duration::from_millis(2500);
/// Each chunk this late: slow, yet every answer comes well within the limit.
const SLOW: Duration = Duration::from_millis(100);
/// HTTP answers that are nobody's API: a web page (a captive portal, a misrouted proxy),
/// and JSON of some other shape.
const WEB_PAGE: &str = "<!doctype html><title>Welcome</title><p>Please sign in.</p>";
const OTHER_JSON: &str = r#"{"ids":"none","data":{"unexpected":true}}"#;

/// A site whose answer dependencies each sit behind a fault proxy: the embedding sidecar,
/// Chroma, and a scripted OpenAI-compatible LLM server.
struct Proxied {
    site: Site,
    embedder: FaultProxy,
    chroma: FaultProxy,
    llm: FaultProxy,
    scripted: ScriptedLlm,
}

impl Proxied {
    fn start(backend: Backend) -> Proxied {
        let tenant = TenantSeed::unique("proxied", ROOMY);
        let (chroma, embedder) = (Chroma::start(), Embedder::start());
        let scripted = ScriptedLlm::start(Vec::new());
        let [embedder_proxy, chroma_proxy, llm] =
            [embedder.host(), chroma.host(), scripted.host()].map(|t| FaultProxy::start(&t));
        let (embedder_url, chroma_url, llm_url) =
            (embedder_proxy.url(), chroma_proxy.url(), llm.url());
        let (embedder_host, chroma_host) = (embedder_proxy.addr(), chroma_proxy.addr());
        let llm_base = format!("{llm_url}/v1");
        let limit = LIMIT_MS.to_string();
        let turn_budget = TURN_BUDGET_MS.to_string();
        let app = PlatformApp::start(
            backend,
            std::slice::from_ref(&tenant),
            &[
                ("SPIN_VARIABLE_EMBEDDER_URL", &embedder_url),
                ("SPIN_VARIABLE_EMBEDDER_HOST", &embedder_host),
                ("SPIN_VARIABLE_CHROMA_URL", &chroma_url),
                ("SPIN_VARIABLE_CHROMA_HOST", &chroma_host),
                ("SPIN_VARIABLE_LLM_BASE_URL", &llm_base),
                ("SPIN_VARIABLE_LLM_ORIGIN", &llm_url),
                ("SPIN_VARIABLE_LLM_MODEL", "scripted"),
                ("SPIN_VARIABLE_EMBEDDER_TIMEOUT_MS", &limit),
                ("SPIN_VARIABLE_CHROMA_TIMEOUT_MS", &limit),
                ("SPIN_VARIABLE_LLM_TIMEOUT_MS", &limit),
                ("SPIN_VARIABLE_LLM_TURN_BUDGET_MS", &turn_budget),
                // Each case on its own: no breaker opens on the failures before it.
                ("SPIN_VARIABLE_BREAKER_FAILURES", "1000"),
            ],
        );
        Proxied {
            site: Site::with_shipping_page(app, tenant, chroma, embedder),
            embedder: embedder_proxy,
            chroma: chroma_proxy,
            llm,
            scripted,
        }
    }

    /// Asks with `fault` on `proxy` (then passes again): the turn and how long it took.
    fn ask_with(&self, proxy: &FaultProxy, fault: Fault) -> (Value, Duration) {
        proxy.set(fault);
        let asked = self.site.ask();
        proxy.set(Fault::Pass);
        asked
    }
}

/// A retriever (the embedding sidecar or Chroma) slower than its limit, or answering
/// garbage (bytes that are no HTTP, a web page, JSON of another shape with a 200), is a
/// failed retriever: 201 within one limit, a cited keyword answer with `degraded: true`.
/// One slow but within its limit is no fault: `degraded: false`. The LLM answers nothing
/// here (its script is empty: an error), so every reply is the extractive one.
fn a_slow_or_garbage_retriever_means_a_keyword_answer_unless_within_its_limit(backend: Backend) {
    let proxied = Proxied::start(backend);
    for (name, proxy) in [("embedder", &proxied.embedder), ("chroma", &proxied.chroma)] {
        for (fault, degraded) in [
            (Fault::Slow(TOO_SLOW), true),
            (Fault::Slow(SLOW), false),
            (Fault::Garbage, true),
            (Fault::Http(200, WEB_PAGE), true),
            (Fault::Http(200, OTHER_JSON), true),
        ] {
            let (turn, took) = proxied.ask_with(proxy, fault);
            eprintln!(
                "[{backend:?}] {name} {fault:?}: 201 degraded={} in {took:?}",
                turn["degraded"]
            );
            assert!(took < BOUND, "{name} {fault:?}: {took:?}");
            assert_eq!(turn["degraded"], degraded, "{name} {fault:?}: {turn}");
            cites_the_shipping_page(&turn);
        }
    }
    let (turn, _) = proxied.site.ask();
    assert_eq!(turn["degraded"], false, "all passing again: {turn}");
}

/// The LLM server refused, dropping connections, hung, slower than its limit, answering
/// garbage (bytes that are no HTTP, a web page or JSON of another shape with a 200, an
/// event stream cut off mid-chunk, an event stream of junk): 201 within the limit (one per
/// request the turn makes) with the extractive answer (`responder: fallback`), cited, and
/// `degraded: false` (retrieval was whole). Slow within its limit, the model's answer is
/// the reply (`responder: llm`). Slow on every round, each within the limit, the turn
/// ends at `llm_turn_budget_ms` with the extractive answer.
fn a_failing_llm_means_the_extractive_answer_within_its_limit(backend: Backend) {
    let proxied = Proxied::start(backend);
    let grounded = "Standard delivery takes 3 to 5 working days [1].";
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    let event = format!("data: {}\n\n", content_chunk("Standard delivery"));
    let cut_off = format!("{head}{:x}\r\n{event}\r\n40\r\ndata: {{\"obj", event.len());
    let junk_stream = LlmReply::Stream {
        events: vec!["{not json".into(), "<html>".into()],
        chunked: true,
        pause: Duration::ZERO,
    };
    // (case, fault, script, responder): a script starting with an empty completion has the
    // model ask for the streamed answer request.
    let cases: Vec<(&str, Fault, Vec<LlmReply>, &str)> = vec![
        (
            "slow within the limit",
            Fault::Slow(SLOW),
            vec![LlmReply::completion(grounded)],
            "llm",
        ),
        ("refused", Fault::Refuse, vec![], "fallback"),
        ("dropping connections", Fault::Drop, vec![], "fallback"),
        ("hung", Fault::Hang, vec![], "fallback"),
        (
            "slower than the limit",
            Fault::Slow(TOO_SLOW),
            vec![],
            "fallback",
        ),
        ("bytes that are no HTTP", Fault::Garbage, vec![], "fallback"),
        ("a web page", Fault::Http(200, WEB_PAGE), vec![], "fallback"),
        (
            "JSON of another shape",
            Fault::Http(200, OTHER_JSON),
            vec![],
            "fallback",
        ),
        (
            "an event stream cut off",
            Fault::Pass,
            vec![LlmReply::completion(""), LlmReply::Raw(cut_off)],
            "fallback",
        ),
        (
            "an event stream of junk, then a web page unstreamed",
            Fault::Pass,
            vec![
                LlmReply::completion(""),
                junk_stream,
                LlmReply::Status(200, WEB_PAGE.into()),
            ],
            "fallback",
        ),
    ];
    for (case, fault, script, responder) in cases {
        for reply in script {
            proxied.scripted.push(reply);
        }
        let (turn, took) = proxied.ask_with(&proxied.llm, fault);
        eprintln!(
            "[{backend:?}] llm {case} ({fault:?}): 201 responder={} degraded={} in {took:?}",
            turn["reply"]["responder"], turn["degraded"]
        );
        assert!(took < BOUND, "{case}: {took:?}");
        assert_eq!(turn["reply"]["responder"], responder, "{case}: {turn}");
        assert_eq!(turn["degraded"], false, "{case}: {turn}");
        cites_the_shipping_page(&turn);
    }

    // A model within its per-wait limit on every request but slow on each: three tool
    // rounds of 0.5 s, then an answer stream trickling in for 7 s, each event well within
    // the between-bytes limit. Only the turn budget ends it, while the stream is read
    // (without it: ~9 s and `responder: llm`).
    let round = Duration::from_millis(500);
    // Three different searches: a repeated one would end the tool rounds early.
    for (id, query) in [("a", "delivery times"), ("b", "shipping"), ("c", "express")] {
        let arguments = json!({ "query": query }).to_string();
        let call = LlmReply::tool_call(id, "search_kb", &arguments);
        proxied
            .scripted
            .push(LlmReply::Delay(round, Box::new(call)));
    }
    proxied.scripted.push(LlmReply::Stream {
        events: [
            "Standard",
            " delivery",
            " takes",
            " 3 to 5",
            " working",
            " days [1].",
        ]
        .iter()
        .cycle()
        .take(12)
        .map(|piece| content_chunk(piece))
        .collect(),
        chunked: true,
        pause: Duration::from_millis(600),
    });
    let (turn, took) = proxied.ask_with(&proxied.llm, Fault::Pass);
    eprintln!(
        "[{backend:?}] llm slow on every round: 201 responder={} in {took:?} (turn budget {TURN_BUDGET_MS} ms)",
        turn["reply"]["responder"]
    );
    assert_eq!(turn["reply"]["responder"], "fallback", "{turn}");
    assert!(
        took < Duration::from_millis(TURN_BUDGET_MS) + Duration::from_millis(2500),
        "the turn budget cut the model off: {took:?}"
    );
    cites_the_shipping_page(&turn);
}

const HOOK_SECRET: &str = "whsec-faults-outbound";
const FLUSH_TOKEN: &str = "faults-flush-token-0123456789";
/// The limit on each wait of one webhook delivery in
/// [`a_failing_ticketing_receiver_neither_delays_nor_loses_a_handoff`].
const WEBHOOK_LIMIT_MS: u64 = 1000;

/// A ticketing receiver (the generic webhook format) behind a fault proxy, refused,
/// dropping connections, answering bytes that are no HTTP or a 502 web page, hung, and
/// slower than the delivery limit, while visitors ask for a person and write on: each
/// hand-off is 201 at once (the ticket is stored, its events are in the outbox) and each
/// message within a bound however many events wait, as does the flush route; once the
/// receiver is back, every event is delivered; no delivery after that; the receiver saw
/// each event id once, except for deliveries the hung or slow receiver got after the app
/// had given up on them, which repeat the same event id (receivers deduplicate by it).
/// Slow within the limit, the delivery succeeds during the visitor's request.
///
/// Retries are due at once (`outbox_retry_base_ms` 0), so every failed event is due again
/// at each request: a receiver that fails costs one delivery limit per request, not one
/// per event waiting for it.
fn a_failing_ticketing_receiver_neither_delays_nor_loses_a_handoff(backend: Backend) {
    let receiver = Ticketing::start(Behaviour::default());
    let proxy = FaultProxy::start(receiver.url().trim_start_matches("http://"));
    let settings = json!({
        "rate_limits": { "per_visitor": 100000, "per_client": 100000 },
        "handoff": {
            "webhooks": [{ "name": "desk", "format": "generic",
                           "url": format!("{}/hooks/support", proxy.url()),
                           "secret": HOOK_SECRET }],
            "max_attempts": 100,
        }
    })
    .to_string();
    let tenant = TenantSeed::unique("hooks", &settings);
    let limit = WEBHOOK_LIMIT_MS.to_string();
    let app = PlatformApp::start(
        backend,
        std::slice::from_ref(&tenant),
        &[
            ("SPIN_VARIABLE_WEBHOOK_HOSTS_A", "http://127.0.0.1:*"),
            ("SPIN_VARIABLE_WEBHOOK_TIMEOUT_MS", &limit),
            ("SPIN_VARIABLE_OUTBOX_RETRY_BASE_MS", "0"),
            ("SPIN_VARIABLE_OUTBOX_FLUSH_TOKEN", FLUSH_TOKEN),
        ],
    );
    let admin = staff_token(&tenant.id, Role::Admin, "ops");
    let outbox = |state: &str| -> Vec<Value> {
        let reply = send(request(
            &app,
            Method::GET,
            &format!("/api/admin/outbox?state={state}"),
            Some(&admin),
        ));
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json()["events"].as_array().unwrap().clone()
    };
    let flush = || {
        let started = Instant::now();
        let reply = send(request(
            &app,
            Method::POST,
            "/api/admin/outbox/flush",
            Some(FLUSH_TOKEN),
        ));
        assert_eq!(reply.status, 200, "{}", reply.text);
        (reply.json(), started.elapsed())
    };

    for fault in [
        Fault::Refuse,
        Fault::Drop,
        Fault::Garbage,
        Fault::Http(502, WEB_PAGE),
        Fault::Hang,
        Fault::Slow(TOO_SLOW),
    ] {
        proxy.set(fault);
        let (session, token) = new_session(&app, &tenant);
        for text in ["I want to talk to a person", "My order 1234 never arrived"] {
            let (reply, took) = say(&app, &session, &token, text);
            eprintln!(
                "[{backend:?}] webhook {fault:?}, \"{text}\": {} in {took:?}",
                reply.status
            );
            assert_eq!(reply.status, 201, "{fault:?}: {}", reply.text);
            assert!(took < BOUND, "{fault:?} {text}: {took:?}");
            if text.starts_with("I want") {
                assert_eq!(reply.json()["action"]["type"], "escalate", "{}", reply.text);
            }
        }
        let (report, took) = flush();
        eprintln!("[{backend:?}] webhook {fault:?}, flush: {report} in {took:?}");
        assert!(took < BOUND, "{fault:?} flush: {took:?}");
        assert_eq!(report["delivered"], 0, "{fault:?}: {report}");
        assert!(outbox("delivered").is_empty(), "{fault:?}");
        assert!(outbox("dead").is_empty(), "{fault:?}");
    }

    // Back: flushed until nothing is pending; every event delivered once, in the outbox
    // and at the receiver.
    proxy.set(Fault::Pass);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !outbox("pending").is_empty() {
        assert!(Instant::now() < deadline, "{:?}", outbox("pending"));
        flush();
    }
    let delivered = outbox("delivered");
    // Per hand-off: the ticket opened and the visitor's message forwarded to it.
    assert!(delivered.len() >= 12, "{delivered:?}");
    assert!(outbox("dead").is_empty());
    let mut ids: Vec<String> = delivered
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), delivered.len(), "one outbox row per event");
    let seen = |accepted: &[Received]| -> Vec<String> {
        let mut seen: Vec<String> = accepted
            .iter()
            .map(|r| r.header("x-support-event-id").unwrap().to_string())
            .collect();
        seen.sort();
        seen
    };
    let mut distinct = seen(&receiver.accepted());
    distinct.dedup();
    assert_eq!(distinct, ids, "every event reached the receiver");
    let before = receiver.accepted().len();
    // A repeat needs an attempt the app gave up on while hung or slow: at most one per
    // request and flush of those two faults.
    assert!(before - ids.len() <= 6, "{:?}", seen(&receiver.accepted()));
    let (report, _) = flush();
    assert_eq!(report["delivered"], 0, "{report}");
    assert_eq!(receiver.accepted().len(), before, "nothing is sent again");
    eprintln!(
        "[{backend:?}] webhook back: {} events, {} deliveries accepted",
        ids.len(),
        before
    );

    // Slow within the limit: delivered during the visitor's own request.
    proxy.set(Fault::Slow(SLOW));
    let (session, token) = new_session(&app, &tenant);
    let (reply, took) = say(&app, &session, &token, "I want to talk to a person");
    eprintln!(
        "[{backend:?}] webhook Slow({SLOW:?}): {} in {took:?}",
        reply.status
    );
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert!(took < BOUND, "{took:?}");
    assert_eq!(outbox("pending"), Vec::<Value>::new());
    assert_eq!(outbox("delivered").len(), delivered.len() + 1);
    assert_eq!(receiver.accepted().len(), before + 1);
}

/// Visitors chatting at once while devhost is killed (SIGKILL) and restarted on the same
/// state: every sender retries with its Idempotency-Key until acknowledged; afterwards every
/// message is in its history exactly once, each with one bot reply.
fn a_crash_under_concurrent_chat_loses_and_duplicates_nothing(backend: Backend) {
    const SENDERS: usize = 4;
    const MESSAGES: usize = 25;
    let tenant = TenantSeed::unique("crash", ROOMY);
    let mut app = PlatformApp::start(backend, std::slice::from_ref(&tenant), &[]);
    let sessions: Vec<(String, String)> =
        (0..SENDERS).map(|_| new_session(&app, &tenant)).collect();
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
    a_slow_or_garbage_retriever_means_a_keyword_answer_unless_within_its_limit,
    a_failing_llm_means_the_extractive_answer_within_its_limit,
    a_failing_ticketing_receiver_neither_delays_nor_loses_a_handoff,
);

/// PostgreSQL or Redis dropping every connection, hung, or slower than devhost's store
/// deadlines, while visitors start sessions and chat: a 503 problem with `Retry-After` within
/// a bounded time, never a 500 or a hang; readiness says `unavailable`; and once the store
/// is back the app serves again without a restart. Slow within the deadlines, sessions and
/// chat work as usual.
#[test]
fn a_dropped_hung_or_too_slow_store_means_503_with_retry_after_and_recovery_without_restart() {
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
        // Slower than devhost's deadlines: 5 s a PostgreSQL statement, 2 s a Redis answer.
        let too_slow = Fault::Slow(Duration::from_millis(if name == "postgres" {
            6000
        } else {
            3000
        }));
        for fault in [Fault::Drop, Fault::Hang, too_slow] {
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
        // Slow within the deadlines (a request runs dozens of statements, each slowed
        // twice): sessions and chat as usual.
        let slow = Fault::Slow(Duration::from_millis(20));
        proxy.set(slow);
        let (reply, took) = start_session();
        eprintln!("{name} {slow:?}: session {} in {took:?}", reply.status);
        assert_eq!(reply.status, 201, "{name} slow: {}", reply.text);
        assert!(took < BOUND, "{name} slow: {took:?}");
        let body = reply.json();
        let (session, token) = (
            body["session"]["id"].as_str().unwrap(),
            body["token"].as_str().unwrap(),
        );
        let (reply, took) = say(&app, session, token, "How long does delivery take?");
        eprintln!(
            "{name} {slow:?}: message {} in {took:?} {:?}",
            reply.status,
            reply.header("server-timing")
        );
        assert_eq!(reply.status, 201, "{name} slow: {}", reply.text);
        assert!(took < BOUND, "{name} slow: {took:?}");
        proxy.set(Fault::Pass);
    }
}
