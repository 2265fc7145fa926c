//! The knowledge base in the relational store: documents, their chunks, and the keyword
//! index over the chunks behind one trait (SQLite FTS5 on the embedded default, PostgreSQL
//! full-text search in production).
//!
//! Every statement filters by tenant. A document and its chunks change in one transaction,
//! keyword index included, so keyword search never sees half a document. Vectors are not
//! here (`crate::vector_index`); what to do when they cannot be written is the caller's call.

use core_logic::chunking::Chunk;
use core_logic::kb::{DocumentListQuery, VectorStatus, fts5_match, pg_tsquery};
use serde::Serialize;

use crate::db::{Db, DbError, Dialect, Row, Value};

/// A stored document (its text lives in its chunks). Timestamps are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    pub id: String,
    pub external_id: String,
    pub title: String,
    pub source_url: Option<String>,
    /// The detected format (`pdf`, `docx`, `html`, `markdown`, `csv`, `json`, `text`).
    pub content_type: String,
    pub content_hash: String,
    pub chunk_count: i64,
    pub vector_status: VectorStatus,
    pub created_at: i64,
    pub updated_at: i64,
    /// The vector-index collection holding the document's vectors, once written.
    #[serde(skip)]
    pub vector_collection: Option<String>,
}

/// A stored chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredChunk {
    pub id: String,
    #[serde(skip)]
    pub document_id: String,
    pub position: i64,
    pub heading_path: Vec<String>,
    pub text: String,
    #[serde(skip)]
    pub byte_start: i64,
    #[serde(skip)]
    pub byte_end: i64,
    /// The PDF page the chunk starts on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<i64>,
}

/// A chunk with what a citation needs of its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitedChunk {
    pub chunk: StoredChunk,
    pub external_id: String,
    pub title: String,
    pub source_url: Option<String>,
}

/// A document about to be stored.
#[derive(Debug, Clone)]
pub struct NewDocument<'a> {
    pub external_id: &'a str,
    /// The session an attachment belongs to; `None` for the knowledge base.
    pub session_id: Option<&'a str>,
    pub title: &'a str,
    pub source_url: Option<&'a str>,
    pub content_type: &'a str,
    pub content_hash: &'a str,
    pub chunks: &'a [Chunk],
    /// The PDF page each chunk starts on, by chunk index (empty for other formats).
    pub pages: &'a [Option<u32>],
}

/// One keyword result: the chunk and the index's own relevance score (higher is better).
#[derive(Debug, Clone, PartialEq)]
pub struct KeywordMatch {
    pub chunk_id: String,
    pub document_id: String,
    pub score: f64,
    pub byte_start: i64,
    pub byte_end: i64,
}

/// A full-text index over the tenant's chunks, kept in the store's own transactions.
pub trait KeywordIndex {
    /// Indexes the chunks of a document just inserted into `kb_chunks`.
    fn add_document(&self, db: &Db, tenant_id: &str, document_id: &str) -> Result<(), DbError>;
    /// Unindexes a document's chunks; called before they are deleted from `kb_chunks`.
    fn remove_document(&self, db: &Db, tenant_id: &str, document_id: &str) -> Result<(), DbError>;
    /// The `n` knowledge-base chunks matching any of `terms`, best first; with a session,
    /// that session's attachments too (never another session's).
    fn search(
        &self,
        db: &Db,
        tenant_id: &str,
        session_id: Option<&str>,
        terms: &[String],
        n: usize,
    ) -> Result<Vec<KeywordMatch>, DbError>;
}

/// SQLite FTS5: a `kb_chunks_fts` row per chunk, sharing the chunk's rowid; BM25 ranking
/// with headings weighted twice the text.
pub struct Fts5;

/// PostgreSQL: a generated, weighted `tsvector` column with a GIN index; `ts_rank`.
pub struct PostgresFullText;

/// The keyword index of the store's dialect.
pub fn keyword_index(db: &Db) -> &'static dyn KeywordIndex {
    match db.dialect() {
        Dialect::Sqlite => &Fts5,
        Dialect::Postgres => &PostgresFullText,
    }
}

fn keyword_match(row: &Row) -> Result<KeywordMatch, DbError> {
    Ok(KeywordMatch {
        chunk_id: row.text(0)?,
        document_id: row.text(1)?,
        score: row.real(2)?,
        byte_start: row.int(3)?,
        byte_end: row.int(4)?,
    })
}

