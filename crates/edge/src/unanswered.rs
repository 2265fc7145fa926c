//! The admin's loop over what the bot could not answer: the list of unanswered questions
//! (read from the conversation store, masked, grouped by the sidecar's embeddings, with the
//! passages the knowledge base offers for each group), and the curated answers written for
//! them (stored as knowledge-base documents of kind `curated`, with the questions they
//! address).
//!
//! The rules live in `core_logic::unanswered`. Erasure needs nothing here: the list is read
//! from the messages each time, and a session's marks go with `delete_session_data`.

use core_logic::kb::{DocumentFields, Search, SearchMode};
use core_logic::unanswered::{self, Asked, Curated, Group};
use serde::Serialize;
use serde_json::Value as Json;

use crate::ApiError;
use crate::db::{Db, DbError, Value};
use crate::knowledge::{Ingested, Knowledge};
use crate::upload::Upload;

/// Groups that get the passages the knowledge base offers (the rest of the list has none:
/// one search each).
const GROUPS_WITH_PASSAGES: usize = 50;
/// Passages shown per group.
const PASSAGES: usize = 3;
/// Characters of a passage quoted in the list.
const QUOTE_CHARS: usize = 240;

/// A passage the knowledge base offers for a group's question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Offered {
    pub document_id: String,
    pub title: String,
    pub score: f64,
    pub quote: String,
}

/// One row of the list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    #[serde(flatten)]
    pub group: Group,
    /// `None` past the first groups, which are the only ones searched.
    pub passages: Option<Vec<Offered>>,
    /// The first reply a person wrote after the group's question, masked: the starting text
    /// of a curated answer.
    pub agent_reply: Option<String>,
    /// The curated answer that addresses the group's newest question (a question asked and
    /// not answered after the curated answer was written makes the group open again).
    pub addressed_by: Option<String>,
}

/// The list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct List {
    pub since: i64,
    pub until: i64,
    /// `embeddings` when the sidecar grouped the questions, `keywords` when it could not.
    pub grouping: &'static str,
    /// Unanswered questions in the period (at most `core_logic::unanswered::MAX_QUESTIONS`).
    pub questions: usize,
    pub groups: Vec<Row>,
}

/// One stored unanswered question, before grouping.
struct Stored {
    asked: Asked,
    session_id: String,
    seq: i64,
    addressed_by: Option<String>,
}

fn stored_questions(
    db: &Db,
    tenant_id: &str,
    since: i64,
    until: i64,
) -> Result<Vec<Stored>, DbError> {
    let rows = db.query(
        "SELECT v.id, v.session_id, v.seq, v.text, v.created_at, r.action, f.positive, \
         a.document_id \
         FROM messages r \
         JOIN messages v ON v.tenant_id = r.tenant_id AND v.session_id = r.session_id \
           AND v.id = r.reply_to \
         LEFT JOIN feedback f ON f.tenant_id = r.tenant_id AND f.session_id = r.session_id \
           AND f.message_id = r.id \
         LEFT JOIN addressed_questions a ON a.tenant_id = v.tenant_id AND a.message_id = v.id \
         WHERE r.tenant_id = $1 AND r.author = 'bot' AND v.created_at >= $2 \
           AND v.created_at <= $3 AND (r.action IS NOT NULL OR f.positive = 0) \
         ORDER BY v.created_at DESC, v.id LIMIT $4",
        &[
            tenant_id.into(),
            Value::Int(since),
            Value::Int(until),
            Value::Int(i64::from(unanswered::MAX_QUESTIONS)),
        ],
    )?;
    let mut out = Vec::new();
    for row in &rows {
        let action: Option<Json> = row.opt_text(5)?.and_then(|a| serde_json::from_str(&a).ok());
        let field = |name: &str| {
            action
                .as_ref()
                .and_then(|a| a.get(name))
                .and_then(Json::as_str)
        };
        let helpful = row.opt_int(6)?.map(|p| p != 0);
        let Some(why) = unanswered::why_unanswered(field("type"), field("reason"), helpful) else {
            continue;
        };
        out.push(Stored {
            asked: Asked {
                message_id: row.text(0)?,
                text: unanswered::mask_personal(&row.text(3)?),
                asked_at: row.int(4)?,
                why,
            },
            session_id: row.text(1)?,
            seq: row.int(2)?,
            addressed_by: row.opt_text(7)?,
        });
    }
    Ok(out)
}

