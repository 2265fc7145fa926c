//! The LLM responder inside the answer pipeline, end to end: the app on devhost calls a
//! scripted OpenAI-compatible server (`e2e::llm_server::ScriptedLlm`) with our prompt and
//! tools, runs `search_kb`, and keeps the model's answer only when the sources support it.
//!
//! - a grounded answer after a `search_kb` round trip is the reply (`responder: llm`), with
//!   citations of the sources it used, and the key reaches the endpoint;
//! - an answer the sources do not support, an endpoint error, or a model that keeps
//!   calling tools falls back to the extractive responder (`responder: fallback`);
//! - the model's `escalate` offers a person; a visitor asking for one is handed off without
//!   calling the model at all;
//! - below the answer gate (retrieval not sure of its sources) the model is not asked and a
//!   person is offered, unless the tenant trusts it to judge (`answer.llm_below_gate`);
//! - a server that refuses streamed tool rounds (llama.cpp's `chatml-function-calling`) is
//!   never sent one, and one that cannot stream at all gets the answer request again
//!   unstreamed: the model's answer is the reply either way;
//! - against a real llama-cpp-python server with SmolLM2-135M, a question a one-line passage
//!   answers gets the model's grounded answer (`responder: llm`); the test fails when the
//!   server cannot be installed or started.

use e2e::http::{post_json, send};
use std::time::{Duration, Instant};

use e2e::llm_server::{RealLlm, Refusal, Reply, ScriptedLlm};
use e2e::platform::{Backend, PlatformApp, TenantSeed};
use e2e::services::{Chroma, Embedder};
use serde_json::{Value, json};

const ROOMY: &str = r#"{"rate_limits":{"per_visitor":100000,"per_client":100000}}"#;
const API_KEY: &str = "sk-test-responder-key";

const SHIPPING: &str = "# Shipping\n\n## Delivery times\n\nStandard delivery takes 3 to 5 \
working days. Express delivery arrives the next working day when you order before 2 pm.\n";
/// One sentence, for the real model: it answers from it in its words.
const DELIVERY: &str = "# Delivery\n\nStandard delivery takes 3 to 5 working days.\n";
const REFUNDS: &str = "# Refunds\n\n## Eligibility\n\nYou can return an unused item within 30 \
days of delivery for a full refund.\n";

struct Bot {
    app: PlatformApp,
    tenant: TenantSeed,
    llm: ScriptedLlm,
}

/// The app with the LLM at `base` (`http://host:port/v1`), each request to it limited to
/// `timeout_ms`, each request to the app to `request_timeout_secs`.
fn app_with_llm(
    backend: Backend,
    base: &str,
    timeout_ms: &str,
    request_timeout_secs: &str,
) -> (PlatformApp, TenantSeed) {
    let tenant = TenantSeed::unique("responder", ROOMY);
    let env = llm_env(base, timeout_ms);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = PlatformApp::start_with_args(
        backend,
        std::slice::from_ref(&tenant),
        &env,
        &["--request-timeout-secs", request_timeout_secs],
    );
    (app, tenant)
}

/// The app's variables for the LLM at `base`, each request to it limited to `timeout_ms`.
fn llm_env(base: &str, timeout_ms: &str) -> Vec<(&'static str, String)> {
    let origin = base.trim_end_matches("/v1").to_string();
    vec![
        ("SPIN_VARIABLE_LLM_BASE_URL", base.to_string()),
        ("SPIN_VARIABLE_LLM_MODEL", "scripted".into()),
        ("SPIN_VARIABLE_LLM_API_KEY", API_KEY.into()),
        ("SPIN_VARIABLE_LLM_ORIGIN", origin),
        ("SPIN_VARIABLE_LLM_TIMEOUT_MS", timeout_ms.to_string()),
        (
            "SPIN_VARIABLE_METRICS_TOKEN",
            "responder-metrics-token".into(),
        ),
    ]
}

