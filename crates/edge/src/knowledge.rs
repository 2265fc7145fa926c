//! The knowledge base's use cases over the store, the embedding sidecar and the vector
//! index: upsert a document, delete one, and hybrid search — shared by the ingest component
//! and (for retrieval) the message component.
//!
//! The relational store is the source of truth and is written first: a document whose
//! vectors cannot be written (embedder or vector index down) is still stored and
//! keyword-searchable, marked `pending`, and uploading it again retries. Search degrades the
//! same way: without the embedder or the index, keyword results answer and the result says
//! so. Decisions (validation, fusion, ids) are `core_logic`'s; this module sequences the I/O.

use core_logic::breaker::Dependency;
use core_logic::chunking::{ApproxTokenCounter, ChunkingConfig, chunk_markdown};
use core_logic::kb::{
    DocumentFields, Ranking, Search, UpsertOutcome, VectorStatus, attachment_collection_name,
    collection_name, keyword_terms, rerank_order,
};
use core_logic::problem::{Problem, ProblemKind};
use core_logic::retrieval::{FusionConfig, Hit, Retriever, fuse};
use serde::Serialize;

use crate::ApiError;
use crate::breaker::guarded;
use crate::counters::Counters;
use crate::db::Db;
use crate::embedder::{Embedder, InputType};
use crate::kb::{self, CitedChunk, Document, NewDocument};
use crate::outbound::OutboundError;
use crate::upload::Upload;
use crate::vector_index::{VectorIndex, VectorRecord};

/// The services one tenant's knowledge base uses. A missing embedder or vector index (not
/// configured) counts as unreachable.
pub struct Knowledge<'a> {
    pub db: &'a Db,
    pub tenant_id: &'a str,
    /// With a session, searches include that session's attachments.
    pub session_id: Option<&'a str>,
    /// How the retrievers' rankings are weighed, the mode answers search with, and how many
    /// results a reranked search reranks (the tenant's settings).
    pub ranking: Ranking,
    pub embedder: Option<&'a Embedder>,
    pub index: Option<&'a dyn VectorIndex>,
    /// Where the embedder's and the index's circuit breakers are kept (`None`: no breakers).
    pub breakers: Option<&'a dyn Counters>,
}

/// The result of an upsert.
#[derive(Debug, Clone, Serialize)]
pub struct Ingested {
    pub document: Document,
    pub status: UpsertOutcome,
    /// Whether the vectors are written (`pending`: retry by uploading again).
    pub vector_index: VectorStatus,
}

/// The result of indexing pending documents.
#[derive(Debug, Clone, Serialize)]
pub struct Reindexed {
    /// External ids of the documents whose vectors were written now.
    pub indexed: Vec<String>,
    /// Documents still pending afterwards.
    pub pending: i64,
    /// Why the run stopped early (the embedder or the vector index failed), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<&'static str>,
}

/// One search result with its citation fields and each retriever's view of it.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub chunk_id: String,
    pub document_id: String,
    pub external_id: String,
    pub title: String,
    pub heading_path: Vec<String>,
    pub source_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<i64>,
    pub text: String,
    /// 1 for the best result.
    pub rank: usize,
    /// The fused score.
    pub score: f64,
    pub vector: Option<core_logic::retrieval::RetrieverRank>,
    pub keyword: Option<core_logic::retrieval::RetrieverRank>,
    /// The reranker's score (higher is better; 0 to 1 from our sidecar), when a reranked
    /// search reordered the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerank_score: Option<f64>,
}

impl SearchHit {
    /// The hit as a passage the responders read.
    pub fn passage(&self) -> core_logic::answer::Passage {
        core_logic::answer::Passage {
            chunk_id: self.chunk_id.clone(),
            document_id: self.document_id.clone(),
            title: self.title.clone(),
            heading_path: self.heading_path.clone(),
            source_url: self.source_url.clone(),
            text: self.text.clone(),
            score: self.score,
        }
    }
}

