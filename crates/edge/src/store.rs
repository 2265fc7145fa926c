//! The typed, tenant-scoped store over [`Db`]: tenants, sessions and idempotency records.
//!
//! Every function takes the tenant id and every statement filters by `tenant_id`, except
//! [`tenant_by_widget_key`], which is how a public widget finds its tenant. SQL is written
//! once for SQLite and PostgreSQL. Validation of what clients send is `core_logic`'s job;
//! deciding who may call what is the component's.

use core_logic::idempotency::StoredResponse;
use core_logic::session::{Cursor, SessionStatus, Visitor};
use serde::Serialize;

use crate::db::{Db, DbError, Row, Value};

/// A tenant: a company using the product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    /// Settings JSON (rate limits, …), read by `core_logic` with defaults.
    pub settings: String,
}

/// A visitor as stored with their session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionVisitor {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub locale: Option<String>,
}

/// One chat session. Timestamps are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub id: String,
    #[serde(skip)]
    pub tenant_id: String,
    pub status: SessionStatus,
    pub visitor: SessionVisitor,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Session {
    /// Where a listing continues after this session.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id.clone(),
        }
    }
}

const TENANT_COLUMNS: &str = "id, name, settings";
const SESSION_COLUMNS: &str = "tenant_id, id, visitor_id, visitor_name, visitor_email, locale, status, created_at, updated_at";

fn tenant_from(row: &Row) -> Result<Tenant, DbError> {
    Ok(Tenant {
        id: row.text(0)?,
        name: row.text(1)?,
        settings: row.text(2)?,
    })
}

fn session_from(row: &Row) -> Result<Session, DbError> {
    let status = row.text(6)?;
    Ok(Session {
        tenant_id: row.text(0)?,
        id: row.text(1)?,
        visitor: SessionVisitor {
            id: row.text(2)?,
            name: row.opt_text(3)?,
            email: row.opt_text(4)?,
            locale: row.opt_text(5)?,
        },
        status: SessionStatus::parse(&status)
            .ok_or_else(|| DbError::Decode(format!("unknown session status {status:?}")))?,
        created_at: row.int(7)?,
        updated_at: row.int(8)?,
    })
}

/// 128 random bits as 32 lowercase hex digits (the shape `core_logic::session::is_session_id` accepts).
pub fn new_id() -> Result<String, DbError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| DbError::Unavailable(format!("no randomness: {e}")))?;
    Ok(hex::encode(bytes))
}

/// The tenant whose widget carries `widget_key` (the one lookup not scoped by tenant).
pub fn tenant_by_widget_key(db: &Db, widget_key: &str) -> Result<Option<Tenant>, DbError> {
    let rows = db.query(
        &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE widget_key = $1"),
        &[widget_key.into()],
    )?;
    rows.first().map(tenant_from).transpose()
}

/// The tenant itself, for its settings.
pub fn tenant(db: &Db, tenant_id: &str) -> Result<Option<Tenant>, DbError> {
    let rows = db.query(
        &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"),
        &[tenant_id.into()],
    )?;
    rows.first().map(tenant_from).transpose()
}

/// Creates an open session for a new visitor.
pub fn create_session(
    db: &Db,
    tenant_id: &str,
    visitor: &Visitor,
    now_ms: i64,
) -> Result<Session, DbError> {
    let session = Session {
        tenant_id: tenant_id.to_string(),
        id: new_id()?,
        status: SessionStatus::Open,
        visitor: SessionVisitor {
            id: format!("v{}", new_id()?),
            name: visitor.name.clone(),
            email: visitor.email.clone(),
            locale: visitor.locale.clone(),
        },
        created_at: now_ms,
        updated_at: now_ms,
    };
    db.execute(
        &format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ),
        &[
            tenant_id.into(),
            session.id.as_str().into(),
            session.visitor.id.as_str().into(),
            session.visitor.name.clone().into(),
            session.visitor.email.clone().into(),
            session.visitor.locale.clone().into(),
            session.status.as_str().into(),
            Value::Int(now_ms),
            Value::Int(now_ms),
        ],
    )?;
    Ok(session)
}

/// One session of the tenant.
pub fn get_session(db: &Db, tenant_id: &str, id: &str) -> Result<Option<Session>, DbError> {
    let rows = db.query(
        &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE tenant_id = $1 AND id = $2"),
        &[tenant_id.into(), id.into()],
    )?;
    rows.first().map(session_from).transpose()
}

/// Which sessions to list: newest first, optionally one status, after a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFilter {
    pub status: Option<SessionStatus>,
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// A page of sessions and, when more follow, the cursor of the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPage {
    pub sessions: Vec<Session>,
    pub next: Option<Cursor>,
}