/// Shipping and Refunds, uploaded into `tenant`'s knowledge base.
fn load_kb(app: &PlatformApp, tenant: &TenantSeed) {
    let admin = e2e::http::staff_token(&tenant.id, core_logic::auth::Role::Admin, "ops");
    for (id, text) in [("shipping.md", SHIPPING), ("refunds.md", REFUNDS)] {
        let reply = send(post_json(
            app,
            "/api/kb/documents",
            Some(&admin),
            &json!({ "external_id": id, "content": text }),
        ));
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
}

impl Bot {
    fn start(backend: Backend, script: Vec<Reply>) -> Bot {
        Self::with(backend, ScriptedLlm::start(script))
    }

    fn with(backend: Backend, llm: ScriptedLlm) -> Bot {
        let (app, tenant) = app_with_llm(backend, &llm.base_url(), "3000", "30");
        load_kb(&app, &tenant);
        Bot { app, tenant, llm }
    }

    fn ask(&self, text: &str) -> Value {
        ask(&self.app, &self.tenant, text)
    }
}

/// A new session's visitor says `text`; the turn.
fn ask(app: &PlatformApp, tenant: &TenantSeed, text: &str) -> Value {
    ask_timed(app, tenant, text).0
}

/// [`ask`], with the reply's `Server-Timing` header (the pipeline's stages, `llm` among them).
fn ask_timed(app: &PlatformApp, tenant: &TenantSeed, text: &str) -> (Value, String) {
    let created = send(post_json(
        app,
        "/api/sessions",
        None,
        &json!({ "widget_key": tenant.widget_key }),
    ))
    .json();
    let session = created["session"]["id"].as_str().unwrap();
    let token = created["token"].as_str().unwrap();
    // As long as the app may take (the real-server test gives it minutes).
    let reply = send(
        post_json(
            app,
            &format!("/api/sessions/{session}/messages"),
            Some(token),
            &json!({ "text": text }),
        )
        .timeout(Duration::from_secs(300)),
    );
    assert_eq!(reply.status, 201, "{}", reply.text);
    let timing = reply
        .header("server-timing")
        .unwrap_or_default()
        .to_string();
    (reply.json(), timing)
}

/// A hung LLM server (it answers nothing for longer than `llm_timeout_ms`) costs the visitor
/// one time limit, not the request limit: the extractive answer comes instead.
fn a_hung_llm_costs_one_time_limit_and_the_extractive_answer_replies(backend: Backend) {
    let bot = Bot::start(
        backend,
        vec![Reply::Delay(
            Duration::from_secs(20),
            Box::new(Reply::completion("Too late [1].")),
        )],
    );
    let started = Instant::now();
    let turn = bot.ask("How long does standard delivery take?");
    let took = started.elapsed();
    eprintln!("[{backend:?}] hung LLM (3 s limit): {took:?}");
    // The limit is 3 s per wait; well under the 30 s request limit and the 20 s hang.
    assert!(took < Duration::from_secs(12), "{took:?}");
    assert_is_the_extractive_delivery_answer(&turn, "a hung server");
}

/// The reply is the extractive answer to the delivery question, cited.
fn assert_is_the_extractive_delivery_answer(turn: &Value, case: &str) {
    let reply = &turn["reply"];
    assert_eq!(reply["responder"], "fallback", "{case}: {turn}");
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("3 to 5 working days"),
        "{case}: {turn}"
    );
    assert_eq!(reply["citations"][0]["title"], "Shipping", "{case}");
}

e2e::on_both_backends!(
    a_grounded_llm_answer_after_a_search_is_the_reply,
    ungrounded_failed_or_looping_models_fall_back_to_the_extractive_answer,
    the_model_offers_a_person_and_requests_for_one_skip_it,
    a_server_that_cannot_stream_tool_calls_is_not_asked_to_and_its_answer_is_the_reply,
    a_server_that_cannot_stream_gets_the_answer_request_again_unstreamed,
    a_hung_llm_costs_one_time_limit_and_the_extractive_answer_replies,
    the_model_is_asked_only_past_the_answer_gate_unless_the_tenant_trusts_it,
);

