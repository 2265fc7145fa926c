//! The LLM responder's wire format, natively: `core_logic::llm`'s request types, parsers and
//! tool loop against the scripted server (`e2e::llm_server::ScriptedLlm`: tool calls,
//! chunked streams with split arguments and a malformed chunk, errors, delays, llama.cpp's
//! refusal of a streamed request with automatic tool choice) and against a real
//! llama-cpp-python server with SmolLM2-135M (`RealLlm`), which must be installable: its
//! test fails, rather than skips, when it is not. `edge::llm` itself runs only inside a
//! component; these tests cover everything it hands to core.
//!
//! The real model is tiny: its tests assert on the wire format, never on answer quality.

use std::io::Read;
use std::time::{Duration, Instant};

use core_logic::answer::{DEFAULT_MIN_SUPPORT, Passage, grounding};
use core_logic::conversation::Author;
use core_logic::llm::{
    ChatRequest, ChatResponse, DEFAULT_MAX_ROUNDS, ESCALATE, RECALL_MEMORY, Role, SEARCH_KB, Step,
    StreamParser, StreamedCompletion, ToolLoop, build_messages, citations_from, search_result,
};
use core_logic::memory::{Fact, FactKind, Memory};
use e2e::llm_server::{RealLlm, Refusal, Reply, ScriptedLlm, content_chunk, tool_call_chunk};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const API_KEY: &str = "sk-test-not-a-real-key";

fn passage(id: &str, title: &str, headings: &[&str], text: &str) -> Passage {
    Passage {
        chunk_id: format!("chunk-{id}"),
        document_id: format!("doc-{id}"),
        title: title.to_string(),
        heading_path: headings.iter().map(|h| h.to_string()).collect(),
        source_url: None,
        text: text.to_string(),
        score: 0.7,
    }
}

fn kb() -> Vec<Passage> {
    vec![
        passage(
            "returns",
            "Returns",
            &["Return window"],
            "You can return any item within 30 days of delivery. Items must be unused.",
        ),
        passage(
            "shipping",
            "Shipping",
            &["Delivery times"],
            "Orders placed before 2 pm ship the same day.",
        ),
    ]
}

fn memory() -> Memory {
    Memory {
        facts: vec![Fact {
            kind: FactKind::Name,
            value: "Dana".to_string(),
        }],
        summary: String::new(),
    }
}

fn first_request(model: &str, question: &str) -> ChatRequest {
    let turns = vec![(Author::Visitor, "Hi, I'm Dana".to_string())];
    let messages = build_messages(question, &kb(), &memory(), "", &turns, Some("en"));
    ChatRequest::with_tools(model, messages)
}

fn client(timeout: Duration) -> Client {
    Client::builder().timeout(timeout).build().unwrap()
}

/// POSTs a request as `edge::llm` does (JSON, bearer key) and decodes the completion.
fn complete(client: &Client, base: &str, request: &ChatRequest) -> ChatResponse {
    let response = client
        .post(format!("{base}/chat/completions"))
        .bearer_auth(API_KEY)
        .json(request)
        .send()
        .unwrap();
    let status = response.status();
    let body = response.text().unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<ChatResponse>(&body)
        .unwrap_or_else(|e| panic!("not a completion ({e}): {body}"))
        .normalize()
}

/// POSTs a request with `stream: true` and feeds the body to the parser as it arrives; the
/// time to the first piece of content or tool call is returned too.
fn complete_streaming(
    client: &Client,
    base: &str,
    request: &ChatRequest,
) -> (StreamedCompletion, Option<Duration>) {
    let mut request = request.clone();
    request.stream = Some(true);
    let started = Instant::now();
    let mut response = client
        .post(format!("{base}/chat/completions"))
        .bearer_auth(API_KEY)
        .json(&request)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let mut parser = StreamParser::new();
    let mut first = None;
    let mut buffer = [0u8; 512];
    loop {
        let n = response.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        parser.push(&buffer[..n]);
        if first.is_none() && parser.has_output() {
            first = Some(started.elapsed());
        }
    }
    (parser.finish(), first)
}