impl KeywordIndex for Fts5 {
    fn add_document(&self, db: &Db, tenant_id: &str, document_id: &str) -> Result<(), DbError> {
        // The heading column holds the path as text; JSON punctuation is not a token.
        db.execute(
            "INSERT INTO kb_chunks_fts (rowid, heading, text) \
             SELECT rowid, heading_path, text FROM kb_chunks \
             WHERE tenant_id = $1 AND document_id = $2",
            &[tenant_id.into(), document_id.into()],
        )?;
        Ok(())
    }

    fn remove_document(&self, db: &Db, tenant_id: &str, document_id: &str) -> Result<(), DbError> {
        db.execute(
            "DELETE FROM kb_chunks_fts WHERE rowid IN \
             (SELECT rowid FROM kb_chunks WHERE tenant_id = $1 AND document_id = $2)",
            &[tenant_id.into(), document_id.into()],
        )?;
        Ok(())
    }

    fn search(
        &self,
        db: &Db,
        tenant_id: &str,
        session_id: Option<&str>,
        terms: &[String],
        n: usize,
    ) -> Result<Vec<KeywordMatch>, DbError> {
        let Some(expression) = fts5_match(terms) else {
            return Ok(Vec::new());
        };
        let rows = db.query(
            "SELECT c.id, c.document_id, -bm25(kb_chunks_fts, 2.0, 1.0) AS score, \
             c.byte_start, c.byte_end \
             FROM kb_chunks_fts JOIN kb_chunks c ON c.rowid = kb_chunks_fts.rowid \
             WHERE kb_chunks_fts MATCH $1 AND c.tenant_id = $2 \
             AND (c.session_id IS NULL OR c.session_id = $3) \
             ORDER BY score DESC, c.id LIMIT $4",
            &[
                expression.into(),
                tenant_id.into(),
                session_id.into(),
                Value::Int(n as i64),
            ],
        )?;
        rows.iter().map(keyword_match).collect()
    }
}

impl KeywordIndex for PostgresFullText {
    fn add_document(&self, _: &Db, _: &str, _: &str) -> Result<(), DbError> {
        Ok(()) // the tsvector column is generated with the row
    }

    fn remove_document(&self, _: &Db, _: &str, _: &str) -> Result<(), DbError> {
        Ok(()) // and goes with it
    }

    fn search(
        &self,
        db: &Db,
        tenant_id: &str,
        session_id: Option<&str>,
        terms: &[String],
        n: usize,
    ) -> Result<Vec<KeywordMatch>, DbError> {
        let Some(expression) = pg_tsquery(terms) else {
            return Ok(Vec::new());
        };
        let rows = db.query(
            "SELECT id, document_id, CAST(ts_rank(search, q) AS DOUBLE PRECISION) AS score, \
             byte_start, byte_end \
             FROM kb_chunks, to_tsquery('english', $1) AS q \
             WHERE tenant_id = $2 AND (session_id IS NULL OR session_id = $3) AND search @@ q \
             ORDER BY score DESC, id LIMIT $4",
            &[
                expression.into(),
                tenant_id.into(),
                session_id.into(),
                Value::Int(n as i64),
            ],
        )?;
        rows.iter().map(keyword_match).collect()
    }
}

const DOCUMENT_COLUMNS: &str = "id, external_id, title, source_url, content_type, content_hash, \
     chunk_count, vector_status, created_at, updated_at, vector_collection";
const CHUNK_COLUMNS: &str =
    "c.id, c.document_id, c.position, c.heading_path, c.text, c.byte_start, c.byte_end, c.page";

fn document_from(row: &Row) -> Result<Document, DbError> {
    let status = row.text(7)?;
    Ok(Document {
        id: row.text(0)?,
        external_id: row.text(1)?,
        title: row.text(2)?,
        source_url: row.opt_text(3)?,
        content_type: row.text(4)?,
        content_hash: row.text(5)?,
        chunk_count: row.int(6)?,
        vector_status: VectorStatus::parse(&status)
            .ok_or_else(|| DbError::Decode(format!("unknown vector status {status:?}")))?,
        created_at: row.int(8)?,
        updated_at: row.int(9)?,
        vector_collection: row.opt_text(10)?,
    })
}