/// A question retrieval is not sure of (below `answer.min_confidence`) gets the offer of a
/// person without a request to the model, as it would without a model. A tenant that
/// trusts its model to judge answerability (`answer.llm_below_gate`) has it asked all the
/// same, and its grounded answer is the reply.
fn the_model_is_asked_only_past_the_answer_gate_unless_the_tenant_trusts_it(backend: Backend) {
    // No [n] marker: which passage ranks first for the question is retrieval's business;
    // the sentence gets the source that supports it.
    let llm = ScriptedLlm::start(vec![Reply::completion(
        "Express delivery arrives the next working day when you order before 2 pm.",
    )]);
    let gated = TenantSeed::unique("gated", ROOMY);
    let trusting = TenantSeed::unique(
        "trusting",
        r#"{"rate_limits":{"per_visitor":100000,"per_client":100000},"answer":{"llm_below_gate":true}}"#,
    );
    let tenants = [gated, trusting];
    // Retrieval with vectors: a keyword-only (degraded) search answers whatever it finds.
    let (chroma, embedder) = (Chroma::start(), Embedder::start());
    let env = llm_env(&llm.base_url(), "3000");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = PlatformApp::start_with_retrieval(backend, &tenants, &chroma, &embedder, &env);
    for tenant in &tenants {
        load_kb(&app, tenant);
    }
    let question = "Can I get it sooner?";

    let turn = ask(&app, &tenants[0], question);
    assert_eq!(turn["action"]["type"], "offer_handoff", "{turn}");
    assert_eq!(turn["action"]["reason"], "not_in_knowledge_base", "{turn}");
    assert_eq!(turn["reply"]["citations"], json!([]), "{turn}");
    assert!(
        llm.received().is_empty(),
        "the model was asked below the gate: {turn}"
    );

    let turn = ask(&app, &tenants[1], question);
    let reply = &turn["reply"];
    assert_eq!(reply["responder"], "llm", "{turn}");
    assert!(
        reply["text"].as_str().unwrap().contains("next working day"),
        "{turn}"
    );
    assert_eq!(reply["citations"][0]["title"], "Shipping", "{turn}");
    assert_eq!(llm.received().len(), 1);
}

fn a_grounded_llm_answer_after_a_search_is_the_reply(backend: Backend) {
    let bot = Bot::start(
        backend,
        vec![
            Reply::tool_call("call_1", "search_kb", r#"{"query":"express delivery"}"#),
            Reply::completion(
                "Standard delivery takes 3 to 5 working days [1]. Express delivery arrives \
                 the next working day when you order before 2 pm [1].",
            ),
        ],
    );
    let turn = bot.ask("How long does standard delivery take?");
    let reply = &turn["reply"];
    assert_eq!(reply["responder"], "llm", "{turn}");
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("3 to 5 working days")
    );
    assert_eq!(reply["citations"][0]["title"], "Shipping", "{turn}");
    assert!(reply["action"].is_null());

    let requests = bot.llm.received();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    let first = requests[0].json();
    assert_eq!(first["model"], "scripted");
    let tools: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["search_kb", "escalate", "recall_memory"]);
    let system = first["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("Sources:") && system.contains("Shipping"),
        "{system}"
    );
    let second = requests[1].json();
    let tool_message = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the search result went back to the model");
    assert_eq!(tool_message["tool_call_id"], "call_1");

    // Two requests and the tokens the scripted server reported reach the metrics.
    let metrics = send(e2e::http::request(
        &bot.app,
        reqwest::Method::GET,
        "/metrics",
        Some("responder-metrics-token"),
    ));
    for series in [
        "support_llm_request_duration_seconds_count{outcome=\"ok\"}",
        "support_llm_tokens_total{kind=\"prompt\"}",
        "support_answers_total{responder=\"llm\",outcome=\"answered\"}",
    ] {
        let value = e2e::http::metric_value(&metrics.text, series);
        assert!(value >= 1.0, "{series} = {value}");
    }
}