/// The first message a person wrote in the session after `seq`.
fn agent_reply_after(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
    seq: i64,
) -> Result<Option<String>, DbError> {
    db.query(
        "SELECT text FROM messages WHERE tenant_id = $1 AND session_id = $2 \
         AND author = 'agent' AND seq > $3 ORDER BY seq LIMIT 1",
        &[tenant_id.into(), session_id.into(), Value::Int(seq)],
    )?
    .first()
    .map(|row| row.text(0))
    .transpose()
}

/// The list of the tenant's unanswered questions asked between `since` and `until`.
/// Grouping falls back to question words when the sidecar cannot embed (logged); the
/// passages come from the same hybrid search the bot uses.
pub fn list(knowledge: &Knowledge, since: i64, until: i64) -> Result<List, ApiError> {
    let stored = stored_questions(knowledge.db, knowledge.tenant_id, since, until)?;
    let asked: Vec<Asked> = stored.iter().map(|s| s.asked.clone()).collect();
    let texts: Vec<&str> = asked.iter().map(|a| a.text.as_str()).collect();
    let vectors = if texts.is_empty() {
        None
    } else {
        knowledge
            .embed_queries(&texts)
            .map_err(|e| crate::log::warn("unanswered", &format!("grouped by words: {e}")))
            .ok()
    };
    let groups = unanswered::group(&asked, vectors.as_deref());
    let mut rows = Vec::with_capacity(groups.len());
    for (i, group) in groups.into_iter().enumerate() {
        let first = stored
            .iter()
            .find(|s| s.asked.message_id == group.id)
            .ok_or_else(ApiError::internal)?;
        let addressed_by = first.addressed_by.clone();
        // The search and the person's reply are read for the largest groups only: a long
        // list costs no more than a query per row beyond them.
        let (passages, agent_reply) = if i < GROUPS_WITH_PASSAGES {
            let reply = agent_reply_after(
                knowledge.db,
                knowledge.tenant_id,
                &first.session_id,
                first.seq,
            )?;
            (
                Some(offered(knowledge, &group.question)?),
                reply.map(|text| unanswered::mask_personal(&text)),
            )
        } else {
            (None, None)
        };
        rows.push(Row {
            group,
            passages,
            agent_reply,
            addressed_by,
        });
    }
    Ok(List {
        since,
        until,
        grouping: if vectors.is_some() {
            "embeddings"
        } else {
            "keywords"
        },
        questions: asked.len(),
        groups: rows,
    })
}

fn offered(knowledge: &Knowledge, question: &str) -> Result<Vec<Offered>, ApiError> {
    let outcome = knowledge.search(&Search {
        query: question.to_string(),
        limit: PASSAGES,
        mode: SearchMode::Hybrid,
    })?;
    Ok(outcome
        .results
        .into_iter()
        .map(|hit| Offered {
            document_id: hit.document_id,
            title: hit.title,
            score: hit.score,
            quote: hit.text.chars().take(QUOTE_CHARS).collect(),
        })
        .collect())
}