/// Reads a chunk from [`CHUNK_COLUMNS`] starting at column `at`.
fn chunk_from(row: &Row, at: usize) -> Result<StoredChunk, DbError> {
    let path = row.text(at + 3)?;
    Ok(StoredChunk {
        id: row.text(at)?,
        document_id: row.text(at + 1)?,
        position: row.int(at + 2)?,
        heading_path: serde_json::from_str(&path)
            .map_err(|_| DbError::Decode("heading_path is not a JSON list".into()))?,
        text: row.text(at + 4)?,
        byte_start: row.int(at + 5)?,
        byte_end: row.int(at + 6)?,
        page: row.opt_int(at + 7)?,
    })
}

/// One document by its id.
pub fn document(db: &Db, tenant_id: &str, id: &str) -> Result<Option<Document>, DbError> {
    let rows = db.query(
        &format!(
            "SELECT {DOCUMENT_COLUMNS} FROM kb_documents \
             WHERE tenant_id = $1 AND id = $2 AND session_id IS NULL"
        ),
        &[tenant_id.into(), id.into()],
    )?;
    rows.first().map(document_from).transpose()
}

/// One document by the caller's external id.
pub fn document_by_external_id(
    db: &Db,
    tenant_id: &str,
    external_id: &str,
) -> Result<Option<Document>, DbError> {
    let rows = db.query(
        &format!(
            "SELECT {DOCUMENT_COLUMNS} FROM kb_documents \
             WHERE tenant_id = $1 AND external_id = $2 AND session_id IS NULL"
        ),
        &[tenant_id.into(), external_id.into()],
    )?;
    rows.first().map(document_from).transpose()
}

/// A page of the tenant's documents in external-id order, and the external id the next page
/// starts after (when one follows).
pub fn list_documents(
    db: &Db,
    tenant_id: &str,
    query: &DocumentListQuery,
) -> Result<(Vec<Document>, Option<String>), DbError> {
    let mut sql = format!(
        "SELECT {DOCUMENT_COLUMNS} FROM kb_documents WHERE tenant_id = $1 AND session_id IS NULL"
    );
    let mut params: Vec<Value> = vec![tenant_id.into()];
    if let Some(after) = &query.after {
        params.push(after.as_str().into());
        sql.push_str(" AND external_id > $2");
    }
    params.push(Value::Int(i64::from(query.limit) + 1));
    sql.push_str(&format!(" ORDER BY external_id LIMIT ${}", params.len()));
    let mut documents = db
        .query(&sql, &params)?
        .iter()
        .map(document_from)
        .collect::<Result<Vec<_>, _>>()?;
    let next = if documents.len() > query.limit as usize {
        documents.truncate(query.limit as usize);
        documents.last().map(|d| d.external_id.clone())
    } else {
        None
    };
    Ok((documents, next))
}

/// A document's chunks in reading order.
pub fn chunks_of(db: &Db, tenant_id: &str, document_id: &str) -> Result<Vec<StoredChunk>, DbError> {
    db.query(
        &format!(
            "SELECT {CHUNK_COLUMNS} FROM kb_chunks c \
             WHERE c.tenant_id = $1 AND c.document_id = $2 ORDER BY c.position"
        ),
        &[tenant_id.into(), document_id.into()],
    )?
    .iter()
    .map(|row| chunk_from(row, 0))
    .collect()
}

/// The knowledge-base chunks with these ids and their documents' citation fields. Ids that
/// no longer exist (a vector left behind by a failed delete) are simply absent.
pub fn cited_chunks(
    db: &Db,
    tenant_id: &str,
    session_id: Option<&str>,
    ids: &[&str],
) -> Result<Vec<CitedChunk>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
    let mut params: Vec<Value> = vec![tenant_id.into(), session_id.into()];
    params.extend(ids.iter().map(|id| Value::from(*id)));
    let rows = db.query(
        &format!(
            "SELECT {CHUNK_COLUMNS}, d.external_id, d.title, d.source_url \
             FROM kb_chunks c JOIN kb_documents d \
             ON d.tenant_id = c.tenant_id AND d.id = c.document_id \
             WHERE c.tenant_id = $1 AND (c.session_id IS NULL OR c.session_id = $2) \
             AND c.id IN ({})",
            placeholders.join(", ")
        ),
        &params,
    )?;
    rows.iter()
        .map(|row| {
            Ok(CitedChunk {
                chunk: chunk_from(row, 0)?,
                external_id: row.text(8)?,
                title: row.text(9)?,
                source_url: row.opt_text(10)?,
            })
        })
        .collect()
}

