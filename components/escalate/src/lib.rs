//! The escalate component: human handoff, as thin glue between HTTP, `core_logic::handoff`
//! and `edge::handoff`.
//!
//! - `POST /api/sessions/{id}/escalate`: the session's visitor asks for a person, or an agent
//!   takes the conversation over; opens the session's ticket (or returns the open one).
//! - `GET /api/agent/conversations?status=open|pending|solved`: the queue, oldest first.
//! - `GET /api/agent/conversations/{id}`: one conversation's ticket with its transcript.
//! - `POST /api/agent/conversations/{id}/claim|messages|resolve|handback`.
//! - `POST /api/webhooks/{provider}?tenant=`: a ticketing system's event (generic, zendesk,
//!   freshdesk), authenticated per provider.
//! - `POST /api/admin/outbox/flush`, `GET /api/admin/outbox?state=`,
//!   `POST /api/admin/outbox/{id}/replay`.
//!
//! Agent routes take agent or admin tokens of the tenant; another tenant's conversation is
//! a 404. Conversations are named by their session id.

use core_logic::auth::{Principal, Role, constant_time_eq, require_role};
use core_logic::conversation::{Phrase, message_id_for_key, phrase};
use core_logic::escalation::EscalationPolicy;
use core_logic::handoff::{
    self, AgentReply, EscalateRequest, HandoffSettings, InboundAction, Priority, Provider,
    TicketReason, TicketRef, TicketStatus,
};
use core_logic::problem::ProblemKind;
use core_logic::session::{SessionStatus, is_session_id};
use edge::counters::now_ms;
use edge::db::Db;
use edge::handoff::{Claim, DeliveryConfig, Opening, Ticket};
use edge::request::{self, MAX_JSON_BODY_BYTES};
use edge::services::{Services, visible_session};
use edge::store::{self, Tenant, new_id};
use edge::{ApiError, config, idempotency};
use serde_json::{Value as Json, json};
use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;

/// Largest inbound webhook body.
const MAX_WEBHOOK_BYTES: usize = 256 * 1024;
/// Conversations listed at most.
const QUEUE_LIMIT: u32 = 200;
/// Outbox events one flush delivers at most.
const FLUSH_LIMIT: u32 = 200;

#[http_component]
fn handle(req: Request) -> Response {
    let started = std::time::Instant::now();
    edge::log::begin(&req);
    let resp = route(&req).unwrap_or_else(IntoResponse::into_response);
    edge::metrics::record_request("escalate", *resp.status(), started.elapsed());
    edge::log::request("escalate", &req, *resp.status(), started.elapsed());
    resp
}

fn route(req: &Request) -> Result<Response, ApiError> {
    let path = req.path().to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (req.method(), segments.as_slice()) {
        (Method::Post, ["api", "sessions", id, "escalate"]) => escalate(req, id),
        (_, ["api", "sessions", _, "escalate"]) => Err(ApiError::method_not_allowed("POST")),
        (Method::Get, ["api", "agent", "conversations"]) => queue(req),
        (Method::Get, ["api", "agent", "conversations", id]) => conversation(req, id),
        (Method::Post, ["api", "agent", "conversations", id, action]) => {
            agent_action(req, id, action)
        }
        (_, ["api", "agent", "conversations"] | ["api", "agent", "conversations", _]) => {
            Err(ApiError::method_not_allowed("GET"))
        }
        (_, ["api", "agent", "conversations", _, _]) => Err(ApiError::method_not_allowed("POST")),
        (Method::Post, ["api", "webhooks", provider]) => inbound(req, provider),
        (_, ["api", "webhooks", _]) => Err(ApiError::method_not_allowed("POST")),
        (Method::Post, ["api", "admin", "outbox", "flush"]) => flush(req),
        (Method::Get, ["api", "admin", "outbox"]) => outbox(req),
        (Method::Post, ["api", "admin", "outbox", id, "replay"]) => replay(req, id),
        (_, ["api", "admin", "outbox"]) => Err(ApiError::method_not_allowed("GET")),
        (_, ["api", "admin", "outbox", ..]) => Err(ApiError::method_not_allowed("POST")),
        _ => Err(ApiError::not_found("no such handoff route")),
    }
}