/// POSTs a request with `stream: true` on a connection of its own (llama-cpp-python drops
/// the connection after refusing one); the status, content type and whole body.
fn stream_raw(base: &str, request: &ChatRequest) -> (u16, String, Vec<u8>) {
    let mut request = request.clone();
    request.stream = Some(true);
    let client = Client::builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let response = client
        .post(format!("{base}/chat/completions"))
        .bearer_auth(API_KEY)
        .json(&request)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, response.bytes().unwrap().to_vec())
}

/// What llama-cpp-python 0.3.36 (`chatml-function-calling`) answers to a streamed request
/// with automatic tool choice when the model picks a tool, and what our client must read as
/// "no completion": 200, an event stream, and an empty body.
fn assert_refused_as_llama_cpp_does((status, content_type, body): (u16, String, Vec<u8>)) {
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/event-stream; charset=utf-8");
    assert!(body.is_empty(), "{:?}", String::from_utf8_lossy(&body));
    let mut parser = StreamParser::new();
    parser.push(&body);
    assert!(!parser.finish().has_completion());
}

#[test]
fn a_tool_call_round_trip_sends_our_prompt_tools_and_key() {
    let server = ScriptedLlm::start(vec![
        Reply::tool_call("call_1", SEARCH_KB, r#"{"query": "return window"}"#),
        Reply::completion("You can return any item within 30 days of delivery [1]."),
    ]);
    let client = client(Duration::from_secs(10));
    let first = first_request("scripted", "How long can I return things?");
    let mut tool_loop = ToolLoop::new(DEFAULT_MAX_ROUNDS);
    let step = tool_loop.next(&complete(&client, &server.base_url(), &first));
    let Step::CallTools(calls) = step else {
        panic!("{step:?}")
    };
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, "call_1");
    let found = kb()[..1].to_vec();
    tool_loop.tool_result(&calls[0].id, &search_result(&found, 1));
    let step = tool_loop.next(&complete(
        &client,
        &server.base_url(),
        &tool_loop.request(&first),
    ));
    let Step::Final(text) = step else {
        panic!("{step:?}")
    };
    let (text, citations) = citations_from(&text, &found);
    assert_eq!(citations.len(), 1);
    assert_eq!(citations[0].chunk_id, "chunk-returns");
    assert!(grounding(&text, &citations, &found, DEFAULT_MIN_SUPPORT).supported);

    let received = server.received();
    assert_eq!(received.len(), 2);
    for r in &received {
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/v1/chat/completions")
        );
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {API_KEY}").as_str())
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let bodies = server.completions();
    let tools: Vec<&str> = bodies[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, [SEARCH_KB, ESCALATE, RECALL_MEMORY]);
    let system = bodies[0]["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("[1] Returns › Return window\nYou can return"),
        "{system}"
    );
    assert!(system.contains("[2] Shipping › Delivery times"), "{system}");
    assert!(system.contains("name: Dana"), "{system}");
    let messages = bodies[1]["messages"].as_array().unwrap();
    let n = messages.len();
    assert_eq!(messages[n - 2]["role"], "assistant");
    assert_eq!(messages[n - 2]["tool_calls"][0]["id"], "call_1");
    assert_eq!(
        messages[n - 2]["tool_calls"][0]["function"]["arguments"],
        r#"{"query": "return window"}"#
    );
    assert_eq!(messages[n - 1]["role"], "tool");
    assert_eq!(messages[n - 1]["tool_call_id"], "call_1");
    assert!(
        messages[n - 1]["content"]
            .as_str()
            .unwrap()
            .starts_with("[1] Returns")
    );
}