/// The list as CSV: one row per group.
pub fn csv(list: &List) -> String {
    use core_logic::unanswered::csv_field;
    let mut out = String::from(
        "question,count,first_asked,last_asked,declined,escalated,not_helpful,best_passage,addressed_by\r\n",
    );
    for row in &list.groups {
        let g = &row.group;
        let best = row
            .passages
            .iter()
            .flatten()
            .next()
            .map_or("", |p| p.title.as_str());
        out.push_str(
            &[
                csv_field(&g.question),
                g.count.to_string(),
                g.first_asked.to_string(),
                g.last_asked.to_string(),
                g.reasons.declined.to_string(),
                g.reasons.escalated.to_string(),
                g.reasons.not_helpful.to_string(),
                csv_field(best),
                csv_field(row.addressed_by.as_deref().unwrap_or("")),
            ]
            .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

/// A stored curated answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CuratedAnswer {
    pub document_id: String,
    pub question: String,
    pub answer: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The content type of a curated answer's knowledge-base document.
pub const CURATED_KIND: &str = "curated";

/// Stores a curated answer as a knowledge-base document (indexed like any other, so the bot
/// cites it), keeps what the admin wrote, and marks the visitor questions it names (those of
/// the tenant) as addressed. Returns the document's ingest result, the answer, and how many
/// questions it marked.
pub fn curate(
    knowledge: &Knowledge,
    curated: &Curated,
    now_ms: i64,
) -> Result<(Ingested, CuratedAnswer, usize), ApiError> {
    let upload = Upload {
        bytes: curated.markdown().into_bytes(),
        file_name: Some("curated.md".into()),
        content_type: Some("text/markdown".into()),
        external_id: None,
        title: None,
        source_url: None,
    };
    let fields = DocumentFields {
        title: Some(curated.question.clone()),
        source_url: None,
    };
    let mut ingested = knowledge.upsert(&upload, &curated.external_id(), &fields, now_ms)?;
    let db = knowledge.db;
    let tenant_id = knowledge.tenant_id;
    let document_id = ingested.document.id.clone();
    let marked = db.transaction(|db| {
        db.execute(
            "UPDATE kb_documents SET content_type = $1 WHERE tenant_id = $2 AND id = $3",
            &[
                CURATED_KIND.into(),
                tenant_id.into(),
                document_id.as_str().into(),
            ],
        )?;
        db.execute(
            "INSERT INTO curated_answers (tenant_id, document_id, question, answer, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (tenant_id, document_id) DO UPDATE SET question = excluded.question, \
             answer = excluded.answer, updated_at = excluded.updated_at",
            &[
                tenant_id.into(),
                document_id.as_str().into(),
                curated.question.as_str().into(),
                curated.answer.as_str().into(),
                Value::Int(now_ms),
            ],
        )?;
        let mut marked = 0;
        for message_id in &curated.message_ids {
            // SQLite numbers `$n` parameters by first appearance: keep them in order.
            marked += db.execute(
                "INSERT INTO addressed_questions (tenant_id, message_id, session_id, \
                 document_id, created_at) \
                 SELECT $1, id, session_id, $2, $3 FROM messages \
                 WHERE tenant_id = $1 AND id = $4 AND author = 'visitor' \
                 ON CONFLICT (tenant_id, message_id) DO UPDATE SET \
                 document_id = excluded.document_id",
                &[
                    tenant_id.into(),
                    document_id.as_str().into(),
                    Value::Int(now_ms),
                    message_id.as_str().into(),
                ],
            )? as usize;
        }
        Ok::<_, DbError>(marked)
    })?;
    ingested.document.content_type = CURATED_KIND.into();
    let answer = read_curated(db, tenant_id, Some(&document_id))?
        .pop()
        .ok_or_else(ApiError::internal)?;
    Ok((ingested, answer, marked))
}

/// The tenant's curated answers, most recently changed first.
pub fn curated_answers(db: &Db, tenant_id: &str) -> Result<Vec<CuratedAnswer>, DbError> {
    read_curated(db, tenant_id, None)
}

/// The tenant's curated answers, or the one of `document_id`.
fn read_curated(
    db: &Db,
    tenant_id: &str,
    document_id: Option<&str>,
) -> Result<Vec<CuratedAnswer>, DbError> {
    let one = if document_id.is_some() {
        "AND c.document_id = $2 "
    } else {
        ""
    };
    let mut params = vec![tenant_id.into()];
    params.extend(document_id.map(Value::from));
    db.query(
        &format!(
            "SELECT c.document_id, c.question, c.answer, c.created_at, c.updated_at \
             FROM curated_answers c JOIN kb_documents d ON d.tenant_id = c.tenant_id \
               AND d.id = c.document_id \
             WHERE c.tenant_id = $1 {one}ORDER BY c.updated_at DESC, c.document_id"
        ),
        &params,
    )?
    .iter()
    .map(|row| {
        Ok(CuratedAnswer {
            document_id: row.text(0)?,
            question: row.text(1)?,
            answer: row.text(2)?,
            created_at: row.int(3)?,
            updated_at: row.int(4)?,
        })
    })
    .collect()
}
