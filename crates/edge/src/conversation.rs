//! The conversation store: messages, the per-session event feed and the bot's memory of a
//! session, tenant-scoped like everything in the store.
//!
//! Idempotency lives in the keys: a visitor message sent with an idempotency key has an id
//! derived from it (inserting it twice does nothing), and a bot reply is unique per visitor
//! message it answers (`reply_to`), so a retry can never store a second reply. Events are
//! numbered per session; the number is the client's cursor.

use core_logic::conversation::{Author, HistoryQuery};
use core_logic::session::SessionStatus;
use serde::Serialize;
use serde_json::Value as Json;

use crate::db::{Db, DbError, Dialect, Row, Value};

/// One message of a session. Timestamps are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub id: String,
    /// Its place in the session (the cursor of its `message` event); set when stored.
    #[serde(skip)]
    pub seq: i64,
    pub author: Author,
    pub text: String,
    /// Structured citations (bot replies); empty otherwise.
    pub citations: Json,
    /// The structured action the bot took with this reply (`escalate`, `offer_handoff`, …).
    pub action: Option<Json>,
    /// The visitor message this reply answers.
    pub reply_to: Option<String>,
    /// `extractive`, `llm`, `fallback`, `agent:<name>`… for replies.
    pub responder: Option<String>,
    pub created_at: i64,
}

/// One entry of the session's event feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The cursor: pass it as `after` to read what came next.
    pub cursor: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: Json,
    pub created_at: i64,
}

/// What the bot remembers of a session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemoryRecord {
    pub facts: Json,
    pub summary: String,
    pub failed_turns: i64,
}

const MESSAGE_COLUMNS: &str =
    "id, author, text, citations, action, reply_to, responder, created_at, seq";

fn message_from(row: &Row) -> Result<Message, DbError> {
    let author = row.text(1)?;
    let json = |text: String| {
        serde_json::from_str(&text).map_err(|_| DbError::Decode("stored JSON is invalid".into()))
    };
    Ok(Message {
        id: row.text(0)?,
        author: Author::parse(&author)
            .ok_or_else(|| DbError::Decode(format!("unknown author {author:?}")))?,
        text: row.text(2)?,
        citations: json(row.text(3)?)?,
        action: row.opt_text(4)?.map(json).transpose()?,
        reply_to: row.opt_text(5)?,
        responder: row.opt_text(6)?,
        created_at: row.int(7)?,
        seq: row.int(8)?,
    })
}

/// `INSERT … ON CONFLICT DO NOTHING` in both dialects (SQLite ≥ 3.24 and PostgreSQL).
fn insert_ignoring_conflicts(db: &Db, sql: &str, params: &[Value]) -> Result<bool, DbError> {
    let sql = format!("{sql} ON CONFLICT DO NOTHING");
    Ok(db.execute(&sql, params)? > 0)
}

/// Stores a message with its `message` event (call inside a transaction); `false` when one
/// with the same id, or a reply to the same message, is already stored. A concurrent writer
/// that stored it first makes this a [`DbError::Conflict`], so the caller's transaction
/// rolls the event back.
pub fn record_message(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
    message: &mut Message,
) -> Result<bool, DbError> {
    if self::message(db, tenant_id, session_id, &message.id)?.is_some() {
        return Ok(false);
    }
    if let Some(visitor_message) = &message.reply_to
        && reply_to(db, tenant_id, session_id, visitor_message)?.is_some()
    {
        return Ok(false);
    }
    message.seq = append_event(
        db,
        tenant_id,
        session_id,
        "message",
        &serde_json::json!(message),
        message.created_at,
    )?;
    if !insert_message(db, tenant_id, session_id, message)? {
        return Err(DbError::Conflict(
            "the message was stored concurrently".into(),
        ));
    }
    Ok(true)
}

fn insert_message(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
    message: &Message,
) -> Result<bool, DbError> {
    insert_ignoring_conflicts(
        db,
        &format!(
            "INSERT INTO messages (tenant_id, session_id, {MESSAGE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ),
        &[
            tenant_id.into(),
            session_id.into(),
            message.id.as_str().into(),
            message.author.as_str().into(),
            message.text.as_str().into(),
            message.citations.to_string().into(),
            message.action.as_ref().map(Json::to_string).into(),
            message.reply_to.clone().into(),
            message.responder.clone().into(),
            Value::Int(message.created_at),
            Value::Int(message.seq),
        ],
    )
}

/// One message of the session.
pub fn message(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
    id: &str,
) -> Result<Option<Message>, DbError> {
    let rows = db.query(
        &format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages \
             WHERE tenant_id = $1 AND session_id = $2 AND id = $3"
        ),
        &[tenant_id.into(), session_id.into(), id.into()],
    )?;
    rows.first().map(message_from).transpose()
}

/// The reply stored for a visitor message, if any.
pub fn reply_to(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
    visitor_message_id: &str,
) -> Result<Option<Message>, DbError> {
    let rows = db.query(
        &format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages \
             WHERE tenant_id = $1 AND session_id = $2 AND reply_to = $3"
        ),
        &[
            tenant_id.into(),
            session_id.into(),
            visitor_message_id.into(),
        ],
    )?;
    rows.first().map(message_from).transpose()
}

