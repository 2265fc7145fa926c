//! Visitor feedback and conversation outcomes in the store: ratings of bot replies and of
//! whole conversations (one per target, changeable, each change a `feedback` event in the
//! session's feed), and settling the outcome of conversations that went idle.
//!
//! The rules live in `core_logic::outcome`; this module only reads and writes. Erasure: the
//! session's ratings go with the rest of it in `conversation::delete_session_data`.

use core_logic::conversation::Author;
use core_logic::outcome::{self, Conversation, Outcome, Rating, Target, Turn};
use core_logic::problem::ProblemKind;
use serde::Serialize;
use serde_json::Value as Json;

use crate::ApiError;
use crate::conversation;
use crate::db::{Db, DbError, Row, Value};

/// One stored rating, in the shape of the body that set it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feedback {
    /// The rated bot reply; absent for the conversation's rating.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// A reply's rating.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helpful: Option<bool>,
    /// The conversation's rating: did it solve the visitor's problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<bool>,
    pub comment: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const FEEDBACK_COLUMNS: &str = "message_id, positive, comment, created_at, updated_at";

fn feedback_from(row: &Row) -> Result<Feedback, DbError> {
    let message_id = row.text(0)?;
    let positive = row.int(1)? != 0;
    let reply = !message_id.is_empty();
    Ok(Feedback {
        message_id: reply.then_some(message_id),
        helpful: reply.then_some(positive),
        resolved: (!reply).then_some(positive),
        comment: row.opt_text(2)?,
        created_at: row.int(3)?,
        updated_at: row.int(4)?,
    })
}

/// Stores a visitor's rating, replacing an earlier one of the same target. A change appends a
/// `feedback` event (so agents watching the session see it); the same rating again changes
/// nothing. Returns the stored rating and whether it changed. A reply rating names a bot
/// reply of this session, or it is a 404.
pub fn rate(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
    rating: &Rating,
    now_ms: i64,
) -> Result<(Feedback, bool), ApiError> {
    if let Target::Reply { message_id } = &rating.target {
        let rated = conversation::message(db, tenant_id, session_id, message_id)?;
        match rated {
            Some(m) if m.author == Author::Bot => {}
            Some(_) => {
                return Err(ApiError::new(
                    ProblemKind::Unprocessable,
                    "only the bot's replies can be rated",
                ));
            }
            None => return Err(ApiError::not_found("no such message in this session")),
        }
    }
    let key = rating.target_key();
    let stored = db.transaction(|db| {
        let before = get(db, tenant_id, session_id, key)?;
        if let Some(before) = &before
            && before.helpful.or(before.resolved) == Some(rating.positive)
            && before.comment == rating.comment
        {
            return Ok::<_, DbError>((before.clone(), false));
        }
        db.execute(
            "INSERT INTO feedback (tenant_id, session_id, message_id, positive, comment, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (tenant_id, session_id, message_id) DO UPDATE SET \
             positive = excluded.positive, comment = excluded.comment, \
             updated_at = excluded.updated_at",
            &[
                tenant_id.into(),
                session_id.into(),
                key.into(),
                Value::Int(i64::from(rating.positive)),
                rating.comment.clone().into(),
                Value::Int(now_ms),
            ],
        )?;
        // What the upsert stored: an update keeps the first rating's created_at.
        let reply = !key.is_empty();
        let after = Feedback {
            message_id: reply.then(|| key.to_string()),
            helpful: reply.then_some(rating.positive),
            resolved: (!reply).then_some(rating.positive),
            comment: rating.comment.clone(),
            created_at: before.as_ref().map_or(now_ms, |b| b.created_at),
            updated_at: now_ms,
        };
        conversation::append_event(
            db,
            tenant_id,
            session_id,
            "feedback",
            &serde_json::json!(after),
            now_ms,
        )?;
        Ok((after, true))
    })?;
    Ok(stored)
}

fn get(db: &Db, tenant_id: &str, session_id: &str, key: &str) -> Result<Option<Feedback>, DbError> {
    db.query(
        &format!(
            "SELECT {FEEDBACK_COLUMNS} FROM feedback \
             WHERE tenant_id = $1 AND session_id = $2 AND message_id = $3"
        ),
        &[tenant_id.into(), session_id.into(), key.into()],
    )?
    .first()
    .map(feedback_from)
    .transpose()
}

