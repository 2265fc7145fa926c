//! The message component: a session's conversation, as thin glue between HTTP, `core_logic`
//! and `edge::pipeline`.
//!
//! - `POST /api/sessions/{id}/messages`: the session's visitor sends a message (JSON, or a
//!   form with `text` and `file` parts); the reply comes back as JSON, or as Server-Sent
//!   Events (`message`, `token`…, `citations`, `action`, `done`) with
//!   `Accept: text/event-stream`. `Idempotency-Key` makes retries safe.
//! - `GET /api/sessions/{id}/messages?limit=&cursor=`: the history, oldest first.
//! - `GET /api/sessions/{id}/events?after=&wait=`: everything that happened in the session
//!   after a cursor, waiting up to `wait` seconds for something new (long-poll).
//! - `POST /api/sessions/{id}/attachments`: the visitor uploads a document for this
//!   session only.
//! - `PUT /api/sessions/{id}/feedback`: the visitor rates a bot reply ("helpful?") or the
//!   conversation ("did this solve your problem?"); a second rating of the same thing
//!   replaces the first. The ratings come back with the history.
//!
//! The visitor reaches only their own session; the tenant's agents and admins may read any
//! of the tenant's sessions. Anything else is a 404.

use core_logic::auth::{Role, require_role};
use core_logic::conversation::{
    PostMessage, encode_history_cursor, parse_events_query, parse_history_query, sse_event,
    stream_pieces, validate_message,
};
use core_logic::problem::ProblemKind;
use edge::config::CallPath;
use edge::counters::now_ms;
use edge::embedder::Embedder;
use edge::knowledge::Knowledge;
use edge::pipeline::{Turn, TurnOutcome};
use edge::request::{self, MAX_JSON_BODY_BYTES};
use edge::services::{Services, visible_session};
use edge::store::{Session, Tenant};
use edge::upload::Upload;
use edge::vector_index::{Chroma, VectorIndex};
use edge::{ApiError, config, idempotency};
use serde_json::json;
use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;

/// Largest attachment a visitor may upload.
const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
/// How often a long-poll looks for new events.
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

#[http_component]
fn handle(req: Request) -> Response {
    let started = std::time::Instant::now();
    edge::log::begin(&req);
    let resp = route(&req).unwrap_or_else(IntoResponse::into_response);
    edge::metrics::record_request("messages", *resp.status(), started.elapsed());
    edge::log::request("message", &req, *resp.status(), started.elapsed());
    resp
}

fn route(req: &Request) -> Result<Response, ApiError> {
    let id = request::header_str(req, "spin-path-match-id")?
        .unwrap_or("")
        .to_string();
    let route = request::header_str(req, "spin-component-route")?.unwrap_or("");
    let action = route.rsplit('/').next().unwrap_or("");
    match (req.method(), action) {
        (Method::Post, "messages") => post_message(req, &id),
        (Method::Get, "messages") => history(req, &id),
        (Method::Get, "events") => events(req, &id),
        (Method::Post, "attachments") => attach(req, &id),
        (Method::Put, "feedback") => rate(req, &id),
        (_, "messages") => Err(ApiError::method_not_allowed("GET, POST")),
        (_, "events") => Err(ApiError::method_not_allowed("GET")),
        (_, "attachments") => Err(ApiError::method_not_allowed("POST")),
        (_, "feedback") => Err(ApiError::method_not_allowed("PUT")),
        _ => Err(ApiError::not_found("no such conversation route")),
    }
}

/// The embedder and vector index with the time limits of `path`; `None` (retrieval
/// degrades to keywords) when unset.
fn retrievers(request_id: Option<&str>, path: CallPath) -> (Option<Embedder>, Option<Chroma>) {
    let note = |e: config::ConfigError| edge::log::warn("message", &e.to_string());
    (
        Embedder::from_config(request_id, path).map_err(note).ok(),
        Chroma::from_config(request_id, path).map_err(note).ok(),
    )
}

/// The configured LLM; `None` (the extractive responder answers) when `llm_base_url` is
/// unset, or when the `llm_*` variables are unusable (logged).
fn llm() -> Option<edge::llm::Llm> {
    match edge::llm::LlmConfig::from_config() {
        Ok(config) => config.map(|c| edge::llm::Llm::new(&c)),
        Err(e) => {
            edge::log::warn("message", &e.to_string());
            None
        }
    }
}

fn knowledge<'a>(
    services: &'a Services,
    tenant: &'a Tenant,
    session: &'a Session,
    embedder: Option<&'a Embedder>,
    index: Option<&'a Chroma>,
) -> Knowledge<'a> {
    Knowledge {
        db: &services.db,
        tenant_id: &tenant.id,
        session_id: Some(&session.id),
        ranking: core_logic::kb::Ranking::from_settings(&tenant.settings),
        embedder,
        index: index.map(|c| c as &dyn VectorIndex),
        breakers: Some(services.counters.as_ref()),
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|_| ApiError::internal())
}

