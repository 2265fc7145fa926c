//! The session component: `/api/sessions` routes, as thin glue between HTTP, `core_logic`
//! and `edge`.
//!
//! - `POST /api/sessions`: a widget key starts a session; answers the session and a visitor token.
//! - `GET /api/sessions/{id}`: the session's own visitor, or the tenant's agents and admins.
//! - `GET /api/sessions?status=&limit=&cursor=`: the tenant's agents and admins.
//! - `POST /api/sessions/{id}/token`: the session's visitor gets a fresh token.
//! - `DELETE /api/sessions/{id}`: the session's visitor or a tenant admin erases it.
//!
//! A session of another tenant, or another visitor's session, is a 404: callers learn nothing
//! about sessions they may not see. Business rules live in `core_logic`; storage in `edge::store`.

use core_logic::auth::{AuthConfig, Principal, Role, require_role};
use core_logic::idempotency::request_hash;
use core_logic::session::{
    CreateSessionRequest, is_session_id, parse_list_query, validate_visitor, validate_widget_key,
};
use edge::config::CallPath;
use edge::counters::now_ms;
use edge::knowledge::Knowledge;
use edge::request::{self, MAX_JSON_BODY_BYTES};
use edge::services::{Services, owns_session};
use edge::store::{self, Session, SessionFilter};
use edge::vector_index::{Chroma, VectorIndex};
use edge::{ApiError, idempotency};
use serde::Serialize;
use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;

/// How long a visitor token lives; the widget refreshes it before then.
const VISITOR_TOKEN_SECS: u64 = 2 * 60 * 60;

#[http_component]
fn handle(req: Request) -> Response {
    let started = std::time::Instant::now();
    edge::log::begin(&req);
    let resp = route(&req).unwrap_or_else(IntoResponse::into_response);
    edge::metrics::record_request("sessions", *resp.status(), started.elapsed());
    edge::log::request("session", &req, *resp.status(), started.elapsed());
    resp
}

fn route(req: &Request) -> Result<Response, ApiError> {
    let info = request::path_info(req);
    let segments: Vec<&str> = info.split('/').filter(|s| !s.is_empty()).collect();
    match (req.method(), segments.as_slice()) {
        (Method::Post, []) => create(req),
        (Method::Get, []) => list(req),
        (Method::Get, [id]) => read(req, id),
        (Method::Delete, [id]) => erase(req, id),
        (Method::Post, [id, "token"]) => refresh(req, id),
        (_, []) => Err(ApiError::method_not_allowed("GET, POST")),
        (_, [_]) => Err(ApiError::method_not_allowed("GET, DELETE")),
        (_, [_, "token"]) => Err(ApiError::method_not_allowed("POST")),
        _ => Err(ApiError::not_found("no such session route")),
    }
}

/// A fresh visitor token for `session` and when it expires (Unix ms).
fn visitor_token(auth: &AuthConfig, session: &Session) -> Result<(String, i64), ApiError> {
    let principal = Principal {
        tenant: session.tenant_id.clone(),
        subject: session.visitor.id.clone(),
        role: Role::Visitor,
        session: Some(session.id.clone()),
    };
    let expires_at = now_ms() + (VISITOR_TOKEN_SECS as i64) * 1000;
    let token = auth
        .issue_for_secs(&principal, VISITOR_TOKEN_SECS)
        .map_err(|e| {
            edge::log::warn("session", &format!("cannot issue a visitor token: {}", e.0));
            ApiError::internal()
        })?;
    Ok((token, expires_at))
}
/// A session with a token for its visitor: the answer of create and refresh.
#[derive(Serialize)]
struct SessionWithToken<'a> {
    session: &'a Session,
    token: String,
    expires_at: i64,
}

fn to_json(value: &impl Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|_| ApiError::internal())
}

fn no_session() -> ApiError {
    ApiError::not_found("no such session")
}