#[test]
fn invalid_arguments_from_the_server_are_rejected_once_then_the_answer_is_asked_for() {
    let server = ScriptedLlm::start(vec![
        Reply::tool_call("call_a", SEARCH_KB, "{query: refunds"),
        Reply::tool_call("call_b", SEARCH_KB, "search_kb(refunds)"),
    ]);
    let client = client(Duration::from_secs(10));
    let first = first_request("scripted", "refunds?");
    let mut tool_loop = ToolLoop::new(DEFAULT_MAX_ROUNDS);
    let step = tool_loop.next(&complete(&client, &server.base_url(), &first));
    assert_eq!(step, Step::Retry);
    let step = tool_loop.next(&complete(
        &client,
        &server.base_url(),
        &tool_loop.request(&first),
    ));
    assert_eq!(step, Step::AskForAnswer);
    assert!(tool_loop.answering());
    let bodies = server.completions();
    let last = bodies[1]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["role"], "tool");
    assert_eq!(last["tool_call_id"], "call_a");
    assert!(
        last["content"].as_str().unwrap().contains("valid JSON"),
        "{last}"
    );
}

#[test]
fn a_chunked_stream_with_split_arguments_and_a_bad_chunk_parses_as_it_arrives() {
    let events = vec![
        tool_call_chunk(0, Some("call_s"), Some(SEARCH_KB), ""),
        tool_call_chunk(0, None, None, "{\"qu"),
        "{\"choices\":[{\"delta\":".to_string(),
        tool_call_chunk(0, None, None, "ery\": \"versand"),
        tool_call_chunk(0, None, None, "kosten\"}"),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}).to_string(),
        "[DONE]".to_string(),
    ];
    let server = ScriptedLlm::start(vec![Reply::Stream {
        events,
        chunked: true,
        pause: Duration::from_millis(20),
    }]);
    let (got, first) = complete_streaming(
        &client(Duration::from_secs(10)),
        &server.base_url(),
        &first_request("scripted", "Was kostet der Versand?"),
    );
    assert!(first.is_some());
    assert!(got.done);
    assert_eq!(got.malformed_lines, 1);
    assert_eq!(got.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(got.tool_calls.len(), 1);
    assert_eq!(got.tool_calls[0].id, "call_s");
    assert_eq!(got.tool_calls[0].function.name, SEARCH_KB);
    assert_eq!(
        got.tool_calls[0].function.arguments,
        r#"{"query": "versandkosten"}"#
    );
    assert_eq!(server.completions()[0]["stream"], true);
    let step = ToolLoop::new(1).next(&got.into_response());
    assert!(matches!(step, Step::CallTools(calls) if calls[0].id == "call_s"));
}

#[test]
fn a_stream_in_one_body_or_cut_short_still_parses() {
    let whole = Reply::Stream {
        events: vec![
            content_chunk("Orders ship "),
            content_chunk("the same day [2]."),
            "[DONE]".to_string(),
        ],
        chunked: false,
        pause: Duration::ZERO,
    };
    let cut = Reply::Stream {
        events: vec![content_chunk("Orders ship")],
        chunked: true,
        pause: Duration::ZERO,
    };
    let server = ScriptedLlm::start(vec![whole, cut]);
    let client = client(Duration::from_secs(10));
    let request = first_request("scripted", "When do orders ship?");
    let (got, _) = complete_streaming(&client, &server.base_url(), &request);
    assert_eq!(got.content, "Orders ship the same day [2].");
    assert!(got.done);
    let (got, _) = complete_streaming(&client, &server.base_url(), &request);
    assert_eq!(got.content, "Orders ship");
    assert!(
        !got.done,
        "no [DONE]: the caller can tell the stream was cut"
    );
}