/// A search's results and how much to trust them.
#[derive(Debug, Clone, Serialize)]
pub struct SearchOutcome {
    pub results: Vec<SearchHit>,
    pub degraded: bool,
    pub missing: Vec<Retriever>,
    pub confidence: f64,
    /// A reranked search whose list the reranker reordered (`false`: the hybrid order,
    /// because the mode does not rerank or the reranker did not answer).
    pub reranked: bool,
    /// How long each retriever that was asked took (for metrics; not part of the response).
    #[serde(skip)]
    pub timings: Vec<(&'static str, std::time::Duration)>,
}

fn parse_problem(e: &docparse::ParseError) -> ApiError {
    let kind = match e.http_status() {
        415 => ProblemKind::UnsupportedMediaType,
        413 => ProblemKind::PayloadTooLarge,
        _ => ProblemKind::Unprocessable,
    };
    let detail: String = e.to_string().chars().take(300).collect();
    ApiError(Problem::new(kind, detail))
}

/// The text embedded for a chunk: its heading path, then its text, so a passage is found by
/// the topic of its section as well as its own words.
fn embedding_text(chunk: &core_logic::chunking::Chunk) -> String {
    let label = chunk.heading_label();
    if label.is_empty() {
        chunk.text.clone()
    } else {
        format!("{label}\n{}", chunk.text)
    }
}

impl Knowledge<'_> {
    /// A call to the embedder through its circuit breaker.
    fn embedder_call<T>(
        &self,
        call: impl FnOnce() -> Result<T, OutboundError>,
    ) -> Result<T, OutboundError> {
        guarded(self.breakers, Dependency::Embedder, call)
    }

    /// A call to the vector index through its circuit breaker.
    fn index_call<T>(
        &self,
        call: impl FnOnce() -> Result<T, OutboundError>,
    ) -> Result<T, OutboundError> {
        guarded(self.breakers, Dependency::VectorIndex, call)
    }

    /// Query vectors of `texts` (to compare questions with each other), through the
    /// embedder's circuit breaker.
    pub fn embed_queries(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, OutboundError> {
        let Some(embedder) = self.embedder else {
            return Err(OutboundError::Unreachable("not configured".into()));
        };
        self.embedder_call(|| embedder.embed(texts, InputType::Query))
    }

    /// Stores `upload` under `external_id`, replacing the tenant's document with that id.
    /// Unchanged content, title and source of an indexed document is a no-op.
    pub fn upsert(
        &self,
        upload: &Upload,
        external_id: &str,
        fields: &DocumentFields,
        now_ms: i64,
    ) -> Result<Ingested, ApiError> {
        let existing = kb::document_by_external_id(self.db, self.tenant_id, external_id)?;
        self.store(upload, external_id, None, existing, fields, now_ms)
    }

    /// Stores a visitor's upload as an attachment of `session_id`: parsed, chunked, indexed
    /// and searchable only in that session. The same file twice is the same attachment.
    pub fn attach(
        &self,
        upload: &Upload,
        session_id: &str,
        now_ms: i64,
    ) -> Result<Ingested, ApiError> {
        let hash = core_logic::kb::content_hash(&upload.bytes);
        let external_id = format!("attachment:{session_id}:{hash}");
        let existing =
            kb::attachment_by_external_id(self.db, self.tenant_id, session_id, &external_id)?;
        let fields = DocumentFields {
            title: upload.file_name.clone(),
            source_url: None,
        };
        self.store(
            upload,
            &external_id,
            Some(session_id),
            existing,
            &fields,
            now_ms,
        )
    }

    fn store(
        &self,
        upload: &Upload,
        external_id: &str,
        session_id: Option<&str>,
        existing: Option<Document>,
        fields: &DocumentFields,
        now_ms: i64,
    ) -> Result<Ingested, ApiError> {
        let hash = core_logic::kb::content_hash(&upload.bytes);
        if let Some(doc) = &existing {
            let same_fields = fields.title.as_ref().is_none_or(|t| *t == doc.title)
                && fields.source_url == doc.source_url;
            if doc.content_hash == hash && same_fields && doc.vector_status == VectorStatus::Indexed
            {
                return Ok(Ingested {
                    document: doc.clone(),
                    status: UpsertOutcome::Unchanged,
                    vector_index: VectorStatus::Indexed,
                });
            }
        }
        let parsed = docparse::parse(
            &upload.bytes,
            upload.file_name.as_deref(),
            upload.content_type.as_deref(),
        )
        .map_err(|e| parse_problem(&e))?;
        let document_id = match &existing {
            Some(doc) => doc.id.clone(),
            None => crate::store::new_id()?,
        };
        let chunks = chunk_markdown(
            &document_id,
            &parsed.markdown,
            &ChunkingConfig::default(),
            &ApproxTokenCounter,
        );
        if chunks.is_empty() {
            return Err(ApiError::new(
                ProblemKind::Unprocessable,
                "the document has no text to index (a scanned PDF without a text layer?)",
            ));
        }
        let pages: Vec<Option<u32>> = chunks
            .iter()
            .map(|c| parsed.page_at(c.byte_range.start))
            .collect();
        let title = fields
            .title
            .clone()
            .or(parsed.title.clone())
            .unwrap_or_else(|| external_id.to_string());
        let title: String = title
            .chars()
            .take(core_logic::kb::MAX_TITLE_CHARS)
            .collect();
        let content_type = serde_json::to_value(parsed.format)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "text".into());
        let mut document = kb::replace_document(
            self.db,
            self.tenant_id,
            &document_id,
            existing.as_ref(),
            &NewDocument {
                external_id,
                session_id,
                title: &title,
                source_url: fields.source_url.as_deref(),
                content_type: &content_type,
                content_hash: &hash,
                chunks: &chunks,
                pages: &pages,
            },
            now_ms,
        )?;
        let outcome = if existing.is_some() {
            UpsertOutcome::Updated
        } else {
            UpsertOutcome::Created
        };
        let previous_collection = existing.and_then(|d| d.vector_collection);
        match self.write_vectors(
            &document_id,
            &chunks,
            session_id,
            previous_collection.as_deref(),
        ) {
            Ok(collection) => {
                kb::mark_indexed(self.db, self.tenant_id, &document_id, &collection)?;
                document.vector_status = VectorStatus::Indexed;
                document.vector_collection = Some(collection);
            }
            Err(e) => crate::log::warn(
                "ingest",
                &format!("vectors of document {document_id} left pending: {e}"),
            ),
        }
        Ok(Ingested {
            status: outcome,
            vector_index: document.vector_status,
            document,
        })
    }