fn no_conversation() -> ApiError {
    ApiError::not_found("no such conversation with a person")
}

fn to_json(value: &impl serde::Serialize) -> Result<Json, ApiError> {
    serde_json::to_value(value).map_err(|_| ApiError::internal())
}

/// A ticket as the inbox shows it: without the transcript unless asked, with its wait.
fn ticket_json(ticket: &Ticket, with_transcript: bool, now: i64) -> Result<Json, ApiError> {
    let mut body = to_json(ticket)?;
    if !with_transcript && let Some(map) = body.as_object_mut() {
        map.remove("transcript");
    }
    body["wait_seconds"] = json!((now - ticket.created_at).max(0) / 1000);
    Ok(body)
}

/// The tenant's settings for handoff; a broken configuration is the admin's to fix and
/// never blocks the change itself (it only stops webhooks).
fn settings(tenant: &Tenant) -> HandoffSettings {
    HandoffSettings::from_settings(&tenant.settings).unwrap_or_else(|e| {
        edge::log::warn("escalate", &format!("tenant {}: {e}", tenant.id));
        HandoffSettings::default()
    })
}

fn optional_json<T: serde::de::DeserializeOwned + Default>(req: &Request) -> Result<T, ApiError> {
    if req.body().iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    request::json_body(req, MAX_JSON_BODY_BYTES)
}

fn escalate(req: &Request, id: &str) -> Result<Response, ApiError> {
    let services = Services::open(req, "escalate")?;
    let (principal, tenant) = services.caller(req)?;
    require_role(&principal, &[Role::Visitor, Role::Agent, Role::Admin])?;
    let session = visible_session(&services.db, &principal, &tenant, id)?;
    let body: EscalateRequest = optional_json(req)?;
    if session.status == SessionStatus::Closed {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            "the session is closed",
        ));
    }
    let visitor = principal.role == Role::Visitor;
    if visitor && !EscalationPolicy::from_settings(&tenant.settings).enabled {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            "this service has no human agents; the assistant answers",
        ));
    }
    let priority = match body.priority.as_deref() {
        None => None,
        Some(_) if visitor => {
            return Err(ApiError::new(
                ProblemKind::Forbidden,
                "visitors cannot set a priority",
            ));
        }
        Some(p) => Some(Priority::parse(p).ok_or_else(|| {
            ApiError::new(
                ProblemKind::Unprocessable,
                "priority must be one of low, normal, high, urgent",
            )
        })?),
    };
    let opening = Opening {
        reason: if visitor {
            TicketReason::HumanRequested
        } else {
            TicketReason::AgentInitiated
        },
        intent: None,
        priority,
        opened_by: if visitor {
            "visitor".into()
        } else {
            format!("agent:{}", principal.subject)
        },
        note: body.note,
    };
    let now = now_ms();
    let (ticket, opened) = services
        .db
        .transaction(|db| edge::handoff::open_ticket(db, &tenant, &session, &opening, now))?;
    if opened {
        let counters = services.counters.as_ref();
        edge::metrics::record_ticket_opened(counters, ticket.reason.as_str());
        edge::metrics::record_event(
            counters,
            &core_logic::metrics::ESCALATIONS,
            &[if visitor { "human_requested" } else { "agent" }],
        );
        edge::handoff::deliver_after_request(
            &services.db,
            services.counters.as_ref(),
            &tenant.id,
            services.request_id.as_deref(),
        );
    }
    let notice = phrase(Phrase::PersonWillAnswer, session.visitor.locale.as_deref());
    let ticket = if visitor {
        json!({ "id": ticket.id, "status": ticket.status, "created_at": ticket.created_at })
    } else {
        ticket_json(&ticket, false, now)?
    };
    Ok(edge::error::json_response(
        if opened { 201 } else { 200 },
        &json!({ "ticket": ticket, "notice": notice, "opened": opened }),
    ))
}

/// The verified agent (or admin) and their tenant.
fn agent(services: &Services, req: &Request) -> Result<(Principal, Tenant), ApiError> {
    let (principal, tenant) = services.caller(req)?;
    require_role(&principal, &[Role::Agent, Role::Admin])?;
    Ok((principal, tenant))
}