#[test]
fn error_statuses_delays_and_the_models_list_reach_the_client() {
    let server = ScriptedLlm::start(vec![
        Reply::Status(500, r#"{"error":{"message":"model crashed"}}"#.into()),
        Reply::Delay(Duration::from_secs(3), Box::new(Reply::completion("late"))),
    ]);
    let models: Value = client(Duration::from_secs(5))
        .get(format!("{}/models", server.base_url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(models["data"][0]["id"], "scripted");
    let request = first_request("scripted", "hello");
    let url = format!("{}/chat/completions", server.base_url());
    let response = client(Duration::from_secs(5))
        .post(&url)
        .json(&request)
        .send()
        .unwrap();
    assert_eq!(response.status(), 500);
    let err = client(Duration::from_millis(300))
        .post(&url)
        .json(&request)
        .send()
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // The script ran out: the server says so rather than hang.
    let response = client(Duration::from_secs(5))
        .post(&url)
        .json(&request)
        .send()
        .unwrap();
    assert_eq!(response.status(), 500);
    assert!(response.text().unwrap().contains("script ran out"));
}

#[test]
fn the_scripted_server_refuses_streamed_tool_rounds_as_llama_cpp_does() {
    let server = ScriptedLlm::refusing(
        Refusal::StreamedAutoToolChoice,
        vec![
            Reply::tool_call("call_1", SEARCH_KB, r#"{"query": "returns"}"#),
            Reply::stream_text(&["Within 30 days ", "[1]."]),
        ],
    );
    let client = client(Duration::from_secs(10));
    let base = server.base_url();
    let round = first_request("scripted", "How long can I return things?");
    assert!(round.offers_tools());
    assert_refused_as_llama_cpp_does(stream_raw(&base, &round));
    assert_eq!(server.refused(), 1);
    // Unstreamed, the same request is answered (from the script).
    let step = ToolLoop::new(DEFAULT_MAX_ROUNDS).next(&complete(&client, &base, &round));
    assert!(matches!(step, Step::CallTools(_)), "{step:?}");
    // Without tools, a stream is a stream.
    let answer = ChatRequest::new("scripted", round.messages.clone());
    assert!(!answer.offers_tools());
    let (got, _) = complete_streaming(&client, &base, &answer);
    assert!(got.has_completion());
    assert_eq!(got.content, "Within 30 days [1].");
    assert_eq!(server.refused(), 1);
    // A forced call streams on llama.cpp: only the automatic choice is refused.
    let mut forced = round.clone();
    forced.tool_choice = Some(json!({"type": "function", "function": {"name": SEARCH_KB}}));
    let mut body = serde_json::to_value(&forced).unwrap();
    body["stream"] = json!(true);
    assert!(!Refusal::StreamedAutoToolChoice.refuses(&body));
    body["tool_choice"] = json!("auto");
    assert!(Refusal::StreamedAutoToolChoice.refuses(&body));
}

#[test]
fn the_real_server_speaks_the_wire_format_our_parsers_read() {
    let started = Instant::now();
    let server = RealLlm::install_and_start();
    eprintln!(
        "installed and ready in {:?} (the server itself in {:?})",
        started.elapsed(),
        server.startup
    );
    let base = server.base_url();
    let client = client(Duration::from_secs(120));

    let models: Value = client
        .get(format!("{base}/models"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(models["data"][0]["id"].is_string(), "{models}");

    // A grounded question without tools: text, in OpenAI's shape.
    let mut plain = ChatRequest::new(
        "smollm2",
        first_request("smollm2", "How long do I have to return an item?").messages,
    );
    plain.max_tokens = Some(60);
    let t = Instant::now();
    let response = complete(&client, &base, &plain);
    let choice = &response.choices[0];
    assert_eq!(choice.message.role, Role::Assistant);
    let text = choice.message.content.clone().unwrap_or_default();
    let usage = response.usage.expect("usage is reported");
    assert!(
        usage.prompt_tokens > 0 && usage.completion_tokens > 0,
        "{usage:?}"
    );
    eprintln!(
        "completion in {:?} ({} + {} tokens, {:?}): {text:?}",
        t.elapsed(),
        usage.prompt_tokens,
        usage.completion_tokens,
        choice.finish_reason
    );
    let step = ToolLoop::new(1).next(&response);
    assert!(matches!(step, Step::Final(_) | Step::GiveUp(_)), "{step:?}");
    if let Step::Final(text) = &step {
        let (text, citations) = citations_from(text, &kb());
        let verdict = grounding(&text, &citations, &kb(), DEFAULT_MIN_SUPPORT);
        eprintln!("citations {citations:?}, grounded: {}", verdict.supported);
    }

    // The same, streamed: chunks our parser reads, ending in [DONE].
    let t = Instant::now();
    let (streamed, first) = complete_streaming(&client, &base, &plain);
    eprintln!(
        "stream: first token after {first:?}, all in {:?}: {:?} (malformed lines: {})",
        t.elapsed(),
        streamed.content,
        streamed.malformed_lines
    );
    assert!(streamed.done, "the stream ends with [DONE]");
    assert_eq!(streamed.malformed_lines, 0);
    assert!(!streamed.content.is_empty() || streamed.finish_reason.is_some());

    // Our tools offered, unstreamed as the responder sends a tool round: llama.cpp's
    // automatic choice gives a tool call, or an empty message when the model picks text
    // (its grammar then allows only a tool name or the end), so the loop asks for the
    // answer without tools.
    let tools = first_request("smollm2", "I want to talk to a person, please.");
    let t = Instant::now();
    let response = complete(&client, &base, &tools);
    let message = response.choices[0].message.clone();
    let step = ToolLoop::new(DEFAULT_MAX_ROUNDS).next(&response);
    eprintln!(
        "with tools (auto) in {:?}: {message:?} -> {step:?}",
        t.elapsed()
    );
    assert!(
        matches!(
            step,
            Step::CallTools(_) | Step::Retry | Step::Escalate(_) | Step::AskForAnswer
        ),
        "{step:?}"
    );
    // Streamed, a request with automatic tool choice is refused when the model picks a
    // tool, exactly as `Refusal::StreamedAutoToolChoice` fakes it. The pick is made at
    // temperature 0, so a question the model answered unstreamed with a call is one.
    let picks_a_tool = ["How long does standard delivery take?", "What is 2+2?"]
        .into_iter()
        .map(|q| first_request("smollm2", q))
        .find(|r| {
            let message = &complete(&client, &base, r).choices[0].message;
            eprintln!("with tools (auto): {message:?}");
            !message.tool_calls.is_empty()
        })
        .expect("the model called a tool for none of the questions");
    assert_refused_as_llama_cpp_does(stream_raw(&base, &picks_a_tool));

    // A forced call: llama.cpp constrains the output to the tool call, so the wire format is
    // certain even when the 135M model's arguments are not.
    let mut forced = first_request("smollm2", "What is your refund policy?");
    forced.tool_choice = Some(json!({"type": "function", "function": {"name": SEARCH_KB}}));
    let response = complete(&client, &base, &forced);
    let message = &response.choices[0].message;
    assert_eq!(message.tool_calls.len(), 1, "{message:?}");
    assert_eq!(message.tool_calls[0].function.name, SEARCH_KB);
    assert!(!message.tool_calls[0].id.is_empty());
    // One round only: the request after it carries our transcript (the assistant's call,
    // the tool's result) with `tool_choice: "none"`, which the server must accept.
    let mut tool_loop = ToolLoop::new(1);
    let step = tool_loop.next(&response);
    eprintln!(
        "forced search_kb: arguments {:?} -> {step:?}",
        message.tool_calls[0].function.arguments
    );
    match &step {
        Step::CallTools(calls) => {
            tool_loop.tool_result(&calls[0].id, &search_result(&kb()[..1], 3));
        }
        Step::Retry => {}
        other => panic!("{other:?}"),
    }
    let second = tool_loop.request(&forced);
    assert_eq!(second.tool_choice, Some(json!("none")));
    let response = complete(&client, &base, &second);
    let step = tool_loop.next(&response);
    eprintln!("after the tool result: {step:?}");
    assert!(matches!(step, Step::Final(_) | Step::GiveUp(_)), "{step:?}");

    let (streamed, first) = complete_streaming(&client, &base, &forced);
    eprintln!(
        "forced search_kb streamed: first delta after {first:?}: {:?}",
        streamed.tool_calls
    );
    assert!(streamed.done);
    assert_eq!(streamed.malformed_lines, 0);
    assert_eq!(streamed.tool_calls.len(), 1, "{streamed:?}");
    assert_eq!(streamed.tool_calls[0].function.name, SEARCH_KB);
    let step = ToolLoop::new(DEFAULT_MAX_ROUNDS).next(&streamed.into_response());
    assert!(matches!(step, Step::CallTools(_) | Step::Retry), "{step:?}");
    eprintln!("real LLM checks took {:?}", started.elapsed());
    drop(server);
}