/// The tenant's sessions, newest first (keyset paging on `(created_at, id)`).
pub fn list_sessions(
    db: &Db,
    tenant_id: &str,
    filter: &SessionFilter,
) -> Result<SessionPage, DbError> {
    let mut sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE tenant_id = $1");
    let mut params: Vec<Value> = vec![tenant_id.into()];
    if let Some(status) = filter.status {
        params.push(status.as_str().into());
        sql.push_str(&format!(" AND status = ${}", params.len()));
    }
    if let Some(after) = &filter.after {
        params.push(Value::Int(after.created_at));
        let at = params.len();
        params.push(after.id.as_str().into());
        let id = params.len();
        // Each `$n` first appears in increasing order, as `Db` requires for SQLite.
        sql.push_str(&format!(
            " AND (created_at < ${at} OR (created_at = ${at} AND id < ${id}))"
        ));
    }
    // One extra row says whether another page follows.
    params.push(Value::Int(i64::from(filter.limit) + 1));
    sql.push_str(&format!(
        " ORDER BY created_at DESC, id DESC LIMIT ${}",
        params.len()
    ));
    let mut sessions = db
        .query(&sql, &params)?
        .iter()
        .map(session_from)
        .collect::<Result<Vec<_>, _>>()?;
    let next = if sessions.len() > filter.limit as usize {
        sessions.truncate(filter.limit as usize);
        sessions.last().map(Session::cursor)
    } else {
        None
    };
    Ok(SessionPage { sessions, next })
}

/// The idempotency scope of requests that act on one session.
pub fn session_scope(session_id: &str, action: &str) -> String {
    format!("session:{session_id}:{action}")
}

/// The idempotency scope of `POST /api/sessions`.
pub const CREATE_SCOPE: &str = "sessions:create";

/// Erases a session and everything stored for it: its row, its messages, events, memory and
/// attachments (their vectors are the caller's to delete), and the idempotency records that
/// hold its data (the recorded creation response carries the visitor's details). Returns
/// whether the session existed.
pub fn delete_session(db: &Db, tenant_id: &str, id: &str) -> Result<bool, DbError> {
    db.transaction(|db| {
        db.execute(
            "DELETE FROM idempotency_keys WHERE tenant_id = $1 \
             AND (scope LIKE $2 OR (scope = $3 AND response LIKE $4))",
            &[
                tenant_id.into(),
                format!("{}%", session_scope(id, "")).into(),
                CREATE_SCOPE.into(),
                // Session ids are hex, so they hold no LIKE wildcards.
                format!("%\"id\":\"{id}\"%").into(),
            ],
        )?;
        crate::conversation::delete_session_data(db, tenant_id, id)?;
        crate::handoff::delete_session_tickets(db, tenant_id, id)?;
        crate::kb::delete_attachments(db, tenant_id, id)?;
        let deleted = db.execute(
            "DELETE FROM sessions WHERE tenant_id = $1 AND id = $2",
            &[tenant_id.into(), id.into()],
        )?;
        Ok(deleted > 0)
    })
}

/// The response recorded under an idempotency key, if any.
pub fn idempotency_get(
    db: &Db,
    tenant_id: &str,
    scope: &str,
    key: &str,
) -> Result<Option<StoredResponse>, DbError> {
    let rows = db.query(
        "SELECT request_hash, status, response, created_at FROM idempotency_keys \
         WHERE tenant_id = $1 AND scope = $2 AND key = $3",
        &[tenant_id.into(), scope.into(), key.into()],
    )?;
    rows.first()
        .map(|row| {
            Ok(StoredResponse {
                request_hash: row.text(0)?,
                status: u16::try_from(row.int(1)?)
                    .map_err(|_| DbError::Decode("status out of range".into()))?,
                body: row.text(2)?,
                created_at_ms: row.int(3)?,
            })
        })
        .transpose()
}

/// Records a response under a key, replacing a record older than `expired_before_ms`.
/// (`status` is an INTEGER column: the CAST lets PostgreSQL take our 64-bit parameter.)
/// A live record under the same key is a [`DbError::Conflict`]: another request won the race.
pub fn idempotency_put(
    db: &Db,
    tenant_id: &str,
    scope: &str,
    key: &str,
    response: &StoredResponse,
    expired_before_ms: i64,
) -> Result<(), DbError> {
    db.execute(
        "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND scope = $2 AND key = $3 \
         AND created_at < $4",
        &[
            tenant_id.into(),
            scope.into(),
            key.into(),
            Value::Int(expired_before_ms),
        ],
    )?;
    db.execute(
        "INSERT INTO idempotency_keys \
         (tenant_id, scope, key, request_hash, status, response, created_at) \
         VALUES ($1, $2, $3, $4, CAST($5 AS BIGINT), $6, $7)",
        &[
            tenant_id.into(),
            scope.into(),
            key.into(),
            response.request_hash.as_str().into(),
            Value::Int(i64::from(response.status)),
            response.body.as_str().into(),
            Value::Int(response.created_at_ms),
        ],
    )?;
    Ok(())
}