fn queue(req: &Request) -> Result<Response, ApiError> {
    let services = Services::open(req, "escalate")?;
    let (_, tenant) = agent(&services, req)?;
    let status = handoff::parse_queue_query(req.query())?;
    let now = now_ms();
    let tickets = edge::handoff::queue(&services.db, &tenant.id, status, QUEUE_LIMIT)?;
    let conversations = tickets
        .iter()
        .map(|t| {
            Ok(json!({
                "session_id": t.session_id,
                "ticket": ticket_json(t, false, now)?,
            }))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(edge::error::json_response(
        200,
        &json!({ "status": status, "conversations": conversations }),
    ))
}

/// The conversation's current ticket: the unsolved one, else the latest.
fn current_ticket(db: &Db, tenant_id: &str, session_id: &str) -> Result<Ticket, ApiError> {
    if !is_session_id(session_id) {
        return Err(no_conversation());
    }
    Ok(
        match edge::handoff::unsolved_ticket(db, tenant_id, session_id)? {
            Some(t) => t,
            None => edge::handoff::latest_ticket(db, tenant_id, session_id)?
                .ok_or_else(no_conversation)?,
        },
    )
}

fn conversation(req: &Request, id: &str) -> Result<Response, ApiError> {
    let services = Services::open(req, "escalate")?;
    let (_, tenant) = agent(&services, req)?;
    let ticket = current_ticket(&services.db, &tenant.id, id)?;
    let session = store::get_session(&services.db, &tenant.id, id)?.ok_or_else(no_conversation)?;
    Ok(edge::error::json_response(
        200,
        &json!({
            "session_id": id,
            "session_status": session.status,
            "visitor": { "name": session.visitor.name, "email": session.visitor.email,
                         "locale": session.visitor.locale },
            "ticket": ticket_json(&ticket, true, now_ms())?,
        }),
    ))
}

fn agent_action(req: &Request, id: &str, action: &str) -> Result<Response, ApiError> {
    if !matches!(action, "claim" | "messages" | "resolve" | "handback") {
        return Err(ApiError::not_found("no such conversation action"));
    }
    let services = Services::open(req, "escalate")?;
    let (principal, tenant) = agent(&services, req)?;
    let db = &services.db;
    let ticket = current_ticket(db, &tenant.id, id)?;
    if ticket.status == TicketStatus::Solved {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            "the conversation is resolved; escalate it again to take it over",
        ));
    }
    let me = principal.subject.as_str();
    let now = now_ms();
    match action {
        "claim" => {
            request::no_body(req)?;
            match edge::handoff::claim(db, &tenant.id, &ticket.id, me, now)? {
                Claim::Claimed(ticket) => {
                    if ticket.status == TicketStatus::Pending && ticket.updated_at == now {
                        edge::metrics::record_ticket_status(services.counters.as_ref(), "pending");
                    }
                    Ok(edge::error::json_response(
                        200,
                        &json!({ "ticket": ticket_json(&ticket, false, now)? }),
                    ))
                }
                Claim::Taken(_) => Err(ApiError::new(
                    ProblemKind::Conflict,
                    "another agent has claimed this conversation",
                )),
                Claim::Solved => Err(ApiError::new(
                    ProblemKind::Conflict,
                    "the conversation is resolved",
                )),
            }
        }
        "messages" => reply(req, &services, &principal, &tenant, &ticket),
        _ => {
            request::no_body(req)?;
            // Another agent's conversation is theirs to close, unless an admin steps in.
            if let Some(assignee) = &ticket.assignee
                && assignee != me
                && principal.role != Role::Admin
            {
                return Err(ApiError::new(
                    ProblemKind::Conflict,
                    "another agent has claimed this conversation",
                ));
            }
            let session = store::get_session(db, &tenant.id, id)?.ok_or_else(no_conversation)?;
            let resolution = if action == "resolve" {
                "resolved"
            } else {
                "handed_back"
            };
            let solved = db.transaction(|db| {
                edge::handoff::solve(db, &tenant, &session, &ticket, resolution, true, now)
            })?;
            if solved {
                edge::metrics::record_ticket_status(services.counters.as_ref(), "solved");
                edge::handoff::deliver_after_request(
                    db,
                    services.counters.as_ref(),
                    &tenant.id,
                    services.request_id.as_deref(),
                );
            }
            let ticket = current_ticket(db, &tenant.id, id)?;
            Ok(edge::error::json_response(
                200,
                &json!({ "ticket": ticket_json(&ticket, false, now)?, "session_status": "open" }),
            ))
        }
    }
}