/// A visitor message: the text, plus files when sent as a form.
fn read_message(req: &Request) -> Result<(PostMessage, Vec<Upload>), ApiError> {
    let media = request::header_str(req, "content-type")?.unwrap_or("");
    if media
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        let form = edge::upload::read_form(req, MAX_ATTACHMENT_BYTES)?;
        let text = form
            .text
            .ok_or_else(|| ApiError::bad_request("the form has no `text` part"))?;
        return Ok((
            PostMessage {
                text,
                attachments: Vec::new(),
            },
            form.files,
        ));
    }
    Ok((request::json_body(req, MAX_JSON_BODY_BYTES)?, Vec::new()))
}

fn wants_event_stream(req: &Request) -> bool {
    req.header("accept")
        .and_then(|v| v.as_str())
        .is_some_and(|v| v.contains("text/event-stream"))
}

fn post_message(req: &Request, id: &str) -> Result<Response, ApiError> {
    let services = Services::open(req, "message")?;
    let (principal, tenant) = services.caller(req)?;
    require_role(&principal, &[Role::Visitor])?;
    let session = visible_session(&services.db, &principal, &tenant, id)?;
    let key = idempotency::key(req)?;
    let (body, files) = read_message(req)?;
    let message = validate_message(body)?;
    // Attached files are written to the index first: a write's time limits.
    let path = if files.is_empty() {
        CallPath::Answer
    } else {
        CallPath::Write
    };
    let (embedder, index) = retrievers(services.request_id.as_deref(), path);
    let knowledge = knowledge(
        &services,
        &tenant,
        &session,
        embedder.as_ref(),
        index.as_ref(),
    );
    for file in &files {
        knowledge.attach(file, &session.id, now_ms())?;
    }
    let llm = llm();
    let turn = Turn {
        knowledge,
        tenant: &tenant,
        session: &session,
        llm: llm.as_ref(),
    };
    let turn_started = std::time::Instant::now();
    let outcome = turn.run(&message, key.as_deref(), now_ms())?;
    if !outcome.replayed {
        record_turn(services.counters.as_ref(), &outcome, turn_started.elapsed());
        // The turn's searches (its `vector` and `keyword` stages).
        edge::metrics::record_retrieval(services.counters.as_ref(), &outcome.stages);
    }
    if let Some((ticket, true)) = &outcome.ticket {
        edge::metrics::record_ticket_opened(services.counters.as_ref(), ticket.reason.as_str());
    }
    if let Some(stats) = &outcome.llm {
        edge::metrics::record_llm(services.counters.as_ref(), stats);
    }
    if outcome.outbox > 0 {
        edge::handoff::deliver_after_request(
            &services.db,
            services.counters.as_ref(),
            &tenant.id,
            services.request_id.as_deref(),
        );
    }
    if wants_event_stream(req) {
        return Ok(event_stream(&outcome));
    }
    let mut builder = Response::builder();
    builder
        .status(if outcome.replayed { 200 } else { 201 })
        .header("content-type", "application/json")
        .header("server-timing", server_timing(&outcome));
    if outcome.replayed {
        builder.header("idempotent-replayed", "true");
    }
    Ok(builder.body(turn_json(&outcome)?.to_string()).build())
}