/// A page of the session's messages, oldest first, and the cursor of the page before it
/// (when older messages exist). Without a cursor the page is the newest messages.
pub fn history(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
    query: &HistoryQuery,
) -> Result<(Vec<Message>, Option<i64>), DbError> {
    let mut sql =
        format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND session_id = $2");
    let mut params: Vec<Value> = vec![tenant_id.into(), session_id.into()];
    if let Some(before) = query.before {
        sql.push_str(" AND seq < $3");
        params.push(Value::Int(before));
    }
    params.push(Value::Int(i64::from(query.limit) + 1));
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", params.len()));
    let mut newest_first = db
        .query(&sql, &params)?
        .iter()
        .map(message_from)
        .collect::<Result<Vec<_>, _>>()?;
    let older = newest_first.len() > query.limit as usize;
    newest_first.truncate(query.limit as usize);
    let before = if older {
        newest_first.last().map(|m| m.seq)
    } else {
        None
    };
    newest_first.reverse();
    Ok((newest_first, before))
}

/// The last `n` messages of the session, oldest first.
pub fn recent(db: &Db, tenant_id: &str, session_id: &str, n: u32) -> Result<Vec<Message>, DbError> {
    history(
        db,
        tenant_id,
        session_id,
        &HistoryQuery {
            limit: n,
            before: None,
        },
    )
    .map(|(messages, _)| messages)
}

/// Appends an event to the session's feed; its cursor. Call inside the transaction of the
/// change it reports. (Two writers of one session serialize on SQLite's write lock; on
/// PostgreSQL the loser of a race on the same number retries.)
pub fn append_event(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
    kind: &str,
    data: &Json,
    now_ms: i64,
) -> Result<i64, DbError> {
    let attempts = match db.dialect() {
        Dialect::Sqlite => 1,
        Dialect::Postgres => 5,
    };
    let mut last = None;
    for _ in 0..attempts {
        let rows = db.query(
            "SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) FROM session_events \
             WHERE tenant_id = $1 AND session_id = $2",
            &[tenant_id.into(), session_id.into()],
        )?;
        let seq = rows
            .first()
            .ok_or_else(|| DbError::Decode("no next sequence".into()))?
            .int(0)?;
        let inserted = insert_ignoring_conflicts(
            db,
            "INSERT INTO session_events (tenant_id, session_id, seq, type, payload, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                tenant_id.into(),
                session_id.into(),
                Value::Int(seq),
                kind.into(),
                data.to_string().into(),
                Value::Int(now_ms),
            ],
        )?;
        if inserted {
            return Ok(seq);
        }
        last = Some(seq);
    }
    Err(DbError::Conflict(format!(
        "event number {} taken by concurrent writers",
        last.unwrap_or(0)
    )))
}

/// Events after a cursor, oldest first.
pub fn events_after(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
    after: i64,
    limit: u32,
) -> Result<Vec<Event>, DbError> {
    db.query(
        "SELECT seq, type, payload, created_at FROM session_events \
         WHERE tenant_id = $1 AND session_id = $2 AND seq > $3 ORDER BY seq LIMIT $4",
        &[
            tenant_id.into(),
            session_id.into(),
            Value::Int(after),
            Value::Int(i64::from(limit)),
        ],
    )?
    .iter()
    .map(|row| {
        Ok(Event {
            cursor: row.int(0)?,
            kind: row.text(1)?,
            data: serde_json::from_str(&row.text(2)?)
                .map_err(|_| DbError::Decode("stored event is not JSON".into()))?,
            created_at: row.int(3)?,
        })
    })
    .collect()
}

/// The bot's memory of the session (empty when it has none yet).
pub fn memory(db: &Db, tenant_id: &str, session_id: &str) -> Result<MemoryRecord, DbError> {
    let rows = db.query(
        "SELECT facts, summary, failed_turns FROM session_memory \
         WHERE tenant_id = $1 AND session_id = $2",
        &[tenant_id.into(), session_id.into()],
    )?;
    let Some(row) = rows.first() else {
        return Ok(MemoryRecord {
            facts: Json::Array(Vec::new()),
            ..MemoryRecord::default()
        });
    };
    Ok(MemoryRecord {
        facts: serde_json::from_str(&row.text(0)?)
            .map_err(|_| DbError::Decode("stored facts are not JSON".into()))?,
        summary: row.text(1)?,
        failed_turns: row.int(2)?,
    })
}

/// Replaces the bot's memory of the session.
pub fn save_memory(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
    memory: &MemoryRecord,
    now_ms: i64,
) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO session_memory (tenant_id, session_id, facts, summary, failed_turns, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (tenant_id, session_id) DO UPDATE SET facts = excluded.facts, \
         summary = excluded.summary, failed_turns = excluded.failed_turns, \
         updated_at = excluded.updated_at",
        &[
            tenant_id.into(),
            session_id.into(),
            memory.facts.to_string().into(),
            memory.summary.as_str().into(),
            Value::Int(memory.failed_turns),
            Value::Int(now_ms),
        ],
    )?;
    Ok(())
}

/// Moves the session to `status`; `false` when it was already there.
pub fn set_status(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
    status: SessionStatus,
    now_ms: i64,
) -> Result<bool, DbError> {
    let changed = db.execute(
        "UPDATE sessions SET status = $1, updated_at = $2 \
         WHERE tenant_id = $3 AND id = $4 AND status <> $1",
        &[
            status.as_str().into(),
            Value::Int(now_ms),
            tenant_id.into(),
            session_id.into(),
        ],
    )?;
    Ok(changed > 0)
}

/// Deletes everything the conversation store holds for a session (with the session), its
/// visitor's ratings and the marks of its questions as addressed included.
pub fn delete_session_data(db: &Db, tenant_id: &str, session_id: &str) -> Result<(), DbError> {
    for table in [
        "messages",
        "session_events",
        "session_memory",
        "feedback",
        "addressed_questions",
    ] {
        db.execute(
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND session_id = $2"),
            &[tenant_id.into(), session_id.into()],
        )?;
    }
    Ok(())
}
