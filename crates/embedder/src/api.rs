//! The HTTP API: OpenAI-compatible `POST /v1/embeddings` (plus our `input_type` extension),
//! `POST /v1/rerank` when a rerank model is loaded (see `rerank`), `GET /v1/models`,
//! `GET /health` and `GET /metrics`.
//!
//! This module validates requests and shapes responses, including errors in OpenAI's
//! `{"error": {"message", "type", "param", "code"}}` form. It tokenizes (so it can count
//! tokens and report truncation) and hands the tokens to the `batcher`; it never runs the
//! graph itself.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::batcher::{Batcher, SubmitError};
use crate::config::InputType;
use crate::metrics::Metrics;
use crate::model::{Model, l2_normalize};
use crate::rerank::Reranker;

/// Request-size limits, from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most texts in one request.
    pub max_inputs: usize,
    /// Longest text, in characters; longer ones are refused (shorter ones may still be
    /// truncated to the model's token limit).
    pub max_input_chars: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
}

impl Limits {
    /// Refuses a request with more than `max_inputs` items in its field `param`.
    pub(crate) fn check_items(&self, param: &'static str, items: usize) -> Result<(), ApiError> {
        if items > self.max_inputs {
            return Err(ApiError::invalid(
                param,
                format!(
                    "'{param}' has {items} items; at most {} are allowed per request",
                    self.max_inputs
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a text (named `name` in the message, in the field `param`) longer than
    /// `max_input_chars` characters.
    pub(crate) fn check_chars(
        &self,
        param: &'static str,
        name: &str,
        text: &str,
    ) -> Result<(), ApiError> {
        let chars = text.chars().count();
        if chars > self.max_input_chars {
            return Err(ApiError::invalid(
                param,
                format!(
                    "'{name}' has {chars} characters; at most {} are allowed",
                    self.max_input_chars
                ),
            ));
        }
        Ok(())
    }
}

/// Everything a request handler needs.
pub struct App {
    pub model: Arc<Model>,
    pub batcher: Batcher,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    /// The cross-encoder behind `/v1/rerank`, when the sidecar was given one.
    pub reranker: Option<Reranker>,
}

/// An OpenAI-shaped error response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn invalid(param: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: Some(param),
            code: None,
        }
    }

    pub(crate) fn with_status(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        let kind = if status.is_server_error() {
            "server_error"
        } else {
            "invalid_request_error"
        };
        ApiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: Some(code),
        }
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let body = json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        });
        let mut response = json_response(self.status, &body);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// How vectors are written in the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingFormat {
    Float,
    /// Little-endian `f32` bytes, base64-encoded (as OpenAI does).
    Base64,
}

/// A validated `POST /v1/embeddings` body.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingsRequest {
    pub input: Vec<String>,
    pub dimensions: Option<usize>,
    pub encoding_format: EncodingFormat,
    pub input_type: Option<InputType>,
}

/// A request body that must be a JSON object.
pub(crate) fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError {
        param: None,
        ..ApiError::invalid("", format!("request body is not valid JSON: {e}"))
    })?;
    match value {
        Value::Object(obj) => Ok(obj),
        _ => Err(ApiError {
            param: None,
            ..ApiError::invalid("", "request body must be a JSON object")
        }),
    }
}