/// The pipeline's stages as a `Server-Timing` header (milliseconds), for clients and the
/// answer-pipeline benchmark.
fn server_timing(outcome: &TurnOutcome) -> String {
    outcome
        .stages
        .iter()
        .map(|(stage, elapsed)| format!("{stage};dur={:.2}", elapsed.as_secs_f64() * 1000.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Counts the turn: latency, how the bot replied, and why it handed off.
fn record_turn(
    counters: &dyn edge::counters::Counters,
    outcome: &TurnOutcome,
    elapsed: std::time::Duration,
) {
    let action = outcome.action.as_ref();
    let kind = action.and_then(|a| a["type"].as_str());
    let (responder, result) = match (&outcome.reply, kind) {
        (None, _) => ("none", "silent"),
        (Some(reply), Some("escalate")) => {
            (reply.responder.as_deref().unwrap_or("other"), "escalated")
        }
        (Some(reply), Some("offer_handoff")) => {
            (reply.responder.as_deref().unwrap_or("other"), "unknown")
        }
        (Some(reply), Some("clarify")) => {
            (reply.responder.as_deref().unwrap_or("other"), "clarify")
        }
        (Some(_), Some("small_talk")) => ("small_talk", "small_talk"),
        (Some(reply), _) => (reply.responder.as_deref().unwrap_or("other"), "answered"),
    };
    let reason = (kind == Some("escalate"))
        .then(|| action.and_then(|a| a["reason"].as_str()))
        .flatten();
    edge::metrics::record_turn(counters, elapsed, responder, result, reason);
}

fn turn_json(outcome: &TurnOutcome) -> Result<serde_json::Value, ApiError> {
    Ok(json!({
        "message": to_json(&outcome.visitor)?,
        "reply": outcome.reply.as_ref().map(to_json).transpose()?,
        "action": outcome.action,
        "notice": outcome.notice,
        "degraded": outcome.degraded,
        "follow_up_query": outcome.follow_up_query,
        "ticket": outcome.ticket.as_ref().map(|(t, _)| json!({ "id": t.id, "status": t.status })),
    }))
}

/// The turn as Server-Sent Events: the stored visitor message, the reply text in pieces,
/// its citations, the action, and `done` with the stored reply.
fn event_stream(outcome: &TurnOutcome) -> Response {
    let mut body = String::new();
    body.push_str(&sse_event("message", &json!(outcome.visitor)));
    if let Some(query) = &outcome.follow_up_query {
        body.push_str(&sse_event("follow_up", &json!({ "query": query })));
    }
    match &outcome.reply {
        Some(reply) => {
            for piece in stream_pieces(&reply.text) {
                body.push_str(&sse_event("token", &json!({ "text": piece })));
            }
            body.push_str(&sse_event(
                "citations",
                &json!({ "citations": reply.citations }),
            ));
        }
        None => {
            if let Some(notice) = &outcome.notice {
                body.push_str(&sse_event("notice", &json!({ "text": notice })));
            }
        }
    }
    body.push_str(&sse_event("action", &json!({ "action": outcome.action })));
    body.push_str(&sse_event(
        "done",
        &json!({ "reply": outcome.reply, "degraded": outcome.degraded }),
    ));
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .header("server-timing", server_timing(outcome))
        .body(body)
        .build()
}

fn history(req: &Request, id: &str) -> Result<Response, ApiError> {
    let services = Services::open(req, "message")?;
    let (principal, tenant) = services.caller(req)?;
    require_role(&principal, &[Role::Visitor, Role::Agent, Role::Admin])?;
    let session = visible_session(&services.db, &principal, &tenant, id)?;
    let query = parse_history_query(req.query())?;
    let (messages, before) =
        edge::conversation::history(&services.db, &tenant.id, &session.id, &query)?;
    let feedback = edge::feedback::ratings(&services.db, &tenant.id, &session.id)?;
    let mut body = json!({
        "messages": to_json(&messages)?,
        "next_cursor": before.map(encode_history_cursor),
        "feedback": to_json(&feedback)?,
    });
    // Staff see what the bot remembers of the visitor (facts, summary of older turns).
    if principal.role != Role::Visitor {
        let memory = edge::conversation::memory(&services.db, &tenant.id, &session.id)?;
        body["memory"] = json!({ "facts": memory.facts, "summary": memory.summary });
    }
    Ok(edge::error::json_response(200, &body))
}

fn events(req: &Request, id: &str) -> Result<Response, ApiError> {
    let services = Services::open(req, "message")?;
    let (principal, tenant) = services.caller(req)?;
    require_role(&principal, &[Role::Visitor, Role::Agent, Role::Admin])?;
    let session = visible_session(&services.db, &principal, &tenant, id)?;
    let query = parse_events_query(req.query())?;
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_secs(query.wait_secs.into());
    let events = loop {
        let events = edge::conversation::events_after(
            &services.db,
            &tenant.id,
            &session.id,
            query.after,
            query.limit,
        )?;
        if !events.is_empty() || std::time::Instant::now() >= deadline {
            break events;
        }
        std::thread::sleep(POLL_INTERVAL);
    };
    let cursor = events.last().map_or(query.after, |e| e.cursor);
    Ok(edge::error::json_response(
        200,
        &json!({ "events": to_json(&events)?, "cursor": cursor }),
    ))
}

/// `PUT /api/sessions/{id}/feedback`: 200 with the stored rating (`changed: false` when it
/// was already so).
fn rate(req: &Request, id: &str) -> Result<Response, ApiError> {
    let services = Services::open(req, "message")?;
    let (principal, tenant) = services.caller(req)?;
    require_role(&principal, &[Role::Visitor])?;
    let session = visible_session(&services.db, &principal, &tenant, id)?;
    let rating =
        core_logic::outcome::validate_feedback(request::json_body(req, MAX_JSON_BODY_BYTES)?)?;
    let (feedback, changed) =
        edge::feedback::rate(&services.db, &tenant.id, &session.id, &rating, now_ms())?;
    Ok(edge::error::json_response(
        200,
        &json!({ "feedback": to_json(&feedback)?, "changed": changed }),
    ))
}

fn attach(req: &Request, id: &str) -> Result<Response, ApiError> {
    let services = Services::open(req, "message")?;
    let (principal, tenant) = services.caller(req)?;
    require_role(&principal, &[Role::Visitor])?;
    let session = visible_session(&services.db, &principal, &tenant, id)?;
    if session.status == core_logic::session::SessionStatus::Closed {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            "the session is closed",
        ));
    }
    let upload = edge::upload::read(req, MAX_ATTACHMENT_BYTES)?;
    let (embedder, index) = retrievers(services.request_id.as_deref(), CallPath::Write);
    let knowledge = knowledge(
        &services,
        &tenant,
        &session,
        embedder.as_ref(),
        index.as_ref(),
    );
    let ingested = knowledge.attach(&upload, &session.id, now_ms())?;
    Ok(edge::error::json_response(
        ingested.status.status(),
        &json!({
            "attachment": to_json(&ingested.document)?,
            "status": ingested.status,
            "vector_index": ingested.vector_index,
        }),
    ))
}