/// Rows per multi-row chunk INSERT (10 parameters each: well under SQLite's 999 and
/// PostgreSQL's 65535).
const INSERT_BATCH: usize = 50;

fn insert_chunks(
    db: &Db,
    tenant_id: &str,
    document_id: &str,
    session_id: Option<&str>,
    chunks: &[Chunk],
    pages: &[Option<u32>],
) -> Result<(), DbError> {
    for (batch_index, batch) in chunks.chunks(INSERT_BATCH).enumerate() {
        let mut params: Vec<Value> = Vec::with_capacity(batch.len() * 10);
        let mut rows: Vec<String> = Vec::with_capacity(batch.len());
        for (i, chunk) in batch.iter().enumerate() {
            let page = pages
                .get(batch_index * INSERT_BATCH + i)
                .copied()
                .flatten()
                .map(i64::from);
            let heading_path = serde_json::to_string(&chunk.heading_path)
                .map_err(|e| DbError::Query(e.to_string()))?;
            let first = params.len() + 1;
            params.extend([
                tenant_id.into(),
                chunk.id.as_str().into(),
                document_id.into(),
                Value::Int(chunk.index as i64),
                heading_path.into(),
                chunk.text.as_str().into(),
                Value::Int(chunk.byte_range.start as i64),
                Value::Int(chunk.byte_range.end as i64),
                page.into(),
            ]);
            params.push(session_id.into());
            let marks: Vec<String> = (first..first + 10).map(|n| format!("${n}")).collect();
            rows.push(format!("({})", marks.join(", ")));
        }
        db.execute(
            &format!(
                "INSERT INTO kb_chunks (tenant_id, id, document_id, position, heading_path, \
                 text, byte_start, byte_end, page, session_id) VALUES {}",
                rows.join(", ")
            ),
            &params,
        )?;
    }
    Ok(())
}

fn delete_chunks(db: &Db, tenant_id: &str, document_id: &str) -> Result<(), DbError> {
    keyword_index(db).remove_document(db, tenant_id, document_id)?;
    db.execute(
        "DELETE FROM kb_chunks WHERE tenant_id = $1 AND document_id = $2",
        &[tenant_id.into(), document_id.into()],
    )?;
    Ok(())
}

/// Stores a document and its chunks, replacing `existing` (same external id) and its chunks,
/// in one transaction. The document is `pending` until its vectors are written.
pub fn replace_document(
    db: &Db,
    tenant_id: &str,
    document_id: &str,
    existing: Option<&Document>,
    new: &NewDocument<'_>,
    now_ms: i64,
) -> Result<Document, DbError> {
    let document = Document {
        id: document_id.to_string(),
        external_id: new.external_id.to_string(),
        title: new.title.to_string(),
        source_url: new.source_url.map(str::to_string),
        content_type: new.content_type.to_string(),
        content_hash: new.content_hash.to_string(),
        chunk_count: new.chunks.len() as i64,
        vector_status: VectorStatus::Pending,
        created_at: existing.map_or(now_ms, |d| d.created_at),
        updated_at: now_ms,
        vector_collection: None,
    };
    db.transaction(|db| {
        if let Some(old) = existing {
            delete_chunks(db, tenant_id, &old.id)?;
            db.execute(
                "DELETE FROM kb_documents WHERE tenant_id = $1 AND id = $2",
                &[tenant_id.into(), old.id.as_str().into()],
            )?;
        }
        db.execute(
            &format!(
                "INSERT INTO kb_documents (tenant_id, {DOCUMENT_COLUMNS}, session_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ),
            &[
                tenant_id.into(),
                document.id.as_str().into(),
                document.external_id.as_str().into(),
                document.title.as_str().into(),
                document.source_url.clone().into(),
                document.content_type.as_str().into(),
                document.content_hash.as_str().into(),
                Value::Int(document.chunk_count),
                document.vector_status.as_str().into(),
                Value::Int(document.created_at),
                Value::Int(document.updated_at),
                Value::Null,
                new.session_id.into(),
            ],
        )?;
        insert_chunks(
            db,
            tenant_id,
            &document.id,
            new.session_id,
            new.chunks,
            new.pages,
        )?;
        keyword_index(db).add_document(db, tenant_id, &document.id)?;
        Ok::<_, DbError>(())
    })?;
    Ok(document)
}

/// The tenant's knowledge-base documents whose vectors are not written yet, oldest change
/// first, at most `limit`.
pub fn pending_documents(db: &Db, tenant_id: &str, limit: u32) -> Result<Vec<Document>, DbError> {
    db.query(
        &format!(
            "SELECT {DOCUMENT_COLUMNS} FROM kb_documents WHERE tenant_id = $1 \
             AND session_id IS NULL AND vector_status = $2 \
             ORDER BY updated_at, id LIMIT $3"
        ),
        &[
            tenant_id.into(),
            VectorStatus::Pending.as_str().into(),
            Value::Int(i64::from(limit)),
        ],
    )?
    .iter()
    .map(document_from)
    .collect()
}

/// How many of the tenant's knowledge-base documents have their vectors still pending.
pub fn pending_count(db: &Db, tenant_id: &str) -> Result<i64, DbError> {
    let rows = db.query(
        "SELECT COUNT(*) FROM kb_documents WHERE tenant_id = $1 \
         AND session_id IS NULL AND vector_status = $2",
        &[tenant_id.into(), VectorStatus::Pending.as_str().into()],
    )?;
    Ok(rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0))
}