/// Checks a request body against the model's config and the limits; a refusal carries the
/// OpenAI error to send back.
pub fn parse_embeddings_request(
    body: &[u8],
    model: &crate::config::ModelConfig,
    limits: &Limits,
) -> Result<EmbeddingsRequest, ApiError> {
    let obj = json_object(body)?;
    let input = match obj.get("input") {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid("input", "'input' is a required property"));
        }
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(ApiError::invalid(
                    "input",
                    "'input' must not be an empty array",
                ));
            }
            let mut texts = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => texts.push(s.clone()),
                    Value::Number(_) | Value::Array(_) => {
                        return Err(ApiError::invalid(
                            "input",
                            "token arrays are not supported: send 'input' as text",
                        ));
                    }
                    _ => {
                        return Err(ApiError::invalid(
                            "input",
                            format!("'input[{i}]' must be a string"),
                        ));
                    }
                }
            }
            texts
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "input",
                "'input' must be a string or an array of strings",
            ));
        }
    };
    limits.check_items("input", input.len())?;
    for (i, text) in input.iter().enumerate() {
        if text.is_empty() {
            return Err(ApiError::invalid(
                "input",
                format!("'input[{i}]' must not be empty"),
            ));
        }
        limits.check_chars("input", &format!("input[{i}]"), text)?;
    }
    model_named(obj.get("model"), model)?;
    let dimensions = match obj.get("dimensions") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let Some(d) = v.as_u64().filter(|&d| d > 0) else {
                return Err(ApiError::invalid(
                    "dimensions",
                    "'dimensions' must be a positive integer",
                ));
            };
            let d = usize::try_from(d).unwrap_or(usize::MAX);
            if !model.allows_dimensions(d) {
                let allowed = if model.matryoshka_dims.is_empty() {
                    format!("1 to {}", model.dims)
                } else {
                    let mut all = model.matryoshka_dims.clone();
                    all.push(model.dims);
                    all.sort_unstable();
                    all.dedup();
                    format!("one of {all:?}")
                };
                return Err(ApiError::invalid(
                    "dimensions",
                    format!("'dimensions' {d} is not supported by this model: use {allowed}"),
                ));
            }
            Some(d)
        }
    };
    let encoding_format = match obj.get("encoding_format") {
        None | Some(Value::Null) => EncodingFormat::Float,
        Some(Value::String(s)) if s == "float" => EncodingFormat::Float,
        Some(Value::String(s)) if s == "base64" => EncodingFormat::Base64,
        Some(_) => {
            return Err(ApiError::invalid(
                "encoding_format",
                "'encoding_format' must be 'float' or 'base64'",
            ));
        }
    };
    let input_type = match obj.get("input_type") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "query" => Some(InputType::Query),
        Some(Value::String(s)) if s == "document" => Some(InputType::Document),
        Some(_) => {
            return Err(ApiError::invalid(
                "input_type",
                "'input_type' must be 'query' or 'document'",
            ));
        }
    };
    Ok(EmbeddingsRequest {
        input,
        dimensions,
        encoding_format,
        input_type,
    })
}

/// The request body, refused with 413 past `max_bytes`.
pub(crate) async fn read_body(req: Request<Incoming>, max_bytes: usize) -> Result<Bytes, ApiError> {
    Ok(Limited::new(req.into_body(), max_bytes)
        .collect()
        .await
        .map_err(|_| {
            ApiError::with_status(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                format!("request body is larger than {max_bytes} bytes"),
            )
        })?
        .to_bytes())
}

/// A request's `model` field: absent, or a name `model` answers to (404 otherwise).
pub(crate) fn model_named(
    field: Option<&Value>,
    model: &crate::config::ModelConfig,
) -> Result<(), ApiError> {
    match field {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(name)) if model.answers_to(name) => Ok(()),
        Some(Value::String(name)) => Err(ApiError {
            param: Some("model"),
            ..ApiError::with_status(
                StatusCode::NOT_FOUND,
                "model_not_found",
                format!(
                    "The model '{name}' does not exist; this server has '{}'",
                    model.id
                ),
            )
        }),
        Some(_) => Err(ApiError::invalid("model", "'model' must be a string")),
    }
}

/// Small limits for the request parsers' unit tests: 3 inputs of at most 10 characters.
#[cfg(test)]
pub(crate) const TEST_LIMITS: Limits = Limits {
    max_inputs: 3,
    max_input_chars: 10,
    max_body_bytes: 1 << 20,
};

