//! The vector index behind a trait, with Chroma's HTTP API (v2) as the implementation.
//!
//! A tenant's knowledge base is one collection (`core_logic::kb::collection_name`), so
//! queries need no tenant filter and one tenant's vectors cannot surface in another's
//! search. Each record carries its chunk id (the record id), document id and position as
//! metadata; the text stays in the relational store, which stays the source of truth: a
//! vector whose chunk is gone is dropped when results are read back.
//!
//! Configured by `chroma_url` (and `chroma_tenant` / `chroma_database`, Chroma's own
//! namespaces, `default_tenant` / `default_database` unless set); each wait is limited by
//! `chroma_timeout_ms` on the answer path and `index_timeout_ms` when writing. Not for embedding
//! (`crate::embedder`) nor fusion (`core_logic::retrieval`).

use std::cell::RefCell;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use spin_sdk::http::Method;

use crate::config;
use crate::outbound::{JsonClient, OutboundError};

/// Records per write request (Chroma caps a batch; this stays far below the cap).
const WRITE_BATCH: usize = 500;

/// One chunk's vector.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorRecord {
    pub chunk_id: String,
    pub document_id: String,
    pub position: i64,
    pub embedding: Vec<f32>,
    /// The session an attachment's chunk belongs to (queries of that session filter on it).
    pub session_id: Option<String>,
}

/// One query result: the chunk and its cosine similarity to the query (1 − distance).
#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatch {
    pub chunk_id: String,
    pub document_id: String,
    pub similarity: f64,
}

/// A vector index of collections of chunk vectors.
pub trait VectorIndex {
    /// Adds or replaces records (by chunk id).
    fn upsert(&self, collection: &str, records: &[VectorRecord]) -> Result<(), OutboundError>;
    /// Removes every record of a document.
    fn delete_document(&self, collection: &str, document_id: &str) -> Result<(), OutboundError>;
    /// Removes every record of a session's attachments.
    fn delete_session(&self, collection: &str, session_id: &str) -> Result<(), OutboundError>;
    /// The `n` records nearest to `embedding`, nearest first; with a session, only that
    /// session's records.
    fn query(
        &self,
        collection: &str,
        embedding: &[f32],
        n: usize,
        session_id: Option<&str>,
    ) -> Result<Vec<VectorMatch>, OutboundError>;
    /// Whether the index answers.
    fn healthy(&self) -> Result<(), OutboundError>;
}

/// A Chroma server.
pub struct Chroma {
    client: JsonClient,
    namespace: String,
    /// Collection ids by name, for the life of one request.
    ids: RefCell<HashMap<String, String>>,
}

#[derive(Deserialize)]
struct CollectionInfo {
    id: String,
}

/// One record's metadata as Chroma returns it.
type Metadata = HashMap<String, Json>;

#[derive(Deserialize)]
struct QueryResponse {
    ids: Vec<Vec<String>>,
    distances: Option<Vec<Vec<Option<f64>>>>,
    metadatas: Option<Vec<Vec<Option<Metadata>>>>,
}

#[derive(Serialize)]
struct Records<'a> {
    ids: Vec<&'a str>,
    embeddings: Vec<&'a [f32]>,
    metadatas: Vec<Json>,
}

impl Chroma {
    /// The server named by the `chroma_url` variable (and its optional namespace
    /// variables), with the time limit of `path`.
    pub fn from_config(
        request_id: Option<&str>,
        path: config::CallPath,
    ) -> Result<Chroma, config::ConfigError> {
        let limit = path.time_limit("chroma_timeout_ms", config::DEFAULT_CHROMA_TIMEOUT_MS)?;
        let url = config::required("chroma_url")?;
        let tenant = config::optional("chroma_tenant").unwrap_or_else(|| "default_tenant".into());
        let database =
            config::optional("chroma_database").unwrap_or_else(|| "default_database".into());
        let mut chroma = Self::new(&url, &tenant, &database, request_id);
        chroma.client = chroma.client.with_time_limit(limit);
        Ok(chroma)
    }

    pub fn new(base_url: &str, tenant: &str, database: &str, request_id: Option<&str>) -> Chroma {
        Chroma {
            client: JsonClient::new(base_url, request_id),
            namespace: format!("/api/v2/tenants/{tenant}/databases/{database}/collections"),
            ids: RefCell::new(HashMap::new()),
        }
    }