fn ungrounded_failed_or_looping_models_fall_back_to_the_extractive_answer(backend: Backend) {
    let looping: Vec<Reply> = (0..6)
        .map(|i| Reply::tool_call(&format!("c{i}"), "search_kb", r#"{"query":"delivery"}"#))
        .collect();
    let mut script = vec![Reply::completion(
        "Delivery is instant and always free on Mars [1].",
    )];
    script.push(Reply::Status(500, r#"{"error":"overloaded"}"#.into()));
    script.extend(looping);
    let bot = Bot::start(backend, script);
    for case in [
        "an ungrounded answer",
        "an endpoint error",
        "a model looping on tools",
    ] {
        let turn = bot.ask("How long does standard delivery take?");
        assert_is_the_extractive_delivery_answer(&turn, case);
        assert!(!turn["reply"]["text"].as_str().unwrap().contains("Mars"));
    }
    assert!(
        !bot.app.logs().contains(API_KEY),
        "the API key is in the logs"
    );
}

fn the_model_offers_a_person_and_requests_for_one_skip_it(backend: Backend) {
    let bot = Bot::start(
        backend,
        vec![Reply::tool_call(
            "call_e",
            "escalate",
            r#"{"reason":"shipping country not covered"}"#,
        )],
    );
    let turn = bot.ask("Do you ship to Iceland?");
    assert_eq!(turn["reply"]["responder"], "llm", "{turn}");
    assert_eq!(turn["action"]["type"], "offer_handoff", "{turn}");
    assert_eq!(bot.llm.received().len(), 1);

    let handed = bot.ask("I want to talk to a real person");
    assert_eq!(handed["action"]["type"], "escalate", "{handed}");
    assert_eq!(bot.llm.received().len(), 1, "the model was not asked");
}

fn a_server_that_cannot_stream_tool_calls_is_not_asked_to_and_its_answer_is_the_reply(
    backend: Backend,
) {
    // As llama-cpp-python's `chatml-function-calling` answers: a tool call, then (tools
    // still offered, the model picking text) an empty message, then the answer to the
    // request without tools, streamed, its source not marked.
    let empty = Reply::Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "scripted",
        "choices": [{"index": 0, "message": {"content": "", "role": "assistant"},
                     "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 487, "completion_tokens": 9, "total_tokens": 496}
    }));
    let bot = Bot::with(
        backend,
        ScriptedLlm::refusing(
            Refusal::StreamedAutoToolChoice,
            vec![
                Reply::tool_call("call_1", "search_kb", r#"{"query": "standard delivery"}"#),
                empty,
                Reply::stream_text(&["Standard delivery takes ", "3 to 5 working days."]),
            ],
        ),
    );
    let turn = bot.ask("How long does standard delivery take?");
    let reply = &turn["reply"];
    assert_eq!(reply["responder"], "llm", "{turn}");
    assert_eq!(
        reply["text"], "Standard delivery takes 3 to 5 working days [1].",
        "{turn}"
    );
    assert_eq!(reply["citations"][0]["title"], "Shipping", "{turn}");
    assert_eq!(bot.llm.refused(), 0, "no request was refused");
    let bodies = bot.llm.completions();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    for round in &bodies[..2] {
        assert_eq!(round["tool_choice"], "auto");
        assert!(round.get("stream").is_none(), "a tool round is unstreamed");
    }
    assert_eq!(
        bodies[1]["messages"].as_array().unwrap().last().unwrap()["role"],
        "tool"
    );
    // The answer request: the prompt again, with no tools and no tool transcript, streamed.
    let answer = &bodies[2];
    assert_eq!(answer["stream"], true);
    assert!(answer.get("tools").is_none() && answer.get("tool_choice").is_none());
    let messages = answer["messages"].as_array().unwrap();
    assert!(messages.iter().all(|m| m["role"] != "tool"), "{answer}");
    assert_eq!(
        messages.last().unwrap()["content"],
        "How long does standard delivery take?"
    );
    assert!(
        messages[0]["content"]
            .as_str()
            .unwrap()
            .contains("Standard delivery takes 3 to 5"),
        "{answer}"
    );
}

fn a_server_that_cannot_stream_gets_the_answer_request_again_unstreamed(backend: Backend) {
    let bot = Bot::with(
        backend,
        ScriptedLlm::refusing(
            Refusal::EveryStream,
            vec![
                Reply::completion(""),
                Reply::completion("Standard delivery takes 3 to 5 working days [1]."),
            ],
        ),
    );
    let turn = bot.ask("How long does standard delivery take?");
    assert_eq!(turn["reply"]["responder"], "llm", "{turn}");
    assert_eq!(bot.llm.refused(), 1);
    let bodies = bot.llm.completions();
    let streamed: Vec<bool> = bodies.iter().map(|b| b["stream"] == true).collect();
    assert_eq!(streamed, [false, true, false], "{bodies:?}");
    assert_eq!(bodies[1]["messages"], bodies[2]["messages"]);
}

/// The pipeline against a real OpenAI-compatible server (llama-cpp-python with
/// SmolLM2-135M, `chatml-function-calling`): the model's own answer is the reply. The
/// question is one a one-line passage answers, so that even a 135M model answers it in
/// the passage's words; the grounding guard still judges that answer, and a second
/// question, which the passage does not answer, must get no number the passage lacks.
/// Fails when the server cannot be installed or started.
#[test]
fn the_pipeline_gets_its_answer_from_a_real_llm_server() {
    let server = RealLlm::install_and_start();
    // Three requests per turn to a 135M model on two shared cores: roomy limits, so a busy
    // machine makes the test slow rather than failed (devhost's default is 30 s a request).
    let (app, tenant) = app_with_llm(Backend::Sqlite, &server.base_url(), "120000", "300");
    let admin = e2e::http::staff_token(&tenant.id, core_logic::auth::Role::Admin, "ops");
    let uploaded = send(post_json(
        &app,
        "/api/kb/documents",
        Some(&admin),
        &json!({ "external_id": "delivery.md", "content": DELIVERY }),
    ));
    assert_eq!(uploaded.status, 201, "{}", uploaded.text);

    let started = Instant::now();
    let (turn, timing) = ask_timed(&app, &tenant, "How long does standard delivery take?");
    let took = started.elapsed();
    let logs = server.logs();
    let requests = logs
        .matches("POST /v1/chat/completions HTTP/1.1\" 200")
        .count();
    eprintln!("turn in {took:?} with {requests} LLM request(s) ({timing}): {turn}");
    let reply = &turn["reply"];
    assert_eq!(
        reply["responder"],
        "llm",
        "the model's answer was not used: {turn}\n{}",
        app.logs()
    );
    assert!(reply["text"].as_str().unwrap().contains("3 to 5"), "{turn}");
    assert_eq!(reply["citations"][0]["title"], "Delivery", "{turn}");
    assert!(
        !logs.contains("Automatic streaming tool choice is not supported"),
        "a request was refused:\n{logs}"
    );
    assert!(requests >= 1, "{logs}");

    // Not in the passage: whoever answers, no price or time the passage lacks.
    let (turn, timing) = ask_timed(&app, &tenant, "How much does express delivery cost?");
    eprintln!("unanswered question ({timing}): {turn}");
    let text = turn["reply"]["text"].as_str().unwrap_or_default();
    let invented: Vec<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty() && !["1", "3", "5"].contains(n))
        .collect();
    assert!(invented.is_empty(), "{turn}");
}