/// Serves one HTTP request; never fails at the transport level.
pub async fn handle(
    app: Arc<App>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    // The caller's request id (the app forwards its own), so one request can be followed
    // from the app's log into this one.
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            id.len() <= 128
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        })
        .unwrap_or("-")
        .to_string();
    let (route, response) = match (req.method(), req.uri().path()) {
        (&Method::POST, "/v1/embeddings") => {
            let started = Instant::now();
            let response = embeddings(&app, req)
                .await
                .unwrap_or_else(ApiError::into_response);
            app.metrics
                .request_seconds
                .observe(started.elapsed().as_secs_f64());
            ("embeddings", response)
        }
        (&Method::POST, "/v1/rerank") => {
            let response = crate::rerank::rerank(&app, req)
                .await
                .unwrap_or_else(ApiError::into_response);
            ("rerank", response)
        }
        (&Method::GET, "/health") => ("health", health(&app)),
        (&Method::GET, "/v1/models") => ("models", models(&app)),
        (&Method::GET, "/metrics") => {
            let mut response = Response::new(Full::new(Bytes::from(app.metrics.render())));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            ("metrics", response)
        }
        (_, "/v1/embeddings" | "/v1/rerank" | "/health" | "/v1/models" | "/metrics") => (
            "other",
            ApiError::with_status(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{} is not allowed on {}", req.method(), req.uri().path()),
            )
            .into_response(),
        ),
        (_, path) => (
            "other",
            ApiError::with_status(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no route for {path}"),
            )
            .into_response(),
        ),
    };
    app.metrics.request(route, response.status().as_u16());
    tracing::info!(
        target: "access",
        route,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        request_id = %request_id,
        "request"
    );
    Ok(response)
}

fn health(app: &App) -> Response<Full<Bytes>> {
    let c = app.model.config();
    json_response(
        StatusCode::OK,
        &json!({
            "status": "ok",
            "model": c.id,
            "dims": c.dims,
            "max_seq_len": c.max_seq_len,
            "queue_depth": app.batcher.depth(),
            "queue_capacity": app.batcher.options().queue_capacity,
            "per_text": app.model.runs_per_text(),
            "matmul": app.model.matmul().name(),
            "rerank_model": app.reranker.as_ref().map(|r| r.model.config().id.clone()),
        }),
    )
}

fn models(app: &App) -> Response<Full<Bytes>> {
    let c = app.model.config();
    let mut data = vec![json!({
        "id": c.id,
        "object": "model",
        "created": 0,
        "owned_by": "support-agent",
        "dims": c.dims,
        "max_seq_len": c.max_seq_len,
    })];
    if let Some(reranker) = &app.reranker {
        let r = reranker.model.config();
        data.push(json!({
            "id": r.id,
            "object": "model",
            "created": 0,
            "owned_by": "support-agent",
            "task": "rerank",
            "max_seq_len": r.max_seq_len,
        }));
    }
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}