/// Records that a document's vectors are all written, and where.
pub fn mark_indexed(
    db: &Db,
    tenant_id: &str,
    document_id: &str,
    collection: &str,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE kb_documents SET vector_status = $1, vector_collection = $2 \
         WHERE tenant_id = $3 AND id = $4",
        &[
            VectorStatus::Indexed.as_str().into(),
            collection.into(),
            tenant_id.into(),
            document_id.into(),
        ],
    )?;
    Ok(())
}

/// Deletes a document with its chunks and their keyword entries. Returns whether it existed.
pub fn delete_document(db: &Db, tenant_id: &str, document_id: &str) -> Result<bool, DbError> {
    db.transaction(|db| {
        if document(db, tenant_id, document_id)?.is_none() {
            return Ok(false);
        }
        delete_chunks(db, tenant_id, document_id)?;
        db.execute(
            "DELETE FROM kb_documents WHERE tenant_id = $1 AND id = $2",
            &[tenant_id.into(), document_id.into()],
        )?;
        Ok(true)
    })
}

/// How many knowledge-base documents and chunks the tenant has (for metrics and health).
pub fn totals(db: &Db, tenant_id: &str) -> Result<(i64, i64), DbError> {
    let rows = db.query(
        "SELECT COUNT(*), CAST(COALESCE(SUM(chunk_count), 0) AS BIGINT) FROM kb_documents \
         WHERE tenant_id = $1 AND session_id IS NULL",
        &[tenant_id.into()],
    )?;
    let row = rows
        .first()
        .ok_or_else(|| DbError::Decode("no totals row".into()))?;
    Ok((row.int(0)?, row.int(1)?))
}

/// A session's attachments (documents with its session id).
pub fn attachments(db: &Db, tenant_id: &str, session_id: &str) -> Result<Vec<Document>, DbError> {
    db.query(
        &format!(
            "SELECT {DOCUMENT_COLUMNS} FROM kb_documents \
             WHERE tenant_id = $1 AND session_id = $2 ORDER BY created_at, id"
        ),
        &[tenant_id.into(), session_id.into()],
    )?
    .iter()
    .map(document_from)
    .collect()
}

/// A session's attachment by the id derived from its content, if uploaded before.
pub fn attachment_by_external_id(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
    external_id: &str,
) -> Result<Option<Document>, DbError> {
    let rows = db.query(
        &format!(
            "SELECT {DOCUMENT_COLUMNS} FROM kb_documents \
             WHERE tenant_id = $1 AND session_id = $2 AND external_id = $3"
        ),
        &[tenant_id.into(), session_id.into(), external_id.into()],
    )?;
    rows.first().map(document_from).transpose()
}

/// Deletes a session's attachments with their chunks and keyword entries.
pub fn delete_attachments(db: &Db, tenant_id: &str, session_id: &str) -> Result<(), DbError> {
    for document in attachments(db, tenant_id, session_id)? {
        delete_chunks(db, tenant_id, &document.id)?;
    }
    db.execute(
        "DELETE FROM kb_documents WHERE tenant_id = $1 AND session_id = $2",
        &[tenant_id.into(), session_id.into()],
    )?;
    Ok(())
}
