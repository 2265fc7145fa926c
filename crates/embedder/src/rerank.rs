//! `POST /v1/rerank`: how well each document answers a query, scored by a cross-encoder, in
//! the wire shape that Jina's, Cohere's and vLLM's rerank APIs share, so a hosted reranker
//! can stand in for this one:
//!
//! - request: `{"model"?, "query", "documents": [string | {"text"}], "top_n"?,
//!   "return_documents"?}`;
//! - response: `{"model", "results": [{"index", "relevance_score", "document"?: {"text"}}],
//!   "usage": {"total_tokens"}}`, best first. `relevance_score` is the logistic of the
//!   model's logit, in (0, 1), as vLLM reports a one-label cross-encoder.
//!
//! This module validates requests and shapes responses; the model's pair encoding and its
//! graph are `model`'s. One rerank runs at a time, its pairs spread over `threads` threads
//! (each pair alone on the batch-1 plan), so a lone request has every core.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::api::{ApiError, App, Limits, json_object, json_response, model_named, read_body};
use crate::config::ModelConfig;
use crate::model::{Encoded, Model};

/// The cross-encoder, the turn of the one rerank that runs, and the threads it spreads over.
pub struct Reranker {
    pub model: Arc<Model>,
    pub turn: Arc<Semaphore>,
    pub threads: usize,
}

impl Reranker {
    /// `model` must be a cross-encoder: one output value per (query, document) pair.
    pub fn new(model: Model, threads: usize) -> anyhow::Result<Reranker> {
        if model.config().dims != 1 {
            anyhow::bail!(
                "the rerank model {} gives {} values per text; a cross-encoder gives one (\"dims\": 1)",
                model.config().id,
                model.config().dims
            );
        }
        Ok(Reranker {
            model: Arc::new(model),
            turn: Arc::new(Semaphore::new(1)),
            threads: threads.max(1),
        })
    }
}

/// The logits of `pairs`, in order, computed on up to `threads` threads at once.
pub fn score_spread(model: &Model, pairs: &[Encoded], threads: usize) -> anyhow::Result<Vec<f32>> {
    let per_thread = pairs.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let runs: Vec<_> = pairs
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || {
                    let refs: Vec<&Encoded> = chunk.iter().collect();
                    model.score(&refs)
                })
            })
            .collect();
        let mut logits = Vec::with_capacity(pairs.len());
        for run in runs {
            let chunk = run
                .join()
                .map_err(|_| anyhow::anyhow!("a rerank thread panicked"))??;
            logits.extend(chunk);
        }
        Ok(logits)
    })
}

/// A validated `POST /v1/rerank` body.
#[derive(Debug, Clone, PartialEq)]
pub struct RerankRequest {
    pub query: String,
    pub documents: Vec<String>,
    /// Most results returned (all when `None`).
    pub top_n: Option<usize>,
    /// Echo each document's text in its result.
    pub return_documents: bool,
}

/// Checks a request body against the model's config and the limits (`max_inputs`
/// documents, `max_input_chars` per text, query included).
pub fn parse_rerank_request(
    body: &[u8],
    model: &ModelConfig,
    limits: &Limits,
) -> Result<RerankRequest, ApiError> {
    let obj = json_object(body)?;
    // Unlike an embedding input, a text of only whitespace is refused too: there is
    // nothing in it to score.
    let text_within_limit = |param: &'static str, name: String, text: &str| {
        if text.trim().is_empty() {
            return Err(ApiError::invalid(
                param,
                format!("'{name}' must not be empty"),
            ));
        }
        limits.check_chars(param, &name, text)
    };
    let query = match obj.get("query") {
        Some(Value::String(q)) => q.clone(),
        None | Some(Value::Null) => {
            return Err(ApiError::invalid("query", "'query' is a required property"));
        }
        Some(_) => return Err(ApiError::invalid("query", "'query' must be a string")),
    };
    text_within_limit("query", "query".into(), &query)?;
    let items = match obj.get("documents") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid(
                "documents",
                "'documents' must not be an empty array",
            ));
        }
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "documents",
                "'documents' is a required property",
            ));
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "documents",
                "'documents' must be an array of strings or of {\"text\": string} objects",
            ));
        }
    };
    limits.check_items("documents", items.len())?;
    let mut documents = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let text = match item {
            Value::String(s) => s,
            Value::Object(o) => match o.get("text") {
                Some(Value::String(s)) => s,
                _ => {
                    return Err(ApiError::invalid(
                        "documents",
                        format!("'documents[{i}].text' must be a string"),
                    ));
                }
            },
            _ => {
                return Err(ApiError::invalid(
                    "documents",
                    format!("'documents[{i}]' must be a string or a {{\"text\": string}} object"),
                ));
            }
        };
        text_within_limit("documents", format!("documents[{i}]"), text)?;
        documents.push(text.clone());
    }
    model_named(obj.get("model"), model)?;
    let top_n = match obj.get("top_n") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().filter(|&n| n > 0) {
            Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            None => {
                return Err(ApiError::invalid(
                    "top_n",
                    "'top_n' must be a positive integer",
                ));
            }
        },
    };
    let return_documents = match obj.get("return_documents") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::invalid(
                "return_documents",
                "'return_documents' must be true or false",
            ));
        }
    };
    Ok(RerankRequest {
        query,
        documents,
        top_n,
        return_documents,
    })
}

/// The logistic function: a logit as a score in (0, 1).
pub fn relevance(logit: f32) -> f64 {
    1.0 / (1.0 + (-f64::from(logit)).exp())
}