async fn embeddings(app: &App, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, ApiError> {
    let body = read_body(req, app.limits.max_body_bytes).await?;
    let config = app.model.config();
    let request = parse_embeddings_request(&body, config, &app.limits)?;
    let prefix = config.prefix(request.input_type);
    let mut encoded = Vec::with_capacity(request.input.len());
    for text in &request.input {
        let joined;
        let text = if prefix.is_empty() {
            text.as_str()
        } else {
            joined = format!("{prefix}{text}");
            joined.as_str()
        };
        let e = app.model.encode(text).map_err(|e| {
            ApiError::invalid("input", format!("input could not be tokenized: {e}"))
        })?;
        encoded.push(e);
    }
    let prompt_tokens: usize = encoded.iter().map(|e| e.len()).sum();
    let truncated: Vec<usize> = encoded
        .iter()
        .enumerate()
        .filter(|(_, e)| e.truncated)
        .map(|(i, _)| i)
        .collect();
    let vectors = app.batcher.embed(encoded).await.map_err(|e| match e {
        SubmitError::QueueFull => ApiError::with_status(
            StatusCode::SERVICE_UNAVAILABLE,
            "queue_full",
            "the embedding queue is full; retry shortly",
        ),
        SubmitError::Inference(_) | SubmitError::Closed => ApiError::with_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "inference_failed",
            "the model failed on this input",
        ),
    })?;
    app.metrics.texts.add(vectors.len() as u64);
    app.metrics.tokens.add(prompt_tokens as u64);
    app.metrics.truncated.add(truncated.len() as u64);
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(index, mut v)| {
            if let Some(d) = request.dimensions.filter(|&d| d < v.len()) {
                v.truncate(d);
                l2_normalize(&mut v);
            }
            let embedding = match request.encoding_format {
                EncodingFormat::Float => json!(v),
                EncodingFormat::Base64 => {
                    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    json!(base64::engine::general_purpose::STANDARD.encode(bytes))
                }
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "object": "list",
            "data": data,
            "model": config.id,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "total_tokens": prompt_tokens,
                "truncated_inputs": truncated,
            },
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    fn config() -> ModelConfig {
        ModelConfig::parse(
            r#"{"id": "m", "aliases": ["default"], "pooling": "mean", "normalize": true,
                "dims": 768, "matryoshka_dims": [512, 256, 128], "max_seq_len": 64}"#,
        )
        .unwrap()
    }

    fn parse(body: &str) -> Result<EmbeddingsRequest, ApiError> {
        parse_embeddings_request(body.as_bytes(), &config(), &TEST_LIMITS)
    }

    #[test]
    fn string_input_becomes_one_text_with_defaults() {
        let r = parse(r#"{"input": "hello", "model": "m"}"#).unwrap();
        assert_eq!(r.input, vec!["hello"]);
        assert_eq!(r.encoding_format, EncodingFormat::Float);
        assert_eq!(r.dimensions, None);
        assert_eq!(r.input_type, None);
    }

    #[test]
    fn array_input_with_all_options_is_accepted() {
        let r = parse(
            r#"{"input": ["a", "b"], "model": "default", "dimensions": 256,
                "encoding_format": "base64", "input_type": "query"}"#,
        )
        .unwrap();
        assert_eq!(r.input, vec!["a", "b"]);
        assert_eq!(r.dimensions, Some(256));
        assert_eq!(r.encoding_format, EncodingFormat::Base64);
        assert_eq!(r.input_type, Some(InputType::Query));
    }

    #[test]
    fn bad_inputs_are_refused_with_the_offending_param() {
        for (body, param) in [
            (r#"{}"#, "input"),
            (r#"{"input": []}"#, "input"),
            (r#"{"input": [""]}"#, "input"),
            (r#"{"input": 5}"#, "input"),
            (r#"{"input": ["a", 5]}"#, "input"),
            (r#"{"input": ["a", {"x": 1}]}"#, "input"),
            (r#"{"input": ["a", "b", "c", "d"]}"#, "input"),
            (r#"{"input": "abcdefghijk"}"#, "input"),
            (r#"{"input": "a", "dimensions": 300}"#, "dimensions"),
            (r#"{"input": "a", "dimensions": 0}"#, "dimensions"),
            (r#"{"input": "a", "dimensions": "128"}"#, "dimensions"),
            (
                r#"{"input": "a", "encoding_format": "int8"}"#,
                "encoding_format",
            ),
            (r#"{"input": "a", "input_type": "passage"}"#, "input_type"),
            (r#"{"input": "a", "model": 7}"#, "model"),
        ] {
            let err = parse(body).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(err.param, Some(param), "{body}");
            assert_eq!(err.kind, "invalid_request_error", "{body}");
        }
    }

    #[test]
    fn unknown_model_is_404_model_not_found() {
        let err = parse(r#"{"input": "a", "model": "text-embedding-3-small"}"#).unwrap_err();
        assert_eq!(err.status, StatusCode::NOT_FOUND);
        assert_eq!(err.code, Some("model_not_found"));
    }

    #[test]
    fn malformed_json_is_400() {
        let err = parse(r#"{"input": "#).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        let err = parse(r#"["a"]"#).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn length_limit_counts_characters_not_bytes() {
        assert!(parse(r#"{"input": "éééééééééé"}"#).is_ok());
    }
}