    /// Embeds the chunks and replaces the document's vectors; the collection they went to.
    fn write_vectors(
        &self,
        document_id: &str,
        chunks: &[core_logic::chunking::Chunk],
        session_id: Option<&str>,
        previous_collection: Option<&str>,
    ) -> Result<String, OutboundError> {
        let (Some(embedder), Some(index)) = (self.embedder, self.index) else {
            return Err(OutboundError::Unreachable(
                "the embedder or the vector index is not configured".into(),
            ));
        };
        let texts: Vec<String> = chunks.iter().map(embedding_text).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = self.embedder_call(|| embedder.embed(&refs, InputType::Document))?;
        let dimensions = vectors.first().map_or(0, Vec::len);
        let collection = match session_id {
            Some(_) => attachment_collection_name(self.tenant_id, dimensions),
            None => collection_name(self.tenant_id, dimensions),
        };
        if let Some(previous) = previous_collection {
            self.index_call(|| index.delete_document(previous, document_id))?;
        }
        if previous_collection != Some(collection.as_str()) {
            // Vectors a failed earlier attempt may have left behind.
            self.index_call(|| index.delete_document(&collection, document_id))?;
        }
        let records: Vec<VectorRecord> = chunks
            .iter()
            .zip(vectors)
            .map(|(chunk, embedding)| VectorRecord {
                chunk_id: chunk.id.clone(),
                document_id: document_id.to_string(),
                position: chunk.index as i64,
                embedding,
                session_id: session_id.map(str::to_string),
            })
            .collect();
        self.index_call(|| index.upsert(&collection, &records))?;
        Ok(collection)
    }