    /// The collection's id, creating the collection (cosine space) on first use.
    fn collection_id(&self, name: &str) -> Result<String, OutboundError> {
        if let Some(id) = self.ids.borrow().get(name) {
            return Ok(id.clone());
        }
        let info: CollectionInfo = self.client.call(
            Method::Post,
            &self.namespace,
            Some(&json!({
                "name": name,
                "configuration": { "hnsw": { "space": "cosine" } },
                "get_or_create": true,
            })),
        )?;
        self.ids
            .borrow_mut()
            .insert(name.to_string(), info.id.clone());
        Ok(info.id)
    }

    fn collection_path(&self, name: &str, action: &str) -> Result<String, OutboundError> {
        Ok(format!(
            "{}/{}/{action}",
            self.namespace,
            self.collection_id(name)?
        ))
    }
}

impl VectorIndex for Chroma {
    fn upsert(&self, collection: &str, records: &[VectorRecord]) -> Result<(), OutboundError> {
        if records.is_empty() {
            return Ok(());
        }
        let path = self.collection_path(collection, "upsert")?;
        for batch in records.chunks(WRITE_BATCH) {
            let body = Records {
                ids: batch.iter().map(|r| r.chunk_id.as_str()).collect(),
                embeddings: batch.iter().map(|r| r.embedding.as_slice()).collect(),
                metadatas: batch
                    .iter()
                    .map(|r| match &r.session_id {
                        Some(session) => json!({
                            "document_id": r.document_id,
                            "position": r.position,
                            "session_id": session,
                        }),
                        None => json!({ "document_id": r.document_id, "position": r.position }),
                    })
                    .collect(),
            };
            self.client.send(Method::Post, &path, Some(&body))?;
        }
        Ok(())
    }

    fn delete_document(&self, collection: &str, document_id: &str) -> Result<(), OutboundError> {
        let path = self.collection_path(collection, "delete")?;
        self.client.send(
            Method::Post,
            &path,
            Some(&json!({ "where": { "document_id": document_id } })),
        )?;
        Ok(())
    }

    fn delete_session(&self, collection: &str, session_id: &str) -> Result<(), OutboundError> {
        let path = self.collection_path(collection, "delete")?;
        self.client.send(
            Method::Post,
            &path,
            Some(&json!({ "where": { "session_id": session_id } })),
        )?;
        Ok(())
    }

    fn query(
        &self,
        collection: &str,
        embedding: &[f32],
        n: usize,
        session_id: Option<&str>,
    ) -> Result<Vec<VectorMatch>, OutboundError> {
        let path = self.collection_path(collection, "query")?;
        let mut body = json!({
            "query_embeddings": [embedding],
            "n_results": n,
            "include": ["distances", "metadatas"],
        });
        if let Some(session) = session_id {
            body["where"] = json!({ "session_id": session });
        }
        let response: QueryResponse = self.client.call(Method::Post, &path, Some(&body))?;
        let ids = response.ids.into_iter().next().unwrap_or_default();
        let distances = response
            .distances
            .and_then(|d| d.into_iter().next())
            .unwrap_or_default();
        let metadatas = response
            .metadatas
            .and_then(|m| m.into_iter().next())
            .unwrap_or_default();
        let mut matches = Vec::with_capacity(ids.len());
        for (i, chunk_id) in ids.into_iter().enumerate() {
            let distance = distances.get(i).copied().flatten();
            let document_id = metadatas
                .get(i)
                .and_then(Option::as_ref)
                .and_then(|m| m.get("document_id"))
                .and_then(Json::as_str);
            let (Some(distance), Some(document_id)) = (distance, document_id) else {
                return Err(OutboundError::Decode(
                    "a query result lacks its distance or document id".into(),
                ));
            };
            matches.push(VectorMatch {
                chunk_id,
                document_id: document_id.to_string(),
                similarity: 1.0 - distance,
            });
        }
        Ok(matches)
    }

    fn healthy(&self) -> Result<(), OutboundError> {
        self.client
            .send::<()>(Method::Get, "/api/v2/heartbeat", None)
            .map(|_| ())
    }
}