fn create(req: &Request) -> Result<Response, ApiError> {
    let body: CreateSessionRequest = request::json_body(req, MAX_JSON_BODY_BYTES)?;
    let widget_key = validate_widget_key(&body.widget_key)?;
    let visitor = validate_visitor(body.visitor.as_ref())?;
    let key = idempotency::key(req)?;
    let services = Services::open(req, "session")?;
    let tenant = store::tenant_by_widget_key(&services.db, widget_key)?
        .ok_or_else(|| ApiError::not_found("no tenant has this widget key"))?;
    edge::log::note_tenant(&tenant.id);
    services.limit(req, &tenant, None)?;
    let hash = request_hash("POST", "/api/sessions", "", req.body());
    idempotency::run(
        &services.db,
        &tenant.id,
        store::CREATE_SCOPE,
        key.as_deref(),
        &hash,
        |db| {
            let session = store::create_session(db, &tenant.id, &visitor, now_ms())?;
            let (token, expires_at) = visitor_token(&services.auth, &session)?;
            let body = to_json(&SessionWithToken {
                session: &session,
                token,
                expires_at,
            })?;
            Ok((201, body))
        },
    )
}

fn read(req: &Request, id: &str) -> Result<Response, ApiError> {
    let services = Services::open(req, "session")?;
    let (principal, tenant) = services.caller(req)?;
    require_role(&principal, &[Role::Visitor, Role::Agent, Role::Admin])?;
    if !is_session_id(id) || (principal.role == Role::Visitor && !owns_session(&principal, id)) {
        return Err(no_session());
    }
    let session = store::get_session(&services.db, &tenant.id, id)?.ok_or_else(no_session)?;
    if principal.role == Role::Visitor && session.visitor.id != principal.subject {
        return Err(no_session());
    }
    Ok(edge::error::json_response(
        200,
        &serde_json::json!({ "session": to_json(&session)? }),
    ))
}

fn list(req: &Request) -> Result<Response, ApiError> {
    let services = Services::open(req, "session")?;
    let (principal, tenant) = services.caller(req)?;
    require_role(&principal, &[Role::Agent, Role::Admin])?;
    let query = parse_list_query(req.query())?;
    let page = store::list_sessions(
        &services.db,
        &tenant.id,
        &SessionFilter {
            status: query.status,
            limit: query.limit,
            after: query.after,
        },
    )?;
    Ok(edge::error::json_response(
        200,
        &serde_json::json!({
            "sessions": to_json(&page.sessions)?,
            "next_cursor": page.next.map(|c| c.encode()),
        }),
    ))
}

fn refresh(req: &Request, id: &str) -> Result<Response, ApiError> {
    let services = Services::open(req, "session")?;
    let (principal, tenant) = services.caller(req)?;
    require_role(&principal, &[Role::Visitor])?;
    request::no_body(req)?;
    if !is_session_id(id) || !owns_session(&principal, id) {
        return Err(no_session());
    }
    let key = idempotency::key(req)?;
    let route = format!("/api/sessions/{id}/token");
    let hash = request_hash("POST", &route, &principal.subject, req.body());
    idempotency::run(
        &services.db,
        &tenant.id,
        &store::session_scope(id, "token"),
        key.as_deref(),
        &hash,
        |db| {
            let session = store::get_session(db, &tenant.id, id)?
                .filter(|s| s.visitor.id == principal.subject)
                .ok_or_else(no_session)?;
            let (token, expires_at) = visitor_token(&services.auth, &session)?;
            let body = to_json(&SessionWithToken {
                session: &session,
                token,
                expires_at,
            })?;
            Ok((200, body))
        },
    )
}

fn erase(req: &Request, id: &str) -> Result<Response, ApiError> {
    let services = Services::open(req, "session")?;
    let (principal, tenant) = services.caller(req)?;
    require_role(&principal, &[Role::Visitor, Role::Admin])?;
    if !is_session_id(id) || (principal.role == Role::Visitor && !owns_session(&principal, id)) {
        return Err(no_session());
    }
    if principal.role == Role::Visitor {
        let session = store::get_session(&services.db, &tenant.id, id)?;
        if session.is_none_or(|s| s.visitor.id != principal.subject) {
            return Err(no_session());
        }
    }
    // The attachments' vectors first: once the rows are gone nothing points at them.
    let index = Chroma::from_config(services.request_id.as_deref(), CallPath::Write)
        .map_err(|e| edge::log::warn("session", &e.to_string()))
        .ok();
    let knowledge = Knowledge {
        db: &services.db,
        tenant_id: &tenant.id,
        session_id: Some(id),
        ranking: core_logic::kb::Ranking::default(),
        embedder: None,
        index: index.as_ref().map(|c| c as &dyn VectorIndex),
        breakers: Some(services.counters.as_ref()),
    };
    knowledge.delete_attachments(id)?;
    if !store::delete_session(&services.db, &tenant.id, id)? {
        return Err(no_session());
    }
    Ok(Response::builder().status(204).body(Vec::new()).build())
}
