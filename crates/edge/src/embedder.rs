//! The embedding sidecar's client: OpenAI-shaped `POST /v1/embeddings` with our
//! `input_type` extension (query or document, which selects the model's prompt prefix), and
//! `POST /v1/rerank` in the shape Jina, Cohere and vLLM share (any of them can answer it).
//!
//! Configured by the `embedder_url` variable; each wait is limited by `embedder_timeout_ms`
//! on the answer path and `index_timeout_ms` when writing vectors
//! ([`config::CallPath`]). Texts are sent in batches the sidecar accepts;
//! a failure of any batch fails the call (the caller decides what degraded means).
//! Not for the model itself (`crates/embedder`).

use serde::{Deserialize, Serialize};
use spin_sdk::http::Method;

use crate::config;
use crate::outbound::{JsonClient, OutboundError};

/// Texts per request: well under the sidecar's `--max-inputs`, and a size its batcher
/// runs in one or two graph runs.
pub const BATCH: usize = 64;

/// What the texts are, so the sidecar applies the right prompt prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    Query,
    Document,
}

/// The embedding sidecar at a base URL.
pub struct Embedder {
    client: JsonClient,
}

#[derive(Serialize)]
struct EmbeddingsRequest<'a> {
    input: &'a [&'a str],
    input_type: InputType,
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    index: usize,
    embedding: Vec<f32>,
}

#[derive(Serialize)]
struct RerankRequest<'a> {
    query: &'a str,
    documents: &'a [&'a str],
}

#[derive(Deserialize)]
struct RerankResponse {
    results: Vec<RerankResult>,
}

#[derive(Deserialize)]
struct RerankResult {
    index: usize,
    relevance_score: f64,
}

impl Embedder {
    /// The sidecar named by the `embedder_url` variable, with the time limit of `path`.
    pub fn from_config(
        request_id: Option<&str>,
        path: config::CallPath,
    ) -> Result<Embedder, config::ConfigError> {
        let limit = path.time_limit("embedder_timeout_ms", config::DEFAULT_EMBEDDER_TIMEOUT_MS)?;
        let mut embedder = Self::new(&config::required("embedder_url")?, request_id);
        embedder.client = embedder.client.with_time_limit(limit);
        Ok(embedder)
    }

    pub fn new(base_url: &str, request_id: Option<&str>) -> Embedder {
        Embedder {
            client: JsonClient::new(base_url, request_id),
        }
    }

    /// One vector per text, in order.
    pub fn embed(
        &self,
        texts: &[&str],
        input_type: InputType,
    ) -> Result<Vec<Vec<f32>>, OutboundError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            let response: EmbeddingsResponse = self.client.call(
                Method::Post,
                "/v1/embeddings",
                Some(&EmbeddingsRequest {
                    input: batch,
                    input_type,
                }),
            )?;
            let mut data = response.data;
            if data.len() != batch.len() {
                return Err(OutboundError::Decode(format!(
                    "{} embeddings for {} texts",
                    data.len(),
                    batch.len()
                )));
            }
            data.sort_by_key(|item| item.index);
            vectors.extend(data.into_iter().map(|item| item.embedding));
        }
        Ok(vectors)
    }

    /// One query's vector.
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>, OutboundError> {
        self.embed(&[text], InputType::Query)?
            .pop()
            .ok_or_else(|| OutboundError::Decode("no embedding returned".into()))
    }

    /// How well each document answers `query`, by the sidecar's cross-encoder: one score
    /// per document, in the order given (higher is better).
    pub fn rerank(&self, query: &str, documents: &[&str]) -> Result<Vec<f64>, OutboundError> {
        let response: RerankResponse = self.client.call(
            Method::Post,
            "/v1/rerank",
            Some(&RerankRequest { query, documents }),
        )?;
        let mut scores = vec![None; documents.len()];
        for result in response.results {
            match scores.get_mut(result.index) {
                Some(slot) if result.relevance_score.is_finite() => {
                    *slot = Some(result.relevance_score)
                }
                _ => {
                    return Err(OutboundError::Decode(format!(
                        "rerank result for document {} of {}",
                        result.index,
                        documents.len()
                    )));
                }
            }
        }
        scores
            .into_iter()
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| OutboundError::Decode("rerank results miss a document".into()))
    }

    /// Whether the sidecar answers its health check.
    pub fn healthy(&self) -> Result<(), OutboundError> {
        self.client
            .send::<()>(Method::Get, "/health", None)
            .map(|_| ())
    }
}