    /// Writes the vectors of up to `limit` pending documents (stored while the embedder or
    /// the vector index was down) from their stored chunks, oldest first; stops at the first
    /// failure, which leaves that document pending.
    pub fn index_pending(&self, limit: u32) -> Result<Reindexed, ApiError> {
        let documents = kb::pending_documents(self.db, self.tenant_id, limit)?;
        let mut indexed = Vec::new();
        let mut stopped = None;
        for document in documents {
            let chunks: Vec<core_logic::chunking::Chunk> =
                kb::chunks_of(self.db, self.tenant_id, &document.id)?
                    .into_iter()
                    .map(|c| core_logic::chunking::Chunk {
                        id: c.id,
                        document_id: c.document_id,
                        index: usize::try_from(c.position).unwrap_or_default(),
                        byte_range: usize::try_from(c.byte_start).unwrap_or_default()
                            ..usize::try_from(c.byte_end).unwrap_or_default(),
                        heading_path: c.heading_path,
                        text: c.text,
                        token_count: 0,
                    })
                    .collect();
            match self.write_vectors(
                &document.id,
                &chunks,
                None,
                document.vector_collection.as_deref(),
            ) {
                Ok(collection) => {
                    kb::mark_indexed(self.db, self.tenant_id, &document.id, &collection)?;
                    indexed.push(document.external_id);
                }
                Err(e) => {
                    crate::log::warn(
                        "ingest",
                        &format!("vectors of document {} still pending: {e}", document.id),
                    );
                    stopped = Some("the embedder or the vector index did not answer");
                    break;
                }
            }
        }
        let pending = kb::pending_count(self.db, self.tenant_id)?;
        Ok(Reindexed {
            indexed,
            pending,
            stopped,
        })
    }

    /// Deletes a document from the store and its vectors from the index. A vector-index
    /// failure is logged, not returned: the store no longer has the chunks, so stray vectors
    /// are never shown. Returns whether the document existed.
    pub fn delete(&self, document_id: &str) -> Result<bool, ApiError> {
        let Some(document) = kb::document(self.db, self.tenant_id, document_id)? else {
            return Ok(false);
        };
        if !kb::delete_document(self.db, self.tenant_id, document_id)? {
            return Ok(false);
        }
        if let Some(collection) = &document.vector_collection {
            let outcome = match self.index {
                Some(index) => self.index_call(|| index.delete_document(collection, document_id)),
                None => Err(OutboundError::Unreachable("not configured".into())),
            };
            if let Err(e) = outcome {
                crate::log::warn(
                    "ingest",
                    &format!("vectors of deleted document {document_id} left behind: {e}"),
                );
            }
        }
        Ok(true)
    }

    /// Deletes a session's attachments from the store and their vectors from the index
    /// (a vector-index failure is logged: the chunks are gone, so stray vectors never show).
    pub fn delete_attachments(&self, session_id: &str) -> Result<(), ApiError> {
        let mut collections: Vec<String> = kb::attachments(self.db, self.tenant_id, session_id)?
            .into_iter()
            .filter_map(|d| d.vector_collection)
            .collect();
        collections.sort();
        collections.dedup();
        self.db
            .transaction(|db| kb::delete_attachments(db, self.tenant_id, session_id))?;
        for collection in collections {
            let outcome = match self.index {
                Some(index) => self.index_call(|| index.delete_session(&collection, session_id)),
                None => Err(OutboundError::Unreachable("not configured".into())),
            };
            if let Err(e) = outcome {
                crate::log::warn(
                    "ingest",
                    &format!("attachment vectors of a deleted session left behind: {e}"),
                );
                break;
            }
        }
        Ok(())
    }