/// An agent's reply into the chat: the claimed conversation's agent only.
fn reply(
    req: &Request,
    services: &Services,
    principal: &Principal,
    tenant: &Tenant,
    ticket: &Ticket,
) -> Result<Response, ApiError> {
    let key = idempotency::key(req)?;
    let body: AgentReply = request::json_body(req, MAX_JSON_BODY_BYTES)?;
    let text = handoff::validate_reply(body)?;
    if ticket.assignee.as_deref() != Some(principal.subject.as_str()) {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            "claim the conversation before replying",
        ));
    }
    let id = match &key {
        Some(key) => message_id_for_key(&ticket.session_id, &format!("agent:{key}")),
        None => new_id()?,
    };
    let now = now_ms();
    let (stored, message) = services.db.transaction(|db| {
        edge::handoff::record_agent_message(
            db,
            &tenant.id,
            &ticket.session_id,
            id,
            &text,
            &principal.subject,
            now,
        )
    })?;
    let message = if stored {
        message
    } else {
        edge::conversation::message(&services.db, &tenant.id, &ticket.session_id, &message.id)?
            .ok_or_else(ApiError::internal)?
    };
    Ok(edge::error::json_response(
        if stored { 201 } else { 200 },
        &json!({ "message": to_json(&message)? }),
    ))
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// An inbound webhook: authenticated by the provider's scheme with the tenant's secret,
/// applied once per event id (a duplicate answers 200 and changes nothing).
fn inbound(req: &Request, provider: &str) -> Result<Response, ApiError> {
    let provider =
        Provider::parse(provider).ok_or_else(|| ApiError::not_found("no such webhook provider"))?;
    let services = Services::open(req, "escalate")?;
    let outcome = inbound_for(req, &services, provider);
    let label = match &outcome {
        Ok((label, _)) => *label,
        Err(_) => "rejected",
    };
    edge::metrics::record_event(
        services.counters.as_ref(),
        &core_logic::metrics::INBOUND_WEBHOOKS,
        &[provider.as_str(), label],
    );
    outcome.map(|(_, response)| response)
}

fn inbound_for(
    req: &Request,
    services: &Services,
    provider: Provider,
) -> Result<(&'static str, Response), ApiError> {
    let tenant_id = query_param(req.query(), "tenant")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("the tenant query parameter is required"))?;
    let body = req.body();
    if body.len() > MAX_WEBHOOK_BYTES {
        return Err(ApiError::new(
            ProblemKind::PayloadTooLarge,
            format!("the body is larger than {MAX_WEBHOOK_BYTES} bytes"),
        ));
    }
    let db = &services.db;
    let unknown = || ApiError::not_found("no webhook receiver for this tenant and provider");
    let tenant = store::tenant(db, tenant_id)?.ok_or_else(unknown)?;
    edge::log::note_tenant(&tenant.id);
    services.limit(req, &tenant, None)?;
    let settings = settings(&tenant);
    let secret = settings
        .inbound
        .for_provider(provider)
        .ok_or_else(unknown)?;
    let now = now_ms();
    let header = |name: &str| request::header_str(req, name);
    let checked = match provider {
        Provider::Generic => {
            handoff::verify(secret, header(handoff::SIGNATURE_HEADER)?, body, now / 1000)
        }
        Provider::Zendesk => handoff::verify_zendesk(
            secret,
            header("x-zendesk-webhook-signature")?,
            header("x-zendesk-webhook-signature-timestamp")?,
            body,
            now / 1000,
        ),
        Provider::Freshdesk => {
            handoff::verify_shared_secret(secret, header("x-freshdesk-webhook-secret")?)
        }
    };
    checked.map_err(|e| ApiError(e.problem()))?;
    let event = handoff::parse_inbound(provider, body, settings.inbound.zendesk_api_user_id)?;
    if event.action == InboundAction::Ignore {
        return Ok(("ignored", status_response("ignored")));
    }
    let ticket = match &event.ticket {
        TicketRef::Ours(id) => edge::handoff::ticket(db, &tenant.id, id)?,
        TicketRef::External(id) => edge::handoff::ticket_by_external(db, &tenant.id, provider, id)?,
    }
    .ok_or_else(|| ApiError::not_found("no such ticket"))?;
    let session = store::get_session(db, &tenant.id, &ticket.session_id)?
        .ok_or_else(|| ApiError::not_found("no such ticket"))?;
    let mut solved_now = false;
    let applied = db.transaction(|db| {
        if !edge::handoff::first_sight(db, &tenant.id, provider, &event.event_id, now)? {
            return Ok(false);
        }
        match &event.action {
            InboundAction::Comment { body, author } => {
                let agent = author
                    .clone()
                    .unwrap_or_else(|| provider.as_str().to_string());
                let id = message_id_for_key(
                    &session.id,
                    &format!("inbound:{}:{}", provider.as_str(), event.event_id),
                );
                edge::handoff::record_agent_message(
                    db,
                    &tenant.id,
                    &session.id,
                    id,
                    body,
                    &agent,
                    now,
                )?;
            }
            // The ticketing system solved it: nothing to tell it back.
            InboundAction::Solved => {
                solved_now =
                    edge::handoff::solve(db, &tenant, &session, &ticket, "resolved", false, now)?;
            }
            InboundAction::Ignore => {}
        }
        Ok::<_, edge::db::DbError>(true)
    })?;
    // Counted after the transaction: the counters may share the database's write lock.
    if solved_now {
        edge::metrics::record_ticket_status(services.counters.as_ref(), "solved");
    }
    Ok(if applied {
        ("applied", status_response("applied"))
    } else {
        ("duplicate", status_response("duplicate"))
    })
}