/// Results best first (ties in document order), cut to `top_n`: `(index, score)`.
pub fn ranked(logits: &[f32], top_n: Option<usize>) -> Vec<(usize, f64)> {
    let mut results: Vec<(usize, f64)> = logits.iter().map(|&l| relevance(l)).enumerate().collect();
    results.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    results.truncate(top_n.unwrap_or(usize::MAX));
    results
}

/// Serves `POST /v1/rerank`.
pub async fn rerank(app: &App, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, ApiError> {
    let Some(reranker) = &app.reranker else {
        return Err(ApiError::with_status(
            StatusCode::NOT_FOUND,
            "model_not_found",
            "this server has no rerank model (start it with --rerank-model-dir)",
        ));
    };
    let body = read_body(req, app.limits.max_body_bytes).await?;
    let config = reranker.model.config();
    let request = parse_rerank_request(&body, config, &app.limits)?;
    let mut pairs: Vec<Encoded> = Vec::with_capacity(request.documents.len());
    for document in &request.documents {
        pairs.push(
            reranker
                .model
                .encode_pair(&request.query, document)
                .map_err(|e| {
                    ApiError::invalid("documents", format!("could not be tokenized: {e}"))
                })?,
        );
    }
    let tokens: usize = pairs.iter().map(Encoded::len).sum();
    let inference_failed = || {
        ApiError::with_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "inference_failed",
            "the rerank model failed on this input",
        )
    };
    let _turn = reranker
        .turn
        .acquire()
        .await
        .map_err(|_| inference_failed())?;
    let (model, threads) = (reranker.model.clone(), reranker.threads);
    let logits = tokio::task::spawn_blocking(move || score_spread(&model, &pairs, threads))
        .await
        .map_err(|_| inference_failed())?
        .map_err(|e| {
            tracing::warn!(error = %format!("{e:#}"), "rerank failed");
            inference_failed()
        })?;
    let results: Vec<Value> = ranked(&logits, request.top_n)
        .into_iter()
        .map(|(index, score)| {
            let mut result = json!({"index": index, "relevance_score": score});
            if request.return_documents {
                result["document"] = json!({"text": request.documents[index]});
            }
            result
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "model": config.id,
            "results": results,
            "usage": {"total_tokens": tokens},
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ModelConfig {
        ModelConfig::parse(
            r#"{"id": "ce", "aliases": ["reranker"], "pooling": "none", "normalize": false,
                "dims": 1, "max_seq_len": 64}"#,
        )
        .unwrap()
    }

    fn parse(body: &str) -> Result<RerankRequest, ApiError> {
        parse_rerank_request(body.as_bytes(), &config(), &crate::api::TEST_LIMITS)
    }

    #[test]
    fn strings_and_text_objects_are_documents() {
        let r = parse(
            r#"{"model": "reranker", "query": "q", "documents": ["a", {"text": "b"}],
                "top_n": 1, "return_documents": true}"#,
        )
        .unwrap();
        assert_eq!(r.query, "q");
        assert_eq!(r.documents, vec!["a", "b"]);
        assert_eq!(r.top_n, Some(1));
        assert!(r.return_documents);
        let plain = parse(r#"{"query": "q", "documents": ["a"]}"#).unwrap();
        assert_eq!(plain.top_n, None);
        assert!(!plain.return_documents);
    }

    #[test]
    fn bad_requests_are_refused_with_the_offending_param() {
        for (body, param) in [
            (r#"{"documents": ["a"]}"#, "query"),
            (r#"{"query": " ", "documents": ["a"]}"#, "query"),
            (r#"{"query": 5, "documents": ["a"]}"#, "query"),
            (r#"{"query": "abcdefghijk", "documents": ["a"]}"#, "query"),
            (r#"{"query": "q"}"#, "documents"),
            (r#"{"query": "q", "documents": []}"#, "documents"),
            (r#"{"query": "q", "documents": "a"}"#, "documents"),
            (r#"{"query": "q", "documents": ["a", 5]}"#, "documents"),
            (
                r#"{"query": "q", "documents": [{"txt": "a"}]}"#,
                "documents",
            ),
            (r#"{"query": "q", "documents": [""]}"#, "documents"),
            (
                r#"{"query": "q", "documents": ["a", "b", "c", "d"]}"#,
                "documents",
            ),
            (r#"{"query": "q", "documents": ["a"], "top_n": 0}"#, "top_n"),
            (
                r#"{"query": "q", "documents": ["a"], "top_n": "2"}"#,
                "top_n",
            ),
            (
                r#"{"query": "q", "documents": ["a"], "return_documents": 1}"#,
                "return_documents",
            ),
            (r#"{"query": "q", "documents": ["a"], "model": 1}"#, "model"),
        ] {
            let err = parse(body).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(err.param, Some(param), "{body}");
        }
        let err = parse(r#"{"query": "q", "documents": ["a"], "model": "rerank-v3"}"#).unwrap_err();
        assert_eq!(err.status, StatusCode::NOT_FOUND);
        assert_eq!(err.code, Some("model_not_found"));
    }

    #[test]
    fn results_are_best_first_with_scores_in_zero_one_and_cut_to_top_n() {
        assert!((relevance(0.0) - 0.5).abs() < 1e-12);
        assert!(relevance(8.0) > 0.99 && relevance(-8.0) < 0.01);
        let all = ranked(&[-1.0, 3.0, 0.5, 3.0], None);
        let order: Vec<usize> = all.iter().map(|r| r.0).collect();
        assert_eq!(order, vec![1, 3, 2, 0]);
        assert!(all.iter().all(|r| r.1 > 0.0 && r.1 < 1.0));
        assert_eq!(ranked(&[-1.0, 3.0, 0.5], Some(2)).len(), 2);
    }
}