    /// The vector retriever's hits, or why it could not answer.
    fn vector_hits(
        &self,
        query: &str,
        n: usize,
        timings: &mut Vec<(&'static str, std::time::Duration)>,
    ) -> Result<Vec<crate::vector_index::VectorMatch>, OutboundError> {
        let (Some(embedder), Some(index)) = (self.embedder, self.index) else {
            return Err(OutboundError::Unreachable("not configured".into()));
        };
        let started = std::time::Instant::now();
        let vector = self.embedder_call(|| embedder.embed_query(query));
        // Embedding the query is part of the vector retriever's time, and reported apart.
        timings.push(("embed", started.elapsed()));
        let vector = vector?;
        let mut matches = self.index_call(|| {
            index.query(
                &collection_name(self.tenant_id, vector.len()),
                &vector,
                n,
                None,
            )
        })?;
        if let Some(session) = self.session_id {
            matches.extend(self.index_call(|| {
                index.query(
                    &attachment_collection_name(self.tenant_id, vector.len()),
                    &vector,
                    n,
                    Some(session),
                )
            })?);
            matches.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
            matches.truncate(n);
        }
        Ok(matches)
    }

    /// Whether any passage of the knowledge base (or the session's attachments) holds
    /// `word`, as the keyword index matches it (stemmed): one indexed look-up.
    pub fn mentions(&self, word: &str) -> Result<bool, ApiError> {
        let terms = keyword_terms(word);
        Ok(terms.is_empty() || !self.keyword_matches(&terms, 1)?.is_empty())
    }

    /// The keyword index's best `n` matches for `terms` in the tenant's knowledge base (and
    /// the session's attachments).
    fn keyword_matches(
        &self,
        terms: &[String],
        n: usize,
    ) -> Result<Vec<kb::KeywordMatch>, ApiError> {
        Ok(
            kb::keyword_index(self.db).search(
                self.db,
                self.tenant_id,
                self.session_id,
                terms,
                n,
            )?,
        )
    }

    /// Hybrid search over the tenant's knowledge base: the retrievers `search.mode` names,
    /// fused by reciprocal rank fusion. A vector retriever that cannot answer makes the
    /// result `degraded`; a store failure is an error.
    pub fn search(&self, search: &Search) -> Result<SearchOutcome, ApiError> {
        let n = search.candidates();
        let mut timings = Vec::new();
        let keyword = if search.mode.uses_keyword() {
            let started = std::time::Instant::now();
            let hits = self.keyword_matches(&keyword_terms(&search.query), n)?;
            timings.push(("keyword", started.elapsed()));
            Some(hits)
        } else {
            None
        };
        let vector = if search.mode.uses_vector() {
            let started = std::time::Instant::now();
            let outcome = self.vector_hits(&search.query, n, &mut timings);
            timings.push(("vector", started.elapsed()));
            match outcome {
                Ok(hits) => Some(hits),
                Err(e) => {
                    crate::log::warn("search", &format!("vector retriever unavailable: {e}"));
                    None
                }
            }
        } else {
            None
        };

        // Read every candidate chunk once; vectors whose chunk is gone are dropped here.
        let mut ids: Vec<&str> = Vec::new();
        for id in keyword
            .iter()
            .flatten()
            .map(|m| m.chunk_id.as_str())
            .chain(vector.iter().flatten().map(|m| m.chunk_id.as_str()))
        {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let chunks = kb::cited_chunks(self.db, self.tenant_id, self.session_id, &ids)?;
        let find = |id: &str| chunks.iter().find(|c| c.chunk.id == id);
        let range = |c: &CitedChunk| c.chunk.byte_start as usize..c.chunk.byte_end as usize;

        let keyword_hits: Option<Vec<Hit>> = keyword.as_ref().map(|list| {
            list.iter()
                .filter_map(|m| {
                    find(&m.chunk_id).map(|c| Hit {
                        chunk_id: m.chunk_id.clone(),
                        document_id: m.document_id.clone(),
                        score: m.score,
                        byte_range: range(c),
                    })
                })
                .collect()
        });
        let vector_hits: Option<Vec<Hit>> = vector.as_ref().map(|list| {
            list.iter()
                .filter_map(|m| {
                    find(&m.chunk_id).map(|c| Hit {
                        chunk_id: m.chunk_id.clone(),
                        document_id: m.document_id.clone(),
                        score: m.similarity,
                        byte_range: range(c),
                    })
                })
                .collect()
        });
        let fusion = fuse(
            vector_hits.as_deref(),
            keyword_hits.as_deref(),
            &FusionConfig {
                limit: if search.mode.reranks() {
                    search.limit.max(self.ranking.rerank_candidates)
                } else {
                    search.limit
                },
                vector_weight: self.ranking.weights.vector,
                keyword_weight: self.ranking.weights.keyword,
                ..FusionConfig::default()
            },
        );
        // Only a retriever the caller asked for and did not get counts as missing.
        let missing: Vec<Retriever> = fusion
            .missing
            .iter()
            .copied()
            .filter(|r| match r {
                Retriever::Vector => search.mode.uses_vector(),
                Retriever::Keyword => search.mode.uses_keyword(),
            })
            .collect();
        let mut results: Vec<SearchHit> = fusion
            .hits
            .iter()
            .filter_map(|hit| {
                find(&hit.chunk_id).map(|c| SearchHit {
                    chunk_id: hit.chunk_id.clone(),
                    document_id: hit.document_id.clone(),
                    external_id: c.external_id.clone(),
                    title: c.title.clone(),
                    heading_path: c.chunk.heading_path.clone(),
                    source_url: c.source_url.clone(),
                    page: c.chunk.page,
                    text: c.chunk.text.clone(),
                    rank: hit.fused_rank,
                    score: hit.fused_score,
                    vector: hit.vector,
                    keyword: hit.keyword,
                    rerank_score: None,
                })
            })
            .collect();
        let reranked =
            search.mode.reranks() && self.rerank(&search.query, &mut results, &mut timings);
        results.truncate(search.limit);
        Ok(SearchOutcome {
            results,
            degraded: !missing.is_empty(),
            missing,
            confidence: fusion.confidence,
            reranked,
            timings,
        })
    }

    /// The reranker's best score for `question` against the first `passages` of `hits`;
    /// `None` when there are none or the reranker cannot answer.
    pub fn best_rerank_score(
        &self,
        question: &str,
        hits: &[SearchHit],
        passages: usize,
        timings: &mut Vec<(&'static str, std::time::Duration)>,
    ) -> Option<f64> {
        self.rerank_scores(
            "rerank_question",
            question,
            &hits[..passages.min(hits.len())],
            timings,
        )?
        .into_iter()
        .reduce(f64::max)
    }

    /// The reranker's score for `query` against each of `hits`, each read as title, then
    /// text, timed as `stage`; `None` when there are none or the reranker cannot answer (not
    /// configured, no rerank model, down, slow).
    fn rerank_scores(
        &self,
        stage: &'static str,
        query: &str,
        hits: &[SearchHit],
        timings: &mut Vec<(&'static str, std::time::Duration)>,
    ) -> Option<Vec<f64>> {
        let embedder = self.embedder?;
        if hits.is_empty() {
            return None;
        }
        let started = std::time::Instant::now();
        let texts: Vec<String> = hits
            .iter()
            .map(|hit| format!("{}\n{}", hit.title, hit.text))
            .collect();
        let documents: Vec<&str> = texts.iter().map(String::as_str).collect();
        let scores = embedder.rerank(query, &documents);
        timings.push((stage, started.elapsed()));
        scores
            .inspect_err(|e| crate::log::warn("search", &format!("reranker unavailable: {e}")))
            .ok()
    }

    /// Reorders the first `ranking.rerank_candidates` of `results` by the sidecar's reranker and
    /// numbers their ranks anew; `false`, with the order left as it was, when the reranker
    /// cannot answer (not configured, no rerank model, down, slow).
    fn rerank(
        &self,
        query: &str,
        results: &mut Vec<SearchHit>,
        timings: &mut Vec<(&'static str, std::time::Duration)>,
    ) -> bool {
        let candidates = self.ranking.rerank_candidates.min(results.len());
        let Some(scores) = self.rerank_scores("rerank", query, &results[..candidates], timings)
        else {
            return false;
        };
        let mut candidates: Vec<Option<SearchHit>> =
            results.drain(..candidates).map(Some).collect();
        let rest = std::mem::take(results);
        for i in rerank_order(&scores) {
            // `rerank_order` is a permutation: each candidate is taken once.
            let Some(mut hit) = candidates[i].take() else {
                continue;
            };
            hit.rank = results.len() + 1;
            hit.rerank_score = Some(scores[i]);
            results.push(hit);
        }
        for mut hit in rest {
            hit.rank = results.len() + 1;
            results.push(hit);
        }
        true
    }
}