fn status_response(status: &str) -> Response {
    edge::error::json_response(200, &json!({ "status": status }))
}

/// `POST /api/admin/outbox/flush`: with the `outbox_flush_token` (the CronJob, devhost)
/// every tenant's due events; with an admin token the tenant's own.
fn flush(req: &Request) -> Result<Response, ApiError> {
    let services = Services::open(req, "escalate")?;
    let given = request::header_str(req, "authorization")?
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let flush_token = config::optional("outbox_flush_token").unwrap_or_default();
    let tenant =
        if !flush_token.is_empty() && constant_time_eq(given.as_bytes(), flush_token.as_bytes()) {
            None
        } else {
            let (principal, tenant) = services.caller(req)?;
            require_role(&principal, &[Role::Admin])?;
            Some(tenant.id)
        };
    let report = edge::handoff::deliver_due(
        &services.db,
        services.counters.as_ref(),
        tenant.as_deref(),
        &DeliveryConfig::from_variables(services.request_id.as_deref()),
        FLUSH_LIMIT,
    )?;
    Ok(edge::error::json_response(200, &to_json(&report)?))
}

fn admin(services: &Services, req: &Request) -> Result<Tenant, ApiError> {
    let (principal, tenant) = services.caller(req)?;
    require_role(&principal, &[Role::Admin])?;
    Ok(tenant)
}

fn outbox(req: &Request) -> Result<Response, ApiError> {
    let services = Services::open(req, "escalate")?;
    let tenant = admin(&services, req)?;
    let state = handoff::parse_outbox_query(req.query())?;
    let events = edge::handoff::outbox(&services.db, &tenant.id, state, QUEUE_LIMIT)?;
    Ok(edge::error::json_response(
        200,
        &json!({ "state": state.as_str(), "events": to_json(&events)? }),
    ))
}

fn replay(req: &Request, id: &str) -> Result<Response, ApiError> {
    let services = Services::open(req, "escalate")?;
    let tenant = admin(&services, req)?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found("no such dead event"))?;
    if !edge::handoff::replay(&services.db, &tenant.id, id, now_ms())? {
        return Err(ApiError::not_found("no such dead event"));
    }
    let report = edge::handoff::deliver_due(
        &services.db,
        services.counters.as_ref(),
        Some(&tenant.id),
        &DeliveryConfig::from_variables(services.request_id.as_deref()),
        FLUSH_LIMIT,
    )?;
    Ok(edge::error::json_response(
        200,
        &json!({ "replayed": id, "flush": to_json(&report)? }),
    ))
}