/// The session's ratings, in the order they were last changed.
pub fn ratings(db: &Db, tenant_id: &str, session_id: &str) -> Result<Vec<Feedback>, DbError> {
    db.query(
        &format!(
            "SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE tenant_id = $1 AND session_id = $2 \
             ORDER BY updated_at, message_id"
        ),
        &[tenant_id.into(), session_id.into()],
    )?
    .iter()
    .map(feedback_from)
    .collect()
}

/// The longest conversation the outcome rules read, in messages (the newest).
const OUTCOME_MESSAGES: i64 = 400;

/// Settles the outcome of up to `limit` conversations of any tenant in which nothing has
/// happened since `now_ms - idle_ms` (oldest first), and returns the outcomes it settled (a
/// conversation where the visitor never wrote is settled as `none` and not returned). Each
/// is settled once: of two concurrent callers only one writes it.
pub fn settle_idle(
    db: &Db,
    now_ms: i64,
    idle_ms: i64,
    limit: u32,
) -> Result<Vec<Outcome>, DbError> {
    let cutoff = now_ms - idle_ms;
    let idle = db.query(
        "SELECT s.tenant_id, s.id, s.status FROM sessions s \
         WHERE s.outcome IS NULL AND s.created_at <= $1 AND NOT EXISTS ( \
           SELECT 1 FROM session_events e WHERE e.tenant_id = s.tenant_id \
           AND e.session_id = s.id AND e.created_at > $1) \
         ORDER BY s.created_at LIMIT $2",
        &[Value::Int(cutoff), Value::Int(i64::from(limit))],
    )?;
    let mut settled = Vec::new();
    for row in &idle {
        let (tenant_id, session_id) = (row.text(0)?, row.text(1)?);
        let handed_off = row.text(2)? == "handed_off"
            || !db
                .query(
                    "SELECT 1 FROM tickets WHERE tenant_id = $1 AND session_id = $2 LIMIT 1",
                    &[tenant_id.as_str().into(), session_id.as_str().into()],
                )?
                .is_empty();
        let outcome = outcome_of(db, &tenant_id, &session_id, handed_off)?;
        let written = db.execute(
            "UPDATE sessions SET outcome = $1, outcome_at = $2 \
             WHERE tenant_id = $3 AND id = $4 AND outcome IS NULL",
            &[
                outcome.map_or("none", Outcome::as_str).into(),
                Value::Int(now_ms),
                tenant_id.as_str().into(),
                session_id.as_str().into(),
            ],
        )?;
        if written > 0
            && let Some(outcome) = outcome
        {
            settled.push(outcome);
        }
    }
    Ok(settled)
}

/// Reads what the outcome rules need of one conversation and applies them.
fn outcome_of(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
    handed_off: bool,
) -> Result<Option<Outcome>, DbError> {
    let mut messages: Vec<(Author, String, Option<String>)> = Vec::new();
    for row in db.query(
        "SELECT author, text, action FROM messages WHERE tenant_id = $1 AND session_id = $2 \
         ORDER BY seq DESC LIMIT $3",
        &[
            tenant_id.into(),
            session_id.into(),
            Value::Int(OUTCOME_MESSAGES),
        ],
    )? {
        let author = Author::parse(&row.text(0)?)
            .ok_or_else(|| DbError::Decode("unknown message author".into()))?;
        let action = row
            .opt_text(2)?
            .and_then(|a| serde_json::from_str::<Json>(&a).ok())
            .and_then(|a| a.get("type").and_then(Json::as_str).map(str::to_string));
        messages.push((author, row.text(1)?, action));
    }
    messages.reverse();
    let ratings = ratings(db, tenant_id, session_id)?;
    let conversation = Conversation {
        turns: messages
            .iter()
            .map(|(author, text, action)| Turn {
                author: *author,
                text,
                action: action.as_deref(),
            })
            .collect(),
        handed_off,
        resolved: ratings.iter().find_map(|f| f.resolved),
        reply_ratings: ratings.iter().filter_map(|f| f.helpful).collect(),
    };
    Ok(outcome::outcome(&conversation))
}
